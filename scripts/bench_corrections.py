"""The accuracy the quality report measures from reviewers' corrections, on a real recording.

A Python participant plays a recording (one of /work/shared/speech/, whose README gives its
reference text) into a room of the real server with its embedded engine; once the captions are
final, a reviewer corrects every caption of the session through the API to what the reference
says it should have been (`captionlog.accuracy.reference_per_caption` splits the reference into
one correction per caption). The quality report's word error rate from corrections is printed
beside the WER of the live captions against the whole reference, which it must equal.

    .venv/bin/python scripts/bench_corrections.py                                # two_cities.wav
    .venv/bin/python scripts/bench_corrections.py --recording /work/shared/speech/jfk.flac
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captionlog.accuracy import reference_per_caption, word_error_rate  # noqa: E402
from captionlog.log import LogConfig  # noqa: E402
from client import CaptionClient, WavTrack, load_audio  # noqa: E402
from sfu.config import ServerConfig  # noqa: E402
from sfu.server import CaptionServer  # noqa: E402
from tests.integration.conftest import http_request  # noqa: E402

SPEECH = Path("/work/shared/speech")
REVIEWER = "bench-reviewer"
HEADERS = {"Authorization": f"Bearer {REVIEWER}", "Content-Type": "application/json"}


def reference_of(recording: Path) -> str:
    """The recording's reference text, from the table of the README beside it."""
    readme = recording.parent / "README.md"
    if not readme.is_file():
        raise SystemExit(f"bench_corrections: no README.md beside {recording}: give --reference")
    for line in readme.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == recording.name and len(cells) >= 4:
            return cells[-1]
    raise SystemExit(f"bench_corrections: {readme} has no row for {recording.name}")


async def api(port: int, method: str, path: str, body: object = None) -> dict:
    raw = json.dumps(body).encode() if body is not None else None
    status, _, reply = await http_request(port, method, path, HEADERS, raw)
    if status != 200:
        raise SystemExit(f"bench_corrections: {method} {path} answered {status}: {reply[:200]!r}")
    value: dict = json.loads(reply)
    return value


async def run(recording: Path, reference: str, language: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = LogConfig(path=Path(tmp) / "captions.db", reviewer_token=REVIEWER)
        server = CaptionServer(ServerConfig(port=0, log=log))
        await server.start()
        try:
            await measure(server, recording, reference, language)
        finally:
            await server.stop()


async def measure(server: CaptionServer, recording: Path, reference: str, language: str) -> None:
    url = f"ws://127.0.0.1:{server.port}/ws"
    track = WavTrack(load_audio(recording))  # then silence, which ends the last caption
    ada = CaptionClient(url, room="recorded", name="Ada", audio=track, language=language)
    carol = CaptionClient(url, room="recorded", name="Carol", language=language)
    await ada.join()
    await carol.join()
    try:
        await asyncio.wait_for(track.finished.wait(), 600)
        await settled(carol)
    finally:
        await ada.leave()
        await carol.leave()
    [session] = (await api(server.port, "GET", "/api/sessions?room=recorded"))["sessions"]
    detail = await api(server.port, "GET", f"/api/sessions/{session['id']}")
    segments = detail["segments"]
    live = [s["text"] for s in segments]
    for segment, share in zip(segments, reference_per_caption(reference, live), strict=True):
        path = f"/api/sessions/{session['id']}/segments/{quote(segment['segment'], safe='')}"
        body = {"text": share, "rev": segment["rev"], "note": "from the reference transcript"}
        await api(server.port, "PATCH", path, body)
    report = await api(server.port, "GET", f"/api/sessions/{session['id']}/quality")
    accuracy = report["accuracy"]
    direct = word_error_rate(reference, " ".join(live))
    print(f"{recording.name}: {len(segments)} captions from {server.captioning.engine_name}")
    print(f"  live captions: {' | '.join(live)}")
    print(
        f"  WER from corrections (quality report): {100 * (accuracy['wer'] or 0):.1f} % "
        f"({accuracy['errors']} errors / {accuracy['words']} words, {accuracy['reviewed']} "
        f"reviewed, {accuracy['changed']} changed)"
    )
    print(f"  WER of the live text against the whole reference: {100 * direct:.1f} %")
    if abs((accuracy["wer"] or 0) - direct) > 1e-3:
        raise SystemExit("bench_corrections: the two WERs differ")


async def settled(listener: CaptionClient, quiet: float = 3.0, timeout: float = 120.0) -> None:
    """Until every segment shown has its final caption and nothing new came for `quiet` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finals = {r.caption.segment for r in listener.captions if r.caption.final}
        open_segments = any(r.caption.segment not in finals for r in listener.captions)
        last = max((r.received_at for r in listener.captions), default=0.0)
        if listener.captions and not open_segments and time.time() - last >= quiet:
            return
        await asyncio.sleep(0.25)
    raise SystemExit("bench_corrections: the captions did not settle")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recording", type=Path, default=SPEECH / "two_cities.wav")
    parser.add_argument("--reference", help="what was said (default: the README beside it)")
    parser.add_argument("--language", default="en", help="join.language of the room")
    args = parser.parse_args(argv)
    if not args.recording.is_file():
        parser.error(f"{args.recording} does not exist")
    if not re.fullmatch(r"[a-z]{2,3}", args.language):
        parser.error("--language is a code such as en or fr")
    reference = args.reference or reference_of(args.recording)
    asyncio.run(run(args.recording, reference, args.language))


if __name__ == "__main__":
    main()
