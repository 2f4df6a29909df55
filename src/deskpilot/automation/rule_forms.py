"""The rule editor's form: rows of conditions and actions as posted, turned into the API's shapes,
and rules described in plain words for the admin pages.

The editor works without JavaScript, so a condition is a row of three plain inputs (field,
operator, value typed as text) plus the group it belongs to, and an action is a row of (type,
setting, text) where "setting" is one select holding every field, team, agent and recipient an
action can name. Each row is validated on its own by the engine's own models (`Condition`, the
`Action` union), so an error lands next to its row; `RuleCreate`/`RuleUpdate` then check the
rule as a whole exactly as the API does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import TypeAdapter, ValidationError

from deskpilot.automation.actions import (
    ACTION_TYPES,
    MAX_ACTIONS,
    NOTIFY_TARGETS,
    SET_FIELD_NAMES,
    Action,
)
from deskpilot.automation.conditions import (
    ENUMS,
    ID_FIELDS,
    MAX_CONDITIONS,
    NUMBER_FIELDS,
    PRESENCE,
    TEXT_FIELDS,
    Condition,
    FieldName,
    Op,
)
from deskpilot.automation.models import AutomationRule
from deskpilot.automation.rule_values import (
    Directory,
    list_item_text,
    number_text,
    parse_number,
    single_text,
    split_values,
    unquote,
)
from deskpilot.automation.schemas import Trigger
from deskpilot.core.ids import is_digits, parse_id
from deskpilot.web.templating import label

TRIGGERS: tuple[str, ...] = get_args(Trigger)
MATCHES: tuple[str, ...] = ("all", "any")

TRIGGER_WORDS = {
    "ticket_created": "When a ticket is created",
    "ticket_updated": "When a ticket is updated",
    "message_received": "When a customer writes",
    "time_based": "On a schedule (every 15 minutes)",
}
FIELD_WORDS = {
    "latest_message": "Latest customer message",
    "organization_tier": "Organization tier",
    "assignee_id": "Assignee",
    "team_id": "Team",
    "ai_type": "AI-predicted type",
    "ai_category": "AI-predicted category",
    "ai_confidence": "AI confidence (0-1)",
    "hours_since_update": "Hours since last update",
    "hours_since_created": "Hours since created",
    "hours_in_status": "Hours in current status",
    "requester_email": "Requester email",
    "requester_name": "Requester name",
}
OP_WORDS = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "not_contains": "does not contain",
    "matches": "matches the pattern",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "is_set": "is set",
    "not_set": "is not set",
    "has_tag": "has the tag",
}
ACTION_WORDS = {
    "set_field": "Set a field",
    "assign_team": "Assign to a team",
    "assign_agent": "Assign to an agent",
    "add_tags": "Add tags",
    "remove_tags": "Remove tags",
    "add_note": "Add an internal note",
    "reply": "Reply to the requester",
    "notify": "Notify someone",
    "webhook": "Call a webhook",
    "escalate": "Escalate to a person",
    "close": "Close the ticket",
}
ACTION_PARAM_WORDS = {
    "value": "value",
    "body": "text",
    "tags": "tags",
    "url": "URL",
    "template": "message",
    "reason": "reason",
    "team_id": "team",
    "user_id": "agent",
    "to": "recipient",
    "field": "field",
}

CONDITION_ROWS_NEW = 3
"""Empty condition rows a new rule starts with; saved rules get `SPARE_ROWS` more."""
ACTION_ROWS_NEW = 2
SPARE_ROWS = 1
MIN_GROUP_SLOTS = 2
MAX_GROUPS = MAX_CONDITIONS
"""A group is one of the rule's top-level conditions, so a rule has at most this many."""
_ACTION_ADAPTER: TypeAdapter[Any] = TypeAdapter(Action)


def field_words(name: str) -> str:
    return FIELD_WORDS.get(name, label(name))


def op_words(name: str) -> str:
    return OP_WORDS.get(name, label(name))


def trigger_words(name: str) -> str:
    return TRIGGER_WORDS.get(name, label(name))


# --- the form ------------------------------------------------------------------------------------


@dataclass
class ConditionRow:
    field: str = ""
    op: str = ""
    value: str = ""
    group: str = ""  # "" = the rule's own list, "1".."N" = that group

    @property
    def is_blank(self) -> bool:
        return not self.field


@dataclass
class ActionRow:
    type: str = ""
    setting: str = ""  # "field:priority", "team:3", "agent:5", "notify:assignee" or ""
    text: str = ""

    @property
    def is_blank(self) -> bool:
        return not self.type


@dataclass
class RuleForm:
    name: str = ""
    description: str = ""
    trigger: str = TRIGGERS[0]
    match: str = "all"
    enabled: bool = True
    stop_processing: bool = False
    conditions: list[ConditionRow] = field(default_factory=list)
    actions: list[ActionRow] = field(default_factory=list)
    group_matches: list[str] = field(default_factory=list)

    @classmethod
    def blank(cls) -> RuleForm:
        form = cls(
            conditions=[ConditionRow() for _ in range(CONDITION_ROWS_NEW)],
            actions=[ActionRow() for _ in range(ACTION_ROWS_NEW)],
        )
        form.pad_groups()
        return form

    @classmethod
    def of_rule(cls, rule: AutomationRule, directory: Directory) -> RuleForm:
        form = cls(
            name=rule.name,
            description=rule.description,
            trigger=rule.trigger,
            match=rule.match,
            enabled=rule.enabled,
            stop_processing=rule.stop_processing,
        )
        for item in rule.conditions:
            if "conditions" in item:
                form.group_matches.append(str(item.get("match", "any")))
                group = str(len(form.group_matches))
                form.conditions += [_condition_row(c, directory, group) for c in item["conditions"]]
            else:
                form.conditions.append(_condition_row(item, directory, ""))
        form.actions = [_action_row(a) for a in rule.actions]
        form.conditions += [ConditionRow() for _ in range(SPARE_ROWS)]
        form.actions += [ActionRow() for _ in range(SPARE_ROWS)]
        form.pad_groups()
        return form

    def pad_groups(self) -> None:
        """One spare group slot beyond those in use, and at least `MIN_GROUP_SLOTS`."""
        numbers = (group_number(r.group) for r in self.conditions)
        used = max((n for n in numbers if n is not None), default=0)
        wanted = max(MIN_GROUP_SLOTS, used + 1, len(self.group_matches))
        self.group_matches += ["any"] * (wanted - len(self.group_matches))

    def add_condition_row(self) -> bool:
        if len(self.conditions) >= MAX_CONDITIONS:
            return False
        self.conditions.append(ConditionRow())
        return True

    def add_action_row(self) -> bool:
        if len(self.actions) >= MAX_ACTIONS:
            return False
        self.actions.append(ActionRow())
        return True


def group_number(text: str) -> int | None:
    """The group a row names (1..`MAX_GROUPS`), or None for anything else: a posted number is
    never trusted to size a list or to be short enough for `int()`."""
    if not is_digits(text) or len(text) > len(str(MAX_GROUPS)):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_GROUPS else None


def form_from_post(
    *,
    name: str,
    description: str,
    trigger: str,
    match: str,
    enabled: bool,
    stop_processing: bool,
    cond_field: Sequence[str],
    cond_op: Sequence[str],
    cond_value: Sequence[str],
    cond_group: Sequence[str],
    action_type: Sequence[str],
    action_setting: Sequence[str],
    action_text: Sequence[str],
    group_match: Sequence[str],
) -> RuleForm:
    """Rows from the parallel lists the form posts (every row posts each of its inputs once)."""
    conditions = [
        ConditionRow(f, o, v, g)
        for f, o, v, g in zip(
            _cap(cond_field, MAX_CONDITIONS),
            _padded(cond_op, len(cond_field)),
            _padded(cond_value, len(cond_field)),
            _padded(cond_group, len(cond_field)),
            strict=False,
        )
    ]
    actions = [
        ActionRow(t, s, x)
        for t, s, x in zip(
            _cap(action_type, MAX_ACTIONS),
            _padded(action_setting, len(action_type)),
            _padded(action_text, len(action_type)),
            strict=False,
        )
    ]
    form = RuleForm(
        name=name,
        description=description,
        trigger=trigger,
        match=match,
        enabled=enabled,
        stop_processing=stop_processing,
        conditions=conditions,
        actions=actions,
        group_matches=[m if m in MATCHES else "any" for m in group_match[: MAX_CONDITIONS + 1]],
    )
    form.pad_groups()
    return form


def _cap(values: Sequence[str], limit: int) -> list[str]:
    # Twice the limit leaves room for blank rows; more than that is not a form we rendered.
    return list(values[: limit * 2])


def _padded(values: Sequence[str], length: int) -> list[str]:
    return list(values[:length]) + [""] * max(0, length - len(values))


@dataclass
class Parsed:
    """The rule's conditions and actions in the API's shapes, or errors keyed by form row."""

    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    action_rows: list[int]  # form row of each action, to place service errors
    errors: dict[str, str]


def parse_rows(form: RuleForm, directory: Directory) -> Parsed:
    errors: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    groups: dict[int, dict[str, Any]] = {}
    for index, row in enumerate(form.conditions):
        if row.is_blank:
            continue
        try:
            condition = {
                "field": row.field,
                "op": row.op,
                "value": _condition_value(row, directory),
            }
            Condition.model_validate(condition)
        except ValidationError as exc:
            errors[f"conditions.{index}"] = _first_message(exc)
            continue
        except ValueError as exc:  # the value box itself does not parse
            errors[f"conditions.{index}"] = str(exc)
            continue
        if not row.group:
            items.append(condition)
            continue
        number = group_number(row.group)
        if number is None or number > len(form.group_matches):
            errors[f"conditions.{index}"] = "choose one of the groups shown"
            continue
        if number not in groups:
            groups[number] = {"match": form.group_matches[number - 1], "conditions": []}
            items.append(groups[number])
        groups[number]["conditions"].append(condition)
    actions: list[dict[str, Any]] = []
    action_rows: list[int] = []
    for index, action_row in enumerate(form.actions):
        if action_row.is_blank:
            continue
        action, problem = _action_of(action_row)
        if problem is None:
            try:
                _ACTION_ADAPTER.validate_python(action)
            except ValidationError as exc:
                problem = _action_message(exc)
        if problem is not None:
            errors[f"actions.{index}"] = problem
            continue
        actions.append(action)
        action_rows.append(index)
    if not actions and not any(key.startswith("actions.") for key in errors):
        errors["actions"] = "add at least one action"
    return Parsed(items, actions, action_rows, errors)


def _first_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return str(err["msg"]).removeprefix("Value error, ")


def _action_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    message = str(err["msg"]).removeprefix("Value error, ")
    # loc is (type tag, parameter, ...); a model-level check has only the tag.
    loc = [part for part in err["loc"][1:] if isinstance(part, str)]
    if loc:
        return f"{ACTION_PARAM_WORDS.get(loc[0], loc[0])}: {message}"
    return message


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _condition_value(row: ConditionRow, directory: Directory) -> Any:
    """The typed text as the value the engine compares with (lists, numbers, ids)."""
    text = row.value.strip()
    try:
        field_name, op = FieldName(row.field), Op(row.op)
    except ValueError:
        return text or None  # the model reports the unknown field or operator
    if op == Op.matches:
        return row.value  # a pattern is taken as typed, quotes and spaces included
    if op in PRESENCE or (not text and op in (Op.eq, Op.ne)):
        return text or None
    if op in (Op.in_, Op.not_in):
        return [_one_value(field_name, part, directory) for part in split_values(row.value)]
    if field_name in TEXT_FIELDS or op in (Op.contains, Op.not_contains, Op.has_tag):
        return unquote(row.value)
    return _one_value(field_name, unquote(row.value), directory)


def _one_value(field_name: FieldName, text: str, directory: Directory) -> Any:
    if field_name in NUMBER_FIELDS:
        number = parse_number(text)
        return text if number is None else number  # text: "compares with numbers"
    if field_name in ID_FIELDS:
        found = directory.id_of(field_name.value, text)
        return text if found is None else found
    return text


def _action_of(row: ActionRow) -> tuple[dict[str, Any], str | None]:
    """The action's API shape from (type, setting, text), or what is missing from the row."""
    kind, _, arg = row.setting.partition(":")
    text = row.text.strip()
    action: dict[str, Any] = {"type": row.type}
    if row.type == "set_field":
        if kind != "field":
            return action, "choose the field to set in the second box"
        action.update(field=arg, value=text or None)
    elif row.type == "assign_team":
        if kind != "team":
            return action, "choose the team in the second box"
        action["team_id"] = parse_id(arg)
    elif row.type == "assign_agent":
        if kind != "agent":
            return action, "choose the agent in the second box"
        action["user_id"] = parse_id(arg)
    elif row.type in ("add_tags", "remove_tags"):
        action["tags"] = _split(text)
    elif row.type in ("add_note", "reply"):
        action["body"] = row.text
    elif row.type == "notify":
        if kind != "notify":
            return action, "choose whom to notify in the second box"
        action.update(to=arg, template=text or None)
    elif row.type == "webhook":
        action["url"] = text
    elif row.type == "escalate":
        action["reason"] = text or None
    return action, None


def _condition_row(item: Mapping[str, Any], directory: Directory, group: str) -> ConditionRow:
    """The value box reads back (`_condition_value`) as exactly the saved value."""
    name, op = str(item.get("field", "")), str(item.get("op", ""))
    value = item.get("value")
    if isinstance(value, list):
        parts = [_value_text(name, v, directory) for v in value if v is not None]
        text = ", ".join(list_item_text(part) for part in parts)
    elif value is None:
        text = ""
    elif op == Op.matches.value:
        text = str(value)
    else:
        text = single_text(_value_text(name, value, directory))
    return ConditionRow(name, op, text, group)


