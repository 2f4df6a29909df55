"""The offline default: an extractive answer made of the best passage's own sentences.

No generative model is involved. The best passage (passages arrive best first) is split into
sentences, Markdown list items, code blocks and tables; the units that share the most (stemmed)
words with the question are kept in passage order, with the list a matching step belongs to and
the sentence that introduces it. A second passage contributes only when it comes from the same
article or matches the question at least as well. Every sentence is verbatim passage text citing
that passage, so nothing is said that the help center does not say. Framing ("Here is what our
help center says...") and links are the caller's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deskpilot.ai.ports import AnswerRequest, AnswerSentence, DraftAnswer, Passage, Usage
from deskpilot.kb.lexical import tokenize

PROVIDER = "builtin"
MODEL = "extractive-v1"
MAX_WORDS = 120
MAX_PROSE_SENTENCES = 5
MAX_UNITS = 10
MAX_FROM_SECOND_PASSAGE = 2

_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+\S")
_TABLE_ROW = re.compile(r"^\s*\|")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[*_`]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs approx no dr mr mrs ms st inc ltd co fig min max sec".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Unit:
    """One answerable piece of a passage: a sentence, a list item, a code block or a table."""

    text: str
    kind: str  # "sentence" | "item" | "code" | "table"
    block: int  # units of one paragraph or one list share a block number

    @property
    def words(self) -> int:
        return len(self.text.split())


def _sentences(paragraph: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        before = paragraph[start : match.start()].rsplit(None, 1)
        last_word = before[-1].rstrip(".!?\"')]").lower() if before else ""
        if last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word):
            continue
        pieces.append(paragraph[start : match.start()].strip())
        start = match.end()
    pieces.append(paragraph[start:].strip())
    return [p for p in pieces if p]


def split_units(text: str) -> list[Unit]:
    """Verbatim units in text order; headings are dropped (they are context, not answers)."""
    units: list[Unit] = []
    paragraph: list[str] = []
    item: list[str] = []
    table: list[str] = []
    fence: list[str] | None = None
    in_list = False
    block = -1

    def new_block() -> int:
        nonlocal block
        block += 1
        return block

    def end_paragraph() -> None:
        if paragraph:
            number = new_block()
            units.extend(Unit(s, "sentence", number) for s in _sentences("\n".join(paragraph)))
            paragraph.clear()

    def end_item() -> None:
        if item:
            units.append(Unit("\n".join(item).strip(), "item", block))
            item.clear()

    def end_list() -> None:
        nonlocal in_list
        end_item()
        in_list = False

    def end_table() -> None:
        if table:
            units.append(Unit("\n".join(table).strip(), "table", new_block()))
            table.clear()

    for line in text.splitlines():
        if fence is not None:
            fence.append(line)
            if _FENCE.match(line):
                units.append(Unit("\n".join(fence).strip(), "code", new_block()))
                fence = None
            continue
        if _FENCE.match(line):
            end_paragraph()
            end_list()
            end_table()
            fence = [line]
        elif not line.strip():
            end_paragraph()
            end_item()
            end_table()
        elif _HEADING.match(line):
            end_paragraph()
            end_list()
            end_table()
        elif _LIST_ITEM.match(line):
            end_paragraph()
            end_table()
            end_item()
            if not in_list:
                new_block()
                in_list = True
            item.append(line)
        elif _TABLE_ROW.match(line):
            end_paragraph()
            end_list()
            table.append(line)
        elif in_list and (item or line[:1] in " \t"):
            # A lazy or indented continuation line belongs to the list item above it.
            item.append(line)
        else:
            end_list()
            end_table()
            paragraph.append(line)
    if fence is not None:
        units.append(Unit("\n".join(fence).strip(), "code", new_block()))
    end_paragraph()
    end_list()
    end_table()
    return units


def _normalise(term: str) -> str:
    # The search stemmer leaves "arrive" but makes "arrived" "arriv": drop a final "e" too.
    return " ".join(w[:-1] if len(w) > 4 and w.endswith("e") else w for w in term.split())


def _terms(text: str) -> set[str]:
    """Stemmed words (and adjacent pairs) without stopwords, as the search index sees them."""
    return {_normalise(term) for term in tokenize(text)}


def _score(question_terms: set[str], unit: Unit) -> float:
    shared = question_terms & _terms(unit.text)
    return sum(1.5 if " " in term else 1.0 for term in shared)


def _is_fragment(unit: Unit) -> bool:
    """A chunk may open with the tail of the previous chunk's last sentence (the overlap)."""
    return unit.kind == "sentence" and (unit.text[:1].islower() or unit.text[:1] in ",;:)")


