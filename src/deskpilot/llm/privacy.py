"""Redact a whole answer request at once, so one value gets one placeholder everywhere.

`ai.redaction.redact` numbers placeholders per text. The question, the history and the passages
are redacted as one text (joined by a separator no pattern can cross), so "[EMAIL_1]" in the
question and in a passage is the same address, and one `restore` fixes the whole answer.
"""

from __future__ import annotations

from dataclasses import replace

from deskpilot.ai.ports import AnswerRequest, AnswerSentence, DraftAnswer
from deskpilot.ai.redaction import Redaction, redact

# Newlines and a control character: no redaction pattern matches across or into them.
_SEPARATOR = "\n\x1e\n"


def redact_request(request: AnswerRequest) -> tuple[AnswerRequest, Redaction]:
    texts = [request.question]
    texts += [text for _, text in request.history]
    for passage in request.passages:
        texts += [passage.title, passage.text]
    joined = _SEPARATOR.join(t.replace("\x1e", " ") for t in texts)
    redaction = redact(joined)
    parts = redaction.text.split(_SEPARATOR)
    if len(parts) != len(texts):  # cannot happen: placeholders contain no separator
        raise RuntimeError("redaction changed the number of texts")
    question, rest = parts[0], parts[1:]
    history = tuple((role, rest[i]) for i, (role, _) in enumerate(request.history))
    rest = rest[len(request.history) :]
    passages = tuple(
        replace(p, title=rest[2 * i], text=rest[2 * i + 1]) for i, p in enumerate(request.passages)
    )
    return replace(request, question=question, history=history, passages=passages), redaction


def restore_answer(answer: DraftAnswer, redaction: Redaction) -> DraftAnswer:
    """Put the real values back into what the outside model wrote."""
    if not redaction.values:
        return answer
    sentences = tuple(
        AnswerSentence(redaction.restore(s.text), s.citations) for s in answer.sentences
    )
    return replace(answer, sentences=sentences)
