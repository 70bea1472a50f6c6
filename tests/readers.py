"""Check a ZIP archive with the readers filegate's users have: each must yield exactly the expected entries.

``expected`` maps each entry name to its bytes; folder entries end with '/' and map to b"".

Readers (names usable in ``check_with_all_readers(..., readers=...)``):

- ``unzip``: Info-ZIP ``unzip -t``, its listing (``-Z1``) and an extraction with ``unzip -q -d``.
- ``bsdtar``: libarchive's ``bsdtar`` listing and extracting the file. It reads the central directory but,
  finding none, falls back to reading local headers: a truncated archive can still pass this one.
- ``bsdtar-stream``: ``bsdtar`` reading the archive from a pipe, front to back (``curl ... | bsdtar -x``).
- ``7z``: p7zip's ``7z t``, its listing (``l -slt``) and ``7z x``.
- ``zipfile``: Python's ``zipfile`` (``testzip`` and reading every entry).
- ``java-zipfile``: Java's ``java.util.zip.ZipFile`` (central directory).
- ``java-stream``: Java's ``java.util.zip.ZipInputStream`` (local headers only; it refuses STORED entries
  that put their CRC and sizes in a data descriptor, flag bit 3).

Each check raises AssertionError naming the reader and quoting the tool's output. Missing tools count as a
failure: ``scripts/ensure-tools.sh`` installs them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

ReaderCheck = Callable[[Path, Mapping[str, bytes]], None]

_TIMEOUT = 300
_JAVA_SOURCE = Path(__file__).with_name("java") / "ZipCheck.java"


class _Failure(AssertionError):
    """A reader's check failed; the message starts with the reader's name."""


# --- running tools -------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    # UTF-8 names must come out as UTF-8 whatever the caller's locale is.
    env = dict(os.environ)
    env["LC_ALL"] = "C.UTF-8"
    env["LANG"] = "C.UTF-8"
    return env


def _tool(reader: str, name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise _Failure(f"{reader}: `{name}` is not installed (scripts/ensure-tools.sh installs it)")
    return found


def _run(reader: str, command: Sequence[str | Path], stdin_path: Path | None = None) -> str:
    """Runs ``command``; returns its stdout, or fails naming ``reader`` with the whole output."""
    shown = " ".join(str(part) for part in command)
    try:
        if stdin_path is None:
            result = subprocess.run(
                [str(part) for part in command],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=_env(),
                timeout=_TIMEOUT,
                check=False,
            )
        else:
            with stdin_path.open("rb") as source:
                result = subprocess.run(
                    [str(part) for part in command],
                    stdin=source,
                    capture_output=True,
                    env=_env(),
                    timeout=_TIMEOUT,
                    check=False,
                )
    except subprocess.TimeoutExpired as error:
        raise _Failure(f"{reader}: `{shown}` did not finish in {_TIMEOUT} s") from error
    stdout = result.stdout.decode("utf-8", "replace")
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        raise _Failure(
            f"{reader}: `{shown}` exited with {result.returncode}\n"
            f"--- stdout ---\n{stdout.rstrip()}\n--- stderr ---\n{stderr.rstrip()}"
        )
    return stdout


# --- comparing ------------------------------------------------------------------------------------------


def _fingerprint(data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()}:{len(data)}"


def _describe(fingerprint: str) -> str:
    digest, _, size = fingerprint.partition(":")
    return f"{size} bytes, sha256 {digest[:12]}…"


def _assert_entries(
    reader: str, what: str, got: Sequence[tuple[str, str]], expected: Mapping[str, str], output: str = ""
) -> None:
    """``got`` lists (name, fingerprint) as the reader yielded them; ``expected`` maps name to fingerprint."""
    problems: list[str] = []
    counts = Counter(name for name, _ in got)
    problems += [f"  {name!r} yielded {count} times" for name, count in sorted(counts.items()) if count > 1]
    found = dict(got)
    problems += [f"  missing {name!r}" for name in sorted(expected.keys() - found.keys())]
    problems += [
        f"  unexpected {name!r} ({_describe(found[name])})" for name in sorted(found.keys() - expected)
    ]
    problems += [
        f"  {name!r}: got {_describe(found[name])}, expected {_describe(expected[name])}"
        for name in sorted(expected.keys() & found.keys())
        if found[name] != expected[name]
    ]
    if problems:
        message = f"{reader}: {what} differs from the expected entries:\n" + "\n".join(problems)
        if output:
            message += f"\n--- tool output ---\n{output.rstrip()}"
        raise _Failure(message)


def _expected_fingerprints(expected: Mapping[str, bytes]) -> dict[str, str]:
    for name, data in expected.items():
        if name.endswith("/") and data:
            raise ValueError(f"folder entry {name!r} must map to b''")
    return {name: _fingerprint(data) for name, data in expected.items()}


def _expected_tree(expected: Mapping[str, bytes]) -> dict[str, str]:
    """What extracting ``expected`` leaves on disk: its entries plus the folders their paths imply."""
    tree = _expected_fingerprints(expected)
    for name in expected:
        for parent in PurePosixPath(name.rstrip("/")).parents:
            if parent != PurePosixPath("."):
                tree.setdefault(f"{parent}/", _fingerprint(b""))
    return tree


def _extracted_tree(reader: str, root: Path) -> list[tuple[str, str]]:
    """Every folder (name ending with '/') and regular file under ``root``, with fingerprints."""
    found: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise _Failure(f"{reader}: extraction made a symbolic link {name!r}")
        if path.is_dir():
            found.append((f"{name}/", _fingerprint(b"")))
        elif path.is_file():
            found.append((name, _fingerprint(path.read_bytes())))
        else:
            raise _Failure(f"{reader}: extraction made {name!r}, neither a file nor a folder")
    return found


def _assert_listing(
    reader: str, what: str, names: Iterable[str], expected: Mapping[str, bytes], output: str
) -> None:
    # A listing has names only: compare names, with the same placeholder fingerprint on both sides.
    _assert_entries(reader, what, [(name, "") for name in names], dict.fromkeys(expected, ""), output)


def _assert_extracted(reader: str, what: str, root: Path, expected: Mapping[str, bytes]) -> None:
    _assert_entries(reader, what, _extracted_tree(reader, root), _expected_tree(expected))


# --- the readers ----------------------------------------------------------------------------------------


def check_unzip(path: Path, expected: Mapping[str, bytes]) -> None:
    """Info-ZIP: ``unzip -t`` passes, ``unzip -Z1`` lists exactly the names, ``unzip -q -d`` extracts them."""
    unzip = _tool("unzip", "unzip")
    output = _run("unzip", [unzip, "-t", path])
    if "No errors detected" not in output:
        raise _Failure(f"unzip: `unzip -t` did not report an intact archive\n{output.rstrip()}")
    listing = _run("unzip", [unzip, "-Z1", path])
    _assert_listing("unzip", "`unzip -Z1` listing", listing.splitlines(), expected, listing)
    with tempfile.TemporaryDirectory(prefix="unzip-") as target:
        _run("unzip", [unzip, "-q", path, "-d", target])
        _assert_extracted("unzip", "the tree `unzip` extracted", Path(target), expected)


def check_bsdtar(path: Path, expected: Mapping[str, bytes]) -> None:
    """libarchive reading the file: ``bsdtar -tf`` lists exactly the names, ``bsdtar -xf`` extracts them."""
    bsdtar = _tool("bsdtar", "bsdtar")
    listing = _run("bsdtar", [bsdtar, "-tf", path])
    _assert_listing("bsdtar", "`bsdtar -tf` listing", listing.splitlines(), expected, listing)
    with tempfile.TemporaryDirectory(prefix="bsdtar-") as target:
        _run("bsdtar", [bsdtar, "-xf", path, "-C", target])
        _assert_extracted("bsdtar", "the tree `bsdtar` extracted", Path(target), expected)


def check_bsdtar_stream(path: Path, expected: Mapping[str, bytes]) -> None:
    """libarchive reading the archive from a pipe (no seeking, no central directory): ``curl | bsdtar -x``."""
    bsdtar = _tool("bsdtar-stream", "bsdtar")
    with tempfile.TemporaryDirectory(prefix="bsdtar-stream-") as target:
        _run("bsdtar-stream", [bsdtar, "-xf", "-", "-C", target], stdin_path=path)
        _assert_extracted("bsdtar-stream", "the tree `bsdtar -xf -` extracted", Path(target), expected)


def _7z_listing(output: str) -> list[str]:
    """Entry names from ``7z l -slt``: the blocks after the '----------' line; folders get their '/' back."""
    _, separator, entries = output.partition("\n----------\n")
    if not separator:
        raise _Failure(f"7z: `7z l -slt` printed no entry list\n{output.rstrip()}")
    names: list[str] = []
    for block in entries.strip().split("\n\n"):
        fields = dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line)
        if "Path" not in fields:
            raise _Failure(f"7z: an entry of `7z l -slt` has no Path:\n{block}")
        names.append(fields["Path"] + ("/" if fields.get("Folder") == "+" else ""))
    return names


def check_7z(path: Path, expected: Mapping[str, bytes]) -> None:
    """p7zip: ``7z t`` passes, ``7z l -slt`` lists exactly the names, ``7z x`` extracts them."""
    seven = _tool("7z", "7z")
    output = _run("7z", [seven, "t", path])
    if "Everything is Ok" not in output:
        raise _Failure(f"7z: `7z t` did not report an intact archive\n{output.rstrip()}")
    listing = _run("7z", [seven, "l", "-slt", path])
    _assert_listing("7z", "`7z l -slt` listing", _7z_listing(listing), expected, listing)
    with tempfile.TemporaryDirectory(prefix="7z-") as target:
        _run("7z", [seven, "x", "-y", f"-o{target}", path])
        _assert_extracted("7z", "the tree `7z x` extracted", Path(target), expected)


def check_zipfile(path: Path, expected: Mapping[str, bytes]) -> None:
    """Python's zipfile: ``testzip()`` finds no bad entry and every entry reads back as expected."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise _Failure(f"zipfile: testzip() reports a bad CRC or header for {bad!r}")
            got = [(info.filename, _fingerprint(archive.read(info))) for info in archive.infolist()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as error:
        raise _Failure(f"zipfile: {type(error).__name__}: {error}") from error
    _assert_entries("zipfile", "the entries zipfile read", got, _expected_fingerprints(expected))


@functools.cache
def _java_classes() -> Path:
    """ZipCheck compiled once per source (and JDK), kept in the temp folder across runs."""
    javac = _tool("java", "javac")
    source = _JAVA_SOURCE.read_bytes()
    key = hashlib.sha256(source + os.path.realpath(javac).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "filegate-zipcheck"
    classes = cache / key
    if (classes / "ZipCheck.class").is_file():
        return classes
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=cache))
    try:
        _run("java", [javac, "-encoding", "UTF-8", "-d", building, _JAVA_SOURCE])
        building.rename(classes)
    except OSError:
        # Another process compiled the same source meanwhile: use its classes.
        if not (classes / "ZipCheck.class").is_file():
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return classes


