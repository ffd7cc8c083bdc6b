"""`livecaptions-captioner`: serve our engines over Kyutai's streaming-ASR protocol."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from captioner.engines import ENGINES
from captioner.kyutai.config import KyutaiConfig
from captioner.whisper.config import PINNED_MODEL_SHA256, add_model_arguments, whisper_config

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
    parser.add_argument("--engine", default="whisper", choices=ENGINES)
    parser.add_argument("--checkpoint", help="kyutai: a checkpoint directory or cached repo id")
    parser.add_argument("--device", default="cpu", help="kyutai: cpu, cuda or cuda:N")
    parser.add_argument("--slots", type=int, default=16, help="kyutai: streams per batch")
    add_model_arguments(parser)
    parser.add_argument("--model-dir", type=Path, help="whisper: a CTranslate2 model directory")
    parser.add_argument(
        "--model-sha256", help="whisper: expected sha256 of model.bin; 'none' to skip the check"
    )
    parser.add_argument("--cpu-threads", type=int, default=2, help="engine threads on a CPU")
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
    if args.engine == "kyutai" and not args.checkpoint:
        parser.error("--engine kyutai needs --checkpoint DIR_OR_REPO_ID")
    if args.slots < 1 or (args.max_streams is not None and args.max_streams < 1):
        parser.error("--slots and --max-streams must be at least 1")
    return args


def api_keys(args: argparse.Namespace, environ: dict[str, str]) -> frozenset[str]:
    keys = list(args.api_key)
    if args.api_key_file is not None:
        keys += args.api_key_file.read_text().split()
    keys += [k for k in environ.get(KEY_ENV, "").split(",") if k.strip()]
    return frozenset(k.strip() for k in keys if k.strip())


def config_from_args(args: argparse.Namespace, environ: dict[str, str]) -> CaptionServerConfig:
    if args.model_sha256 == "none":
        sha256 = None
    else:
        sha256 = args.model_sha256 or (None if args.model_dir else PINNED_MODEL_SHA256)
    return CaptionServerConfig(
        host=args.host,
        port=args.port,
        engine=args.engine,
        whisper=whisper_config(args, sha256=sha256),
        kyutai=KyutaiConfig(
            checkpoint=args.checkpoint,
            device=args.device,
            slots=args.slots,
            cpu_threads=args.cpu_threads,
            progress=False,
        ),
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
