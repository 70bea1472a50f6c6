"""The tables bench/control.py prints: POST rows against /health, Redis per POST, event streams."""

from __future__ import annotations

from control_posts import PostRun
from control_streams import BurstRun, StreamRun
from redis_cost import shares_per_request

IN_FLIGHT = 64
"""wrk's connections: requests still in flight at the end are served but not counted by wrk."""


def _outcome(run: PostRun) -> str:
    if run.label.startswith("GET"):
        return "-"
    requests = run.wrk.requests
    return "ok" if requests <= run.outcomes <= requests + IN_FLIGHT else f"{run.outcomes:,}/{requests:,}"


def _queue(run: PostRun) -> str:
    if run.label.startswith("GET"):
        return "-"
    if run.depth_start == run.depth_end:
        return f"{run.depth_start:,}"
    return f"{run.depth_start:,}→{run.depth_end:,}"


def post_rows(baseline: list[PostRun], posts: list[PostRun]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        (
            "request", "queue", "req/s", "p50 ms", "p99 ms", "req/s vs /health", "Redis CPU µs/req",
            "API CPU µs/req", "API CPU", "non-2xx", "outcome", "other CPU", "load",
        )
    ]  # fmt: skip
    floor = baseline[0].wrk.rate
    for run in baseline + posts:
        label = run.label if run.label.startswith("GET") else f"POST {run.label}"
        requests = run.wrk.requests
        rows.append(
            (
                label,
                _queue(run),
                f"{run.wrk.rate:,.0f}",
                f"{run.wrk.p50_ms:,.1f}",
                f"{run.wrk.p99_ms:,.1f}",
                f"{run.wrk.rate / floor:.3f}×",
                f"{run.redis.per_request(requests):,.0f}",
                f"{run.cpu.api_seconds * 1e6 / requests:,.0f}" if requests else "-",
                f"{run.cpu.api:.0%}",
                f"{run.wrk.error_count:,}",
                _outcome(run),
                f"{run.cpu.other:.0%}",
                f"{run.cpu.load:.2f}",
            )
        )
    return rows


def redis_lines(posts: list[PostRun], top: int = 4) -> list[str]:
    """Per POST run: the top-level commands and scripts by Redis time (SLOWLOG window), and the
    busiest commands counting those run inside scripts (commandstats, whole run)."""
    lines = ["", "Redis per POST: CPU (INFO cpu); top-level commands and scripts (SLOWLOG, 1 s mid-run)"]
    lines.append("as calls × µs per POST [commands run inside, per call]; then INFO commandstats, whole run")
    for run in posts:
        cpu = run.redis.per_request(run.wrk.requests)
        shares, overhead = shares_per_request(run.redis, run.wrk.requests)
        lines.append(
            f"  {run.label} at queue {run.depth_start:,}: {cpu:,.0f} µs CPU "
            f"(SLOWLOG's {overhead:.2f} µs per command logged inside a script taken off)"
        )
        for share in shares[:top]:
            inside = ", ".join(f"{name} {count:,.0f}" for name, count in share.inside.most_common(3))
            lines.append(
                f"      {share.name} {share.calls:.2f}× {share.usec:,.0f} µs"
                + (f" [{inside}]" if inside else "")
            )
        busiest = sorted(run.redis.commands.items(), key=lambda item: -item[1][1])[:top]
        requests = max(1, run.wrk.requests)
        lines.append(
            "      all commands: "
            + "; ".join(
                f"{name} {calls / requests:,.1f}× {usec / requests:,.0f} µs"
                for name, (calls, usec) in busiest
            )
        )
    return lines


def stream_rows(streams: list[StreamRun], events: int, per_second: float) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        (
            f"listeners ({events} events at {per_second:g}/s)", "connected", "refused", "failed",
            "p50 ms", "p99 ms", "max ms", "lost events", "listeners missing any", "API CPU", "API RSS +MB",
            "Redis CPU", "client lag p99 ms", "other CPU", "load",
        )
    ]  # fmt: skip
    if any(run.full_collections is not None for run in streams):
        rows[0] += ("API full GCs", "GC ms total / max")
    for run in streams:
        refused = sum(run.opened.refused.values())
        delivery = run.delivery
        rows.append(
            (
                f"{run.listeners:,}",
                f"{len(run.opened.listeners):,}",
                f"{refused:,}",
                f"{run.opened.failed:,}",
                f"{delivery.p50_ms:,.1f}",
                f"{delivery.p99_ms:,.1f}",
                f"{delivery.max_ms:,.1f}",
                f"{delivery.lost:,} of {delivery.listeners * events:,}",
                f"{delivery.listeners_missing:,}",
                f"{run.cpu.api:.0%}",
                f"{run.rss_growth_bytes / 1e6:,.0f}",
                f"{run.redis_cpu_seconds / run.cpu.seconds:.0%}",
                f"{delivery.loop_lag_p99 * 1000:,.1f}",
                f"{run.cpu.other:.0%}",
                f"{run.cpu.load:.2f}",
            )
        )
        if len(rows[0]) > len(rows[-1]):
            pauses = run.full_collections or []
            rows[-1] += (
                f"{len(pauses):,}",
                f"{sum(pauses) * 1000:,.0f} / {max(pauses, default=0) * 1000:,.0f}",
            )
    return rows


def burst_lines(bursts: list[BurstRun]) -> list[str]:
    lines = [""]
    for burst in bursts:
        refused = ", ".join(f"{count:,} × {status}" for status, count in sorted(burst.opened.refused.items()))
        answered = len(burst.opened.listeners)
        lines.append(
            f"{burst.listeners:,} listeners opened at once: {answered:,} answered 200 "
            f"({answered - burst.delivery.listeners_missing:,} of them then carried an event appended "
            f"after the burst), refused {sum(burst.opened.refused.values()):,}"
            f"{f' ({refused})' if refused else ''}, failed {burst.opened.failed:,} (no answer in 30 s); "
            f"answers within {burst.seconds:.1f} s, time to 200 p50 {burst.median_ms:,.0f} ms, "
            f"p99 {burst.time_to_answer_ms(0.99):,.0f} ms"
        )
    return lines
