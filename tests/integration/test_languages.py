"""Each room's language on the multilingual engine, end to end through the SFU: a French room
(Whisper base), an English room (tiny.en) and a room that said nothing (its language detected by
base, then captioned on tiny.en), side by side on one server, with speech from espeak-ng."""

import asyncio

import numpy as np
import pytest

from captioner.lines import fits
from client import CaptionClient, WavTrack
from client.speech import synthesize, word_error_rate
from protocol import ErrorCode
from sfu.server import CaptionServer

from .conftest import client, wait_for_speech_captioned

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRENCH = "Bonjour à tous, merci d'être venus. Nous allons commencer la réunion par le budget."
# espeak-ng's French voice is a formant synthesiser that Whisper base understands far worse than
# a person: on most French sentences it misses half the words even offline. On this one, at 120
# words per minute, base offline misses one word of 14 ("venu", 7 %), but streaming, which
# commits the first words from 1-2 s windows, measured 64 % here ("Bonne se retrouve, merci
# d'être venu, nous allons encerger le monde"): the streaming gap of docs/engine.md, not closed.
# The bound is what this test can promise today: French decoded as French (English decoding of it,
# or a lost sentence, scores 90-100 %), with its accents and elisions.
FRENCH_MAX_WER = 0.75
ENGLISH_MAX_WER = 0.35  # as the speaker and caption-log tests ask of espeak speech


class Room:
    """A speaker and a listener who both ask for `language`; the speaker talks once told to."""

    def __init__(
        self, server: CaptionServer, name: str, pcm: np.ndarray, language: str | None
    ) -> None:
        self.go = asyncio.Event()
        self.track = WavTrack(pcm, play_offset=0.5, start=self.go)
        self.speaker = client(server, name, "Ada", audio=self.track, language=language)
        self.listener = client(server, name, "Bob", language=language)

    async def join(self) -> None:
        await self.speaker.join()
        await self.listener.join()

    async def speak(self) -> CaptionClient:
        self.go.set()
        try:
            await wait_for_speech_captioned(self.listener, self.track, timeout=150)
        except TimeoutError:
            heard = [
                (r.caption.final, r.caption.end, r.caption.text) for r in self.listener.captions
            ]
            raise AssertionError(f"{self.listener.room}: not captioned in time: {heard}") from None
        return self.listener

    async def leave(self) -> None:
        await self.speaker.leave()
        await self.listener.leave()


@pytest.mark.timeout(540)  # three rooms in turn, on base; ~50 s on an idle 2-core machine
async def test_french_english_and_detected_rooms_side_by_side(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    english, english_text = speech["report"]
    detected, detected_text = speech["ada"]
    rooms = [
        Room(server, "salle-fr", synthesize(FRENCH, voice="fr", words_per_minute=120), "fr-FR"),
        Room(server, "room-en", english, "en"),
        # espeak's French is detected as French with p = 0.56 only (too unsure to assert on in
        # CI): the room that says nothing speaks English, which base detects with p > 0.9.
        Room(server, "room-auto", detected, None),
    ]
    for room in rooms:
        await room.join()
    # All three rooms are open together; they speak in turn, so that a 2-core CI machine running
    # base keeps up (three at once is a load test, loadtests/run.py).
    try:
        fr, en, auto = [await room.speak() for room in rooms]
    finally:
        for room in rooms:
            await room.leave()
    assert fr.joined is not None and {"en", "fr"} <= set(fr.joined.languages)
    assert len(fr.joined.languages) >= 99  # Whisper base's languages
    for listener, language, reference, bound in (
        (fr, "fr", FRENCH, FRENCH_MAX_WER),
        (en, "en", english_text, ENGLISH_MAX_WER),
        (auto, "en", detected_text, ENGLISH_MAX_WER),
    ):
        text = listener.final_text()
        assert word_error_rate(reference, text) <= bound, (listener.room, text)
        assert {c.language for c in listener.finals()} == {language}, listener.room
        assert all(fits(r.caption.text) for r in listener.captions)
    # Asked-for rooms carry their language from the first update on.
    assert {r.caption.language for r in fr.captions} == {"fr"}
    assert {r.caption.language for r in en.captions} == {"en"}
    # French as the model writes it: accents kept, not folded to ASCII.
    assert any(ch in fr.final_text() for ch in "àéèêç")


async def test_a_language_the_engine_cannot_caption_is_refused(server: CaptionServer) -> None:
    participant = client(server, "klingon", "Worf", language="tlh")
    with pytest.raises(RuntimeError, match="join refused"):
        await participant.join()
    [error] = participant.errors
    assert error.code is ErrorCode.BAD_REQUEST and "'tlh'" in error.message
    assert "klingon" not in server.rooms
    await participant.close()