class _Picker:
    """Accumulates units within the word and sentence caps."""

    def __init__(self, units: list[Unit], word_budget: int) -> None:
        self.units = units
        self.chosen: set[int] = set()
        self.word_budget = word_budget

    @property
    def words(self) -> int:
        return sum(self.units[i].words for i in self.chosen)

    def add(self, index: int, *, force: bool = False) -> bool:
        if index in self.chosen:
            return True
        unit = self.units[index]
        prose = sum(1 for i in self.chosen if self.units[i].kind == "sentence")
        fits = (
            self.words + unit.words <= self.word_budget
            and len(self.chosen) < MAX_UNITS
            and (unit.kind != "sentence" or prose < MAX_PROSE_SENTENCES)
        )
        if fits or (force and not self.chosen):
            self.chosen.add(index)
            return True
        return False

    def add_list_of(self, index: int) -> None:
        """A matching step brings its list (in order) and the sentence introducing the list."""
        block = self.units[index].block
        members = [i for i, u in enumerate(self.units) if u.block == block and u.kind == "item"]
        if not members:
            return
        intro = members[0] - 1
        if intro >= 0 and self.units[intro].text.rstrip().endswith(":"):
            self.add(intro)
        for member in members:
            if not self.add(member):
                break

    def ordered(self) -> list[Unit]:
        return [self.units[i] for i in sorted(self.chosen)]


def _pick(question_terms: set[str], units: list[Unit], word_budget: int) -> list[Unit]:
    if units and _is_fragment(units[0]) and len(units) > 1:
        units = units[1:]
    if not units:
        return []
    scores = [_score(question_terms, u) for u in units]
    picker = _Picker(units, word_budget)
    best = max(scores)
    if best <= 0:
        # No shared words (a paraphrase found by the embeddings): lead with the passage's opening.
        for index, unit in enumerate(units):
            if not picker.add(index, force=True) or (index >= 2 and unit.kind == "sentence"):
                break
        return picker.ordered()
    anchor = scores.index(best)
    picker.add(anchor, force=True)
    if units[anchor].kind == "item":
        picker.add_list_of(anchor)
    if scores[0] > 0:
        picker.add(0)
    for index in sorted(range(len(units)), key=lambda i: (-scores[i], i)):
        if scores[index] <= 0:
            break
        picker.add(index)
    # A chosen "If the email does not arrive:" is only useful with what it introduces.
    for index in sorted(picker.chosen):
        following = index + 1
        if units[index].text.rstrip().endswith(":") and following < len(units):
            if units[following].kind == "item":
                picker.add_list_of(following)
            else:
                picker.add(following)
    return picker.ordered()


def _extra_from(
    question_terms: set[str], first: Passage, second: Passage, threshold: float, word_budget: int
) -> list[Unit]:
    units = [u for u in split_units(second.text) if not _is_fragment(u)]
    same_article = second.article_id == first.article_id
    floor = max(1.0, threshold / 2) if same_article else max(2.0, threshold)
    scored = [(i, _score(question_terms, u)) for i, u in enumerate(units)]
    good = sorted((i for i, s in scored if s >= floor), key=lambda i: (-scored[i][1], i))
    picked: list[int] = []
    words = 0
    for index in good[:MAX_FROM_SECOND_PASSAGE]:
        if words + units[index].words <= word_budget:
            picked.append(index)
            words += units[index].words
    return [units[i] for i in sorted(picked)]


class BuiltinLLM:
    """Extractive, deterministic and offline: the answer is a selection of passage sentences."""

    provider = PROVIDER
    model = MODEL

    def answer(self, request: AnswerRequest) -> DraftAnswer:
        passages = [p for p in request.passages if p.text.strip()]
        if not passages:
            return DraftAnswer(
                (),
                answerable=False,
                provider=PROVIDER,
                model=MODEL,
                usage=Usage(),
                prompt_version=MODEL,
            )
        question_terms = _terms(request.question)
        best = passages[0]
        chosen = _pick(question_terms, split_units(best.text), MAX_WORDS)
        sentences = [AnswerSentence(u.text, (best.ref,)) for u in chosen]
        words = sum(u.words for u in chosen)
        if len(passages) > 1 and words < MAX_WORDS:
            top = max((_score(question_terms, u) for u in chosen), default=0.0)
            extra = _extra_from(question_terms, best, passages[1], top, MAX_WORDS - words)
            sentences += [AnswerSentence(u.text, (passages[1].ref,)) for u in extra]
        return DraftAnswer(
            sentences=tuple(sentences),
            answerable=bool(sentences),
            provider=PROVIDER,
            model=MODEL,
            usage=Usage(),
            prompt_version=MODEL,
        )
