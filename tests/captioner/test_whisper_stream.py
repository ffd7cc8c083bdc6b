"""The streaming policy against a scripted decoder: each decode returns the words the script says
were spoken in the requested audio (by time), so the policy's decisions are checked exactly."""

import numpy as np

from captioner.whisper.stream import SAMPLE_RATE, DecodedWord, StreamPolicy, WhisperStream

SPOKEN = [("Try", 0.5, 0.8), ("again.", 0.9, 1.3), ("Fail", 1.6, 1.9), ("better.", 2.0, 2.5)]


def audio(seconds: float, speech: list[tuple[float, float]]) -> np.ndarray:
    pcm = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
    t = np.arange(len(pcm)) / SAMPLE_RATE
    for start, end in speech:
        mask = (t >= start) & (t < end)
        pcm[mask] = 0.3 * np.sin(2 * np.pi * 200 * t[mask])
    return pcm


def decode(request) -> list[DecodedWord]:
    end = request.start + len(request.audio) / SAMPLE_RATE
    return [
        DecodedWord(text, start - request.start, stop - request.start)
        for text, start, stop in SPOKEN
        if request.start <= start and stop <= end
    ]


def run(stream: WhisperStream, pcm: np.ndarray, step: float = 0.32) -> list[tuple]:
    out = []
    size = round(step * SAMPLE_RATE)
    for i in range(0, len(pcm), size):
        stream.append(pcm[i : i + size], end_of_stream=i + size >= len(pcm))
        request = stream.plan()
        if request is not None:
            update = stream.apply(request, decode(request))
            out.append(update)
    return out


def test_silence_is_never_decoded() -> None:
    stream = WhisperStream(0.0)
    stream.append(np.zeros(SAMPLE_RATE * 5, np.float32))
    assert stream.plan() is None


def test_every_word_is_committed_once_in_order() -> None:
    speech = [(s, e) for _, s, e in SPOKEN]
    updates = run(WhisperStream(0.0), audio(4.0, speech))
    committed = [w.text for u in updates for w in u.committed]
    assert committed == ["Try", "again.", "Fail", "better."]
    assert updates[-1].end_of_utterance


def test_a_pause_commits_without_waiting_for_agreement() -> None:
    policy = StreamPolicy(pause_seconds=0.5)
    updates = run(WhisperStream(0.0, policy), audio(2.4, [(0.5, 0.8), (0.9, 1.3)]))
    finals = [u for u in updates if u.end_of_utterance]
    assert finals and [w.text for u in updates for w in u.committed] == ["Try", "again."]


def test_words_placed_in_silence_are_dropped() -> None:
    stream = WhisperStream(0.0)
    stream.append(audio(3.0, [(0.5, 1.3)]), end_of_stream=True)
    request = stream.plan()
    assert request is not None and request.final
    invented = [DecodedWord("Try", 0.5, 0.8), DecodedWord("Thanks", 2.2, 2.6)]
    update = stream.apply(request, invented)
    assert [w.text for w in update.committed] == ["Try"]


def test_decode_window_stops_shortly_after_speech() -> None:
    stream = WhisperStream(10.0, StreamPolicy(tail=0.3))
    stream.append(audio(3.0, [(0.2, 1.0)]), end_of_stream=True)
    request = stream.plan()
    assert request is not None
    # speech ends at 1.0, the gate's hangover holds it 0.2 s more, then 0.3 s of tail
    assert abs(len(request.audio) / SAMPLE_RATE - 1.5) < 0.03
    assert request.start == 10.0


def test_an_unsure_recent_word_waits_then_commits_once_settled() -> None:
    policy = StreamPolicy(min_probability=0.5, patience=1.0, settle_after=None)
    stream = WhisperStream(0.0, policy)
    stream.append(audio(1.6, [(0.5, 1.3)]))

    def hear(request, probability: float) -> list:
        return [DecodedWord("Try", 0.5, 0.8, 0.9), DecodedWord("again.", 0.9, 1.3, probability)]

    first = stream.plan()
    assert first is not None and not first.final
    assert stream.apply(first, hear(first, 0.3)).committed == ()
    stream.append(audio(0.32, [(0.0, 0.32)]))  # more speech: another decode
    second = stream.plan()
    assert second is not None
    update = stream.apply(second, hear(second, 0.3))
    assert [w.text for w in update.committed] == ["Try"]  # agreed, sure
    assert [w.text for w in update.tentative] == ["again."]  # agreed, unsure, recent
    stream.append(audio(1.0, []))
    third = stream.plan()
    assert third is not None and third.final  # the pause settles it
    committed = stream.apply(third, hear(third, 0.3)).committed
    assert [(w.text, w.confidence) for w in committed] == [("again.", 0.3)]  # carried to captions


