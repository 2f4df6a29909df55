"""Heading-aware chunking: paths kept, sizes bounded, nothing lost, overlap carried."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from deskpilot.kb.chunking import MAX_WORDS, chunk_markdown, passage_text

BODY = """Intro paragraph before any heading.

# Install
Download the agent.

## On Linux
Run the installer as root. Then start the service.

```
sudo systemctl start agent

sudo systemctl enable agent
```

# Troubleshooting
If it fails, read the log.
"""


def test_each_chunk_carries_its_heading_path() -> None:
    chunks = chunk_markdown(BODY)
    assert [(c.heading_path, c.text.split()[0]) for c in chunks] == [
        ("", "Intro"),
        ("Install", "Download"),
        ("Install > On Linux", "Run"),
        ("Troubleshooting", "If"),
    ]
    assert [c.ordinal for c in chunks] == [0, 1, 2, 3]


def test_code_fences_stay_whole_even_with_blank_lines_and_hashes() -> None:
    body = "# A\n```\n# not a heading\n\nline\n```\n"
    [chunk] = chunk_markdown(body)
    assert chunk.heading_path == "A"
    assert "# not a heading" in chunk.text
    assert "line" in chunk.text


def test_long_sections_are_split_with_overlap() -> None:
    sentences = [f"Sentence number {i} explains step {i} of the process." for i in range(120)]
    chunks = chunk_markdown("# Guide\n" + " ".join(sentences), max_words=100, overlap_words=20)
    assert len(chunks) > 3
    assert all(c.word_count <= 100 for c in chunks)
    for previous, current in itertools.pairwise(chunks):
        tail = previous.text.split()[-20:]
        assert current.text.split()[:20] == tail


def test_passage_text_prefixes_title_and_headings() -> None:
    assert passage_text("Agent", "Install > Linux", "Run it.") == "Agent > Install > Linux. Run it."
    assert passage_text("Agent", "", "Run it.") == "Agent. Run it."


words = st.text(alphabet="abcdefghij", min_size=1, max_size=8)
paragraph = st.lists(words, min_size=1, max_size=300).map(" ".join)
heading = st.tuples(st.integers(1, 3), words).map(lambda h: "#" * h[0] + " " + h[1])
document = st.lists(st.one_of(paragraph, heading), min_size=1, max_size=12).map("\n\n".join)


@settings(max_examples=60, deadline=None)
@given(document)
def test_no_word_is_lost_and_no_chunk_is_too_long(body: str) -> None:
    chunks = chunk_markdown(body)
    chunked = [w for c in chunks for w in c.text.split()]
    body_words = [w for line in body.splitlines() if not line.startswith("#") for w in line.split()]
    assert set(body_words) <= set(chunked)
    assert all(c.word_count <= MAX_WORDS for c in chunks)
