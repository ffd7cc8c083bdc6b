"""`livecaptions-review`: the caption log from a terminal.

    livecaptions-review sessions [--room R] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
    livecaptions-review show SESSION
    livecaptions-review export SESSION --format vtt|srt|txt|json [--original] [--out FILE]
    livecaptions-review search WORDS [--room R]
    livecaptions-review quality SESSION
    livecaptions-review delete SESSION
    livecaptions-review purge --days N

SESSION is a session id or a unique prefix of one (the first 8 characters `sessions` prints).
It reads the same SQLite file as the server (`--db`, default livecaptions.db), safely while the
server runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import exports, quality
from .backends import Store as CaptionStore
from .backends import log_target, open_store
from .dates import utc_day
from .errors import BadQuery, LogError, NotFound


def _date(value: str) -> str:
    try:
        utc_day(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _when(unix: float | None) -> str:
    return "-" if unix is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix))


def resolve(store: CaptionStore, prefix: str) -> str:
    if len(prefix) < 4 or not all(c in "0123456789abcdef" for c in prefix):
        raise BadQuery(f"{prefix!r} is not a session id (at least 4 hex characters)")
    matches: list[str] = [
        s["id"] for s in store.sessions(limit=1_000_000) if str(s["id"]).startswith(prefix)
    ]
    if not matches:
        raise NotFound(f"no session {prefix!r}")
    if len(matches) > 1:
        raise BadQuery(f"{prefix!r} matches {len(matches)} sessions; give more characters")
    return matches[0]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="livecaptions-review", description="Review, search and export logged captions."
    )
    parser.add_argument(
        "--db",
        type=log_target,
        default=Path("livecaptions.db"),
        help="an SQLite file (default %(default)s) or a postgresql:// URL",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("sessions", help="list sessions, newest first")
    listing.add_argument("--room")
    listing.add_argument("--from", dest="since", type=_date)
    listing.add_argument("--to", dest="until", type=_date)
    listing.add_argument("--limit", type=int, default=50)
    commands.add_parser("show", help="a session's transcript").add_argument("session")
    export = commands.add_parser("export", help="a session as WebVTT, SRT, text or JSON")
    export.add_argument("session")
    export.add_argument("--format", choices=sorted(exports.FORMATS), default="vtt")
    export.add_argument(
        "--original", action="store_true", help="the text as captioned, before corrections"
    )
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    search = commands.add_parser("search", help="full-text search across sessions")
    search.add_argument("words", nargs="+")
    search.add_argument("--room")
    search.add_argument("--limit", type=int, default=50)
    commands.add_parser("quality", help="a session's quality report (JSON)").add_argument("session")
    commands.add_parser("delete", help="delete a session and its captions").add_argument("session")
    purge = commands.add_parser("purge", help="delete captions older than --days")
    purge.add_argument("--days", type=float, required=True)
    return parser.parse_args(argv)


def run(args: argparse.Namespace, store: CaptionStore) -> str:
    if args.command == "sessions":
        since = utc_day(args.since) if args.since else None
        until = utc_day(args.until, end=True) if args.until else None
        rows = store.sessions(room=args.room, since=since, until=until, limit=args.limit)
        lines = [f"{'session':8}  {'room':20} {'started (UTC)':19}  {'ended':19}  segments flags"]
        for s in rows:
            lines.append(
                f"{s['id'][:8]}  {s['room']:20} {_when(s['started_unix'])}  "
                f"{_when(s['ended_unix'])}  {s['segments']:8} {s['flags']:5}"
            )
        return "\n".join(lines)
    if args.command == "search":
        hits = store.search(" ".join(args.words), room=args.room, limit=args.limit)
        return "\n".join(
            f"{h['session_id'][:8]} {h['room']} [{exports.timestamp(h['start'])[:8]}] "
            f"{h['speaker_name'] or '?'}: {h['snippet']}"
            for h in hits
        )
    if args.command == "purge":
        return f"purged {store.purge(args.days)} segments"
    session_id = resolve(store, args.session)
    if args.command == "delete":
        store.delete_session(session_id)
        return f"deleted session {session_id}"
    session, segments = store.session(session_id), store.segments(session_id)
    if args.command == "show":
        return exports.to_text(session, segments).rstrip("\n")
    if args.command == "quality":
        report = quality.report(
            session,
            segments,
            store.speech(session_id),
            store.flags(session_id),
            store.corrections(session_id),
        )
        return json.dumps(report, indent=2, ensure_ascii=False)
    text = exports.export(
        args.format,
        session,
        segments,
        corrections=store.corrections(session_id),
        original=args.original,
    )
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
        return f"wrote {args.out}"
    return text.rstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        store = open_store(args.db, create=False)
        try:
            print(run(args, store))
        finally:
            store.close()
    except (LogError, OSError) as exc:
        print(f"livecaptions-review: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
