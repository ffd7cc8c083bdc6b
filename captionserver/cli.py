"""`livecaptions-captioner`: serve our engines over Kyutai's streaming-ASR protocol."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from captioner.engines import EngineArgumentError, add_engine_arguments, engine_choice

from .config import LOOPBACK, PATH, CaptionServerConfig
from .server import AsrService

KEY_ENV = "LIVECAPTIONS_CAPTIONER_KEYS"  # comma-separated API keys


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="livecaptions-captioner",
        description=f"Streaming speech-to-text over Kyutai's protocol (GET {PATH}).",
    )
    parser.add_argument(
        "--host", default=LOOPBACK, help="address to listen on (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8090, help="port (default %(default)s)")
    add_engine_arguments(parser, progress=False)
    parser.add_argument(
        "--max-streams",
        type=int,
        help="streams served at once; more get 'no free channels' (default: the engine's slots)",
    )
    parser.add_argument(
        "--api-key", action="append", default=[], metavar="KEY", help="an accepted key (repeatable)"
    )
    parser.add_argument("--api-key-file", type=Path, help="a file of accepted keys, one per line")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.max_streams is not None and args.max_streams < 1:
        parser.error("--max-streams must be at least 1")
    try:
        args.engine_choice = engine_choice(args)
    except EngineArgumentError as exc:
        parser.error(str(exc))
    return args


def api_keys(args: argparse.Namespace, environ: dict[str, str]) -> frozenset[str]:
    keys = list(args.api_key)
    if args.api_key_file is not None:
        keys += args.api_key_file.read_text().split()
    keys += [k for k in environ.get(KEY_ENV, "").split(",") if k.strip()]
    return frozenset(k.strip() for k in keys if k.strip())


def config_from_args(args: argparse.Namespace, environ: dict[str, str]) -> CaptionServerConfig:
    return CaptionServerConfig(
        host=args.host,
        port=args.port,
        engine=args.engine_choice.name,
        whisper=args.engine_choice.whisper,
        kyutai=args.engine_choice.kyutai,
        api_keys=api_keys(args, environ),
        max_streams=args.max_streams,
    )


async def serve(config: CaptionServerConfig) -> None:
    service = AsrService(config)
    await service.start()
    print(f"ASR streaming ready on {service.url}  (engine: {config.engine})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        config = config_from_args(args, dict(os.environ))
        if not config.api_keys and args.host != LOOPBACK:
            print(
                "livecaptions-captioner: warning: no --api-key; anyone may connect", file=sys.stderr
            )
        asyncio.run(serve(config))
    except Exception as exc:
        from captioner.errors import CaptionerError

        if isinstance(exc, CaptionerError | OSError | ValueError):
            print(f"livecaptions-captioner: {exc}", file=sys.stderr)
            return 1
        raise
    return 0
