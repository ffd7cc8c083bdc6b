"""For tests of what the captions carry (not of speech recognition): a scripted engine that hears
one known sentence every `period` seconds of a stream's audio, whatever the audio, with a known
confidence for each word, first as tentative words (a partial caption), then committed with a
pause (a final one); and which of its captions a participant got after a moment."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from captioner.engine import AudioChunk, StreamUpdate
from client import CaptionClient
from protocol import Word
from sfu.config import ServerConfig
from sfu.server import CaptionServer

# "approved" and "budget." are the words the engine is unsure of (below LOW_CONFIDENCE).
SENTENCE = (("We", 0.96), ("approved", 0.31), ("the", 0.93), ("budget.", 0.22))
UNSURE = ("approved", "budget.")


class ScriptedEngine:
    name = "scripted"
    languages = ("en",)
    capacity = None

    def __init__(self, period: float = 2.0) -> None:
        self.period = period
        self._streams: dict[str, list[float | int]] = {}  # stream → [start, sentences, shown]

    def open_stream(self, stream_id: str, start: float) -> None:
        self._streams[stream_id] = [start, 0, 0]

    def set_language(self, stream_id: str, language: str | None) -> None:
        pass

    def close_stream(self, stream_id: str) -> None:
        self._streams.pop(stream_id, None)

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]:
        updates = []
        for chunk in chunks:
            state = self._streams.get(chunk.stream_id)
            if state is None:
                continue
            start, done, shown = float(state[0]), int(state[1]), int(state[2])
            due = start + self.period * (done + 1)
            words = self._words(start + self.period * done + 0.2)
            if chunk.end >= due:
                state[1], state[2] = done + 1, 0
                updates.append(
                    StreamUpdate(
                        chunk.stream_id, committed=words, end_of_utterance=True, language="en"
                    )
                )
            elif chunk.end >= due - 0.6 and not shown:
                state[2] = 1
                updates.append(StreamUpdate(chunk.stream_id, tentative=words[:2], language="en"))
        return updates

    @staticmethod
    def _words(at: float) -> tuple[Word, ...]:
        return tuple(
            Word(text, at + 0.25 * i, at + 0.25 * i + 0.2, confidence)
            for i, (text, confidence) in enumerate(SENTENCE)
        )


def automatic_since(client: CaptionClient, after: float) -> set[str]:
    """Automatic segments whose first update reached `client` after unix time `after` (with
    0.2 s of slack for what was on its way)."""
    first: dict[str, float] = {}
    for received in client.captions:
        if not received.caption.human:
            first.setdefault(received.caption.segment, received.received_at)
    return {segment for segment, at in first.items() if at > after + 0.2}


@contextlib.asynccontextmanager
async def scripted_server(
    period: float, config: ServerConfig | None = None
) -> AsyncIterator[CaptionServer]:
    """A started server (`config`, by default on a free port) whose engine is a
    `ScriptedEngine(period)`, stopped on the way out: a module's `server` fixture yields it."""
    server = CaptionServer(
        config or ServerConfig(port=0), engine_factory=lambda _: ScriptedEngine(period)
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
