"""``filegate licence keygen | issue | show``: the vendor's tools, and a look at the licence in use."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from filegate.licence.check import evaluate
from filegate.licence.document import FEATURES, LicenceError, Terms, new_key_pair, sign
from filegate.settings import Settings
from filegate.units import parse_size


def add_commands(commands: Any) -> None:
    licence = commands.add_parser("licence", help="make keys, issue licences, show the licence in use")
    actions = licence.add_subparsers(dest="action", required=True)
    keygen = actions.add_parser("keygen", help="a new Ed25519 key pair for signing licences")
    keygen.add_argument("--private-key", type=Path, required=True, help="file to write the private key to")
    issue = actions.add_parser("issue", help="sign a licence and print it")
    issue.add_argument("--private-key", type=Path, required=True)
    issue.add_argument("--licensee", required=True)
    issue.add_argument("--expires", type=date.fromisoformat, required=True, help="last valid day, YYYY-MM-DD")
    issue.add_argument("--max-concurrent-builds", type=int, required=True)
    issue.add_argument("--max-archive-size", type=parse_size, required=True, help="like 500GB")
    issue.add_argument(
        "--feature", action="append", choices=FEATURES, help="granted feature; repeatable (default: all)"
    )
    actions.add_parser("show", help="verify the configured licence and print its state")


def run(settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "keygen":
        private_key, public_key = new_key_pair()
        if args.private_key.exists():
            sys.exit(f"filegate: {args.private_key} exists; not overwriting a signing key")
        args.private_key.touch(mode=0o600)
        args.private_key.write_text(private_key + "\n")
        print(f"private key written to {args.private_key} (keep it secret: it issues licences)")
        print(f"FILEGATE_LICENCE_PUBLIC_KEY={public_key}")
    elif args.action == "issue":
        terms = Terms(
            licensee=args.licensee,
            expires=args.expires,
            max_concurrent_builds=args.max_concurrent_builds,
            max_archive_size=args.max_archive_size,
            features=tuple(args.feature or FEATURES),
            licence_id=secrets.token_hex(8),
            issued=datetime.now(UTC).date(),
        )
        try:
            print(sign(terms, args.private_key.read_text()))
        except (OSError, LicenceError) as exc:
            sys.exit(f"filegate: {exc}")
    else:
        state = evaluate(settings)
        print(json.dumps(state.public(), indent=2))
        if not state.allows_new_downloads:
            sys.exit(1)
