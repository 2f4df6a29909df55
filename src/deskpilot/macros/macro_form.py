"""The macro form as pages post and show it, and its preview with sample variables.

Shared by both macro areas (`macros.pages`): every value is kept as typed, so a refused form comes
back exactly as the person left it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form

from deskpilot.macros import rendering
from deskpilot.macros.models import Macro
from deskpilot.web.page_deps import PageAuth
from deskpilot.web.params import FormText

CHANGE_FIELDS = ("status", "priority", "type", "category", "team_id", "assignee_id")


@dataclass
class MacroForm:
    """The macro as the form shows it: every value as typed, tags one per line (a tag may
    contain a comma, as on tickets)."""

    name: str = ""
    body: str = ""
    visibility: str = "public"
    status: str = ""
    priority: str = ""
    type: str = ""
    category: str = ""
    team_id: str = ""
    assignee_id: str = ""
    add_tags: str = ""
    shared: bool = False

    @classmethod
    def of(cls, macro: Macro) -> MacroForm:
        changes = macro.changes
        values = {name: str(changes.get(name) or "") for name in CHANGE_FIELDS}
        return cls(
            name=macro.name,
            body=macro.body,
            visibility=macro.visibility,
            status=values["status"],
            priority=values["priority"],
            type=values["type"],
            category=values["category"],
            team_id=values["team_id"],
            assignee_id=values["assignee_id"],
            add_tags="\n".join(tag_line(str(t)) for t in changes.get("add_tags", [])),
            shared=macro.owner_user_id is None,
        )


def tag_line(tag: str) -> str:
    """A tag on one form line: applying turns whitespace runs into a dash, so a line break inside
    an API tag means the same as a space, and an unchanged save keeps it one tag."""
    return " ".join(tag.split())


def macro_form(
    name: FormText = "",
    body: Annotated[str, Form(max_length=110_000)] = "",
    visibility: FormText = "public",
    status: FormText = "",
    priority: FormText = "",
    type: FormText = "",
    category: FormText = "",
    team_id: FormText = "",
    assignee_id: FormText = "",
    add_tags: Annotated[str, Form(max_length=5000)] = "",
    shared: FormText = "",
) -> MacroForm:
    # Browsers send textarea line breaks as CRLF; store what the person sees.
    return MacroForm(
        name,
        body.replace("\r\n", "\n"),
        visibility,
        status,
        priority,
        type,
        category,
        team_id,
        assignee_id,
        add_tags,
        bool(shared),
    )


PostedForm = Annotated[MacroForm, Depends(macro_form)]
Action = Annotated[str, Form(max_length=20)]


@dataclass(frozen=True)
class Preview:
    """The body rendered with sample values, as a reply would look on a ticket."""

    markdown: str
    unknown: list[str]


def sample_values(auth: PageAuth) -> dict[str, str]:
    viewer = auth.viewer
    return {
        "requester.name": "Dana Example",
        "requester.email": "dana@example.com",
        "ticket.number": "1042",
        "ticket.subject": "Cannot sign in after the update",
        "agent.name": viewer.name or viewer.email,
        "organization.name": "Example Ltd",
        "workspace.name": viewer.workspace_name,
    }


def preview_of(body: str, auth: PageAuth) -> Preview:
    return Preview(rendering.render(body, sample_values(auth)), rendering.unknown_variables(body))


@dataclass(frozen=True)
class Variable:
    placeholder: str
    description: str
    sample: str


def variables(auth: PageAuth) -> list[Variable]:
    samples = sample_values(auth)
    return [
        Variable("{{ " + name + " }}", text, samples.get(name, ""))
        for name, text in rendering.VARIABLES.items()
    ]
