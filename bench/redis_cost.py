"""What a run cost the private Redis: CPU, commands by time, and which Lua script each EVAL ran.

``INFO cpu`` and ``INFO commandstats`` are read before and after a run. Commandstats count the
commands a script calls inside it too (an HGET inside DISPATCH counts as an HGET), so the
top-level split comes from SLOWLOG instead: with ``slowlog-log-slower-than 0`` Redis logs every
command it runs at top level with its duration. filegate's scripts (``filegate.state``) run
with EVALSHA, so the SHA-1 of each script's source names it. Older layouts sent each script in
full with EVAL: SLOWLOG keeps its first 128 bytes and says how many more there were, so its
length names it (those scripts all differ in length).
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections import Counter
from dataclasses import dataclass, field

import redis

# Older layouts: the modules whose UPPER_CASE strings holding "redis.call" are the scripts
# filegate sent with EVAL.
_SCRIPT_MODULES = (
    "filegate.archive.registry",
    "filegate.scheduling.dispatcher",
    "filegate.tickets.store",
    "filegate.auth.limits",
    "filegate.auth.store",
    "filegate.metrics.cluster",
)
_TRUNCATED = re.compile(rb"^(.{128})\.\.\. \((\d+) more bytes\)$", re.DOTALL)


def script_names() -> dict[int | str, str]:
    """Script name by SHA-1 (hex, for EVALSHA) and by length in bytes (for EVAL), for every
    script filegate runs."""
    names: dict[int | str, str] = {}
    try:
        from filegate.state.scripts import script_names as state_scripts
        from filegate.state.scripts import source
    except ImportError:
        pass
    else:
        for name in state_scripts():
            names[hashlib.sha1(source(name).encode()).hexdigest()] = name
    by_length: dict[int, set[str]] = {}
    for module_name in _SCRIPT_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, str) and "redis.call" in value:
                by_length.setdefault(len(value.encode()), set()).add(name.lstrip("_"))
    names.update({length: "|".join(sorted(found)) for length, found in by_length.items()})
    return names


def script_calls(commands: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(calls, µs) of EVAL and EVALSHA together, from commandstats."""
    calls = usec = 0
    for command in ("eval", "evalsha", "eval_ro", "evalsha_ro"):
        more_calls, more_usec = commands.get(command, (0, 0))
        calls += more_calls
        usec += more_usec
    return calls, usec


@dataclass
class Logged:
    """A command Redis ran at top level, by name (a script by its name), from SLOWLOG."""

    calls: int = 0
    usec: int = 0
    inner: Counter[str] = field(default_factory=Counter)
    """For a script: the commands it ran inside, over all its calls."""


@dataclass
class RedisSnapshot:
    cpu_seconds: float
    commands: dict[str, tuple[int, int]]
    """Command → (calls, µs) since Redis started."""


def snapshot(client: redis.Redis) -> RedisSnapshot:
    cpu = client.info("cpu")
    stats = client.info("commandstats")
    commands = {
        name.removeprefix("cmdstat_"): (int(value["calls"]), int(value["usec"]))
        for name, value in stats.items()
    }
    return RedisSnapshot(float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), commands)


@dataclass
class RedisCost:
    cpu_seconds: float
    commands: dict[str, tuple[int, int]]
    """Command → (calls, µs) during the run; commands run inside scripts counted too."""
    window: Window | None = None
    """A SLOWLOG window inside the run."""

    def per_request(self, requests: int) -> float:
        """µs of Redis CPU per request."""
        return self.cpu_seconds * 1e6 / requests if requests else 0.0


def cost_between(before: RedisSnapshot, after: RedisSnapshot) -> RedisCost:
    commands = {}
    for name, (calls, usec) in after.commands.items():
        calls_before, usec_before = before.commands.get(name, (0, 0))
        if calls > calls_before:
            commands[name] = (calls - calls_before, usec - usec_before)
    return RedisCost(after.cpu_seconds - before.cpu_seconds, commands)


@dataclass
class Window:
    logged: dict[str, Logged]
    """Top-level command or script → what it cost, from SLOWLOG."""
    during: RedisCost
    """INFO over the window itself (with every command being logged)."""


@dataclass
class Share:
    name: str
    calls: float
    """Calls per request."""
    usec: float
    """µs of Redis time per request (its calls × its time per call)."""
    inside: Counter[str]
    """Commands a script ran inside, per call."""


