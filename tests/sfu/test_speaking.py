"""The speaking gate (issue 22): silent sources are not forwarded; a source is forwarded again
from its first voiced packet; a pause shorter than the hold is forwarded; at most N at once."""

import pytest

from sfu.media.speaking import ActiveSpeakers, SpeakingConfig

VOICED = (False, 30)  # -30 dBov: speech
QUIET = (False, 90)  # -90 dBov: room noise
SILENT = (False, 127)  # digital silence
PACKET = 0.02


def test_a_silent_source_is_not_forwarded_and_its_first_voiced_packet_is() -> None:
    gate = ActiveSpeakers(SpeakingConfig())
    assert [gate.admit("a", level, i * PACKET) for i, level in enumerate([SILENT, QUIET] * 5)] == [
        False
    ] * 10
    assert gate.admit("a", VOICED, 10 * PACKET)  # within one packet of starting to speak
    assert gate.speaking == ["a"]


def test_the_voice_flag_counts_as_voiced_whatever_the_level() -> None:
    gate = ActiveSpeakers(SpeakingConfig())
    assert gate.admit("a", (True, 100), 0.0)


def test_pauses_shorter_than_the_hold_are_forwarded_and_longer_ones_are_not() -> None:
    gate = ActiveSpeakers(SpeakingConfig(hold=1.0))
    assert gate.admit("a", VOICED, 0.0)
    forwarded = [gate.admit("a", SILENT, i * PACKET) for i in range(1, 100)]
    assert all(forwarded[:49])  # up to 0.98 s after the last voiced packet
    assert not any(forwarded[51:])  # past 1.0 s: closed
    assert gate.speaking == []


def test_a_source_without_the_level_extension_is_always_forwarded() -> None:
    gate = ActiveSpeakers(SpeakingConfig())
    assert all(gate.admit("legacy", None, i * PACKET) for i in range(10))


def test_at_most_n_sources_and_a_louder_newcomer_takes_the_quietest_slot() -> None:
    gate = ActiveSpeakers(SpeakingConfig(max_speakers=2, margin_db=6.0))
    assert gate.admit("a", (False, 40), 0.0)
    assert gate.admit("b", (False, 30), 0.0)
    assert not gate.admit("c", (False, 38), 0.02)  # not louder than a by the margin: waits
    assert gate.admit("d", (False, 20), 0.04)  # 20 dB louder than a: takes a's slot
    assert sorted(map(str, gate.speaking)) == ["b", "d"]
    assert not gate.admit("a", SILENT, 0.06)


def test_a_slot_frees_when_its_source_stops_sending() -> None:
    """A source that goes quiet by sending nothing (DTX, or gone) holds its slot no longer than
    the hold."""
    gate = ActiveSpeakers(SpeakingConfig(max_speakers=1, hold=1.0))
    assert gate.admit("a", VOICED, 0.0)
    assert not gate.admit("b", VOICED, 0.5)
    assert gate.admit("b", VOICED, 1.1)
    gate.forget("b")
    assert gate.admit("c", (False, 45), 1.2)


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError):
        SpeakingConfig(max_speakers=0)
    with pytest.raises(ValueError):
        SpeakingConfig(threshold_dbov=200)


def test_a_turn_is_voice_past_the_hold_and_a_cough_is_none() -> None:
    turns: list[str] = []
    gate = ActiveSpeakers(SpeakingConfig(hold=1.0), on_turn=turns.append)
    for i in range(15):  # a 0.3 s cough, then silence until its hold ran out
        gate.admit("cough", VOICED, i * PACKET)
    for i in range(15, 120):
        gate.admit("cough", SILENT, i * PACKET)
    assert turns == [] and gate.speaking == []
    for i in range(60):  # 1.2 s of speech, pauses under the hold included
        gate.admit("talk", VOICED if i % 10 < 6 else SILENT, 3.0 + i * PACKET)
    assert turns == ["talk"]  # once per opening, however long the turn goes on
