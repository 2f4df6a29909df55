"""How a condition's value is written in the rule editor's value box, and read back.

A box holds one value, or for "is one of" / "is none of" a comma-separated list. A value in
double quotes is taken exactly as written (a comma inside, spaces at its ends, `""` for a quote),
so every value a rule can hold, including one made through the API, shows in a form that saves
back unchanged. Numbers are written without losing digits; teams and assignees by name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from deskpilot.automation.conditions import FieldName
from deskpilot.core.context import Context
from deskpilot.core.ids import parse_id
from deskpilot.workspaces.team_pages import active_staff, all_team_names

_QUOTED = re.compile(r'"((?:[^"]|"")*)"', re.DOTALL)
_LIST_ITEM = re.compile(
    r'\s*(?:"(?P<quoted>(?:[^"]|"")*)"|(?P<plain>[^,"]*))\s*(?:,|\Z)', re.DOTALL
)
QUOTING_HELP = (
    "write a value that contains a comma or a quote in double quotes, each quote inside it "
    'doubled, e.g. "billing, invoices" or "5"" screen"'
)


def split_values(text: str) -> list[str]:
    """The values of a comma-separated list; ValueError saying how to quote when it does not
    parse (an unclosed quote, a quote inside an unquoted value)."""
    values: list[str] = []
    position = 0
    while position < len(text):
        item = _LIST_ITEM.match(text, position)
        if item is None:
            raise ValueError(QUOTING_HELP)
        if item["quoted"] is not None:
            values.append(item["quoted"].replace('""', '"'))
        elif item["plain"].strip():
            values.append(item["plain"].strip())
        position = item.end()
    return values


def unquote(text: str) -> str:
    """One value: exactly what is inside the quotes when it is quoted, else the text trimmed."""
    quoted = _QUOTED.fullmatch(text.strip())
    return quoted.group(1).replace('""', '"') if quoted else text.strip()


def quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def single_text(value: str) -> str:
    """`value` as a box holding one value shows it: quoted only when `unquote` needs it, or to
    tell an empty text from no value (a blank box)."""
    return value if value and unquote(value) == value else quote(value)


def list_item_text(value: str) -> str:
    """`value` as one item of a comma-separated list: quoted only when `split_values` needs it."""
    try:
        plain = split_values(value) == [value]
    except ValueError:
        plain = False
    return value if plain else quote(value)


def parse_number(text: str) -> int | float | None:
    """A typed number: integers exactly (however many digits `int()` takes), else a finite
    float; None when the text is not a number."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def number_text(value: int | float) -> str:
    """The shortest text that `parse_number` reads back as the same number (and type)."""
    return repr(value)


# --- names for ids -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Directory:
    """Team and staff names, so rules show and accept names instead of ids."""

    teams: list[tuple[int, str]]
    people: list[tuple[int, str, str]]  # (user id, name, email)

    @classmethod
    def load(cls, session: Session, ctx: Context) -> Directory:
        staff = active_staff(session, ctx)
        return cls(all_team_names(session, ctx), [(p.user_id, p.name, p.email) for p in staff])

    def team_name(self, team_id: Any) -> str:
        return dict(self.teams).get(team_id, f"team #{team_id}")

    def person_name(self, user_id: Any) -> str:
        for pid, name, email in self.people:
            if pid == user_id:
                return name or email
        return f"user #{user_id}"

    def id_text(self, field_name: str, value: Any) -> str:
        """How an id is shown in a condition's value box: a name the parser reads back as this
        id, else the id itself (a team named "7", two teams of the same name)."""
        if field_name == FieldName.team_id.value:
            shown = dict(self.teams).get(value, str(value))
        else:
            shown = next((email for pid, _, email in self.people if pid == value), str(value))
        return shown if self.id_of(field_name, shown) == value else str(value)

    def id_of(self, field_name: str, text: str) -> int | None:
        if (number := parse_id(text)) is not None:
            return number
        wanted = text.strip().casefold()
        if field_name == FieldName.team_id.value:
            return next((tid for tid, name in self.teams if name.casefold() == wanted), None)
        return next(
            (
                pid
                for pid, name, email in self.people
                if wanted in (email.casefold(), name.casefold())
            ),
            None,
        )
