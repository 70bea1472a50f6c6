"""wrk runs for bench/control.py: one Lua script per kind of request, figures read back as JSON.

wrk's own summary rounds latencies; its Lua ``done`` hook prints the exact percentiles instead.
A run's CPU time comes from ``wait4`` on the wrk process, so the table can show what the load
generator itself took of the two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Printed by every script's done(): requests, seconds, errors and latency percentiles (µs).
_DONE_LUA = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "seconds": %.6f, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

_HEADERS_LUA = """
local key = nil
function init(args)
  key = args[1]
  if key ~= nil and key ~= '' then wrk.headers['Authorization'] = 'Bearer ' .. key end
  wrk.headers['Content-Type'] = 'application/json'
  if args[2] ~= nil then wrk.method = 'POST'; wrk.body = args[2] end
  if init_more ~= nil then init_more(args) end
end
"""

# A new archive name on every request (so a new build each time): the prefix names the run and
# the thread, the counter the request. The body is a template with %s where the name goes.
_DISTINCT_LUA = """
local counter = 0
local prefix = ''
local template = ''
function setup(thread)
  thread_count = (thread_count or 0) + 1
  thread:set('thread_number', thread_count)
end
function init_more(args)
  prefix = args[3] .. '-t' .. tostring(thread_number) .. '-'
  template = args[2]
end
function request()
  counter = counter + 1
  return wrk.format('POST', '/download', nil, string.format(template, prefix .. counter))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu_seconds: float
    """CPU time wrk itself used (user + system)."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _script(body: str) -> Path:
    handle, name = tempfile.mkstemp(prefix="filegate-wrk-", suffix=".lua")
    with os.fdopen(handle, "w") as out:
        out.write(_HEADERS_LUA + body + _DONE_LUA)
    return Path(name)


@dataclass
class WrkLoad:
    """What to send: a path, an optional API key, an optional fixed body or a body template."""

    path: str
    api_key: str = ""
    body: str | None = None
    distinct_template: str | None = None
    """A JSON body with %s for the archive name: a new name, so a new build, per request."""
    distinct_prefix: str = "new"


def run_wrk(
    base_url: str, load: WrkLoad, seconds: float, threads: int = 2, connections: int = 64
) -> WrkResult:
    """wrk -t2 -c64 for ``seconds`` against ``base_url`` + ``load.path``; its figures."""
    if not base_url.startswith("http://127.0.0.1:"):
        raise ValueError(f"wrk is only pointed at loopback here, not {base_url}")
    script = _script(_DISTINCT_LUA if load.distinct_template else "")
    try:
        args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        args += ["-s", str(script), base_url + load.path, "--", load.api_key]
        if load.distinct_template is not None:
            args += [load.distinct_template, load.distinct_prefix]
        elif load.body is not None:
            args.append(load.body)
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        script.unlink(missing_ok=True)
    line = next((line for line in output.splitlines() if line.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output[-2000:]}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        requests=figures["requests"],
        seconds=figures["seconds"],
        errors={name: figures[name] for name in ("connect", "read", "write", "status", "timeout")},
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )
