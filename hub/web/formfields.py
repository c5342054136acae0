"""HTML form fields generated from a packet type's schema, and the posted fields parsed back.

Fields are named ``f.<path>``: ``f.risk_management_plan.supervision``, ``f.actions.0.deadline``.
Lists of rows (attendance, actions, invited agencies) get a few blank rows; a row left blank is
dropped. Parsing keeps strings as typed: the schema (``hub.workflows.forms``) does the checking,
so the inbox and the API refuse the same things with the same field names.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from hub.workflows.forms import label

PREFIX = "f."
MAX_ROWS = 40
_AGENCY_FIELDS = {"agency", "owner_agency", "lead_agency"}
_LONG_TEXT = 200  # fields allowed more than this many characters get a text area
_DEFAULT_ROWS = {"attendance": 8, "actions": 5, "agencies_to_invite": 4}


def _is_row(part: str) -> bool:
    """A row number as a page names it: ASCII digits, short ("²" and 5,000 digits are not)."""
    return part.isascii() and part.isdigit() and len(part) <= 6


@dataclass
class Widget:
    name: str
    label: str
    kind: str  # text | textarea | date | select | fieldset | rows
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    value: str = ""
    error: str = ""
    children: list[Widget] = field(default_factory=list)
    rows: list[list[Widget]] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return self.name.replace(".", "-")


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


def widgets(
    model: type[BaseModel],
    values: Mapping[str, str],
    errors: Mapping[str, str],
    agencies: list[tuple[str, str]],
    path: str = "",
) -> list[Widget]:
    """The widgets for ``model``, filled with ``values`` (flat ``f.`` names) and ``errors``
    (schema field paths without the prefix)."""
    out = []
    for name, info in model.model_fields.items():
        dotted = f"{path}{name}"
        full = PREFIX + dotted
        annotation = _unwrap_optional(info.annotation)
        w = Widget(
            name=full,
            label=label(name),
            kind="text",
            required=info.is_required(),
            value=values.get(full, ""),
            error=errors.get(dotted, ""),
        )
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            w.kind = "fieldset"
            w.children = widgets(annotation, values, errors, agencies, dotted + ".")
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
                widgets(inner, values, errors, agencies, f"{dotted}.{i}.") for i in range(count)
            ]
        elif name in _AGENCY_FIELDS:
            w.kind = "select"
            w.options = [("", "Choose an agency"), *agencies]
        elif annotation is bool:
            w.kind = "select"
            w.options = [("", "Choose"), ("yes", "Yes"), ("no", "No")]
            w.value = w.value or _shown_default(info)
        elif annotation is date:
            w.kind = "date"
        elif isinstance(annotation, type) and issubclass(annotation, Enum):
            w.kind = "select"
            w.options = [("", "Choose"), *((str(m.value), label(str(m.value))) for m in annotation)]
        elif origin is Literal:
            w.kind = "select"
            w.options = [("", "Choose"), *((str(v), str(v)) for v in get_args(annotation))]
        elif (_max_length(info) or 0) > _LONG_TEXT:
            w.kind = "textarea"
        out.append(w)
    return out


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


def parse(posted: Mapping[str, str], model: type[BaseModel]) -> dict[str, Any]:
    """Posted ``f.`` fields as the nested document the schema validates; blank fields and blank
    rows are left out."""
    tree: dict[str, Any] = {}
    for key, raw in posted.items():
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
