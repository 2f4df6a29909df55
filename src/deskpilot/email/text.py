"""Email bodies as plain text: HTML to safe Markdown, and the reply without quotes or signature."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

# Only structure worth keeping survives sanitizing; scripts and styles vanish with their content.
KEPT_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "p", "br", "div", "span", "ul", "ol", "li", "blockquote",
        "pre", "code", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "td", "th", "hr",
    }
)  # fmt: skip
DROPPED_WITH_CONTENT = frozenset({"script", "style", "head", "title"})
BLOCK_TAGS = frozenset({"p", "div", "ul", "ol", "table", "tr", "pre", "hr", "blockquote"})
HEADING_TAGS = {f"h{n}": "#" * n for n in range(1, 7)}


def html_to_markdown(html: str) -> str:
    clean = nh3.clean(
        html,
        tags=set(KEPT_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
    )
    converter = _MarkdownWriter()
    converter.feed(clean)
    converter.close()
    return converter.result()


class _MarkdownWriter(HTMLParser):
    """A deliberately small converter: paragraphs, line breaks, lists, links, emphasis, quotes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote_depth = 0
        self.list_stack: list[str] = []
        self.href: str | None = None
        self.link_text = ""

    def _newline(self, blank: bool = False) -> None:
        if self.lines[-1].strip():
            self.lines.append("")
        if blank and len(self.lines) > 1 and self.lines[-2].strip():
            self.lines.append("")

    def _write(self, text: str) -> None:
        if not self.lines[-1] and self.quote_depth:
            self.lines[-1] = "> " * self.quote_depth
        self.lines[-1] += text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.lines.append("")
        elif tag in BLOCK_TAGS or tag in HEADING_TAGS:
            self._newline(blank=tag in ("p", "blockquote") or tag in HEADING_TAGS)
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag in ("ul", "ol"):
                self.list_stack.append(tag)
            elif tag == "hr":
                self._write("---")
                self._newline()
            elif tag in HEADING_TAGS:
                self._write(HEADING_TAGS[tag] + " ")
        elif tag == "li":
            self._newline()
            marker = "1. " if self.list_stack and self.list_stack[-1] == "ol" else "- "
            self._write("  " * max(len(self.list_stack) - 1, 0) + marker)
        elif tag in ("b", "strong"):
            self._write("**")
        elif tag in ("i", "em"):
            self._write("_")
        elif tag in ("td", "th"):
            self._write(" ")
        elif tag == "a":
            self.href = dict(attrs).get("href")
            self.link_text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCK_TAGS or tag in HEADING_TAGS:
            if tag == "blockquote":
                self._newline()
                self.quote_depth = max(self.quote_depth - 1, 0)
            elif tag in ("ul", "ol") and self.list_stack:
                self.list_stack.pop()
            self._newline(blank=tag == "p" or tag in HEADING_TAGS)
        elif tag in ("b", "strong"):
            self._write("**")
        elif tag in ("i", "em"):
            self._write("_")
        elif tag == "a" and self.href is not None:
            href, self.href = self.href, None
            text = self.link_text.strip()
            if href and href != text and not href.startswith("mailto:"):
                self._write(f" ({href})")

    def handle_data(self, data: str) -> None:
        text = re.sub(r"\s+", " ", data)
        if not self.lines[-1].strip():
            text = text.lstrip()
        if not text:
            return
        if self.href is not None:
            self.link_text += text
        self._write(text)

    def result(self) -> str:
        out = "\n".join(line.rstrip() for line in self.lines)
        return re.sub(r"\n{3,}", "\n\n", out).strip()


# --- quoted replies and signatures -----------------------------------------------------------------

# A line that starts the quoted original: everything from it on is the earlier conversation.
ATTRIBUTION_RES = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am\b.{0,300}\bschrieb\b.{0,200}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Le\b.{0,300}\ba écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Ursprüngliche Nachricht\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),
]
OUTLOOK_FROM_RE = re.compile(r"^\s*\**(From|Von|De)\s*:\**\s*\S", re.IGNORECASE)
OUTLOOK_NEXT_RE = re.compile(r"^\s*\**(Sent|Date|Gesendet|Envoyé|To|Subject)\s*:", re.IGNORECASE)
SIGNATURE_RES = [
    re.compile(r"^-- ?$"),
    re.compile(r"^\s*Sent from my \w+", re.IGNORECASE),
    re.compile(r"^\s*Sent from (Mail|Outlook) for \w+", re.IGNORECASE),
    re.compile(r"^\s*Get Outlook for (iOS|Android)", re.IGNORECASE),
    re.compile(r"^\s*Von meinem \w+ gesendet", re.IGNORECASE),
]
FORWARD_RE = re.compile(r"^\s*-{2,}\s*(Forwarded message|Begin forwarded message)", re.IGNORECASE)


def _starts_quote(lines: list[str], index: int) -> bool:
    line = lines[index]
    # Gmail wraps long attributions: "On Mon, ... <a@b.example>\nwrote:".
    joined = line + " " + lines[index + 1] if index + 1 < len(lines) else line
    if any(p.match(line) for p in ATTRIBUTION_RES):
        return True
    if line.strip().lower().startswith(("on ", "am ", "le ")) and any(
        p.match(joined) for p in ATTRIBUTION_RES[:3]
    ):
        return True
    if OUTLOOK_FROM_RE.match(line):
        following = [ln for ln in lines[index + 1 : index + 5] if ln.strip()]
        return sum(1 for ln in following if OUTLOOK_NEXT_RE.match(ln)) >= 2
    return False


def strip_quotes_and_signature(text: str) -> str:
    """The new part of a reply. Forwarded content is kept (forwarding is the point of the mail);
    when stripping would leave nothing, the whole text is returned."""
    lines = text.split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if FORWARD_RE.match(line):
            kept.extend(lines[index:])
            break
        if _starts_quote(lines, index) or any(p.match(line) for p in SIGNATURE_RES):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return body or text.strip()
