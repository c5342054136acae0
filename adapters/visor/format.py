"""The nominal record's file format: schema, parsing, every check, and the bytes exported.

Errors are reported all together, each by its JSON Pointer path (``/orders/0/granted_on``), so
that one attempt shows everything to fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_VERSION = "1"
SCHEMA_FILE = f"visor-record.v{SCHEMA_VERSION}.json"
# A nominal record is a few tens of kilobytes; 5 MB leaves room for long histories and refuses
# anything that is not a record before it is parsed.
MAX_BYTES = 5 * 1024 * 1024
MAX_ERRORS = 200


@dataclass(frozen=True)
class Problem:
    path: str  # JSON Pointer; "" for the document as a whole
    message: str

    def as_field(self) -> dict[str, str]:
        return {"field": self.path or "/", "message": self.message}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("adapters.visor").joinpath("schema", SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def parse(data: bytes) -> tuple[Any, list[Problem]]:
    """The JSON in ``data``, or the reason it is not JSON (with line and column)."""
    if len(data) > MAX_BYTES:
        return None, [
            Problem("", f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: not a record.")
        ]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Problem("", f"The file is not UTF-8 text (byte {exc.start}).")]
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [
            Problem("", f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
        ]
    except RecursionError:
        return None, [Problem("", "Not valid JSON: nested too deeply.")]
    except ValueError:  # Python refuses integers of more than 4,300 digits (int_max_str_digits)
        return None, [Problem("", "Not valid JSON: a number is too long.")]


def check(doc: Any, *, today: date, agencies: set[str]) -> list[Problem]:
    """Every problem with ``doc``: version first, then the schema, then the rules beyond it."""
    if not isinstance(doc, dict):
        return [Problem("", "A nominal record is a JSON object.")]
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        found = "missing" if version is None else f"{json.dumps(version)}"
        return [
            Problem(
                "/schema_version",
                f"This hub reads version {SCHEMA_VERSION} of the record format; the file's "
                f"schema_version is {found}.",
            )
        ]
    problems = [
        Problem(_pointer(e.absolute_path), _message(e))
        for e in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]
    problems += _rules(doc, today, agencies, {p.path for p in problems})
    return problems[:MAX_ERRORS]


def _message(error: Any) -> str:
    if error.validator == "format" and error.validator_value == "date":
        return f"{json.dumps(error.instance)} is not a date (YYYY-MM-DD)."
    if error.validator == "additionalProperties":
        return f"Unknown field: {error.message.split('(')[-1].rstrip(')')}"
    if error.validator == "required":
        return f"Missing: {error.message}"
    return str(error.message)


def _dates(items: Any) -> list[tuple[int, Mapping[str, Any]]]:
    # Anything but a list (the schema has said so already) has no items to check.
    return (
        [(i, x) for i, x in enumerate(items) if isinstance(x, dict)]
        if isinstance(items, list)
        else []
    )


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _rules(
    doc: Mapping[str, Any], today: date, agencies: set[str], already: set[str]
) -> list[Problem]:
    """What the schema cannot say: dates not in the future, each 'to' after its 'from', order
    stages, agencies that exist. Fields the schema already refused are not checked again."""
    out: list[Problem] = []

    def past(path: str, value: Any, what: str) -> None:
        day = _day(value)
        if day is not None and day > today and path not in already:
            out.append(Problem(path, f"The {what} cannot be in the future ({value})."))

    def order(path: str, earlier: Any, later: Any, message: str) -> None:
        a, b = _day(earlier), _day(later)
        if a is not None and b is not None and b < a and path not in already:
            out.append(Problem(path, message))

    person: Mapping[str, Any] = doc["person"] if isinstance(doc.get("person"), dict) else {}
    past("/person/date_of_birth", person.get("date_of_birth"), "date of birth")
    for i, alias in _dates(person.get("aliases")):
        past(f"/person/aliases/{i}/date_of_birth", alias.get("date_of_birth"), "date of birth")
    mappa: Mapping[str, Any] = doc["mappa"] if isinstance(doc.get("mappa"), dict) else {}
    lead = mappa.get("lead_agency")
    if isinstance(lead, str) and "/mappa/lead_agency" not in already and lead not in agencies:
        out.append(Problem("/mappa/lead_agency", f"No agency {lead} in this hub's directory."))
    for i, a in _dates(doc.get("addresses")):
        p = f"/addresses/{i}"
        past(f"{p}/from", a.get("from"), "date an address applied from")
        order(f"{p}/to", a.get("from"), a.get("to"), "The 'to' date is before the 'from' date.")
    for i, o in _dates(doc.get("offences")):
        p = f"/offences/{i}"
        past(f"{p}/offence_date", o.get("offence_date"), "offence date")
        past(f"{p}/conviction_date", o.get("conviction_date"), "conviction date")
        past(f"{p}/sentence_date", o.get("sentence_date"), "sentence date")
        order(
            f"{p}/conviction_date",
            o.get("offence_date"),
            o.get("conviction_date"),
            "Convicted before the offence date.",
        )
        order(
            f"{p}/sentence_date",
            o.get("conviction_date"),
            o.get("sentence_date"),
            "Sentenced before the conviction.",
        )
    for i, o in _dates(doc.get("orders")):
        p = f"/orders/{i}"
        past(f"{p}/applied_on", o.get("applied_on"), "date applied for")
        past(f"{p}/granted_on", o.get("granted_on"), "date granted")
        stage = o.get("stage")
        if stage in ("interim", "full") and "granted_on" not in o:
            out.append(Problem(f"{p}/granted_on", f"An {stage} order needs the date granted."))
        if stage == "applied" and "granted_on" in o:
            out.append(Problem(f"{p}/granted_on", "An order only applied for has no date granted."))
        order(
            f"{p}/granted_on",
            o.get("applied_on"),
            o.get("granted_on"),
            "Granted before applied for.",
        )
        start = o.get("granted_on") or o.get("applied_on")
        order(f"{p}/expires_on", start, o.get("expires_on"), "Expires before it was made.")
    for i, r in _dates(doc.get("risk_assessments")):
        p = f"/risk_assessments/{i}"
        past(f"{p}/assessed_on", r.get("assessed_on"), "assessment date")
        past(f"{p}/countersigned_on", r.get("countersigned_on"), "countersignature date")
        order(
            f"{p}/countersigned_on",
            r.get("assessed_on"),
            r.get("countersigned_on"),
            "Countersigned before the assessment.",
        )
        if ("countersigned_on" in r) != ("countersigned_by" in r):
            out.append(
                Problem(
                    f"{p}/countersigned_by", "Give both who countersigned and when, or neither."
                )
            )
        code = r.get("agency")
        if isinstance(code, str) and f"{p}/agency" not in already and code not in agencies:
            out.append(Problem(f"{p}/agency", f"No agency {code} in this hub's directory."))
    for i, c in _dates(doc.get("licence_conditions")):
        p = f"/licence_conditions/{i}"
        order(f"{p}/to", c.get("from"), c.get("to"), "The 'to' date is before the 'from' date.")
    for i, m in _dates(doc.get("meetings")):
        past(f"/meetings/{i}/held_on", m.get("held_on"), "meeting date")
    for i, d in _dates(doc.get("disclosure_decisions")):
        p = f"/disclosure_decisions/{i}"
        past(f"{p}/proposed_on", d.get("proposed_on"), "date proposed")
        past(f"{p}/decided_on", d.get("decided_on"), "date decided")
        order(
            f"{p}/decided_on", d.get("proposed_on"), d.get("decided_on"), "Decided before proposed."
        )
    refs = [d.get("reference") for _, d in _dates(doc.get("disclosure_decisions"))]
    for i, ref in enumerate(refs):
        if ref is not None and ref in refs[:i]:
            out.append(Problem(f"/disclosure_decisions/{i}/reference", f"{ref} is listed twice."))
    return out


def render(doc: Mapping[str, Any]) -> bytes:
    """The exported file: the document with its version, keys sorted, indented, UTF-8, so that
    the same record always gives the same bytes (its SHA-256 is on the log)."""
    full = {"schema_version": SCHEMA_VERSION, **doc}
    return (json.dumps(full, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def without_version(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "schema_version"}
