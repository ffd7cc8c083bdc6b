"""`livecaptions token`: mint a room token and an invitation link, as LiveKit's CLI does; and
the command-line options every token user shares (where the keys come from, durations)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode

from .errors import AccessConfigError
from .grants import CAPTIONER_GRANTS, DEFAULT_GRANTS, Grant, parse_grants
from .keys import KeyRing
from .tokens import RoomClaims, TokenIssuer

SECRET_ENV = "LIVECAPTIONS_TOKEN_SECRET"
DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """`90`, `30s`, `15m`, `2h`, `7d` as seconds (an argparse type)."""
    match = DURATION.fullmatch(text.strip())
    if match is None or float(match[1]) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m, 2h, 7d")
    return float(match[1]) * UNITS[match[2]]


def add_key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token-secret",
        default=os.environ.get(SECRET_ENV),
        help=f"the secret that signs room tokens (kid 'default'; at least 32 bytes; default: "
        f"${SECRET_ENV})",
    )
    parser.add_argument(
        "--token-keys",
        type=Path,
        metavar="FILE",
        help="a key file, one `KID SECRET` per line, the first signs (rotation; re-read on SIGHUP)",
    )


def key_ring(args: argparse.Namespace) -> KeyRing | None:
    """The keys the options name; None when they name none."""
    if args.token_keys is not None and args.token_secret:
        raise AccessConfigError(
            f"give --token-keys or --token-secret (${SECRET_ENV}), not both: put the secret in "
            "the key file"
        )
    if args.token_keys is not None:
        return KeyRing.from_file(args.token_keys)
    if args.token_secret:
        return KeyRing.from_secret(args.token_secret)
    return None


def invitation(url: str, room: str, token: str, page: str = "/") -> str:
    return f"{url.rstrip('/')}{page}?{urlencode({'room': room, 'token': token})}"


CAPTIONER_PAGE = "/captioner/"


def parse_token_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="livecaptions token",
        description="Mint a room token (a JWT signed with the server's key) and an invitation "
        "link.",
    )
    parser.add_argument("--room", required=True, help="a room, or a pattern with * (team-*)")
    parser.add_argument("--identity", required=True, help="who the token is for (`sub`)")
    parser.add_argument("--name", help="the name others see (default: the identity)")
    parser.add_argument("--ttl", type=duration, default=duration("2h"), help="e.g. 2h, 30m, 7d")
    parser.add_argument(
        "--grant",
        action="append",
        choices=[g.value for g in Grant],
        help="a grant (repeatable); default: " + ", ".join(sorted(DEFAULT_GRANTS)),
    )
    parser.add_argument(
        "--captioner",
        action="store_true",
        help="a human captioner's token (" + ", ".join(sorted(CAPTIONER_GRANTS)) + ") and a "
        "link to the captioner page",
    )
    parser.add_argument(
        "--url", default="http://127.0.0.1:8080", help="the server, for the invitation link"
    )
    add_key_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, now: float | None = None) -> int:
    args = parse_token_args(argv)
    try:
        keys = key_ring(args)
        if keys is None:
            raise AccessConfigError(f"no key: give --token-secret, ${SECRET_ENV} or --token-keys")
        issued = time.time() if now is None else now
        claims = RoomClaims(
            identity=args.identity,
            name=args.name or args.identity[:64],
            room=args.room,
            issued_at=issued,
            expires=issued + args.ttl,
            grants=grants_of(args),
        )
    except (AccessConfigError, ValueError) as exc:
        print(f"livecaptions token: {exc}", file=sys.stderr)
        return 2
    token = TokenIssuer(keys).mint(claims)
    print(token)
    if "*" not in args.room:
        print(invitation(args.url, args.room, token, CAPTIONER_PAGE if args.captioner else "/"))
    return 0


def grants_of(args: argparse.Namespace) -> frozenset[Grant]:
    if args.captioner and args.grant:
        raise AccessConfigError("--captioner sets the grants: give it or --grant, not both")
    if args.captioner:
        return CAPTIONER_GRANTS
    return parse_grants(args.grant) if args.grant else DEFAULT_GRANTS
