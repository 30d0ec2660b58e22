"""`webtext forget RUN_DIR (--url URL | --domain D | --list FILE)`: a takedown after the fact.

Removes the matching documents from documents/, rewrites only the token shards that held
them, index.json, the stage markers, ledger and stats, and appends the removal (ids and
URLs, when, why) to RUN_DIR/forget.log. See webtext/forget.py.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a finished run directory")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--url", action="append", help="a URL to remove (URL* for a prefix)")
    what.add_argument("--domain", action="append", help="a domain (and its subdomains)")
    what.add_argument("--list", action="append", help="a takedown list file (see README)")
    parser.add_argument("--reason", default="", help="why, recorded in forget.log")


def main(args: argparse.Namespace) -> int:
    from webtext.forget import forget_run
    from webtext.takedown import Takedown, TakedownError, load_lists

    try:
        if args.list:
            takedown = load_lists(args.list)
        else:
            takedown = Takedown()
            for entry in args.url or args.domain:
                if args.domain and "://" in entry:
                    raise TakedownError(f"--domain takes a domain, not a URL: {entry!r}")
                if args.url and "://" not in entry:
                    raise TakedownError(f"--url takes http(s)://... URLs, got {entry!r}")
                takedown.add(entry, where="--url: " if args.url else "--domain: ")
    except TakedownError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    flag = "url" if args.url else "domain" if args.domain else "list"
    values = args.url or args.domain or args.list
    why = f"webtext forget --{flag} " + " ".join(values)
    if args.reason:
        why += f" ({args.reason})"
    try:
        result = forget_run(args.run_dir, takedown, why=why)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0