def _check_java(reader: str, mode: str, path: Path, expected: Mapping[str, bytes]) -> None:
    java = _tool(reader, "java")
    classes = _java_classes()
    output = _run(reader, [java, "-cp", classes, "ZipCheck", path, mode])
    got: list[tuple[str, str]] = []
    for line in output.splitlines():
        fields = line.split("\t", 2)
        if len(fields) != 3:
            raise _Failure(f"{reader}: ZipCheck printed an unexpected line {line!r}\n{output.rstrip()}")
        digest, size, name = fields
        got.append((name, f"{digest}:{size}"))
    _assert_entries(reader, "the entries Java read", got, _expected_fingerprints(expected), output)


def check_java_zipfile(path: Path, expected: Mapping[str, bytes]) -> None:
    """Java's ``java.util.zip.ZipFile``: opens the archive and reads every entry as expected."""
    _check_java("java-zipfile", "zipfile", path, expected)


def check_java_stream(path: Path, expected: Mapping[str, bytes]) -> None:
    """Java's streaming ``java.util.zip.ZipInputStream``: reads every entry, front to back, as expected."""
    _check_java("java-stream", "stream", path, expected)


READERS: dict[str, ReaderCheck] = {
    "unzip": check_unzip,
    "bsdtar": check_bsdtar,
    "bsdtar-stream": check_bsdtar_stream,
    "7z": check_7z,
    "zipfile": check_zipfile,
    "java-zipfile": check_java_zipfile,
    "java-stream": check_java_stream,
}
ALL_READERS: tuple[str, ...] = tuple(READERS)


def check_with_all_readers(
    path: Path, expected: Mapping[str, bytes], readers: Iterable[str] = ALL_READERS
) -> None:
    """Runs every reader in ``readers`` (all by default) and fails once, naming each reader that failed."""
    chosen = list(readers)
    unknown = [name for name in chosen if name not in READERS]
    if unknown:
        raise ValueError(f"unknown readers {unknown}; known: {', '.join(ALL_READERS)}")
    failures: dict[str, str] = {}
    for name in chosen:
        try:
            READERS[name](path, expected)
        except AssertionError as error:
            failures[name] = str(error)
    if failures:
        raise AssertionError(
            f"{len(failures)} of {len(chosen)} readers failed on {path} ({', '.join(failures)}):\n\n"
            + "\n\n".join(failures.values())
        )


def files_in_parts(paths: Iterable[Path]) -> dict[str, bytes]:
    """Every file (not folder) in the ZIP parts at ``paths``, by name, as Python's zipfile reads it."""
    files: dict[str, bytes] = {}
    for path in paths:
        with zipfile.ZipFile(path) as archive:
            files.update(
                {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
            )
    return files