def shares_per_request(cost: RedisCost, requests: int) -> tuple[list[Share], float]:
    """What each top-level command and script cost per request, and SLOWLOG's own cost per
    command logged inside a script (subtracted from each script's time), by time.

    EVAL runs only at top level, so INFO commandstats gives its calls per request over the whole
    run; the window splits them by script. Logging every command slows a script in proportion
    to the commands it runs: outside the window (commandstats, whole run minus the window) an
    EVAL took ``plain`` µs on average, inside it ``logged`` µs with ``inner`` commands logged,
    so each logged command cost (logged - plain) / inner, and that is taken off each script."""
    window = cost.window
    if window is None or requests == 0:
        return [], 0.0
    evals = [item for name, item in window.logged.items() if name.startswith("EVAL ")]
    logged_calls = sum(item.calls for item in evals)
    if not logged_calls:
        return [], 0.0
    total_calls, total_usec = script_calls(cost.commands)
    window_calls, window_usec = script_calls(window.during.commands)
    logged_mean = sum(item.usec for item in evals) / logged_calls
    plain_mean = (
        (total_usec - window_usec) / (total_calls - window_calls)
        if total_calls > window_calls
        else logged_mean
    )
    inner_mean = sum(sum(item.inner.values()) for item in evals) / logged_calls
    overhead = max(0.0, (logged_mean - plain_mean) / inner_mean) if inner_mean else 0.0
    evals_per_request = total_calls / requests
    shares = []
    for name, item in window.logged.items():
        inner = sum(item.inner.values())
        per_call = max(0.0, item.usec - inner * overhead) / item.calls
        calls = item.calls / logged_calls * evals_per_request
        inside = Counter({command: count / item.calls for command, count in item.inner.items()})
        shares.append(Share(name, calls, calls * per_call, inside))
    return sorted(shares, key=lambda share: -share.usec), overhead


class SlowlogWindow:
    """Every command Redis runs between ``open`` and ``stop``, read back by ``collect``.

    Commands a script runs are logged too, just before the script itself, from client "?:0":
    they are counted inside the script that ran them. The log is a ring: past ``max_entries``
    the oldest go, and what is left is the latest part of the window."""

    def __init__(
        self, client: redis.Redis, own_scripts: dict[int | str, str], max_entries: int = 200_000
    ) -> None:
        """``own_scripts``: the bench's own scripts (length or SHA-1 → name), left out like its
        commands."""
        self._client = client
        self._max_entries = max_entries
        self._names = script_names()
        self._own = {f"EVAL {name}" for name in own_scripts.values()}
        self._names.update(own_scripts)
        self._opened = RedisSnapshot(0.0, {})
        self._during = RedisCost(0.0, {})

    def open(self) -> None:
        self._client.config_set("slowlog-max-len", self._max_entries)
        self._client.slowlog_reset()
        self._opened = snapshot(self._client)
        self._client.config_set("slowlog-log-slower-than", 0)

    def stop(self) -> None:
        self._client.config_set("slowlog-log-slower-than", -1)
        self._during = cost_between(self._opened, snapshot(self._client))

    def collect(self) -> Window:
        """What ran in the window; call after ``stop``."""
        return Window(self._logged(), self._during)

    def _logged(self) -> dict[str, Logged]:
        """Top-level command or script name → what it cost (the bench's own commands left out)."""
        # The raw reply (no decoding): a script is named by its length, not its text.
        entries = self._client.execute_command("SLOWLOG", "GET", self._max_entries, NEVER_DECODE=True)
        self._client.slowlog_reset()
        self._client.config_set("slowlog-max-len", 128)
        logged: dict[str, Logged] = {}
        pending: Counter[str] = Counter()
        for entry in sorted(entries, key=lambda entry: int(entry[0])):
            name = self._name(entry[3])
            if entry[4] == b"?:0":  # inside a script, which is logged after it
                pending[name] += 1
                continue
            if name in self._own or name.startswith(("SLOWLOG", "CONFIG", "INFO", "ZCARD")):
                pending.clear()
                continue
            item = logged.setdefault(name, Logged())
            item.calls += 1
            item.usec += int(entry[2])
            item.inner.update(pending)
            pending.clear()
        return logged

    def _name(self, args: list[bytes]) -> str:
        command = args[0].decode(errors="replace").upper()
        if command in ("EVAL", "EVAL_RO") and len(args) > 1:
            match = _TRUNCATED.match(args[1])
            length = 128 + int(match.group(2)) if match else len(args[1])
            return f"EVAL {self._names.get(length, f'script of {length} bytes')}"
        if command in ("EVALSHA", "EVALSHA_RO") and len(args) > 1:
            digest = args[1].decode(errors="replace").lower()
            return f"EVAL {self._names.get(digest, f'script {digest[:12]}')}"
        return command
