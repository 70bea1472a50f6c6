"""The ``filegate`` command: the operator's api, worker, beat, flower, dev, apps, users, licence,
and the user's get, status, result, cancel (filegate.client.cli).

Exit codes: 0 done, 1 failed, 2 usage, 3 Redis or the server unreachable, 4 checksum mismatch,
130 interrupted."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import redis.exceptions

from filegate import __version__
from filegate.auth import cli as auth_cli
from filegate.auth.cli import dev_api_key, dev_login
from filegate.client import cli as client_cli
from filegate.licence import cli as licence_cli
from filegate.settings import Settings, SettingsError, StorageKind, load_settings


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        sys.exit(f"filegate: bad configuration: {exc}")


def run_api(settings: Settings) -> None:
    import uvicorn

    from filegate.app import create_app

    # No access log: filegate writes its own line per request (filegate.http), in its log format.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
        # Event streams never end by themselves: without a bound, a stopping API would wait for
        # every browser to leave. Past it the streams are cut, and clients resume elsewhere with
        # Last-Event-ID.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


SHUTDOWN_GRACE_SECONDS = 5


def worker_argv(queues: str, extra: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "filegate.worker",
        "worker",
        "-Q",
        queues,
        "--without-mingle",
        "--without-gossip",
        "-l",
        "INFO",
        *extra,
    ]


DEV_KEY_FILE = Path("data/dev-api-key")
DEV_LOGIN_FILE = Path("data/dev-login")


def run_dev(settings: Settings) -> None:
    """API and one worker in the foreground; Ctrl-C stops both."""
    if settings.storage is StorageKind.LOCAL:
        settings.local_root.mkdir(parents=True, exist_ok=True)
        settings.output_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FILEGATE_LOG_FORMAT", "text")
    settings = load_settings()
    # One worker for both queues, with Celery beat inside it: fine for one machine. In production
    # the queues get their own workers and beat runs once (see README).
    DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    extra = ["--concurrency", "2", "--beat", "--schedule", str(DEV_KEY_FILE.parent / "celerybeat-schedule")]
    worker = subprocess.Popen(worker_argv("downloads,cleanup", extra))
    print(
        f"filegate: API on {settings.effective_public_url} (docs at /docs), worker pid {worker.pid}",
        flush=True,
    )
    page = f"{settings.effective_public_url}/"
    if settings.auth == "on":
        key = dev_api_key(settings, DEV_KEY_FILE)
        print(f"filegate: API key of the development app: {key} (saved in {DEV_KEY_FILE})", flush=True)
        username, password = dev_login(settings, key, DEV_LOGIN_FILE)
        print(
            f"filegate: open {page} and sign in as {username!r} with password {password!r} "
            f"(saved in {DEV_LOGIN_FILE}), or paste the API key",
            flush=True,
        )
    else:
        print(f"filegate: open {page} (auth is off: no sign-in)", flush=True)
    try:
        run_api(settings)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()


# These hand what they do not know to Celery: every other command refuses unknown arguments.
PASS_THROUGH = ("worker", "beat", "flower")
EXIT_UNREACHABLE = 3


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser, and each command's own (whose usage line an error shows)."""
    parser = argparse.ArgumentParser(prog="filegate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"filegate {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("api", help="run the HTTP API")
    worker = commands.add_parser("worker", help="run a Celery worker; extra arguments go to celery")
    worker.add_argument("--queues", "-Q", default="downloads", help="queues to consume (comma separated)")
    commands.add_parser("beat", help="run Celery beat, which schedules the expiry sweep (run one)")
    commands.add_parser(
        "flower", help="run Flower, the Celery monitor (127.0.0.1:5555 unless FLOWER_ADDRESS/--port say)"
    )
    commands.add_parser("dev", help="run the API and a worker together, for local use")
    auth_cli.add_commands(commands)
    licence_cli.add_commands(commands)
    client_cli.add_commands(commands)
    return parser, commands.choices


def package_version() -> str:
    try:
        return importlib.metadata.version("filegate")
    except importlib.metadata.PackageNotFoundError:
        return __version__


def main(argv: list[str] | None = None) -> None:
    parser, command_parsers = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in PASS_THROUGH:
        command_parsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in client_cli.COMMANDS:
        sys.exit(client_cli.run(args))
    settings = _settings_or_exit()
    try:
        _run_operator_command(settings, args, extra)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        sys.exit(_unreachable(settings, exc))
    except KeyboardInterrupt:
        sys.exit(130)


def _unreachable(settings: Settings, exc: Exception) -> int:
    url = settings.redis_url.split("@")[-1]  # no password in the message
    print(
        f"filegate: cannot reach Redis at {url} ({exc}); start it, or set FILEGATE_REDIS_URL",
        file=sys.stderr,
    )
    return EXIT_UNREACHABLE


def _run_operator_command(settings: Settings, args: argparse.Namespace, extra: list[str]) -> None:
    if args.command == "api":
        run_api(settings)
    elif args.command == "worker":
        os.execv(sys.executable, worker_argv(args.queues, extra))
    elif args.command == "beat":
        beat = [sys.executable, "-m", "celery", "-A", "filegate.worker", "beat", "-l", "INFO", *extra]
        os.execv(sys.executable, beat)
    elif args.command == "licence":
        licence_cli.run(settings, args)
    elif args.command in ("apps", "users"):
        auth_cli.run(settings, args)
    elif args.command == "flower":
        # Flower can also revoke tasks and stop workers: it listens on loopback unless told
        # otherwise, and then belongs behind --basic-auth or a proxy (see README).
        os.environ.setdefault("FLOWER_ADDRESS", "127.0.0.1")
        flower = [sys.executable, "-m", "celery", "-A", "filegate.worker", "flower", *extra]
        os.execv(sys.executable, flower)
    else:
        run_dev(settings)


if __name__ == "__main__":
    main()