def test_silence_since_the_last_decode_is_not_decoded_again() -> None:
    stream = WhisperStream(0.0, StreamPolicy(pause_seconds=1.0))
    stream.append(audio(1.6, [(0.5, 1.3)]))
    first = stream.plan()
    assert first is not None
    stream.apply(first, decode(first))
    stream.append(audio(0.32, []))  # speech (with the gate's hangover) ended before it
    assert stream.plan() is None
    stream.append(audio(0.32, [(0.1, 0.3)]))
    assert stream.plan() is not None


def test_the_prompt_is_forgotten_at_the_end_of_a_turn() -> None:
    stream = WhisperStream(0.0, StreamPolicy(trim_after=1.0, cut_context=0.0))
    first_turn = audio(3.0, [(s, e) for _, s, e in SPOKEN])
    second_turn = audio(2.0, [(0.2, 1.2)])
    pcm = np.concatenate([first_turn, np.zeros(SAMPLE_RATE * 2, np.float32), second_turn])
    prompts = []
    size = round(0.32 * SAMPLE_RATE)
    for i in range(0, len(pcm), size):
        stream.append(pcm[i : i + size])
        request = stream.plan()
        if request is not None:
            prompts.append((request.start, request.prompt))
            stream.apply(request, decode(request))
    assert any("again." in prompt for start, prompt in prompts if start < 3.0)
    later = [prompt for start, prompt in prompts if start >= 4.0]
    assert later and all(prompt == "" for prompt in later)


def test_a_cut_at_a_sentence_end_keeps_context_before_the_next_words() -> None:
    speech = audio(4.0, [(s, e) for _, s, e in SPOKEN])
    starts = {}
    for context in (0.0, 1.0):
        stream = WhisperStream(0.0, StreamPolicy(trim_after=1.0, cut_context=context))
        size, heard = round(0.32 * SAMPLE_RATE), []
        starts[context] = []
        for i in range(0, len(speech), size):
            stream.append(speech[i : i + size])
            request = stream.plan()
            if request is not None:
                if "Fail" not in heard:  # "Fail" (from 1.6 s) is still to be committed
                    starts[context].append(request.start)
                heard += [w.text for w in stream.apply(request, decode(request)).committed]
    assert max(starts[0.0]) > 1.0  # cut right after "again.": "Fail" starts the window
    assert max(starts[1.0]) <= 0.6  # a second of audio is kept before "Fail"


def test_a_committed_guess_is_revised_once_two_decodes_hear_it_better() -> None:
    # tiny.en on JFK: "asked" while it has heard only the start of the sentence, "ask" later.
    spoken = [("ask", 0.5, 0.8), ("not", 0.9, 1.2), ("what", 1.3, 1.6), ("you", 1.7, 2.0)]
    spoken += [("can", 2.1, 2.4), ("do", 2.5, 2.8), ("for", 2.9, 3.2), ("me.", 3.3, 3.6)]

    def mishear(request) -> list[DecodedWord]:
        end = request.start + len(request.audio) / SAMPLE_RATE
        return [
            DecodedWord("asked" if text == "ask" and end < 2.6 else text, start, stop)
            for text, start, stop in spoken
            if stop <= end
        ]

    stream = WhisperStream(0.0, StreamPolicy(min_probability=0.0))
    pcm = audio(4.6, [(s, e) for _, s, e in spoken])
    size, updates = round(0.32 * SAMPLE_RATE), []
    for i in range(0, len(pcm), size):
        stream.append(pcm[i : i + size], end_of_stream=i + size >= len(pcm))
        request = stream.plan()
        if request is not None:
            updates.append(stream.apply(request, mishear(request)))
    committed = [w.text for u in updates for w in u.committed]
    assert committed[:2] == ["asked", "not"]  # agreed on before the rest was heard
    (revision,) = [u.revision for u in updates if u.revision is not None]
    assert revision.words[0].text == "ask"
    transcript: list[str] = []
    for update in updates:
        if update.revision is not None:
            del transcript[len(transcript) - update.revision.replaces :]
            transcript += [w.text for w in update.revision.words]
        transcript += [w.text for w in update.committed]
    assert transcript == [text for text, _, _ in spoken]


def test_a_windows_first_word_starts_where_its_speech_does() -> None:
    """Alignment stretched the first word of a turn back over the silence before it, into the
    previous speaker's last syllables (issue 20, item 6): it starts at its speech's onset."""
    stream = WhisperStream(0.0, StreamPolicy(pause_seconds=2.0))
    stream.append(audio(3.0, [(0.0, 0.4), (1.2, 1.8)]))  # the last speaker's tail, then "Ever"
    request = stream.plan()
    assert request is not None
    update = stream.apply(request, [DecodedWord("Ever", 0.1, 1.7), DecodedWord("tried.", 1.7, 1.8)])
    ever = [*update.committed, *update.tentative][0]
    assert ever.text == "Ever" and abs(ever.start - 1.2) < 0.03 and ever.end == 1.7
