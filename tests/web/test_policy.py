"""The compose form shows, before sending, what the policy will decide; refusals write nothing."""

from __future__ import annotations

from tests.web.conftest import Web, compose_form, post


async def _form(web: Web, **changes: object) -> object:
    fields: dict[str, object] = {
        "case": await web.case_id("Harlow"),
        "recipients": [await web.agency_id("DBY-HOUSING")],
    }
    fields.update(changes)
    return compose_form(await web.compose_csrf(), **fields)  # type: ignore[arg-type]


async def test_check_shows_the_decision_and_sends_nothing(web: Web) -> None:
    await web.login("dby.police")
    before = (await web.packet_count(), await web.ledger_seq())
    status, _, html = await post(web.client, "/compose", await _form(web, action="check"))
    assert status == 200
    assert 'id="decision-outcome" data-outcome="PERMIT">Allowed<' in html
    for label in ("Lawful authority", "Necessary", "Proportionate", "Secure", "Accountable"):
        assert f'<dt class="govuk-summary-list__key">{label}</dt>' in html
    assert "proportionality.housing.level-2" in html
    assert "https://mappa-hub.example/agreements/mappa-isp (version 3.1)" in html
    assert "Please confirm whether the proposed address is suitable." in html  # kept
    assert (await web.packet_count(), await web.ledger_seq()) == before


async def test_denied_share_names_the_failed_test_and_stores_only_its_log_entry(web: Web) -> None:
    await web.login("dby.police")
    before = (await web.packet_count(), await web.ledger_seq())
    status, _, html = await post(
        web.client, "/compose", await _form(web, categories=("address", "intelligence"))
    )
    assert status == 403
    assert 'id="decision-outcome" data-outcome="DENY">Refused<' in html
    assert "The policy would refuse this share." in html
    assert '<a href="#categories">Proportionate: ' in html  # the summary points at the field
    assert "Intelligence stays within the Responsible Authority" in html
    assert 'data-test="proportionate"' in html
    # Nothing sealed or stored; the refusal itself is on the log (hub.services.refused_shares).
    assert (await web.packet_count(), await web.ledger_seq()) == (before[0], before[1] + 1)
    assert await web.last_event() == "share-refused"
    assert "The refusal is recorded on the hub's log" in html


async def test_checking_a_share_the_policy_refuses_writes_nothing(web: Web) -> None:
    await web.login("dby.police")
    before = (await web.packet_count(), await web.ledger_seq())
    form = await _form(web, action="check", categories=("address", "intelligence"))
    _, _, html = await post(web.client, "/compose", form)
    assert 'data-outcome="DENY"' in html
    assert "recorded on the hub" not in html  # only a send is a request to share
    assert (await web.packet_count(), await web.ledger_seq()) == before


async def test_missing_necessity_statement_is_refused(web: Web) -> None:
    await web.login("dby.police")
    status, _, html = await post(web.client, "/compose", await _form(web, necessity={}))
    assert status == 403
    assert "Necessary: State why sharing this is necessary" in html


async def test_third_party_disclosure_needs_approval(web: Web) -> None:
    await web.login("dby.police")
    share: dict[str, object] = {
        "recipients": [await web.agency_id("DBY-EMPLOYER-ACME")],
        "purpose": "public-protection",
        "lawful_basis": "common-law",
        "categories": ("identity", "risk-summary"),
        "necessity": {
            "why": "He has applied to drive for a firm delivering to primary schools.",
            "who": "Only the operations director, who decides the placement.",
            "use": "To decide the placement; the letter is returned, not filed.",
        },
    }
    before = (await web.packet_count(), await web.ledger_seq())
    status, _, html = await post(web.client, "/compose", await _form(web, action="check", **share))
    assert status == 200
    assert 'id="decision-outcome" data-outcome="REVIEW">Needs approval before it is sent<' in html
    assert "Approval needed from: 1 MAPPA coordinator of this area" in html
    assert (await web.packet_count(), await web.ledger_seq()) == before
    # Sent, it is sealed and held for the coordinator (tests/web/test_held_shares.py): one packet
    # that nobody receives yet, and one log entry (its collection).
    status, location, _ = await post(web.client, "/compose", await _form(web, **share))
    assert status == 303 and location.startswith("/shares/") and location.endswith("?sent=1")
    assert (await web.packet_count(), await web.ledger_seq()) == (before[0] + 1, before[1] + 1)


async def test_sent_packet_shows_its_decision_and_necessity(web: Web) -> None:
    await web.login("dby.police")
    status, location, _ = await post(web.client, "/compose", await _form(web))
    assert status == 303
    await web.logout()
    await web.login("dby.housing")
    response = await web.client.get(location)
    html = await response.text()
    assert "Why it was shared" in html
    assert "Housing must assess the proposed address" in html
    assert (
        "Allowed under policy version" in html
    )  # the decision in words (rules: Technical details)
