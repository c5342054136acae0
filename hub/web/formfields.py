"""HTML form fields generated from a packet type's schema, and the posted fields parsed back.

Fields are named ``f.<path>``: ``f.risk_management_plan.supervision``, ``f.actions.0.deadline``.
Lists of rows (attendance, actions, invited agencies) get a few blank rows, each its own fieldset;
a row left blank is dropped. A date is three boxes, day, month and year (``f.due_on-day`` ...), as
the GOV.UK date input asks; a whole ISO date posted as ``f.due_on`` is taken as well. Parsing
keeps strings as typed: the schema (``hub.workflows.forms``) does the checking, so the inbox and
the API refuse the same things with the same field names.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from hub.workflows.forms import FORMS
from hub.workflows.forms import label as schema_label

PREFIX = "f."
MAX_ROWS = 40
DATE_PARTS = ("day", "month", "year")
_AGENCY_FIELDS = {"agency", "owner_agency", "lead_agency"}
# Fields whose value is a lawful basis code from the policy's catalogue.
BASIS_FIELDS = {"lawful_basis"}
_LONG_TEXT = 200  # fields allowed more than this many characters get a text area
_DEFAULT_ROWS = {"attendance": 8, "actions": 5, "agencies_to_invite": 4}
REQUIRED = "This field is required."

# Names for people where the schema's own name reads badly. fields.html (``show``) names stored
# documents with the same words: tests/web/test_compose.py keeps the two in step.
FIELD_LABELS = {
    "due_on": "Date the answer is needed by",
    "completed_on": "Date completed",
    "effective_from": "Date the change takes effect",
    "meeting_date": "Date of the meeting",
    "next_review_date": "Date of the next review",
    "release_date": "Release date",
    "lawful_basis": "Lawful basis for the disclosure",
    "agencies_to_invite": "Agencies to invite",
    "offenders_views": "Offender's views",
    "risk_of_serious_harm_to_whom": "Risk of serious harm to whom",
    "tool": "Assessment tool",
    "required": "Required to attend",
}
# A plain-words hint for fields whose purpose is not plain from the name.
FIELD_HINTS = {
    "information_sought": "What you are asking the agency to tell you.",
    "purpose_of_request": "Why you need it. This is also your statement of why the share is "
    "necessary.",
    "who_needs_access": "The people who will see the answer, and why them.",
    "how_it_will_be_used": "What you will do with the answer, and what happens to it afterwards.",
    "reason_for_referral": "Why the case needs level 2 or 3 management. This is also your "
    "statement of why the share is necessary.",
    "why_necessary": "Why telling this third party is necessary to protect someone. This is also "
    "your statement of why the share is necessary.",
    "lawful_basis": "The law that allows the disclosure to the third party itself. The lawful "
    "basis above is for sending this proposal to MAPPA agencies.",
    "added_value": "What level 2 or 3 management adds to what a single agency can do.",
    "imminence": "How soon harm could happen, and what would make it sooner.",
    "countersigned_by": "Only if the tool needs a countersignature (RM2000).",
    "reason_offender_not_told": "Needed if the offender is not to be told.",
    "conditions_on_use": "For example, not to be shared with the offender.",
    "outcome": "Fill in when the action is done.",
}


def _is_row(part: str) -> bool:
    """A row number as a page names it: ASCII digits, short ("²" and 5,000 digits are not)."""
    return part.isascii() and part.isdigit() and len(part) <= 6


def humanise(code: str) -> str:
    """``very-high`` -> ``Very high``: an option's code in words."""
    text = code.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name) or schema_label(name)


@dataclass
class Widget:
    name: str
    label: str
    kind: str  # text | textarea | date | select | fieldset | rows
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    value: str = ""
    error: str = ""
    hint: str = ""
    children: list[Widget] = field(default_factory=list)
    rows: list[list[Widget]] = field(default_factory=list)
    # The parts of a date as typed: day, month, year.
    parts: tuple[str, str, str] = ("", "", "")

    @property
    def dom_id(self) -> str:
        return self.name.replace(".", "-")

    @property
    def href(self) -> str:
        """Where an error summary's link for this field goes: the control itself."""
        if self.kind == "date":
            return f"#{self.dom_id}-day"
        if self.kind == "rows":
            first = self.rows[0][0] if self.rows and self.rows[0] else None
            return first.href if first is not None else f"#{self.dom_id}"
        if self.kind == "fieldset" and self.children:
            return self.children[0].href
        return f"#{self.dom_id}"


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _max_length(info: Any) -> int | None:
    for meta in info.metadata:
        length = getattr(meta, "max_length", None)
        if length is not None:
            return int(length)
    return None


