from captioner.whisper.agreement import LocalAgreement, cut_repetition, ends_sentence, normalize
from protocol import Word


def words(text: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    return [Word(w, start + i * step, start + i * step + 0.3) for i, w in enumerate(text.split())]


def texts(ws: list[Word]) -> str:
    return " ".join(w.text for w in ws)


def test_normalize_ignores_case_and_punctuation() -> None:
    assert normalize("Friday.") == normalize("friday") == "friday"
    assert normalize("don't") == "don't"


def test_commits_the_agreed_prefix_only() -> None:
    agreement = LocalAgreement()
    committed, tentative = agreement.insert(words("and so am I"))
    assert committed == [] and texts(tentative) == "and so am I"
    committed, tentative = agreement.insert(words("And so my fellow"))
    assert texts(committed) == "And so"
    assert texts(tentative) == "my fellow"


def test_committed_words_are_matched_by_text_not_time() -> None:
    agreement = LocalAgreement()
    agreement.insert(words("ever tried ever failed"))
    agreement.insert(words("ever tried ever failed no"))
    # The next hypothesis re-transcribes the buffer; alignment moved every word.
    committed, tentative = agreement.insert(words("Ever tried, ever failed. No matter.", step=0.7))
    assert texts(committed) == "No"
    assert texts(tentative) == "matter."


def test_commit_all_at_a_pause() -> None:
    agreement = LocalAgreement()
    agreement.insert(words("try again"))
    agreement.insert(words("try again fail"))
    assert texts(agreement.commit_all(words("try again fail better"))) == "fail better"
    assert agreement.tentative == ()


def test_forget_drops_committed_words_before_a_cut() -> None:
    agreement = LocalAgreement()
    agreement.insert(words("one two three"))
    agreement.insert(words("one two three four"))
    gone = agreement.forget(0.75)
    assert texts(gone) == "one two"
    assert texts(agreement.committed) == "three"


def test_cut_repetition_drops_a_loop_entirely() -> None:
    hypothesis = words("ask not to ask not to ask not to")
    assert texts(cut_repetition(hypothesis)) == ""
    assert texts(cut_repetition(words("so we ask not to ask not to"))) == "so we"


def test_a_spoken_sentence_survives_its_hallucinated_copy() -> None:
    said = words("ask what you can do for your country.", start=0.5, step=0.3)
    copy = [Word(w.text, 2.9 + i * 0.02, 2.92 + i * 0.02) for i, w in enumerate(said)]
    assert texts(cut_repetition(said + copy)) == "ask what you can do for your country."


def test_cut_repetition_drops_words_piled_on_one_instant() -> None:
    hypothesis = [
        *words("and so"),
        Word("my", 2.0, 2.0),
        Word("fellow", 2.0, 2.0),
        Word("Americans", 2.0, 2.0),
    ]
    assert texts(cut_repetition(hypothesis)) == "and so"


def test_a_pile_followed_by_spread_words_is_only_an_alignment_glitch() -> None:
    glitch = [
        Word("your", 0.0, 0.4),
        Word("country.", 0.4, 0.4),
        Word("Ask", 0.4, 0.4),
        Word("what", 0.4, 0.7),
        *words("you can do for your country.", start=0.8),
    ]
    assert cut_repetition(glitch) == glitch


def test_cut_repetition_keeps_normal_speech() -> None:
    text = "it was the best of times it was the worst of times"
    assert texts(cut_repetition(words(text))) == text


def test_deeper_agreement_waits_for_a_third_hypothesis() -> None:
    agreement = LocalAgreement(depth=3)
    assert agreement.insert(words("and so asked"))[0] == []
    assert agreement.insert(words("and so asked"))[0] == []  # two agree: not enough
    committed, tentative = agreement.insert(words("and so ask not"))
    assert texts(committed) == "and so"
    assert texts(tentative) == "ask not"
    assert texts(agreement.insert(words("and so ask not what"))[0]) == ""
    assert texts(agreement.insert(words("and so ask not what your"))[0]) == "ask not"


def test_limit_holds_back_words_from_an_index() -> None:
    agreement = LocalAgreement()
    agreement.insert(words("one two three"))
    committed, tentative = agreement.insert(words("one two three four"), limit=1)
    assert texts(committed) == "one"
    assert texts(tentative) == "two three four"
    committed, _ = agreement.insert(words("one two three four"))
    assert texts(committed) == "two three four"


def test_two_words_piled_at_the_end_are_dropped() -> None:
    hypothesis = [*words("and so my fellow"), Word("ask", 3.0, 3.0), Word("not", 3.0, 3.0)]
    assert texts(cut_repetition(hypothesis)) == "and so my fellow"


def test_a_large_pile_is_cut_even_when_speech_follows() -> None:
    predicted = [Word(w, 2.0, 2.0) for w in ["ask", "not", "what", "you"]]
    hypothesis = [*words("and so"), *predicted, *words("ask not", start=2.4)]
    assert texts(cut_repetition(hypothesis)) == "and so"


def test_agreed_words_commit_a_sentence_at_a_time() -> None:
    agreement = LocalAgreement()
    assert agreement.insert(words("asked not what you are"), settled=0)[0] == []
    committed, tentative = agreement.insert(words("asked not what you are"), settled=0)
    assert committed == []  # agreed, but no sentence end yet: a later decode may hear better
    assert texts(tentative) == "asked not what you are"
    agreement.insert(words("ask not what your country. Ask"), settled=0)
    committed, tentative = agreement.insert(words("ask not what your country. Ask what"), settled=0)
    assert texts(committed) == "ask not what your country."
    assert texts(tentative) == "Ask what"


def test_old_enough_words_commit_on_agreement_alone() -> None:
    agreement = LocalAgreement()
    agreement.insert(words("it was the best of times it"), settled=2)
    committed, _ = agreement.insert(words("it was the best of times it was"), settled=2)
    assert texts(committed) == "it was"


def test_an_unsure_word_holds_back_its_whole_sentence() -> None:
    agreement = LocalAgreement()
    agreement.insert(words("for good or for evil."), settled=0)
    committed, tentative = agreement.insert(words("for good or for evil."), limit=2, settled=0)
    assert committed == [] and texts(tentative) == "for good or for evil."


def test_a_trailing_ellipsis_is_no_sentence_end() -> None:
    assert ends_sentence(Word("times.", 0.0, 0.3))
    assert ends_sentence(Word("ready?", 0.0, 0.3))
    assert not ends_sentence(Word("the...", 0.0, 0.3))
    agreement = LocalAgreement()
    agreement.insert(words("it was the..."), settled=0)
    assert agreement.insert(words("it was the..."), settled=0)[0] == []


def test_two_later_hypotheses_revise_a_committed_guess() -> None:
    # tiny.en on JFK: "asked not" agreed early, "ask not" once it heard the rest of the sentence.
    agreement = LocalAgreement()
    agreement.insert(words("so asked not what"))
    agreement.insert(words("so asked not what you"))
    assert texts(agreement.committed) == "so asked not what"
    committed, _ = agreement.insert(words("so ask not what your"))
    assert agreement.revision is None  # one hypothesis is not agreement
    assert texts(committed) == ""
    committed, _ = agreement.insert(words("so ask not what your country"))
    revision = agreement.revision
    assert revision is not None and revision.replaces == 3
    assert texts(list(revision.words)) == "ask not what"
    assert texts(agreement.committed) == "so ask not what your"
    assert texts(committed) == "your"
    # Revised once, it is not revised again by the same hearing.
    agreement.insert(words("so ask not what your country can"))
    assert agreement.revision is None


def test_a_change_at_the_end_of_the_committed_words_waits_for_an_anchor() -> None:
    # "you are" then "your country": where the committed words end and the new ones begin is
    # ambiguous until a committed word follows the change.
    agreement = LocalAgreement()
    agreement.insert(words("what you are"))
    agreement.insert(words("what you are"))
    for _ in range(2):
        agreement.insert(words("what your country"))
        assert agreement.revision is None
    assert texts(agreement.committed) == "what you are"


def test_alternating_or_wholesale_rereadings_revise_nothing() -> None:
    agreement = LocalAgreement()
    agreement.insert(words("we ship on friday at noon"))
    agreement.insert(words("we ship on friday at noon today"))
    agreement.insert(words("we shipped on friday at noon today"))
    agreement.insert(words("we ship on friday at noon today"))  # back to what was committed
    assert agreement.revision is None
    agreement.insert(words("they said it was over by then at noon today"))
    agreement.insert(words("they said it was over by then at noon today"))
    assert agreement.revision is None  # more than a third of the words: another reading
    assert texts(agreement.committed).startswith("we ship on friday")


def test_commit_all_applies_an_agreed_revision_first() -> None:
    agreement = LocalAgreement()
    agreement.insert(words("fail again fail"))
    agreement.insert(words("fail again fail"))
    agreement.insert(words("fell again fail better"))
    assert texts(agreement.commit_all(words("fell again fail better."))) == "better."
    revision = agreement.revision
    assert revision is not None and texts(list(revision.words)) == "fell again fail"
