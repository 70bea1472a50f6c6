"""py-spy on the API during a run: which functions hold the GIL, by share of the samples.

    py-spy record --gil --nonblocking -r 200 -d SECONDS -p PID -f raw -o FILE

With ``--gil`` a sample is taken only while some thread holds the GIL, so the samples taken
against the samples possible (rate × seconds) is how busy the interpreter was, and each
function's share is of that busy time. "Own" counts the samples whose innermost frame is the
function; "total" the samples with the function anywhere on the stack.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RATE = 200
_LINE = re.compile(r":\d+\)$")
_PACKAGE = re.compile(r"\((?:<frozen )?([\w.]+?)(?:\.py)?[/>)]")
_PREFIX = re.compile(r" \(/\S*/(?:site-packages|src|lib/python3\.\d+)/")


def find_py_spy() -> str | None:
    """$PY_SPY, py-spy on the PATH, or the separate venv the environment notes suggest."""
    for candidate in (os.environ.get("PY_SPY"), shutil.which("py-spy"), "/tmp/spy/bin/py-spy"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


class Recording:
    def __init__(self, py_spy: str, pid: int, seconds: int, output: Path) -> None:
        self.output = output
        self.seconds = seconds
        args = [py_spy, "record", "--gil", "--nonblocking", "-r", str(RATE), "-d", str(seconds)]
        args += ["-p", str(pid), "-f", "raw", "-o", str(output)]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def finish(self, timeout_seconds: float = 60) -> Profile:
        _, errors = self._process.communicate(timeout=timeout_seconds)
        if self._process.returncode != 0 or not self.output.exists():
            raise RuntimeError(f"py-spy failed ({self._process.returncode}): {errors[-1000:]}")
        return Profile.read(self.output, self.seconds)


def _frame(text: str) -> str:
    """'send (redis/asyncio/connection.py:612)' → 'send (redis/asyncio/connection.py)'."""
    return _PREFIX.sub(" (", _LINE.sub(")", text.strip()))


@dataclass
class Profile:
    samples: int
    seconds: int
    own: Counter[str]
    total: Counter[str]

    @classmethod
    def read(cls, path: Path, seconds: int) -> Profile:
        own: Counter[str] = Counter()
        total: Counter[str] = Counter()
        samples = 0
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            # The first frame is the thread ("process 123:\"...\"" with --threads; else the root).
            frames = [_frame(frame) for frame in stack.split(";") if frame]
            samples += count
            own[frames[-1]] += count
            for frame in set(frames):
                total[frame] += count
        return cls(samples, seconds, own, total)

    @property
    def busy(self) -> float:
        """Share of the time some thread held the GIL."""
        return self.samples / (RATE * self.seconds) if self.seconds else 0.0

    def by_package(self) -> Counter[str]:
        """Own samples by the package (or module) of the innermost frame: 'redis', 'asyncio'."""
        packages: Counter[str] = Counter()
        for frame, count in self.own.items():
            match = _PACKAGE.search(frame)
            packages[match.group(1) if match else frame or "(no frame)"] += count
        return packages

    def lines(self, title: str, top: int = 10, match: str = "") -> list[str]:
        """Own samples by package and by function, and total samples of the functions whose frame
        holds ``match`` (e.g. 'filegate/' for filegate's own code)."""
        if not self.samples:
            return [f"{title}: no samples"]
        lines = [f"{title}: {self.samples:,} samples, GIL held {self.busy:.0%} of the time"]
        packages = self.by_package().most_common(top)
        lines.append(
            "  own, by package: "
            + ", ".join(f"{name} {count / self.samples:.0%}" for name, count in packages)
        )
        lines.append("  own share  function (innermost frame)")
        for frame, count in self.own.most_common(top):
            lines.append(f"  {count / self.samples:8.1%}   {frame}")
        # A coroutine run from C (uvloop), or inside asyncio.wait_for (a task of its own in 3.11),
        # starts a stack of its own: totals miss the callers of such frames.
        chosen = [
            (frame, count)
            for frame, count in self.total.most_common()
            if match in frame and "filegate/cli.py" not in frame  # the main thread's root
        ]
        lines.append(f"  total share  function (anywhere on the stack{', ' + match if match else ''})")
        for frame, count in chosen[:top]:
            lines.append(f"  {count / self.samples:8.1%}     {frame}")
        return lines
