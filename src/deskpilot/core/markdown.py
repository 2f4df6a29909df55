"""Markdown to safe HTML: raw HTML in the source is not rendered, and the output is sanitized."""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("table")

_ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
    "del",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
}


def render_markdown(source: str) -> str:
    html = _md.render(source)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


_IMG = re.compile(r"<img\b([^>]*)>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def without_remote_images(safe_html: str) -> str:
    """Sanitized HTML with each image turned into a plain link to it.

    For text a customer wrote: a remote image loads when an agent opens the ticket, which tells its
    sender when (and from where) it was read. As a link, it loads only if someone chooses to open
    it. Works on `render_markdown` output, whose attributes nh3 has already quoted and escaped.
    """

    def as_link(match: re.Match[str]) -> str:
        attrs = dict(_ATTR.findall(match.group(1)))
        src = attrs.get("src", "")
        if not src:
            return ""
        alt = html.unescape(attrs.get("alt", ""))
        label = html.escape(f"Image: {alt}" if alt else "Image (not loaded)")
        return f'<a href="{src}" rel="noopener noreferrer nofollow">{label}</a>'

    return _IMG.sub(as_link, safe_html)
