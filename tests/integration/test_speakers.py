"""Two speakers taking turns (two espeak voices): every final segment names the right speaker."""

import numpy as np
import pytest

from client.speech import word_error_rate
from sfu.server import CaptionServer

from .conftest import conversation

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_each_final_names_who_said_it(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    async with conversation(server, "turns", speech) as (_, carol, timetable, offset):
        pass  # everyone has left: what Carol received is complete
    finals = [c for c in carol.finals() if c.text]
    assert finals
    for caption in finals:
        middle = (caption.start + caption.end) / 2 - offset
        said = min(
            timetable,
            key=lambda u: (
                0 if u.start <= middle <= u.end else min(abs(middle - u.start), abs(middle - u.end))
            ),
        )
        assert caption.speaker is not None, caption
        assert caption.speaker.name == said.speaker, (caption.text, said)
    for name in ("Ada", "Bob"):
        spoken = " ".join(u.text for u in timetable if u.speaker == name)
        captioned = " ".join(c.text for c in finals if c.speaker and c.speaker.name == name)
        assert word_error_rate(spoken, captioned) <= 0.35, (name, captioned)
