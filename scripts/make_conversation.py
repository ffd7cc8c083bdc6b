"""Synthesise a multi-speaker conversation with espeak-ng: known text, known utterance times.

Writes one 48 kHz mono 16-bit WAV per speaker (silent while the others speak, all the same length)
and manifest.json with who said what, when. Feed each WAV to one participant (tests, the latency
benchmark, the load test) and compare the captions with the manifest.

    python scripts/make_conversation.py --out out/conversation
    python scripts/make_conversation.py --out out/c --script my_turns.json
      (my_turns.json: {"voices": {"Ada": "en-us"}, "turns": [["Ada", "Hello."], ...]})
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from client.audio import RATE
from client.speech import conversation

DEFAULT = {
    "voices": {"Ada": "en-us", "Bob": "en-gb+m3"},
    "turns": [
        ["Ada", "Good morning everyone. The budget for next year is finally approved."],
        ["Bob", "That is great news. I will tell the design team this afternoon."],
        ["Ada", "Thank you. Please book the large room for the planning meeting."],
        ["Bob", "Sure, I will send the invitation after lunch."],
    ],
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--script", type=Path, help="JSON with voices and turns")
    parser.add_argument("--gap", type=float, default=1.2, help="silence between turns, seconds")
    args = parser.parse_args(argv)
    script = json.loads(args.script.read_text()) if args.script else DEFAULT
    turns = [(speaker, text) for speaker, text in script["turns"]]
    tracks, timetable = conversation(turns, script["voices"], gap=args.gap)
    args.out.mkdir(parents=True, exist_ok=True)
    files = {}
    for speaker, pcm in tracks.items():
        path = args.out / f"{speaker}.wav"
        sf.write(path, pcm, RATE, subtype="PCM_16")
        files[speaker] = path.name
    manifest = {
        "sample_rate": RATE,
        "files": files,
        "utterances": [asdict(u) for u in timetable],
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(f"wrote {len(files)} tracks and manifest.json to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
