"""Heading-aware chunking of Markdown articles.

Each chunk is a run of whole paragraphs under one heading path, up to `max_words` words, with the
last `overlap_words` of the previous chunk carried over so an answer cut by a boundary is still
found. Words stand in for tokens (MiniLM sees about 1.3 word pieces per English word, so 180 words
stay under its 256-piece window with the title and headings prepended).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_WORDS = 180
OVERLAP_WORDS = 30
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    heading_path: str
    text: str
    word_count: int


def _sections(body: str) -> list[tuple[list[str], list[str]]]:
    """Split into (heading stack, paragraphs) sections; code fences stay whole paragraphs."""
    sections: list[tuple[list[str], list[str]]] = []
    headings: list[str] = []
    paragraphs: list[str] = []
    current: list[str] = []
    in_fence = False

    def end_paragraph() -> None:
        if current:
            text = "\n".join(current).strip()
            if text:
                paragraphs.append(text)
            current.clear()

    def end_section() -> None:
        end_paragraph()
        if paragraphs:
            sections.append((list(headings), list(paragraphs)))
            paragraphs.clear()

    for line in body.splitlines():
        if FENCE_RE.match(line):
            in_fence = not in_fence
            current.append(line)
            continue
        if in_fence:
            current.append(line)
            continue
        heading = HEADING_RE.match(line)
        if heading:
            end_section()
            level = len(heading.group(1))
            headings[:] = headings[: level - 1]
            while len(headings) < level - 1:
                headings.append("")
            headings.append(heading.group(2).strip())
            continue
        if not line.strip():
            end_paragraph()
            continue
        current.append(line)
    end_section()
    return sections


def _split_long(paragraph: str, max_words: int) -> list[str]:
    """A paragraph longer than a chunk is cut at sentence ends, or at word counts as a last resort."""
    if len(paragraph.split()) <= max_words:
        return [paragraph]
    pieces: list[str] = []
    buffer: list[str] = []
    for sentence in SENTENCE_RE.split(paragraph):
        words = sentence.split()
        while len(words) > max_words:
            if buffer:
                pieces.append(" ".join(buffer))
                buffer = []
            pieces.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if len(buffer) + len(words) > max_words and buffer:
            pieces.append(" ".join(buffer))
            buffer = []
        buffer.extend(words)
    if buffer:
        pieces.append(" ".join(buffer))
    return pieces


def chunk_markdown(
    body: str, *, max_words: int = MAX_WORDS, overlap_words: int = OVERLAP_WORDS
) -> list[Chunk]:
    chunks: list[Chunk] = []
    for headings, paragraphs in _sections(body):
        path = " > ".join(h for h in headings if h)
        # Long paragraphs are cut short enough that the carried overlap still fits in a chunk.
        piece_words = max(max_words - overlap_words, 1)
        pieces = [p for para in paragraphs for p in _split_long(para, piece_words)]
        buffer: list[str] = []
        words = 0
        carried = False
        for piece in pieces:
            n = len(piece.split())
            if buffer and words + n > max_words and not (carried and len(buffer) == 1):
                chunks.append(_make(len(chunks), path, buffer))
                tail = " ".join(" ".join(buffer).split()[-overlap_words:]) if overlap_words else ""
                buffer = [tail] if tail else []
                words = len(tail.split())
                carried = bool(tail)
            buffer.append(piece)
            words += n
        if buffer and not (carried and len(buffer) == 1):
            chunks.append(_make(len(chunks), path, buffer))
    return chunks


def _make(ordinal: int, path: str, parts: list[str]) -> Chunk:
    text = "\n\n".join(parts).strip()
    return Chunk(ordinal=ordinal, heading_path=path, text=text, word_count=len(text.split()))


def passage_text(title: str, heading_path: str, text: str) -> str:
    """What gets embedded for a passage: the article title and headings travel with the text."""
    context = f"{title} > {heading_path}" if heading_path else title
    return f"{context}. {text}"
