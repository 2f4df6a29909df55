"""The offline extractive answerer: verbatim passage text, cited, deterministic."""

from __future__ import annotations

from deskpilot.ai.ports import AnswerRequest, Passage
from deskpilot.llm.builtin import BuiltinLLM, split_units
from tests.llm.recorded import password_request

STEPS_ARTICLE = """the end of the previous chunk. If the reset email does not arrive:

1. Check your spam folder.
2. Add no-reply@acme.example to your contacts.
   Some filters need this.
3. Ask us to resend it.

```bash
curl -X POST https://api.acme.example/v1/reset
```

Billing questions go to the billing team, e.g. invoices. Refunds take 5 days."""


def passage(text: str, ref: str = "P1", article_id: int = 1) -> Passage:
    return Passage(ref, article_id, article_id * 10, "Title", "/help/x", text)


def test_units_keep_lists_and_code_whole_and_split_sentences() -> None:
    units = split_units(STEPS_ARTICLE)

    assert [u.kind for u in units] == [
        "sentence", "sentence", "item", "item", "item", "code", "sentence", "sentence",
    ]  # fmt: skip
    assert (
        units[3].text
        == "2. Add no-reply@acme.example to your contacts.\n   Some filters need this."
    )
    assert units[5].text.startswith("```bash")
    assert units[5].text.endswith("```")
    # "e.g." is not a sentence end.
    assert units[6].text == "Billing questions go to the billing team, e.g. invoices."


def test_answer_is_verbatim_cited_and_starts_with_the_direct_answer() -> None:
    request = password_request()
    answer = BuiltinLLM().answer(request)

    assert answer.answerable
    assert (answer.provider, answer.model) == ("builtin", "extractive-v1")
    assert answer.sentences[0].text == (
        "To reset your password, open Settings > Security and click Reset password."
    )
    by_ref = {p.ref: p.text for p in request.passages}
    for sentence in answer.sentences:
        assert len(sentence.citations) == 1
        assert sentence.text in by_ref[sentence.citations[0]]
    assert answer.usage.input_tokens == answer.usage.output_tokens == 0


def test_a_matching_step_brings_its_list_and_skips_the_overlap_fragment() -> None:
    request = AnswerRequest("the reset email never arrived", [passage(STEPS_ARTICLE)])

    texts = [s.text for s in BuiltinLLM().answer(request).sentences]

    assert texts[0] == "If the reset email does not arrive:"
    assert texts[1:4] == [
        "1. Check your spam folder.",
        "2. Add no-reply@acme.example to your contacts.\n   Some filters need this.",
        "3. Ask us to resend it.",
    ]
    assert not any(t.startswith("the end of the previous chunk") for t in texts)
    assert "Refunds take 5 days." not in texts


def test_answers_are_short_and_stay_in_passage_order() -> None:
    long_text = " ".join(
        f"Password rule {n} says the password needs {n} symbols." for n in range(30)
    )
    answer = BuiltinLLM().answer(AnswerRequest("password rules", [passage(long_text)]))

    assert 1 <= len(answer.sentences) <= 5
    assert sum(len(s.text.split()) for s in answer.sentences) <= 120
    positions = [long_text.index(s.text) for s in answer.sentences]
    assert positions == sorted(positions)


def test_second_passage_only_from_the_same_article_or_clearly_relevant() -> None:
    first = passage("Refunds are issued to the original card within 5 days.", "P1", 1)
    unrelated = passage("Our office dog is called Biscuit.", "P2", 2)
    same_article = passage("Refunds for annual plans are prorated.", "P2", 1)
    question = "how long do refunds take"

    alone = BuiltinLLM().answer(AnswerRequest(question, [first, unrelated]))
    together = BuiltinLLM().answer(AnswerRequest(question, [first, same_article]))

    assert [s.citations for s in alone.sentences] == [("P1",)]
    assert [s.citations for s in together.sentences] == [("P1",), ("P2",)]


def test_deterministic_and_unanswerable_without_passages() -> None:
    request = password_request("reset link expired")
    assert BuiltinLLM().answer(request) == BuiltinLLM().answer(request)

    empty = BuiltinLLM().answer(AnswerRequest("anything", []))
    assert (empty.answerable, empty.sentences) == (False, ())
    blank = BuiltinLLM().answer(AnswerRequest("anything", [passage("   ")]))
    assert blank.answerable is False


def test_without_shared_words_it_leads_with_the_passage_opening() -> None:
    text = "Sign-in problems are usually cookies. Clear them and retry. Then call us. Or write."
    answer = BuiltinLLM().answer(AnswerRequest("cannot log on", [passage(text)]))

    assert [s.text for s in answer.sentences][:2] == [
        "Sign-in problems are usually cookies.",
        "Clear them and retry.",
    ]
