"""The data-flow diagrams of docs/architecture.md: labelled with data, and the two levels balance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"

BLOCK = re.compile(r"```mermaid\n(?P<body>.*?)```", re.DOTALL)
NODE_ID = r"[A-Za-z][A-Za-z0-9_]*"
# An arrow between two node ids, with an optional label in pipes: a -->|"label"| b
EDGE = re.compile(
    rf"^\s*(?P<source>{NODE_ID})\s*(?P<arrow><?[-.=]{{2,}}[>ox]?)\s*"
    rf"(?:\|(?P<label>[^|]*)\|)?\s*(?P<target>{NODE_ID})\s*$"
)
ARROW = re.compile(r"<?[-.=]{2,}[>ox]?")
PROCESS = re.compile(rf"^\s*(?P<id>{NODE_ID})\(\(\"(?P<name>[^\"]+)\"\)\)\s*$")
PARENTS = re.compile(r"^\s*%%\s*parents:\s*(?P<map>.+)$")
# Verbs that name an action, not the data it moves: a label starting with one (or with its
# third person, "reads", "fetches") is a verb alone.
VERBS = frozenset(
    {
        "read", "write", "send", "get", "put", "fetch", "poll", "notify", "update", "publish",
        "enqueue", "call", "trigger", "store", "delete", "return", "use", "ask",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Edge:
    source: str
    label: str
    target: str


@dataclass(frozen=True)
class Diagram:
    edges: list[Edge]
    processes: dict[str, str]
    parents: dict[str, str]

    @property
    def labels(self) -> set[str]:
        return {edge.label for edge in self.edges}


def parse_diagram(body: str) -> Diagram:
    """Edges (each line with an arrow must be one edge, labelled or not), process nodes and the
    ``%% parents:`` map of a Mermaid flowchart."""
    edges: list[Edge] = []
    processes: dict[str, str] = {}
    parents: dict[str, str] = {}
    for line in body.splitlines():
        if found := PARENTS.match(line):
            for group in found["map"].split(";"):
                children, _, parent = group.partition("=")
                parents.update(dict.fromkeys(children.split(), parent.strip()))
            continue
        if line.strip().startswith("%%"):
            continue
        if process := PROCESS.match(line):
            processes[process["id"]] = process["name"]
            continue
        if not ARROW.search(line.split("|")[0]):
            continue
        edge = EDGE.match(line)
        assert edge is not None, f"not an edge between two node ids: {line.strip()!r}"
        label = (edge["label"] or "").strip().strip('"').strip()
        edges.append(Edge(edge["source"], label, edge["target"]))
    return Diagram(edges, processes, parents)


def diagram_marked(text: str, marker: str) -> Diagram:
    bodies = [match["body"] for match in BLOCK.finditer(text) if f"%% {marker}\n" in match["body"]]
    assert len(bodies) == 1, f"expected one mermaid block marked '%% {marker}', found {len(bodies)}"
    return parse_diagram(bodies[0])


def is_bare_verb(label: str) -> bool:
    words = re.findall(r"[A-Za-z]+", label.lower())
    if len(words) < 2:
        return True
    first = words[0]
    return (
        first in VERBS
        or first.removesuffix("s") in VERBS
        or first.removesuffix("ies") + "y" in VERBS
        or (first.endswith("es") and first.removesuffix("es") in VERBS)
    )


def check_data_flow(text: str) -> None:
    """Raise AssertionError naming the first rule the document breaks."""
    level0 = diagram_marked(text, "level-0")
    level1 = diagram_marked(text, "level-1")
    for name, diagram in (("level 0", level0), ("level 1", level1)):
        assert diagram.edges, f"{name} has no edges"
        unlabelled = [f"{edge.source} -> {edge.target}" for edge in diagram.edges if not edge.label]
        assert not unlabelled, f"{name}: arrows without a label: {unlabelled}"
        verbs = sorted(edge.label for edge in diagram.edges if is_bare_verb(edge.label))
        assert not verbs, f"{name}: labels that name an action, not data: {verbs}"
    assert len(level0.processes) == 1, "level 0 shows filegate as one process"
    missing = level0.labels - level1.labels
    assert not missing, f"level 0 flows missing from level 1: {sorted(missing)}"
    # Balance: mapped onto level 0's nodes, level 1's flows across the boundary are level 0's.
    (filegate,) = level0.processes
    assert {level1.parents.get(process) for process in level1.processes} == {filegate}
    crossing = set()
    for edge in level1.edges:
        source, target = level1.parents.get(edge.source), level1.parents.get(edge.target)
        assert source and target, f"level 1 node without a level 0 parent in {edge}"
        if source != target:
            crossing.add(Edge(source, edge.label, target))
    expected = set(level0.edges)
    assert not crossing - expected, f"level 1 flows absent from level 0: {crossing - expected}"
    assert not expected - crossing, f"level 0 flows not decomposed in level 1: {expected - crossing}"


def test_the_architecture_doc_data_flow_follows_the_rules() -> None:
    check_data_flow(DOC.read_text())


def test_each_level_1_process_is_named_by_what_it_does() -> None:
    level1 = diagram_marked(DOC.read_text(), "level-1")
    assert len(level1.processes) >= 5
    for name in level1.processes.values():
        number, _, words = name.partition(" ")
        assert number.isdigit() and len(words.split()) >= 2, name


def test_a_use_case_diagram_names_the_actors() -> None:
    bodies = [match["body"] for match in BLOCK.finditer(DOC.read_text()) if "%% use-cases\n" in match["body"]]
    assert len(bodies) == 1
    for actor in ("User / client app", "Administrator", "Vendor", "Operator"):
        assert f'"{actor}"' in bodies[0]


def _broken(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        # A level 0 flow renamed: level 1 no longer has it.
        ('fg -->|"session token"| client', 'fg -->|"login token"| client', "missing from level 1"),
        # An arrow without a label.
        ('p1 -->|"new build id"| p2', "p1 --> p2", "without a label"),
        # A verb instead of data.
        ('p3 -->|"released slot: build id"| p2', 'p3 -->|"notifies"| p2', "action, not data"),
        ('p3 -->|"released slot: build id"| p2', 'p3 -->|"sends build id"| p2', "action, not data"),
        # A level 1 flow to Redis that level 0 does not show.
        ('p5 -->|"ticket and build records"| d1', 'p5 -->|"freed bytes: count"| d1', "absent from level 0"),
        # A level 0 flow that no level 1 flow across the boundary carries.
        ('p5 -->|"expired archive keys"| d5', 'p5 -->|"expired archive keys"| p2', "not decomposed"),
    ],
)
def test_a_broken_copy_of_the_doc_fails(old: str, new: str, complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check_data_flow(_broken(DOC.read_text(), old, new))
