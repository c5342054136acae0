"""The form validators (hub.web.formfields parsing a posted form, hub.workflows.forms checking
it) under hypothesis: any posted fields give a checked form or ``InvalidInput`` naming each bad
field; a valid form, flattened as the page posts it and parsed back, is the same form; and through
the real compose page no post is a 500 and nothing is sent unless the page says so."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st

from hub.errors import InvalidInput
from hub.model.packets import PacketType
from hub.store import schema
from hub.web import formfields
from hub.workflows.forms import FORMS, FormModel, validate_form
from tests import workflow_forms as examples
from tests.conftest import NECESSITY, SHARE_CATEGORIES
from tests.fuzz.budget import fuzz_settings
from tests.web.conftest import Web, fetch, post

VALID: dict[PacketType, dict[str, Any]] = {
    PacketType.REQUEST: examples.request_form(),
    PacketType.RESPONSE: examples.response_form(),
    PacketType.REFERRAL: examples.referral_form(),
    PacketType.MINUTES: examples.minutes_form(),
    PacketType.RISK_CHANGE: examples.risk_change_form(),
    PacketType.DISCLOSURE_PROPOSAL: examples.disclosure_proposal_form(),
    PacketType.DISCLOSURE_DECISION: examples.disclosure_decision_form(),
}


def _posted(kind: PacketType) -> dict[str, str]:
    """The valid form as the compose page posts it: flat ``f.`` fields, text only."""
    return formfields.flatten(VALID[kind])


def test_every_example_form_is_valid() -> None:
    assert set(VALID) == set(FORMS)
    for kind, form in VALID.items():
        validate_form(kind, form)


@pytest.mark.parametrize("kind", sorted(FORMS, key=lambda k: k.value))
def test_a_valid_form_posted_and_parsed_back_is_the_same_form(kind: PacketType) -> None:
    assert validate_form(kind, formfields.parse(_posted(kind), FORMS[kind])) == validate_form(
        kind, VALID[kind]
    )


_TEXT = st.text(max_size=40) | st.sampled_from(
    [
        "",
        " ",
        "yes",
        "no",
        "2",
        "3",
        "2026-12-04",
        "2026-02-30",
        "31",
        "12",
        "2026",
        "٣",
        "²",
        "99999999999999999999",
        "high",
        "DBY-POLICE",
        "\u202e",
        "a" * 5000,
    ]
)


def _keys(kind: PacketType) -> st.SearchStrategy[str]:
    """Names the page posts, names near them, and names no page posts."""
    known = sorted(_posted(kind))
    near = st.builds(
        lambda k, suffix: k + suffix,
        st.sampled_from(known),
        st.sampled_from(["-day", "-month", "-year", ".0", ".x", ".0.agency", "."]),
    )
    rows = st.builds(
        lambda base, n, leaf: f"f.{base}.{n}.{leaf}",
        st.sampled_from(["attendance", "actions", "agencies_to_invite", "risk_management_plan"]),
        st.sampled_from(["0", "39", "40", "999999", "1000000", "-1", "01", "²", "x", ""]),
        st.sampled_from(["agency", "attended", "deadline-day", "description", "x"]),
    )
    odd = st.text(max_size=20).map(lambda t: "f." + t)
    return st.sampled_from(known) | near | rows | odd


@st.composite
def _changed_post(draw: st.DrawFn, kind: PacketType) -> dict[str, str]:
    posted = _posted(kind)
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        how = draw(st.sampled_from(["set", "drop", "blank"]))
        if how == "drop" and posted:
            posted.pop(draw(st.sampled_from(sorted(posted))))
        else:
            posted[draw(_keys(kind))] = "" if how == "blank" else draw(_TEXT)
    return posted


def _kinds() -> st.SearchStrategy[PacketType]:
    return st.sampled_from(sorted(FORMS, key=lambda k: k.value))


def _checked(kind: PacketType, posted: dict[str, str]) -> FormModel | None:
    doc = formfields.parse(posted, FORMS[kind])
    formfields.flatten(doc)  # the refused form is shown as understood
    try:
        return validate_form(kind, doc)
    except InvalidInput as exc:
        assert exc.errors and exc.field
        for e in exc.errors:
            assert e["field"] and e["message"]
        return None


@fuzz_settings(200)
@given(_kinds().flatmap(lambda k: st.tuples(st.just(k), _changed_post(k))))
def test_a_changed_post_is_a_form_or_its_problems(
    changed: tuple[PacketType, dict[str, str]],
) -> None:
    form = _checked(*changed)
    if currently_in_test_context():
        event("valid" if form is not None else "refused")


@fuzz_settings(150)
@given(_kinds(), st.dictionaries(st.text(max_size=30), st.text(max_size=30), max_size=8))
def test_any_posted_fields_are_a_form_or_its_problems(
    kind: PacketType, posted: dict[str, str]
) -> None:
    _checked(kind, posted)


# -- through the compose page ------------------------------------------------------------------

_SENT = re.compile(r"^/(packets|shares)/")
# What only a send writes: saving a draft (a refused form is kept as one) is not on this list.
_SHARE_TABLES = (schema.packets, schema.packet_keys, schema.packet_parts, schema.held_shares,
                 schema.disclosures, schema.info_requests, schema.meetings, schema.ledger_entries)  # fmt: skip


async def _shares(web: Web) -> dict[str, int]:
    from sqlalchemy import func, select

    async with web.hub.db.read() as conn:
        return {
            t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for t in _SHARE_TABLES
        }


@pytest.fixture
async def composer(web: Web) -> tuple[Web, str, dict[str, str]]:
    await web.login("dby.probation")
    fixed = {
        "case": str(await web.case_id("Harlow")),
        "recipients": str(await web.agency_id("DBY-HOUSING")),
    }
    return web, await web.compose_csrf(), fixed


@fuzz_settings(40)
@given(
    kind=_kinds(),
    data=st.data(),
    action=st.sampled_from(["send", "check", "save", "", "other"]),
)
async def test_a_changed_compose_post_is_answered_not_crashed(
    composer: tuple[Web, str, dict[str, str]], kind: PacketType, data: st.DataObject, action: str
) -> None:
    web, csrf, fixed = composer
    posted = data.draw(_changed_post(kind), label="fields")
    # aiohttp's client cannot put a non-ASCII name in a multipart header (it fails to send);
    # names of any characters are parsed by the tests above, without HTTP.
    posted = {k: v for k, v in posted.items() if k.isascii() and k.isprintable()}
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in [("_csrf", csrf), *fixed.items(), ("packet_type", kind.value),
                        ("purpose", "risk-management"), ("lawful_basis", "cja2003-s325"),
                        ("subject", "Fuzzed form"), ("body", "Fuzzed body"),
                        *[("categories", c) for c in SHARE_CATEGORIES],
                        *[(f"necessity_{k}", v) for k, v in NECESSITY.items()],
                        *posted.items(), ("action", action)]:  # fmt: skip
        form.add_field(name, value)
    before = await _shares(web)
    status, location, page = await post(web.client, "/compose", form)
    assert status < 500, page[-2000:]
    if not (status == 303 and _SENT.match(location)):
        # Nothing stored; a send the policy refused leaves its entry on the log, and nothing else.
        refused = status == 403 and 'data-outcome="DENY"' in page  # a check answers 200
        logged = before["ledger_entries"] + (1 if refused else 0)
        assert await _shares(web) == {**before, "ledger_entries": logged}, (status, location)
    if status == 303 and not _SENT.match(location):
        assert (await fetch(web.client, location))[0] == 200
    event(f"{status} {re.sub(r'/[0-9a-f-]{36}', '/<id>', location.split('?')[0])}")