def _date_parts(value: str) -> tuple[str, str, str]:
    """A date as day, month and year boxes: an ISO date without its leading zeros, anything else
    (what was typed, as ``_join_date`` joined it) as it was typed."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        year, _, rest = value.partition("-")
        month, _, day_text = rest.partition("-")
        return day_text, month, year
    return str(day.day), str(day.month), str(day.year)


def widgets(
    model: type[BaseModel],
    values: Mapping[str, str],
    errors: Mapping[str, str],
    agencies: list[tuple[str, str]],
    path: str = "",
    bases: list[tuple[str, str]] | None = None,
) -> list[Widget]:
    """The widgets for ``model``, filled with ``values`` (flat ``f.`` names) and ``errors``
    (schema field paths without the prefix). ``agencies`` and ``bases`` are the (code, words)
    choices for agency and lawful basis fields."""
    out = []
    for name, info in model.model_fields.items():
        dotted = f"{path}{name}"
        full = PREFIX + dotted
        annotation = _unwrap_optional(info.annotation)
        w = Widget(
            name=full,
            label=field_label(name),
            kind="text",
            required=info.is_required(),
            value=values.get(full, ""),
            error=errors.get(dotted, ""),
            hint=FIELD_HINTS.get(name, ""),
        )
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            w.kind = "fieldset"
            w.children = widgets(annotation, values, errors, agencies, dotted + ".", bases)
        elif origin is list:
            (inner,) = get_args(annotation)
            w.kind = "rows"
            used = [
                int(k[len(full) + 1 :].split(".", 1)[0])
                for k in values
                if k.startswith(full + ".") and _is_row(k[len(full) + 1 :].split(".", 1)[0])
            ]
            count = min(MAX_ROWS, max(_DEFAULT_ROWS.get(name, 3), max(used, default=-1) + 3))
            w.rows = [
                widgets(inner, values, errors, agencies, f"{dotted}.{i}.", bases)
                for i in range(count)
            ]
        elif name in _AGENCY_FIELDS:
            w.kind = "select"
            w.options = [("", "Choose an agency"), *agencies]
        elif name in BASIS_FIELDS and bases is not None:
            w.kind = "select"
            w.options = [("", "Choose a lawful basis"), *bases]
            default = info.default if isinstance(info.default, str) else ""
            if not w.value and any(code == default for code, _ in bases):
                w.value = default
        elif annotation is bool:
            w.kind = "select"
            w.options = [("", "Choose"), ("yes", "Yes"), ("no", "No")]
            w.value = w.value or _shown_default(info)
        elif annotation is date:
            w.kind = "date"
            w.parts = _date_parts(w.value)
        elif isinstance(annotation, type) and issubclass(annotation, Enum):
            w.kind = "select"
            w.options = [
                ("", "Choose"),
                *((str(m.value), humanise(str(m.value))) for m in annotation),
            ]
        elif origin is Literal:
            w.kind = "select"
            w.options = [
                ("", "Choose"),
                *(
                    (str(v), f"Level {v}" if isinstance(v, int) else str(v))
                    for v in get_args(annotation)
                ),
            ]
        elif (_max_length(info) or 0) > _LONG_TEXT:
            w.kind = "textarea"
        if w.error:
            w.error = friendly_error(w, w.error)
        out.append(w)
    return out


def friendly_error(w: Widget, message: str) -> str:
    """An error message that says what to do ("Enter information sought"), GOV.UK style."""
    name = w.label[:1].lower() + w.label[1:]
    if message == REQUIRED:
        if w.kind == "select" and [v for v, _ in w.options] == ["", "yes", "no"]:
            return f"Choose yes or no for {name}"
        if w.kind == "select":
            return f"Choose {name}"
        if w.kind == "date":
            return f"Enter the {name}"
        if w.kind == "rows":
            return f"Fill in at least one entry for {name}"
        if w.kind == "fieldset":
            return f"Fill in {name}"
        return f"Enter {name}"
    if w.kind == "date" and "date" in message.lower() and "valid" in message.lower():
        return f"{w.label} must be a real date, for example 27 3 2027"
    if "greater than or equal to 2000" in message or "less than or equal to 2099" in message:
        return f"{w.label} must be a date between 2000 and 2099"
    if message.startswith("Add at least one"):
        return f"Add at least one entry to {name}"
    return message.rstrip(".")


def walk(items: list[Widget]) -> Iterator[Widget]:
    """Every widget, depth first: the order the page shows them, so the error summary's."""
    for w in items:
        yield w
        yield from walk(w.children)
        for row in w.rows:
            yield from walk(row)


def _shown_default(info: Any) -> str:
    """What a control shows before anything is typed: a boolean with a default is preselected."""
    if _unwrap_optional(info.annotation) is bool and info.default is not None:
        return "" if info.is_required() else ("yes" if info.default else "no")
    return ""


