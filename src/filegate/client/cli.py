"""``filegate get | status | result | cancel``: a user's commands against a filegate server.

Exit codes: 0 done, 1 the server refused or the build failed (reason printed), 2 usage,
3 server unreachable (or answering 503), 4 checksum mismatch, 130 interrupted (Ctrl-C)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any

from filegate.client.api import Client
from filegate.client.config import ConfigError, resolve_config
from filegate.client.display import Display, make_display
from filegate.client.errors import ApiError, ChecksumMismatch, ConnectionFailed, TicketNotReady
from filegate.client.models import Part
from filegate.units import parse_duration, parse_size

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_CHECKSUM, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
COMMANDS = ("get", "status", "result", "cancel")


def _checked(parse: Any, what: str) -> Any:
    def check(text: str) -> str:
        try:
            parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what}: {exc}") from exc
        return text

    return check


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="filegate's URL (else FILEGATE_SERVER, else the config file)")
    parser.add_argument("--key", help="API key or session token (else FILEGATE_KEY, else the config file)")


def add_commands(commands: Any) -> None:
    get = commands.add_parser("get", help="download files and folders as a prepared archive")
    get.add_argument("paths", nargs="+", metavar="PATH", help="files and folders on the server")
    get.add_argument("-o", "--output", type=Path, default=Path("."), help="folder for the parts (default .)")
    get.add_argument("--split", type=_checked(parse_size, "size"), help="largest part, like 2GB")
    get.add_argument("--expires", type=_checked(parse_duration, "duration"), help="link lifetime, like 2d")
    get.add_argument("--compression", choices=["auto", "store", "deflate"])
    get.add_argument("--name", help="the archive's name, without .zip")
    get.add_argument("--priority", choices=["high", "normal", "low"])
    _add_connection(get)
    status = commands.add_parser("status", help="a ticket's state, or its events with --follow")
    status.add_argument("ticket_id")
    status.add_argument("--follow", action="store_true", help="print each event until the final state")
    _add_connection(status)
    for name, text in (("result", "a ready ticket's parts and links"), ("cancel", "cancel or release it")):
        command = commands.add_parser(name, help=text)
        command.add_argument("ticket_id")
        _add_connection(command)


def _fail(text: str, code: int) -> int:
    print(f"filegate: {text}", file=sys.stderr, flush=True)
    return code


def run(args: argparse.Namespace) -> int:
    """Run one of ``COMMANDS``; the exit code, with one line on standard error for any failure."""
    try:
        config = resolve_config(args.server, args.key)
    except ConfigError as exc:
        return _fail(f"bad config file: {exc}", EXIT_USAGE)
    with Client(config.server, config.key) as client:
        try:
            if args.command == "get":
                return _get(client, args)
            if args.command == "status" and args.follow:
                display = make_display()
                try:
                    state = client.wait(args.ticket_id, on_event=display.event)
                finally:
                    display.close()
                return EXIT_OK if state.status == "ready" else EXIT_FAILED
            print(json.dumps(_once(client, args.command, args.ticket_id), indent=2))
            return EXIT_OK
        except ConnectionFailed as exc:
            hint = "is the server running, and is --server (or FILEGATE_SERVER) right?"
            return _fail(f"{exc}; {hint}", EXIT_UNREACHABLE)
        except ApiError as exc:
            if exc.status_code == 503:
                # Up, but without its Redis or its store: nothing the caller can change but the time.
                return _fail(f"the server is unavailable: {exc}; try again later", EXIT_UNREACHABLE)
            return _fail(f"the server refused: {exc}", EXIT_FAILED)
        except KeyboardInterrupt:
            return _fail("interrupted", EXIT_INTERRUPTED)


def _once(client: Client, command: str, ticket_id: str) -> dict[str, Any]:
    if command == "result":
        return client.result(ticket_id).raw
    return (client.cancel if command == "cancel" else client.state)(ticket_id).raw


def _get(client: Client, args: argparse.Namespace) -> int:
    """Create the ticket, follow it, and save each part as soon as it is committed (a split
    archive's first part downloads while the next ones build)."""
    ticket = client.create_download(
        args.paths,
        name=args.name,
        split=args.split,
        expires=args.expires,
        compression=args.compression,
        priority=args.priority,
    )
    display = make_display()
    saved: set[str] = set()
    try:
        display.created(ticket)
        try:
            for event in client.events(ticket.ticket_id):
                display.event(event)
                if event.name == "part_ready":
                    code = _save_new(
                        client, client.result(ticket.ticket_id).parts, saved, args.output, display
                    )
                    if code is not None:
                        return code
            state = client.state(ticket.ticket_id)
        except KeyboardInterrupt:
            _cancel_quietly(client, ticket.ticket_id, display)
            return EXIT_INTERRUPTED
        if state.status != "ready":
            reason = TicketNotReady(ticket.ticket_id, state.status, state.error)
            return _fail(str(reason), EXIT_FAILED)
        parts = client.result(ticket.ticket_id).parts
        code = _save_new(client, parts, saved, args.output, display)
        if code is not None:
            return code
        display.say(f"done: {len(parts)} part{'s' if len(parts) != 1 else ''} in {args.output}")
        return EXIT_OK
    finally:
        display.close()


def _cancel_quietly(client: Client, ticket_id: str, display: Display) -> None:
    """Ctrl-C while the archive is being made: the ticket is ours to drop (a build others share
    goes on for them: the server decides that)."""
    try:
        state = client.cancel(ticket_id)
        display.say(f"interrupted: ticket {ticket_id} is {state.status}")
    except (ApiError, ConnectionFailed) as exc:
        display.say(f"interrupted: ticket {ticket_id} could not be cancelled: {exc}")


def _save_new(
    client: Client, parts: tuple[Part, ...], saved: set[str], output: Path, display: Display
) -> int | None:
    """Save each of ``parts`` not in ``saved`` yet (adding it): None when all went well, else the
    exit code, its line printed. Ctrl-C while a part downloads leaves the ticket alive, so that
    running the same command again joins its build and continues from the saved bytes."""
    for part in parts:
        if part.name in saved:
            continue
        display.part_started(part)
        try:
            done = client.save_part(part, output, on_bytes=functools.partial(display.part_bytes, part))
        except ChecksumMismatch as exc:
            display.close()
            if exc.path.exists():
                return _fail(f"{exc}; remove it to download it again", EXIT_CHECKSUM)
            return _fail(f"{exc}; the partial file was removed, run the command again", EXIT_CHECKSUM)
        except KeyboardInterrupt:
            display.say(f"interrupted: {part.name} stays partly downloaded; run the same command to continue")
            return EXIT_INTERRUPTED
        saved.add(part.name)
        check = "SHA-256 verified" if part.sha256 else "size verified (a file linked directly has no SHA-256)"
        if done.is_skipped:
            display.part_done(part, f"already on disk, {check}")
        elif done.reused_bytes:
            display.part_done(part, f"resumed after {done.reused_bytes} bytes, {check}")
        else:
            display.part_done(part, check)
    return None