def _value_text(field_name: str, value: Any, directory: Directory) -> str:
    if field_name in {f.value for f in ID_FIELDS}:
        return directory.id_text(field_name, value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(value)
    return str(value)


def _action_row(action: Mapping[str, Any]) -> ActionRow:
    kind = str(action.get("type", ""))
    if kind == "set_field":
        return ActionRow(kind, f"field:{action.get('field')}", str(action.get("value") or ""))
    if kind == "assign_team":
        return ActionRow(kind, f"team:{action.get('team_id')}")
    if kind == "assign_agent":
        return ActionRow(kind, f"agent:{action.get('user_id')}")
    if kind in ("add_tags", "remove_tags"):
        return ActionRow(kind, "", ", ".join(action.get("tags") or []))
    if kind in ("add_note", "reply"):
        return ActionRow(kind, "", str(action.get("body") or ""))
    if kind == "notify":
        return ActionRow(kind, f"notify:{action.get('to')}", str(action.get("template") or ""))
    if kind == "webhook":
        return ActionRow(kind, "", str(action.get("url") or ""))
    if kind == "escalate":
        return ActionRow(kind, "", str(action.get("reason") or ""))
    return ActionRow(kind)


# --- choices the editor offers -------------------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """Every select's options, derived from the engine's own lists."""

    triggers: list[tuple[str, str]]
    fields: list[tuple[str, str]]
    ops: list[tuple[str, str]]
    action_types: list[tuple[str, str]]
    settings: list[tuple[str, list[tuple[str, str]]]]  # optgroups
    enums: dict[str, list[str]]

    @property
    def setting_values(self) -> set[str]:
        return {value for _, items in self.settings for value, _ in items}

    @classmethod
    def build(cls, directory: Directory) -> Choices:
        return cls(
            triggers=[(t, trigger_words(t)) for t in TRIGGERS],
            fields=[(f.value, field_words(f.value)) for f in FieldName],
            ops=[(o.value, op_words(o.value)) for o in Op],
            action_types=[(t, ACTION_WORDS.get(t, label(t))) for t in ACTION_TYPES],
            settings=[
                ("Field to set", [(f"field:{f}", label(f)) for f in SET_FIELD_NAMES]),
                ("Team", [(f"team:{tid}", name) for tid, name in directory.teams]),
                (
                    "Agent",
                    [(f"agent:{pid}", name or email) for pid, name, email in directory.people],
                ),
                ("Notify", [(f"notify:{t}", f"the {t}") for t in NOTIFY_TARGETS]),
            ],
            enums={f.value: list(values) for f, values in ENUMS.items()},
        )


# --- plain words ---------------------------------------------------------------------------------


def describe_condition(item: Mapping[str, Any], directory: Directory) -> str:
    if "conditions" in item:
        inner = [describe_condition(c, directory) for c in item["conditions"]]
        joiner = " and " if item.get("match") == "all" else " or "
        return "(" + joiner.join(inner) + ")"
    name, op = str(item.get("field", "")), str(item.get("op", ""))
    words = f"{field_words(name)} {op_words(op)}"
    if op in {o.value for o in PRESENCE}:
        return words
    value = item.get("value")
    values = value if isinstance(value, list) else [value]
    shown = " or ".join(_value_words(name, v, directory) for v in values)
    return f"{words} {shown}"


def _value_words(field_name: str, value: Any, directory: Directory) -> str:
    if value is None:
        return "empty"
    if field_name == FieldName.team_id.value:
        return directory.team_name(value)
    if field_name == FieldName.assignee_id.value:
        return directory.person_name(value)
    if field_name in ENUMS or isinstance(value, int | float):
        return _value_text(field_name, value, directory)
    return f"“{value}”"


def describe_conditions(
    match: str, items: Iterable[Mapping[str, Any]], directory: Directory
) -> str:
    parts = [describe_condition(item, directory) for item in items]
    if not parts:
        return "Always (no conditions)"
    if len(parts) == 1:
        return f"If {parts[0]}"
    return ("If all of: " if match == "all" else "If any of: ") + "; ".join(parts)


def describe_action(action: Mapping[str, Any], directory: Directory) -> str:
    kind = str(action.get("type", ""))
    if kind == "set_field":
        value = action.get("value")
        name = label(str(action.get("field")))
        return f"Clear {name.lower()}" if value is None else f"Set {name.lower()} to {value}"
    if kind == "assign_team":
        return f"Assign to team {directory.team_name(action.get('team_id'))}"
    if kind == "assign_agent":
        return f"Assign to {directory.person_name(action.get('user_id'))}"
    if kind in ("add_tags", "remove_tags"):
        verb = "Add" if kind == "add_tags" else "Remove"
        return f"{verb} tags {', '.join(action.get('tags') or [])}"
    if kind == "notify":
        return f"Notify the {action.get('to')}"
    if kind == "webhook":
        return f"Call webhook {action.get('url')}"
    if kind == "escalate" and action.get("reason"):
        return f"Escalate to a person ({action['reason']})"
    return ACTION_WORDS.get(kind, label(kind))