def _blank_row(row: Mapping[str, Any], model: type[BaseModel]) -> bool:
    """A row nobody typed in: every value posted is the one the page preselected."""
    fields = model.model_fields
    return all(
        isinstance(v, str) and k in fields and v == _shown_default(fields[k])
        for k, v in row.items()
    )


def _bool(text: str) -> bool | str:
    return {"yes": True, "no": False}.get(text, text)


def _literal(text: str, annotation: Any) -> Any:
    """A select's posted text as the literal it stands for (``"2"`` for ``Literal[2, 3]``)."""
    return next((v for v in get_args(annotation) if str(v) == text), text)


def _join_date(day: str, month: str, year: str) -> str:
    """Three boxes as one ISO date, zero-padded when they are numbers; the schema checks it."""
    day, month, year = day.strip(), month.strip(), year.strip()
    if day.isdigit() and month.isdigit() and len(day) <= 2 and len(month) <= 2:
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return f"{year}-{month}-{day}"


def _dates_joined(posted: Mapping[str, str]) -> dict[str, str]:
    """The posted fields with each date's three boxes joined into one value; a date with all
    three boxes blank is left out (unless posted whole)."""
    out: dict[str, str] = {}
    boxes: dict[str, dict[str, str]] = {}
    for key, raw in posted.items():
        base, dash, part = key.rpartition("-")
        if dash and part in DATE_PARTS and base.startswith(PREFIX):
            boxes.setdefault(base, {})[part] = raw if isinstance(raw, str) else ""
        else:
            out[key] = raw
    for base, parts in boxes.items():
        if any(parts.get(p, "").strip() for p in DATE_PARTS) and not out.get(base, "").strip():
            out[base] = _join_date(
                parts.get("day", ""), parts.get("month", ""), parts.get("year", "")
            )
    return out


def parse(posted: Mapping[str, str], model: type[BaseModel]) -> dict[str, Any]:
    """Posted ``f.`` fields as the nested document the schema validates; blank fields and blank
    rows are left out."""
    tree: dict[str, Any] = {}
    for key, raw in _dates_joined(posted).items():
        if not key.startswith(PREFIX) or not isinstance(raw, str) or not raw.strip():
            continue
        node = tree
        parts = key[len(PREFIX) :].split(".")
        if len(parts) > 4 or any(not p for p in parts):
            continue
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = raw
    return _shape(tree, model)


def _shape(tree: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    hints = model.model_fields
    for name, value in tree.items():
        info = hints.get(name)
        if info is None:
            out[name] = value  # the schema refuses it by name
            continue
        annotation = _unwrap_optional(info.annotation)
        if isinstance(value, dict) and get_origin(annotation) is list:
            (inner,) = get_args(annotation)
            rows = [
                value[k]
                for k in sorted((k for k in value if _is_row(k)), key=int)
                if isinstance(value[k], dict)
            ][:MAX_ROWS]
            out[name] = [_shape(r, inner) for r in rows if not _blank_row(r, inner)]
        elif isinstance(value, dict) and isinstance(annotation, type):
            out[name] = _shape(value, annotation) if issubclass(annotation, BaseModel) else value
        elif annotation is bool and isinstance(value, str):
            out[name] = _bool(value)
        elif get_origin(annotation) is Literal and isinstance(value, str):
            out[name] = _literal(value, annotation)
        else:
            out[name] = value
    return out


def flatten(doc: Mapping[str, Any], prefix: str = PREFIX) -> dict[str, str]:
    """A parsed document back to flat ``f.`` values, so a refused form is shown as understood."""
    out: dict[str, str] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, list):
            for i, row in enumerate(value):
                if isinstance(row, Mapping):
                    out.update(flatten(row, f"{name}.{i}."))
        elif isinstance(value, bool):
            out[name] = "yes" if value else "no"
        else:
            out[name] = str(value)
    return out


def in_form_order(schema_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A stored form document's fields in the order its form asks them (stored documents are
    canonical JSON, keys sorted), for ``show`` in fields.html; unknown schemas and fields keep
    their stored order, after the known ones."""
    parts = schema_id.split("/")
    model = next((m for k, m in FORMS.items() if len(parts) >= 3 and k.value == parts[2]), None)
    ordered: dict[str, Any] = _ordered(fields, model)
    return ordered


def _ordered(value: Any, model: type[BaseModel] | None) -> Any:
    if isinstance(value, Mapping):
        known = list(model.model_fields) if model is not None else []
        keys = [k for k in known if k in value] + [k for k in value if k not in known]
        return {k: _ordered(value[k], _inner(model, k)) for k in keys}
    if isinstance(value, list):
        return [_ordered(v, model) for v in value]
    return value


def _inner(model: type[BaseModel] | None, name: str) -> type[BaseModel] | None:
    info = model.model_fields.get(name) if model is not None else None
    if info is None:
        return None
    annotation = _unwrap_optional(info.annotation)
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )
