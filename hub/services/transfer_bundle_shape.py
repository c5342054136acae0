"""The shape of a transfer bundle's documents, checked before the importer reads any of them.

A pinned hub's signature proves who made a bundle, not that it is well made: a peer with a bug
(or a compromised one) signs whatever it writes. Every member the importer reads is checked here
to be there and of the type it is read as, so that a bad bundle is refused with ``BundleRefused``
naming the file and member (never its content), instead of failing with a KeyError or a
TypeError half-way through. The checks of meaning (signatures, proofs, keys, areas) stay with the
importer (``hub.services.transfer_bundle_import``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from hub.crypto.canonical import canonical_json
from hub.model.directory import AgencyType, Jurisdiction
from hub.services.transfer_bundle import BundleRefused

if TYPE_CHECKING:
    from hub.services.transfer_bundle_import import ParsedBundle

_JURISDICTIONS = frozenset(j.value for j in Jurisdiction)
_AGENCY_TYPES = frozenset(t.value for t in AgencyType)
_GRADES = (1, 2, 3)


def _need(ok: bool, where: str) -> None:
    if not ok:
        raise BundleRefused(f"{where} is missing or malformed")


def _text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    _need(isinstance(value, str) and value != "", f"{where} '{key}'")
    return str(value)


def _optional_text(doc: Mapping[str, Any], key: str, where: str) -> None:
    _need(doc.get(key) is None or isinstance(doc.get(key), str), f"{where} '{key}'")


def _table(value: Any, where: str) -> Mapping[str, Any]:
    _need(isinstance(value, Mapping), where)
    return value  # type: ignore[no-any-return]


def _list(value: Any, where: str) -> list[Any]:
    _need(isinstance(value, list), where)
    return value  # type: ignore[no-any-return]


def _grade(doc: Mapping[str, Any], key: str, where: str) -> None:
    value = doc.get(key)
    _need(type(value) is int and value in _GRADES, f"{where} '{key}'")


def _one_of(value: Any, allowed: frozenset[str] | set[str]) -> bool:
    """Text from ``allowed`` (a list or an object is not looked up: it is not hashable)."""
    return isinstance(value, str) and value in allowed


def _parses(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def check_bundle(b: ParsedBundle) -> None:
    """bundle.json, case.json, each packet.json and the evidence, as the importer reads them."""
    bundle = _table(b.bundle, "bundle.json")
    _text(bundle, "bundle_id", "bundle.json")
    _text(bundle, "to_area", "bundle.json")
    _optional_text(bundle, "from_area", "bundle.json")
    _need(bundle.get("transfer") is None or isinstance(bundle["transfer"], Mapping),
          "bundle.json 'transfer'")  # fmt: skip
    codes = _check_case(_table(b.case, "case.json"))
    for p in b.packets:
        _check_packet(_table(p.meta, "a packet.json"), codes)
    _table(b.ledger, "ledger.json")
    _table(b.completeness, "completeness.json")
    try:  # kept as evidence in canonical JSON, which carries no floats
        canonical_json({"register": _list(b.register, "register.json"),
                        "meetings": _list(b.meetings, "meetings.json")})  # fmt: skip
    except (TypeError, ValueError):
        raise BundleRefused(
            "register.json or meetings.json holds a value that is not allowed"
        ) from None
    except RecursionError:
        raise BundleRefused("register.json or meetings.json is nested too deeply") from None


def _check_case(case: Mapping[str, Any]) -> set[str]:
    """case.json; the codes of the agencies it names."""
    _text(case, "reference", "case.json")
    lead = _text(case, "lead_agency", "case.json")
    _grade(case, "category", "case.json")
    _grade(case, "level", "case.json")
    if case.get("as_sent") is not None:
        sent = _table(case["as_sent"], "case.json 'as_sent'")
        _grade(sent, "category", "case.json 'as_sent'")
        _grade(sent, "level", "case.json 'as_sent'")
    area = _table(case.get("area"), "case.json 'area'")
    _text(area, "code", "case.json 'area'")
    _need(_one_of(area.get("jurisdiction"), _JURISDICTIONS), "case.json 'area' 'jurisdiction'")
    codes: set[str] = set()
    for a in _list(case.get("agencies"), "case.json 'agencies'"):
        a = _table(a, "case.json 'agencies'")
        where = "case.json 'agencies'"
        for key in ("code", "name", "area", "area_name"):
            _text(a, key, where)
        _need(_one_of(a.get("type"), _AGENCY_TYPES), f"{where} 'type'")
        _need(_one_of(a.get("jurisdiction"), _JURISDICTIONS), f"{where} 'jurisdiction'")
        for k in _list(a.get("signing_keys"), f"{where} 'signing_keys'"):
            k = _table(k, f"{where} 'signing_keys'")
            _text(k, "key_id", f"{where} 'signing_keys'")
            public = k.get("public")
            _need(isinstance(public, str) and _parses(bytes.fromhex, public),
                  f"{where} 'signing_keys' 'public'")  # fmt: skip
        codes.add(a["code"])
    _need(lead in codes, "case.json 'lead_agency' (an agency the bundle names)")
    return codes


def _check_packet(meta: Mapping[str, Any], codes: set[str]) -> None:
    where = "a packet.json"
    for key in ("id", "type", "purpose", "lawful_basis", "signer_key_id"):
        _text(meta, key, where)
    _need(_one_of(meta.get("sender_agency"), codes), f"{where} 'sender_agency'")
    created = _text(meta, "created_at", where)
    _need(_parses(datetime.fromisoformat, created), f"{where} 'created_at'")
    recipients = _list(meta.get("recipients"), f"{where} 'recipients'")
    _need(all(_one_of(r, codes) for r in recipients), f"{where} 'recipients'")
    _optional_text(meta, "reply_to", where)
    for k in _list(meta.get("keys"), f"{where} 'keys'"):
        k = _table(k, f"{where} 'keys'")
        _text(k, "agency", f"{where} 'keys'")
        _text(k, "key_id", f"{where} 'keys'")
        sealed = k.get("sealed")
        _need(isinstance(sealed, str) and _base64(sealed), f"{where} 'keys' 'sealed'")


def _base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def check_content(doc: Any) -> dict[str, Any]:
    """The sealed case record's fields, once opened: the identity and the nominal record."""
    fields = dict(_table(doc, "the sealed case record"))
    ident = _table(fields.get("identity"), "the sealed case record's identity")
    where = "the sealed case record's identity"
    _text(ident, "family_name", where)
    _text(ident, "given_names", where)
    for key in ("visor_ref", "pnc_ref", "ndelius_crn", "date_of_birth"):
        _optional_text(ident, key, where)
    dob = ident.get("date_of_birth")
    _need(not dob or _parses(date.fromisoformat, dob), f"{where} 'date_of_birth'")
    record = fields.get("record")
    if record:
        record = _table(record, "the sealed case record's nominal record")
        person = record.get("person", {})
        _need(isinstance(person, Mapping), "the sealed case record's person")
    try:  # sealed afresh on this hub, as canonical JSON
        canonical_json(fields)
    except (TypeError, ValueError):
        raise BundleRefused("the sealed case record holds a value that is not allowed") from None
    return fields
