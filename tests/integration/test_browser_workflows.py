"""MAPPA workflows end to end in real Chromium against `mappa-hub demo` run as a real process:
a referral (MAPPA A) refused field by field and then sent, a meeting recorded and its minutes
(MAPPA B) circulated with an action another agency completes, a third-party disclosure proposed,
refused to the wrong deciders, approved and made, a request answered by the agency asked and
refused to any other, and HTML typed into a form shown as text.

One demo server and one browser serve the module; each user signs in once (a TOTP code is good
once) and keeps a browser context. Where a refusal must have written nothing, the database is
read through the services."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from hub.store.schema import ledger_entries
from hub.wiring import Hub
from hub.workflows.deadlines import minutes_due
from tests.conftest import actor_for, agency_id, case_id
from tests.integration.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DemoServer,
    need_chromium,
    run_demo,
    sign_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser

PACKET_URL = re.compile(r"/packets/[0-9a-f-]{36}\?sent=1$")
SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _day(d: date) -> str:
    """A date as the pages show it (GOV.UK style: "9 December 2026")."""
    return f"{d.day} {d.strftime('%B %Y')}"


@dataclass(frozen=True)
class Ids:
    harlow: int
    agencies: dict[str, int]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with run_demo(tmp_path_factory.mktemp("workflows") / "demo") as demo:
        yield demo


@pytest.fixture(scope="module")
def ids(server: DemoServer) -> Ids:
    async def body(hub: Hub) -> Ids:
        codes = ("DBY-POLICE", "DBY-PROBATION", "DBY-HOUSING")
        return Ids(
            harlow=await case_id(hub, "Harlow"),
            agencies={code: await agency_id(hub, code) for code in codes},
        )

    return server.read(body)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    need_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def contexts(chromium: Browser, server: DemoServer) -> Iterator[dict[str, BrowserContext]]:
    """One signed-in browser context per user, made on first use."""
    made: dict[str, BrowserContext] = {}
    yield made
    for context in made.values():
        context.close()


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def open_as(
    chromium: Browser,
    server: DemoServer,
    contexts: dict[str, BrowserContext],
    dialogs: list[str],
) -> Iterator[Callable[[str], Page]]:
    """A fresh tab signed in as the user; any script dialog is recorded (and dismissed)."""
    pages: list[Page] = []

    def open_page(username: str) -> Page:
        if username not in contexts:
            context = chromium.new_context()
            context.set_default_timeout(10_000)
            first = context.new_page()
            sign_in(first, server.base, server.logins[username])
            first.close()
            contexts[username] = context
        page = contexts[username].new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        page.close()


def _today() -> date:
    # The demo runs on the system clock, in UTC.
    return datetime.now(UTC).date()


def _sent_state(server: DemoServer, username: str) -> tuple[int, int]:
    """The user's agency's outbox size and the log entries that user caused: a send changes both.

    Not the log's head: the demo's email outbox delivers earlier notifications in the background,
    each an entry of its own, whenever its poll comes round.
    """

    async def body(hub: Hub) -> tuple[int, int]:
        actor = await actor_for(hub, username)
        sent = await hub.packets.outbox(actor, limit=200)
        async with hub.db.read() as conn:
            caused = (
                await conn.execute(
                    select(func.count())
                    .select_from(ledger_entries)
                    .where(ledger_entries.c.actor_user_id == actor.user.id)
                )
            ).scalar_one()
        return len(sent), int(caused)

    return server.read(body)


def _post_status(page: Page, click: str) -> int:
    """Click a submit button; the status of the POST it makes."""
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.click(click)
    return info.value.status


def _send(page: Page, base: str) -> str:
    """Click Send; the packet's path once sent (a refusal fails the test with what it says)."""
    page.click("#send")
    page.wait_for_load_state()
    if not PACKET_URL.search(page.url):
        shown = page.locator("#compose-error, #decision").all_inner_texts()
        pytest.fail(f"not sent ({page.url}): {shown}")
    return page.url.split("?", 1)[0].removeprefix(base)


