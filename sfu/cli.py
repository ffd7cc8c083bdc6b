"""`livecaptions`: run the caption server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from access.cli import add_key_arguments, key_ring
from access.config import AccessConfig, OidcConfig
from access.errors import AccessConfigError
from access.keys import KeyRing
from access.rooms import LANGUAGE, RoomAccess, RoomPolicy
from captioner.engines import EngineArgumentError, add_engine_arguments, engine_choice
from captionlog.backends import log_target
from captionlog.log import LogConfig
from sfu.captioning.stream import CaptionMode
from sfu.cluster import ClusterConfig, ClusterError
from sfu.config import LOOPBACK, ServerConfig
from sfu.media.speaking import SpeakingConfig
from sfu.rooms.graph import MAX_SUBSCRIBER_VIDEO
from sfu.rooms.language import LanguageDefaults, UnsupportedLanguage, primary
from sfu.server import CaptionServer

logger = logging.getLogger(__name__)

PARTICIPANT_TOKEN_ENV = "LIVECAPTIONS_PARTICIPANT_TOKEN"
REVIEWER_TOKEN_ENV = "LIVECAPTIONS_REVIEWER_TOKEN"
MAX_SECRET_BYTES = 4096


class SecretError(ValueError):
    """A secret given twice, or a secret file that cannot be used."""


def secret(
    flag: str | None, path: Path | None, env_name: str, environ: Mapping[str, str]
) -> str | None:
    """One secret from its flag, its file (first line, without the newline) or the environment,
    in that order of precedence; a flag and a file together are a mistake."""
    if flag is not None and path is not None:
        raise SecretError(f"give the {env_name} secret as a flag or a file, not both")
    if path is not None:
        return _read_secret(path)
    if flag is not None:
        return flag or None
    return environ.get(env_name) or None


def _read_secret(path: Path) -> str:
    try:
        raw = path.read_bytes()[: MAX_SECRET_BYTES + 1]
        value = raw.decode("utf-8").splitlines()[0].strip() if raw.strip() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read the secret file {path}: {exc}") from None
    if not value or len(raw) > MAX_SECRET_BYTES:
        raise SecretError(f"the secret file {path} must hold one non-empty line of text")
    return value


def parse_args(
    argv: Sequence[str] | None, environ: Mapping[str, str] = os.environ
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="livecaptions", description="Self-hosted live captions for WebRTC meetings."
    )
    parser.add_argument(
        "--host", default=LOOPBACK, help="address to listen on (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default %(default)s)")
    parser.add_argument(
        "--ice-host",
        action="append",
        dest="ice_hosts",
        metavar="ADDRESS",
        help="an address ICE may use (repeatable). Default: 127.0.0.1 when listening on "
        "loopback, every interface otherwise",
    )
    parser.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="a STUN or TURN URL (repeatable); none by default",
    )
    parser.add_argument(
        "--participant-token",
        help="a token every join must carry (visible to other local users in the process list: "
        "prefer --participant-token-file or $LIVECAPTIONS_PARTICIPANT_TOKEN)",
    )
    parser.add_argument(
        "--participant-token-file", type=Path, metavar="PATH", help="read it from this file"
    )
    parser.add_argument(
        "--metrics-room-labels",
        action="store_true",
        help="name rooms on /metrics (room names may be confidential; default: totals only)",
    )
    parser.add_argument(
        "--max-participants",
        type=int,
        default=150,
        help="per room: one more gets room-full (default 150; docs/large-rooms.md)",
    )
    parser.add_argument(
        "--forward-speakers",
        type=int,
        default=SpeakingConfig().max_speakers,
        metavar="N",
        help="forward the audio of at most N speaking participants at once, the loudest, from "
        "the audio level their packets carry (default %(default)s); 0: forward every "
        "participant's audio, silent or not",
    )
    parser.add_argument(
        "--max-video",
        type=int,
        default=MAX_SUBSCRIBER_VIDEO,
        metavar="N",
        help="forward at most N cameras and screens to each participant: screens, pinned "
        "cameras, the last speakers', then the page of tiles it shows (default %(default)s)",
    )
    parser.add_argument(
        "--caption-mode",
        choices=[m.value for m in CaptionMode],
        default=CaptionMode.MIXED.value,
        help="mixed: one stream per room (default); per-speaker: one per participant",
    )
    parser.add_argument(
        "--per-speaker-room",
        action="append",
        default=[],
        metavar="ROOM",
        help="a room captioned per speaker whatever --caption-mode says (repeatable)",
    )
    add_engine_arguments(parser, progress=True)
    parser.add_argument(
        "--language",
        metavar="CODE",
        help="caption rooms whose participants chose no language in this one (e.g. fr) instead "
        "of detecting it; a rooms-file rule's `language` comes first, participants' choices win",
    )
    parser.add_argument(
        "--log-db",
        type=log_target,
        default=Path("livecaptions.db"),
        help="the caption log: an SQLite file (default %(default)s, created if needed), or "
        "postgresql://USER:PASSWORD@HOST:PORT/DB, one log shared by a cluster's nodes",
    )
    parser.add_argument("--no-log", action="store_true", help="do not log captions")
    parser.add_argument(
        "--retention-days",
        type=float,
        default=None,
        help="purge logged captions older than this many days (default: keep them)",
    )
    parser.add_argument(
        "--reviewer-token",
        help="the credential that opens /review/ and /api/ (default: $LIVECAPTIONS_REVIEWER_TOKEN;"
        " unset: no reviewer access)",
    )
    add_access_arguments(parser)
    parser.add_argument(
        "--reviewer-token-file", type=Path, metavar="PATH", help="read it from this file"
    )
    cluster = parser.add_argument_group("cluster (several nodes on one Redis)")
    cluster.add_argument(
        "--redis",
        metavar="URL",
        help="redis://HOST:PORT/DB: be a node of a cluster (default: alone)",
    )
    cluster.add_argument("--node-id", help="this node's name in the cluster (default: HOST:PORT)")
    cluster.add_argument(
        "--advertise-url",
        metavar="URL",
        help="ws://HOST:PORT/ws where other nodes relay signaling to this one (default: the "
        "address it listens on)",
    )
    cluster.add_argument(
        "--drain-timeout",
        type=float,
        default=600.0,
        help="on SIGTERM, seconds to wait for this node's rooms to empty (default %(default)s)",
    )
    cluster.add_argument(
        "--lease-ms",
        type=int,
        default=6000,
        help="a room's lease: a dead node's rooms are free again after this (default %(default)s)",
    )
    parser.add_argument(
        "--captioner",
        action="append",
        default=[],
        metavar="URL",
        help="a caption server, ws://HOST:PORT/api/asr-streaming (ours or Kyutai's moshi-server;"
        " repeatable): caption there instead of in this process",
    )
    parser.add_argument(
        "--captioner-key",
        default=os.environ.get("LIVECAPTIONS_CAPTIONER_KEY"),
        help="the API key sent to caption servers (default: $LIVECAPTIONS_CAPTIONER_KEY)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-json", action="store_true", help="one JSON object per log line")
    args = parser.parse_args(argv)
    try:
        args.participant_token = secret(
            args.participant_token, args.participant_token_file, PARTICIPANT_TOKEN_ENV, environ
        )
        args.reviewer_token = secret(
            args.reviewer_token, args.reviewer_token_file, REVIEWER_TOKEN_ENV, environ
        )
    except SecretError as exc:
        parser.error(str(exc))
    try:
        args.engine_choice = engine_choice(args)
    except EngineArgumentError as exc:
        parser.error(str(exc))
    if args.retention_days is not None and args.retention_days <= 0:
        parser.error("--retention-days must be positive")
    if args.max_video < 0:
        parser.error("--max-video must be 0 (no video forwarded) or more")
    if args.reviewer_token is not None and args.reviewer_token == args.participant_token:
        parser.error("--reviewer-token must differ from --participant-token")
    oidc = (args.oidc_issuer, args.oidc_client_id, args.oidc_client_secret)
    if any(oidc[:2]) and not all(oidc):
        parser.error("single sign-on needs --oidc-issuer, --oidc-client-id, --oidc-client-secret")
    if args.participant_token and (args.token_secret or args.token_keys or args.oidc_issuer):
        parser.error("--participant-token is the shared token of servers without room tokens")
    if args.redis is None and (args.node_id or args.advertise_url):
        parser.error("--node-id and --advertise-url need --redis")
    if args.language is not None and not LANGUAGE.fullmatch(args.language):
        parser.error(f"--language {args.language!r}: give a language code such as fr or en")
    if args.lease_ms < 1000:
        parser.error("--lease-ms must be at least 1000")
    return args


def add_access_arguments(parser: argparse.ArgumentParser) -> None:
    """Room tokens, room access levels, the mint endpoint, single sign-on (README: Access
    control). None of them given: the server is open, or takes --participant-token."""
    add_key_arguments(parser)
    parser.add_argument(
        "--rooms",
        type=Path,
        metavar="FILE",
        help="room access levels (TOML: public, trusted, restricted with identities)",
    )
    parser.add_argument(
        "--default-room-access",
        choices=[a.value for a in RoomAccess],
        help="the level of rooms no rule names (default: the file's, else trusted)",
    )
    parser.add_argument(
        "--mint-token",
        default=os.environ.get("LIVECAPTIONS_MINT_TOKEN"),
        help="the credential of a trusted backend for POST /auth/token (default: "
        "$LIVECAPTIONS_MINT_TOKEN; unset: no mint endpoint)",
    )
    parser.add_argument("--oidc-issuer", metavar="URL", help="the OpenID Connect provider")
    parser.add_argument("--oidc-client-id")
    parser.add_argument(
        "--oidc-client-secret",
        default=os.environ.get("LIVECAPTIONS_OIDC_CLIENT_SECRET"),
        help="default: $LIVECAPTIONS_OIDC_CLIENT_SECRET",
    )
    parser.add_argument(
        "--oidc-reviewer-group",
        metavar="VALUE",
        help="signed-in people whose --oidc-groups-claim holds VALUE get the review grant",
    )
    parser.add_argument(
        "--oidc-captioner-group",
        metavar="VALUE",
        help="signed-in people whose --oidc-groups-claim holds VALUE may caption rooms as human "
        "captioners (the caption grant)",
    )
    parser.add_argument("--oidc-groups-claim", default="groups", help="default %(default)s")
    parser.add_argument(
        "--public-url",
        help="the server's URL as browsers reach it (sign-in redirects; default: http://HOST:PORT)",
    )


def room_policy(args: argparse.Namespace) -> RoomPolicy | None:
    """The rooms file (access levels and languages), read once; None without --rooms."""
    default = RoomAccess(args.default_room_access) if args.default_room_access else None
    return RoomPolicy.from_file(args.rooms, default) if args.rooms else None


def access_from_args(
    args: argparse.Namespace, policy: RoomPolicy | None = None
) -> AccessConfig | None:
    keys = key_ring(args)
    sets_access = policy is not None and policy.sets_access
    if keys is None and not args.oidc_issuer and not sets_access and not args.mint_token:
        return None  # old mode: open, or the shared --participant-token (a rooms file that
        # only sets languages turns no access control on)
    if keys is None and args.mint_token:
        raise AccessConfigError("--mint-token needs a key (--token-secret or --token-keys)")
    default = RoomAccess(args.default_room_access) if args.default_room_access else None
    rooms = policy or RoomPolicy(default or RoomAccess.TRUSTED)
    oidc = None
    if args.oidc_issuer:
        oidc = OidcConfig(
            issuer=args.oidc_issuer,
            client_id=args.oidc_client_id,
            client_secret=args.oidc_client_secret,
            reviewer_claim=args.oidc_groups_claim,
            reviewer_value=args.oidc_reviewer_group,
            captioner_value=args.oidc_captioner_group,
        )
    return AccessConfig(
        keys=keys,
        key_file=args.token_keys,
        rooms=rooms,
        mint_token=args.mint_token,
        oidc=oidc,
        public_url=args.public_url,
    )


def cluster_from_args(args: argparse.Namespace) -> ClusterConfig | None:
    if args.redis is None:
        return None
    renew = args.lease_ms / 3000  # three renewals per lease: one slow Redis call loses nothing
    return ClusterConfig(
        redis_url=args.redis,
        node_id=args.node_id or f"{args.host}:{args.port}",
        advertise_url=args.advertise_url,
        lease_ms=args.lease_ms,
        renew_every=renew,
        load_ttl_ms=args.lease_ms,
        publish_every=renew,
        redis_timeout=min(2.0, renew),
        drain_timeout=args.drain_timeout,
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    if args.ice_hosts is not None:
        ice_hosts = tuple(args.ice_hosts)
    else:
        ice_hosts = (LOOPBACK,) if args.host == LOOPBACK else ()
    policy = room_policy(args)
    rules = policy.rules if policy is not None else ()
    languages = LanguageDefaults(
        deployment=primary(args.language) if args.language else None,
        rooms=tuple((r.name, primary(r.language)) for r in rules if r.language is not None),
    )
    return ServerConfig(
        host=args.host,
        port=args.port,
        ice_hosts=ice_hosts,
        ice_servers=tuple(args.ice_server),
        participant_token=args.participant_token,
        access=access_from_args(args, policy),
        metrics_room_labels=args.metrics_room_labels,
        max_participants=args.max_participants,
        max_subscriber_video=args.max_video,
        speaking=SpeakingConfig(max_speakers=args.forward_speakers)
        if args.forward_speakers > 0
        else None,
        engine=args.engine_choice.name,
        whisper=args.engine_choice.whisper,
        kyutai=args.engine_choice.kyutai,
        caption_mode=CaptionMode(args.caption_mode),
        languages=languages,
        per_speaker_rooms=frozenset(args.per_speaker_room),
        captioners=tuple(args.captioner),
        captioner_key=args.captioner_key or None,
        log=LogConfig(
            path=None if args.no_log else args.log_db,
            retention_days=args.retention_days,
            reviewer_token=args.reviewer_token or None,
        ),
        cluster=cluster_from_args(args),
    )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if as_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("aioice").setLevel(logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)


async def serve(config: ServerConfig) -> None:
    server = CaptionServer(config)
    await server.start()
    engine = server.captioning.engine_name
    print(f"Live captions ready on {server.url}  (engine: {engine})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    reloads: set[asyncio.Task[None]] = set()
    key_file = config.access.key_file if config.access is not None else None
    if key_file is not None:

        def reload() -> None:
            task = asyncio.ensure_future(reload_keys(server, key_file))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, reload)
    await stop.wait()
    if server.cluster is not None:  # drain: rooms run until empty, new ones go elsewhere
        drain_timeout = server.cluster.config.drain_timeout
        print(f"Draining: no new rooms, waiting up to {drain_timeout:g} s", flush=True)
        if not await server.drain(drain_timeout):
            print("Drain timeout: closing the rooms left", flush=True)
    await server.stop()


async def reload_keys(server: CaptionServer, path: Path) -> None:
    """SIGHUP: rotate to the key file's keys; a bad file keeps the keys in use."""
    try:
        keys = await asyncio.to_thread(KeyRing.from_file, path)
    except AccessConfigError as exc:
        logger.error("token keys not reloaded, the previous ones stay: %s", exc)
        return
    server.rotate_keys(keys)
    logger.info("token keys reloaded: %s", ", ".join(k.kid for k in keys.keys))


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["token"]:
        from access.cli import main as token_main

        return token_main(argv[1:])
    args = parse_args(argv)
    configure_logging(args.log_level, args.log_json)
    try:
        config = config_from_args(args)
        run(serve(config))
    except Exception as exc:
        from captioner.errors import CaptionerError
        from captionlog.errors import LogError

        known = CaptionerError | LogError | ClusterError | OSError | AccessConfigError
        if isinstance(exc, known | UnsupportedLanguage):
            print(f"livecaptions: {exc}", file=sys.stderr)
            return 1
        raise
    return 0
