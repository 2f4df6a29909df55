"""Macro placeholders: `{{ requester.name }}` and friends, substituted as plain text.

User-written macro bodies are data, never a template language (GUIDE 6): a placeholder is a known
variable name between double braces and nothing else; no expressions, filters or attribute access
are evaluated. Substitution is one pass, so a value that itself contains `{{ ... }}` (a
requester who named themselves that) is inserted literally and never expanded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

VARIABLES: dict[str, str] = {
    "requester.name": "The requester's name (their email when they gave no name)",
    "requester.email": "The requester's email address",
    "ticket.number": "The ticket's number in the workspace",
    "ticket.subject": "The ticket's subject",
    "agent.name": "The name of the agent applying the macro (their email when they have none)",
    "organization.name": "The requester's organization (empty when there is none)",
    "workspace.name": "The workspace's name",
}
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def placeholders(text: str) -> list[str]:
    """Every placeholder name in the text, in order (whitespace inside the braces ignored)."""
    return [match.group(1).strip() for match in PLACEHOLDER.finditer(text)]


def unknown_variables(text: str) -> list[str]:
    return sorted({name for name in placeholders(text) if name not in VARIABLES})


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace each known placeholder with its value. Unknown ones were refused at save time and
    are left as written if one slips through (e.g. a macro saved before a variable was retired)."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        return values[name] if name in values else match.group(0)

    return PLACEHOLDER.sub(substitute, text)