def _fill_common(
    page: Page,
    *,
    recipients: tuple[str, ...],
    categories: tuple[str, ...],
    subject: str,
    necessity: dict[str, str],
    purpose: str = "risk-management",
) -> None:
    for code in recipients:
        page.check(f"input[name=recipients][data-code={code}]")
    page.select_option("#purpose", purpose)
    page.select_option("#lawful_basis", "cja2003-s325")
    for category in categories:
        page.check(f"input[name=categories][value={category}]")
    for part, text in necessity.items():
        page.fill(f"#necessity_{part}", text)
    page.fill("#subject", subject)


def _fill_date(page: Page, control: str, day: date) -> None:
    """A GOV.UK date input: day, month and year boxes."""
    page.fill(f"{control}-day", str(day.day))
    page.fill(f"{control}-month", str(day.month))
    page.fill(f"{control}-year", str(day.year))


def _fill_referral(page: Page, reason: str, *, complete: bool) -> None:
    """MAPPA A for Harlow to police; without the likelihood and the plan unless ``complete``."""
    _fill_common(
        page,
        recipients=("DBY-POLICE",),
        categories=("identity", "risk-summary", "risk-assessment", "risk-management-plan"),
        subject="MAPPA A: Harlow for level 2 management",
        necessity={},  # the referral's reason is its statement of why the share is needed
    )
    page.select_option("#f-level_sought", "2")
    page.fill("#f-reason_for_referral", reason)
    page.fill("#f-likelihood_evidence", "OASys OGRS 78% over two years; RM2000 high.")
    page.select_option("#f-risk_of_serious_harm", "high")
    page.fill("#f-risk_of_serious_harm_to_whom", "Children living near the release address.")
    page.fill("#f-imminence", "Release on licence in four weeks.")
    page.select_option("#f-agency_risk_assessment-tool", "OASys")
    _fill_date(page, "#f-agency_risk_assessment-completed_on", _today() - timedelta(days=20))
    page.fill("#f-agency_risk_assessment-assessor", "Helen Carter")
    page.select_option("#f-agencies_to_invite-0-agency", "DBY-HOUSING")
    page.fill("#f-agencies_to_invite-0-reason", "The release address must be assessed.")
    page.fill("#f-added_value", "A housing offer outside the exclusion zone.")
    if complete:
        page.select_option("#f-likelihood_of_reoffending", "high")
        page.fill("#f-risk_management_plan", "Approved premises; exclusion zone; weekly visits.")


