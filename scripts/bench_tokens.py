"""What room tokens cost: verification per join (µs), and join latency with and without tokens.

Verification: `TokenVerifier.verify` (kid lookup, HS256 signature, claims, times) and the whole
join decision (`Gatekeeper.admit`), against the shared-token check of servers without room tokens
(`hmac.compare_digest`), measured in the same run.

Join latency: two real servers on loopback, one in the old mode (no token) and one with room
tokens; real aiortc clients join each in turn (interleaved, so that load on the machine hits both
alike). `joined` is the time from sending `join` to the `joined` frame; `ready` is the whole join
(WebSocket, join, offer/answer, ICE, DTLS, the captions channel open).

    python scripts/bench_tokens.py                 # 30 joins per server
    python scripts/bench_tokens.py --joins 50
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from access import KeyRing, RoomClaims, SigningKey, TokenIssuer, TokenVerifier  # noqa: E402
from access.admission import Gatekeeper  # noqa: E402
from access.config import AccessConfig  # noqa: E402
from access.rooms import RoomPolicy  # noqa: E402
from client import CaptionClient  # noqa: E402
from sfu.config import ServerConfig  # noqa: E402
from sfu.server import CaptionServer  # noqa: E402

KEY = SigningKey("bench", b"b" * 32)
OTHER = SigningKey("older", b"o" * 32)


def per_call_us(fn: Callable[[], object], calls: int, rounds: int = 7) -> float:
    """Median over `rounds` of the mean time of one call, in microseconds."""
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        results.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(results)


def mint(room: str = "bench") -> str:
    now = time.time()
    claims = RoomClaims(identity="ada", name="Ada", room=room, issued_at=now, expires=now + 3600)
    return TokenIssuer(KeyRing((KEY,))).mint(claims)


def verification(calls: int) -> None:
    keys = KeyRing((KEY, OTHER))
    verifier = TokenVerifier(keys)
    gatekeeper = Gatekeeper(verifier, RoomPolicy())
    token, shared = mint(), "a-shared-participant-token-of-32b"
    now = time.time()
    baseline = per_call_us(lambda: hmac.compare_digest(shared.encode(), shared.encode()), calls)
    verify = per_call_us(lambda: verifier.verify(token, now), calls)
    admit = per_call_us(lambda: gatekeeper.admit("bench", token, "x", now), calls)
    print(f"shared-token check (baseline)  {baseline:8.2f} µs")
    print(f"TokenVerifier.verify           {verify:8.2f} µs   ({verify / baseline:.0f}x baseline)")
    print(f"Gatekeeper.admit (whole join)  {admit:8.2f} µs   ({admit / baseline:.0f}x baseline)")


async def one_join(server: CaptionServer, token: str) -> tuple[float, float]:
    participant = CaptionClient(
        f"ws://127.0.0.1:{server.port}/ws", room="bench", name="Bench", token=token
    )
    start = time.perf_counter()
    joined_at = 0.0

    def seen() -> bool:
        nonlocal joined_at
        if participant.joined is not None and not joined_at:
            joined_at = time.perf_counter()
        return False

    await participant.connect()
    sent = time.perf_counter()
    watcher = asyncio.ensure_future(participant.wait_for(seen, 60))
    try:
        await participant.join()
        ready = time.perf_counter() - start
    finally:
        watcher.cancel()
        await participant.leave()
    return (joined_at - sent) * 1000, ready * 1000


async def join_latency(joins: int) -> None:
    old = CaptionServer(ServerConfig(port=0))
    tokens = CaptionServer(ServerConfig(port=0, access=AccessConfig(keys=KeyRing((KEY,)))))
    await old.start()
    await tokens.start()
    results: dict[str, list[tuple[float, float]]] = {"old mode": [], "room tokens": []}
    try:
        for _ in range(joins):
            results["old mode"].append(await one_join(old, ""))
            results["room tokens"].append(await one_join(tokens, mint()))
    finally:
        await old.stop()
        await tokens.stop()
    base_joined = statistics.median(j for j, _ in results["old mode"])
    base_ready = statistics.median(r for _, r in results["old mode"])
    for mode, samples in results.items():
        joined = statistics.median(j for j, _ in samples)
        ready = statistics.median(r for _, r in samples)
        print(
            f"{mode:12}  joined p50 {joined:6.2f} ms ({joined / base_joined:.2f}x)   "
            f"ready p50 {ready:7.1f} ms ({ready / base_ready:.2f}x)   n={len(samples)}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=30, help="joins per server")
    parser.add_argument("--calls", type=int, default=5000, help="verifications per round")
    args = parser.parse_args(argv)
    verification(args.calls)
    asyncio.run(join_latency(args.joins))
    return 0


if __name__ == "__main__":
    sys.exit(main())