def test_referral_refused_field_by_field_then_sent_and_read_by_the_recipient(
    server: DemoServer, ids: Ids, open_as: Callable[[str], Page]
) -> None:
    from playwright.sync_api import expect

    base = server.base
    page = open_as("dby.probation")
    page.goto(f"{base}/cases/{ids.harlow}")
    page.click("#case-actions a:text-is('Make a referral')")
    expect(page).to_have_url(f"{base}/compose?type=referral&case={ids.harlow}")
    expect(page.locator("#case")).to_have_value(str(ids.harlow))

    reason = "Release planned to an address 300 m from a primary school."
    _fill_referral(page, reason, complete=False)
    before = _sent_state(server, "dby.probation")
    assert _post_status(page, "#send") == 400

    errors = page.locator("#compose-error")
    expect(errors).to_contain_text("Choose likelihood of reoffending")
    expect(errors).to_contain_text("Enter risk management plan")
    expect(page.locator("#f-likelihood_of_reoffending-error")).to_contain_text(
        "Choose likelihood of reoffending"
    )
    expect(page.locator("#f-risk_management_plan-error")).to_contain_text(
        "Enter risk management plan"
    )
    expect(page.locator("#f-likelihood_of_reoffending")).to_have_attribute(
        "aria-describedby", re.compile(r"\bf-likelihood_of_reoffending-error\b")
    )
    # The error summary links to the field it names.
    expect(errors.locator("a", has_text="Enter risk management plan")).to_have_attribute(
        "href", "#f-risk_management_plan"
    )
    # Everything typed is still there.
    expect(page.locator("#case")).to_have_value(str(ids.harlow))
    expect(page.locator("input[name=recipients][data-code=DBY-POLICE]")).to_be_checked()
    expect(page.locator("input[name=categories][value=risk-assessment]")).to_be_checked()
    expect(page.locator("#purpose")).to_have_value("risk-management")
    expect(page.locator("#subject")).to_have_value("MAPPA A: Harlow for level 2 management")
    expect(page.locator("#f-level_sought")).to_have_value("2")
    expect(page.locator("#f-reason_for_referral")).to_have_value(reason)
    expect(page.locator("#f-risk_of_serious_harm")).to_have_value("high")
    expect(page.locator("#f-agency_risk_assessment-tool")).to_have_value("OASys")
    expect(page.locator("#f-agencies_to_invite-0-agency")).to_have_value("DBY-HOUSING")
    expect(page.locator("#f-agencies_to_invite-0-reason")).to_have_value(
        "The release address must be assessed."
    )
    assert _sent_state(server, "dby.probation") == before  # nothing sent, nothing logged

    # Complete what was missing and send.
    page.select_option("#f-likelihood_of_reoffending", "high")
    page.fill("#f-risk_management_plan", "Approved premises; exclusion zone; weekly visits.")
    packet_url = base + _send(page, base)
    expect(page.locator("#subject")).to_have_text("MAPPA A: Harlow for level 2 management")
    expect(page.locator("#to")).to_have_text("Derbyshire Constabulary")
    form = page.locator("#form")
    # The form by its name in words, never its schema id.
    expect(page.locator("h2", has_text="MAPPA referral (MAPPA A)")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("mappa-hub/form/referral/v1")
    expect(form.locator("#field-reason_for_referral")).to_have_text(reason)
    expect(form.locator("#field-likelihood_of_reoffending")).to_have_text("High")
    expect(form.locator("#field-risk_management_plan")).to_have_text(
        "Approved premises; exclusion zone; weekly visits."
    )
    expect(form.locator("#field-agencies_to_invite")).to_contain_text("DBY-HOUSING")

    # The coordinator, in the police, finds it in the inbox and reads it.
    reader = open_as("dby.coordinator")
    reader.goto(f"{base}/inbox")
    reader.locator("#inbox a.subject", has_text="MAPPA A: Harlow").first.click()
    expect(reader).to_have_url(packet_url)
    expect(reader.locator("#from")).to_contain_text(
        "Probation Service - Derbyshire (dby.probation)"
    )
    expect(reader.locator("#form #field-level_sought")).to_have_text("2")
    expect(reader.locator("#form #field-likelihood_of_reoffending")).to_have_text("High")


def test_meeting_minutes_and_an_action_completed_by_housing(
    server: DemoServer, ids: Ids, open_as: Callable[[str], Page]
) -> None:
    from playwright.sync_api import expect

    base = server.base
    today = _today()
    held = today - timedelta(days=1)  # the demo's level 2 meeting on Harlow was three days ago
    case_url = f"{base}/cases/{ids.harlow}"
    coordinator = open_as("dby.coordinator")
    coordinator.goto(case_url)
    minutes_rows = coordinator.locator("#due-items tr", has_text="Minutes to circulate")
    minutes_before = minutes_rows.count()

    coordinator.fill("#held_on", held.isoformat())
    coordinator.select_option("#level", "2")
    coordinator.click("#record-meeting")
    expect(coordinator).to_have_url(f"{case_url}?done=meeting")
    expect(coordinator.locator("#notice")).to_contain_text(
        "minutes and the next review are now due"
    )
    expect(minutes_rows).to_have_count(minutes_before + 1)
    due_row = minutes_rows.filter(has_text=_day(minutes_due(held, 2))).first
    expect(due_row).to_be_visible()
    meeting = coordinator.locator("#timeline .entry-meeting", has_text=_day(held))
    expect(meeting).to_contain_text("Level 2 MAPPA meeting")
    expect(meeting).to_contain_text("Minutes awaited")

    due_row.locator("a", has_text="Write the minutes").click()
    expect(coordinator).to_have_url(f"{base}/compose?type=minutes&case={ids.harlow}")
    _fill_common(
        coordinator,
        recipients=("DBY-PROBATION", "DBY-HOUSING"),
        categories=("identity", "risk-summary", "risk-management-plan"),
        subject=f"Level 2 MAPPA meeting {_day(held)}: minutes",
        necessity={"why": "Minutes for every agency that carries out the plan."},
    )
    _fill_date(coordinator, "#f-meeting_date", held)
    coordinator.select_option("#f-meeting_level", "2")
    coordinator.fill("#f-chair", "Priya Shah")
    for i, (code, role) in enumerate(
        [
            ("DBY-POLICE", "Public protection unit"),
            ("DBY-PROBATION", "Offender manager"),
            ("DBY-HOUSING", "Housing options officer"),
        ]
    ):
        coordinator.select_option(f"#f-attendance-{i}-agency", code)
        coordinator.fill(f"#f-attendance-{i}-role", role)
        coordinator.select_option(f"#f-attendance-{i}-attended", "yes")
    coordinator.select_option("#f-lead_agency", "DBY-PROBATION")
    coordinator.fill("#f-risk_assessment", "OASys high risk of serious harm to children.")
    for pillar, text in {
        "supervision": "Weekly appointments with the offender manager.",
        "monitoring_and_control": "Exclusion zone; curfew at approved premises.",
        "interventions_and_treatment": "Sex offender treatment programme place.",
        "victim_safety_planning": "School informed through the designated officer.",
    }.items():
        coordinator.fill(f"#f-risk_management_plan-{pillar}", text)
    deadline = today + timedelta(days=5)
    coordinator.fill("#f-actions-0-description", "Offer a tenancy outside the exclusion zone.")
    coordinator.select_option("#f-actions-0-owner_agency", "DBY-HOUSING")
    _fill_date(coordinator, "#f-actions-0-deadline", deadline)
    coordinator.select_option("#f-disclosure_considered", "yes")
    coordinator.fill("#f-disclosure_reasons", "Disclosure to the school considered; not needed.")
    coordinator.fill("#f-offenders_views", "Accepts the plan; wants to live near his mother.")
    _fill_date(coordinator, "#f-next_review_date", held + timedelta(weeks=6))
    minutes_path = _send(coordinator, base)
    form = coordinator.locator("#form")
    # The form by its name in words, never its schema id.
    expect(coordinator.locator("h2", has_text="MAPPA meeting minutes (MAPPA B)")).to_be_visible()
    expect(coordinator.locator("main")).not_to_contain_text("mappa-hub/form/minutes/v1")
    expect(form.locator("#field-actions")).to_contain_text("Offer a tenancy outside")
    expect(form.locator("#field-disclosure_considered")).to_have_text("Yes")

    # The case page: the meeting's minutes are circulated and the action is due.
    coordinator.goto(case_url)
    expect(meeting).to_contain_text("Minutes circulated")
    expect(meeting.locator("a")).to_have_attribute("href", minutes_path)
    expect(minutes_rows).to_have_count(minutes_before)
    action = coordinator.locator(
        "#due-items tr", has=coordinator.locator(f"a[href='{minutes_path}']")
    )
    expect(action).to_have_count(1)
    expect(action).to_contain_text("Meeting action 1")
    expect(action).to_contain_text("Derby City Council Housing Options")
    expect(action).to_contain_text(_day(deadline))

    # Housing completes the action from its deadlines, with the outcome.
    housing = open_as("dby.housing")
    housing.goto(f"{base}/deadlines")
    mine = housing.locator("#due-items tr", has=housing.locator(f"a[href='{minutes_path}']"))
    expect(mine).to_contain_text("Meeting action 1")
    outcome = "Tenancy offered at 4 Example Close, outside the exclusion zone."
    mine.locator("textarea[name=outcome]").fill(outcome)
    mine.locator("button", has_text="Complete with this outcome").click()
    expect(housing).to_have_url(f"{base}/deadlines?done=action")
    expect(housing.locator("#notice")).to_contain_text("The action is completed with its outcome.")
    expect(housing.locator(f"#due-items a[href='{minutes_path}']")).to_have_count(0)

    coordinator.goto(case_url)
    expect(action).to_have_count(0)
    done = coordinator.locator("#timeline .entry-action", has_text=outcome)
    expect(done).to_contain_text("Action for Derby City Council Housing Options completed")


def _propose_disclosure(page: Page, base: str, harlow: int, name: str) -> str:
    """A third-party disclosure to an employer by letter, proposed to probation; its page URL."""
    from playwright.sync_api import expect

    page.goto(f"{base}/cases/{harlow}")
    page.click("#case-actions a:text-is('Propose a third-party disclosure')")
    expect(page).to_have_url(f"{base}/compose?type=disclosure-proposal&case={harlow}")
    _fill_common(
        page,
        recipients=("DBY-PROBATION",),
        categories=("identity", "offence-history", "risk-summary"),
        subject=f"Proposed disclosure to {name}",
        purpose="public-protection",
        necessity={  # why: the form's "why necessary" says it
            "who": f"The managing director of {name} only.",
            "use": "To restrict the role; the letter is kept in a sealed HR file.",
        },
    )
    page.select_option("#f-recipient_kind", "employer")
    page.fill("#f-recipient_name", f"Managing director, {name}")
    page.fill("#f-information_to_disclose", "His conviction and the licence conditions.")
    page.fill("#f-why_necessary", "Unsupervised access to children at every delivery.")
    page.fill("#f-who_is_protected", "Children at the schools on the delivery round.")
    page.select_option("#f-offender_to_be_told", "yes")
    page.select_option("#f-method", "letter")
    _send(page, base)
    page.click("#disclosure-record a")
    expect(page).to_have_url(re.compile(r"/disclosures/\d+$"))
    expect(page.locator("#disclosure-status")).to_have_text("Proposed")
    return page.url


def _decide(page: Page, decision: str, reasons: str) -> int:
    page.check(f"input[name='decision'][value='{decision}']")
    page.fill("#reasons", reasons)
    return _post_status(page, "#decide")


def _forged_decision(page: Page, url: str) -> tuple[int, str]:
    """A decision posted by someone the page offers no form to (with their own session's
    token): the status and the page the hub answers with."""
    csrf = page.locator("input[name='_csrf']").first.get_attribute("value") or ""
    response = page.request.post(
        f"{url}/decide",
        form={"_csrf": csrf, "decision": "approve", "reasons": "Posted without the form."},
    )
    return response.status, response.text()


def _disclosure_status(server: DemoServer, url: str) -> tuple[str, int]:
    disclosure = int(url.rsplit("/", 1)[1])

    async def body(hub: Hub) -> tuple[str, int]:
        view = await hub.disclosures.get(await actor_for(hub, "dby.coordinator"), disclosure)
        return view.row.status, len(view.decisions)

    return server.read(body)


def test_disclosure_decided_only_by_the_role_asked_and_never_by_its_proposer(
    server: DemoServer, ids: Ids, open_as: Callable[[str], Page]
) -> None:
    from playwright.sync_api import expect

    base = server.base
    coordinator = open_as("dby.coordinator")
    own = _propose_disclosure(coordinator, base, ids.harlow, "Acme Logistics")
    expect(coordinator.locator("#own-proposal")).to_be_visible()
    # The form is offered only to people the hub would let decide; posting anyway is refused.
    expect(coordinator.locator("#decide-form")).to_have_count(0)
    status, text = _forged_decision(coordinator, own)
    assert status == 403 and "You proposed this disclosure, so someone else must decide it." in text
    assert _disclosure_status(server, own) == ("proposed", 0)

    # At level 2 the policy asks a coordinator, not a senior manager.
    senior = open_as("dby.senior")
    senior.goto(f"{base}/disclosures")
    senior.locator(f"#disclosure-register a[href='{own.removeprefix(base)}']").click()
    expect(senior).to_have_url(own)
    expect(senior.locator("#decide-form")).to_have_count(0)
    status, text = _forged_decision(senior, own)
    assert status == 403
    assert "The policy does not ask for a decision from your role on this disclosure" in text
    assert "still wanted: coordinator" in text
    expect(senior.locator("#disclosure-status")).to_have_text("Proposed")
    expect(senior.locator("#deliver")).to_have_count(0)
    assert _disclosure_status(server, own) == ("proposed", 0)

    # Proposed by a practitioner, approved by the coordinator, then made by the proposer.
    police = open_as("dby.police")
    other = _propose_disclosure(police, base, ids.harlow, "Brightway Couriers")
    expect(police.locator("#decide-form")).to_have_count(0)
    coordinator.goto(f"{base}/disclosures")
    row = coordinator.locator(f"#disclosure-register tr:has(a[href='{other.removeprefix(base)}'])")
    expect(row).to_contain_text("Awaiting 1 MAPPA coordinator")
    row.locator(f"a[href='{other.removeprefix(base)}']").click()
    reasons = "Necessary to protect children on the round; letter only to the director."
    assert _decide(coordinator, "approve", reasons) == 303  # recorded, back to its page
    expect(coordinator).to_have_url(f"{other}?done=approve")
    expect(coordinator.locator("#disclosure-status")).to_have_text("Approved")
    expect(coordinator.locator("#decisions")).to_contain_text(reasons)
    expect(coordinator.locator("#decide-form")).to_have_count(0)

    police.goto(other)
    expect(police.locator("#disclosure-status")).to_have_text("Approved")
    police.click("#deliver")
    expect(police).to_have_url(f"{other}?done=delivered")
    expect(police.locator("#disclosure-status")).to_have_text("Delivered")
    expect(police.locator("#delivered")).to_be_visible()
    expect(police.locator("#deliver")).to_have_count(0)
    assert _disclosure_status(server, other) == ("delivered", 1)
    assert _disclosure_status(server, own) == ("proposed", 0)


def test_request_answered_only_by_the_agency_asked(
    server: DemoServer, ids: Ids, open_as: Callable[[str], Page]
) -> None:
    from playwright.sync_api import expect

    base = server.base

    async def seeded(hub: Hub) -> tuple[int, str]:
        queue = await hub.requests.queue(await actor_for(hub, "dby.housing"))
        (row,) = [
            r.row
            for r in queue.incoming
            if r.row.case_id == ids.harlow and r.row.requester_agency_id == probation
        ]
        return row.id, row.packet_id

    probation = ids.agencies["DBY-PROBATION"]
    request_id, request_packet = server.read(seeded)

    def request_status() -> str:
        async def body(hub: Hub) -> str:
            row = await hub.requests.get(await actor_for(hub, "dby.probation"), request_id)
            return row.status

        return server.read(body)

    def fill_response(page: Page, subject: str) -> None:
        page.select_option("#purpose", "risk-management")
        page.select_option("#lawful_basis", "cja2003-s325")
        page.check("input[name=categories][value=address]")
        # Housing answers under UK GDPR: the offender's address is criminal offence data, so it
        # cites its Schedule 1 condition (the police, under Part 3, need none but may cite it).
        page.select_option("#schedule1_condition", "sch1-para6")
        page.fill("#necessity_why", "Answering the offender manager's request on the address.")
        page.fill("#subject", subject)
        page.fill("#f-information_provided", "Sole tenant since June; no children visit.")

    # The police were not asked: typing the answer URL gets a form, but sending is refused.
    police = open_as("dby.police")
    police.goto(
        f"{base}/compose?type=response&reply_to={request_packet}&case={ids.harlow}&to={probation}"
    )
    expect(police.locator("#reply-note")).to_be_visible()
    expect(police.locator("input[name=recipients][data-code=DBY-PROBATION]")).to_be_checked()
    fill_response(police, "Re: tenancy and visitors")
    before = _sent_state(server, "dby.police")
    assert _post_status(police, "#send") == 403
    expect(police.locator("#compose-error")).to_contain_text(
        "This request was addressed to another agency: only that agency can answer it."
    )
    expect(police.locator("#f-information_provided")).to_have_value(
        "Sole tenant since June; no children visit."
    )
    expect(police).to_have_url(f"{base}/compose")
    assert _sent_state(server, "dby.police") == before
    assert request_status() == "open"

    # Housing answers from its queue.
    housing = open_as("dby.housing")
    housing.goto(f"{base}/requests")
    housing.click(f"#incoming-{request_id} a.answer")
    expect(housing).to_have_url(re.compile(rf"/compose\?type=response&reply_to={request_packet}"))
    expect(housing.locator("#case")).to_have_value(str(ids.harlow))
    expect(housing.locator("input[name=recipients][data-code=DBY-PROBATION]")).to_be_checked()
    fill_response(housing, "Re: tenancy and visitors at the proposed address")
    response_path = _send(housing, base)
    expect(housing.locator("#reply-to a")).to_have_attribute("href", f"/packets/{request_packet}")
    expect(housing.locator("#to")).to_have_text("Probation Service - Derbyshire")
    housing.goto(f"{base}/requests")
    expect(housing.locator(f"#incoming-status-{request_id}")).to_have_text("Answered")
    expect(housing.locator(f"#incoming-{request_id} a.answer")).to_have_count(0)

    probation_page = open_as("dby.probation")
    probation_page.goto(f"{base}/requests")
    mine = probation_page.locator(f"#outgoing #outgoing-{request_id}")
    expect(mine.locator(f"#outgoing-status-{request_id}")).to_have_text("Answered")
    mine.locator("a.response-link").click()
    expect(probation_page).to_have_url(f"{base}{response_path}")
    expect(probation_page.locator("#form #field-information_provided")).to_have_text(
        "Sole tenant since June; no children visit."
    )
    assert request_status() == "answered"


def test_html_typed_into_a_form_is_shown_as_text(
    server: DemoServer,
    ids: Ids,
    open_as: Callable[[str], Page],
    dialogs: list[str],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    base = server.base
    page = open_as("dby.probation")
    page.goto(f"{base}/compose?type=referral&case={ids.harlow}")
    reason = f"Moved in with a new partner {SCRIPT} who has two children."
    _fill_referral(page, reason, complete=False)
    page.fill("#f-risk_of_serious_harm_to_whom", SCRIPT)
    # Refused first: the form comes back with the markup kept, as text.
    assert _post_status(page, "#send") == 400
    expect(page.locator("#f-reason_for_referral")).to_have_value(reason)
    expect(page.locator("#f-risk_of_serious_harm_to_whom")).to_have_value(SCRIPT)
    page.select_option("#f-likelihood_of_reoffending", "high")
    page.fill("#f-risk_management_plan", "Approved premises; exclusion zone; weekly visits.")
    packet_path = _send(page, base)

    form = page.locator("#form")
    expect(form.locator("#field-reason_for_referral")).to_have_text(reason)
    expect(form.locator("#field-risk_of_serious_harm_to_whom")).to_have_text(SCRIPT)
    assert form.locator("script, img").count() == 0
    # The recipient's view too.
    reader = open_as("dby.coordinator")
    reader.goto(base + packet_path)
    expect(reader.locator("#form #field-reason_for_referral")).to_have_text(reason)
    assert reader.locator("#form script, #form img").count() == 0
    reader.screenshot(path=str(tmp_path / "referral.png"), full_page=True)
    assert dialogs == []
