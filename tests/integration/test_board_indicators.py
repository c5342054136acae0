"""The Strategic Management Board's indicators (issue 16), from a quarter of Derbyshire's work
done through the services, on a real SQLite file and on real PostgreSQL: meetings recorded and
minuted on time and late, reviews met and missed, referrals before release, requests answered,
declined and ignored, two case transfers to Nottinghamshire, and notifications delivered to a
real SMTP relay on loopback that refuses one mailbox. Every expected figure below is worked out
by hand from the timetable, with the guidance's timescales and the England and Wales calendar;
the email figures are what the relay itself saw.

The period is July to September 2027; the demo world's own deadlines all fall before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from adapters.email.sender import Sender
from adapters.transfer.send import send_within_hub
from hub.model.packets import Draft, PacketType
from hub.services.indicators import BoardReport, Tally
from hub.services.transfers import Proposal
from hub.wiring import Hub
from tests.conftest import TickingClock, actor_for, agency_id
from tests.integration.email_support import LoopbackCA, Recorder, Relay, email_config, make_ca
from tests.integration.workflow_support import new_case, typed_draft
from tests.workflow_forms import minutes_form, referral_form, request_form, response_form

FIRST, LAST = date(2027, 7, 1), date(2027, 9, 30)
POLICE = "Derbyshire Constabulary"
HOUSING = "Derby City Council Housing Options"
CSC = "Derbyshire County Council Children's Services"
REFERRAL_CATEGORIES = ("identity", "offence-history", "risk-summary", "risk-management-plan")
ADDRESSES = {
    "dby.coordinator": "coordinator@police.example",
    "dby.police": "officer@police.example",
    "dby.probation": "om@probation.example",
    "dby.housing": "options@housing.example",  # the relay refuses this mailbox
}


@dataclass
class CountingRecorder(Recorder):
    refused: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            self.refused += 1
        return await super().handle_RCPT(server, session, envelope, address, options)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[Relay, LoopbackCA]]:
    ca = make_ca(tmp_path / "ca")
    recorder = CountingRecorder(refuse={ADDRESSES["dby.housing"]})
    running = Relay("starttls", ca, recorder=recorder).start()
    yield running, ca
    running.stop()


def on(clock: TickingClock, day: date) -> None:
    clock.set(datetime.combine(day, time(10, 0), tzinfo=UTC))


async def minutes(hub: Hub, case: int, held: date, **changes: Any) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    form = minutes_form(meeting_date=held.isoformat(), actions=[], **changes)
    draft = await typed_draft(hub, PacketType.MINUTES, case, ("DBY-PROBATION", "DBY-HOUSING"), form)
    await hub.packets.send(coordinator, draft)


async def referral(hub: Hub, case: int, release: date) -> None:
    form = referral_form(release_date=release.isoformat())
    draft = await typed_draft(
        hub, PacketType.REFERRAL, case, ("DBY-POLICE",), form, categories=REFERRAL_CATEGORIES
    )
    await hub.packets.send(await actor_for(hub, "dby.probation"), draft)


async def request(hub: Hub, asker: str, case: int, target: str, due: date) -> str:
    draft = Draft(
        case_id=case,
        recipient_agency_ids=(await agency_id(hub, target),),
        subject="Tenancy check",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.REQUEST,
        data_categories=("identity", "risk-summary"),
        necessity={
            "why": "The panel must know who visits the address.",
            "who": "Offender manager and panel.",
            "use": "Risk management plan review.",
        },
        form=request_form(due_on=due.isoformat()),
    )
    return (await hub.packets.send(await actor_for(hub, asker), draft)).id


async def answer(hub: Hub, case: int, asked: str) -> None:
    draft = Draft(
        case_id=case,
        recipient_agency_ids=(await agency_id(hub, "DBY-PROBATION"),),
        subject="Re: tenancy check",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.RESPONSE,
        data_categories=("address",),
        necessity={"why": "Answering the probation request."},
        schedule1_condition="sch1-para6",
        form=response_form(),
        reply_to=asked,
    )
    await hub.packets.send(await actor_for(hub, "dby.housing"), draft)


async def decline(hub: Hub, asked: str) -> None:
    probation = await actor_for(hub, "dby.probation")
    queue = await hub.requests.queue(probation)
    (row,) = [r for r in queue.incoming if r.row.packet_id == asked]
    await hub.requests.decline(probation, row.id, "We hold nothing on this address.")


async def build_quarter(
    hub: Hub, clock: TickingClock, sender: Sender, recorder: CountingRecorder
) -> None:
    """The timetable; each expected figure in the test is worked out from it."""
    coordinator = await actor_for(hub, "dby.coordinator")
    probation = await actor_for(hub, "dby.probation")
    nts = await actor_for(hub, "nts.coordinator")
    on(clock, date(2027, 6, 1))
    a, b, c, e = [await new_case(hub, n) for n in ("Abbot", "Bishop", "Carter", "Ellis")]
    d = await new_case(hub, "Dyer", level=3)
    t1, t2 = await new_case(hub, "Tanner"), await new_case(hub, "Thorne")
    for moving in (t1, t2):  # Probation Circular 52/2004: a meeting before a transfer
        await hub.casework.record_meeting(coordinator, moving, date(2027, 6, 1), 2)
    for case, release in ((b, date(2028, 1, 15)), (c, date(2028, 2, 20)), (e, date(2028, 3, 10))):
        await hub.casework.expect_release(probation, case, release)
    for username, address in ADDRESSES.items():
        await hub.notices.set_email(username, address)
    on(clock, date(2027, 6, 30))
    await sender.drain()  # what June queued goes out in June, outside the period
    recorder.messages.clear()
    recorder.refused = 0

    on(clock, date(2027, 7, 1))
    await hub.casework.record_meeting(coordinator, b, date(2027, 7, 1), 2)
    transfers = []
    for moving in (t1, t2):
        proposal = Proposal(moving, "Moving to Mansfield.", date(2027, 7, 1), "NTS")
        transfers.append((await hub.transfers.propose(coordinator, proposal)).id)
    r1 = await request(hub, "dby.probation", a, "DBY-HOUSING", date(2027, 7, 14))
    r2 = await request(hub, "dby.probation", a, "DBY-HOUSING", date(2027, 7, 20))
    on(clock, date(2027, 7, 5))
    await minutes(hub, a, date(2027, 7, 1), next_review_date="2027-08-02")
    await hub.casework.record_meeting(coordinator, d, date(2027, 7, 5), 3)
    await hub.transfers.accept(nts, transfers[0], "Approved premises place.", "NTS-PROBATION")
    on(clock, date(2027, 7, 6))
    await send_within_hub(hub, coordinator, transfers[0])
    on(clock, date(2027, 7, 7))
    await hub.transfers.confirm_received(nts, transfers[0])
    on(clock, date(2027, 7, 10))
    await referral(hub, b, date(2028, 1, 15))
    on(clock, date(2027, 7, 12))
    await answer(hub, a, r1)
    on(clock, date(2027, 7, 22))
    await answer(hub, a, r2)
    await hub.transfers.accept(nts, transfers[1], "Approved premises place.", "NTS-PROBATION")
    on(clock, date(2027, 7, 23))
    await send_within_hub(hub, coordinator, transfers[1])
    on(clock, date(2027, 7, 26))
    await hub.transfers.confirm_received(nts, transfers[1])
    on(clock, date(2027, 7, 30))
    await minutes(
        hub, b, date(2027, 7, 1), disclosure_considered=False, next_review_date="2027-10-21",
        attendance=[
            {"agency": "DBY-POLICE", "role": "Chair", "attended": True},
            {"agency": "DBY-PROBATION", "role": "Offender manager", "attended": True},
            {"agency": "DBY-HOUSING", "role": "Housing officer", "attended": False},
            {"agency": "DBY-CSC", "role": "Social worker", "required": False, "attended": False},
        ],
    )  # fmt: skip
    on(clock, date(2027, 8, 1))
    r3 = await request(hub, "dby.police", a, "DBY-PROBATION", date(2027, 8, 10))
    await request(hub, "dby.probation", a, "DBY-HOUSING", date(2027, 9, 15))
    on(clock, date(2027, 8, 5))
    await decline(hub, r3)
    on(clock, date(2027, 8, 10))
    await minutes(hub, a, date(2027, 8, 9), next_review_date="2027-11-29")
    on(clock, date(2027, 8, 23))
    await hub.casework.record_meeting(coordinator, d, date(2027, 8, 23), 3)
    on(clock, date(2027, 8, 25))
    await minutes(hub, d, date(2027, 8, 23), meeting_level=3, next_review_date="2027-10-01")
    on(clock, date(2027, 9, 1))
    await referral(hub, c, date(2028, 2, 20))
    on(clock, date(2027, 10, 20))
    await sender.drain()


def t(met: int, of: int) -> Tally:
    return Tally(met, of)


async def test_the_board_indicators_match_the_quarter_worked(
    hub: Hub, logins: object, clock: TickingClock, relay: tuple[Relay, LoopbackCA]
) -> None:
    running, ca = relay
    assert isinstance(running.recorder, CountingRecorder)
    sender = Sender(hub.db, hub.clock, hub.keyring, hub.policy, email_config(running.port, ca))
    await build_quarter(hub, clock, sender, running.recorder)
    auditor = await actor_for(hub, "dby.coordinator")
    report = await hub.stats.board_indicators(auditor, "DBY", FIRST, LAST)
    got = {i.key: i for i in report.indicators}

    # Minutes: Abbot 1 Jul (due 15 Jul, sent 5 Jul), Bishop 1 Jul (due 15 Jul, sent 30 Jul),
    # Dyer 5 Jul level 3 (due 12 Jul, never), Abbot 9 Aug (due 23 Aug, sent 10 Aug), Dyer 23 Aug
    # level 3 (due 31 Aug: 30 August 2027 is a bank holiday; sent 25 Aug). The transfer cases'
    # June meetings' minutes fell due in June.
    assert got["minutes_on_time"].total == t(3, 5)
    assert dict(got["minutes_on_time"].by_level) == {"Level 2": t(2, 3), "Level 3": t(1, 2)}
    assert dict(got["minutes_on_time"].by_agency) == {POLICE: t(3, 5)}
    # Reviews: Abbot's, brought forward by the minutes to 2 Aug, held 9 Aug (late); Dyer's, due
    # 30 Aug (8 weeks), held 23 Aug. Bishop's falls due in October. The transfer cases' reviews
    # (due 21 September) went with them to Nottinghamshire.
    assert got["reviews_on_time"].total == t(1, 2)
    assert dict(got["reviews_on_time"].by_level) == {"Level 2": t(0, 1), "Level 3": t(1, 1)}
    # Disclosure considered: recorded at Abbot's two and Dyer's second; Bishop's minutes say no;
    # Dyer's first meeting has no minutes, long overdue.
    assert got["disclosure_considered"].total == t(3, 5)
    # Invited agencies: four sets of minutes; children's social care was invited to three and
    # came to none; housing missed Bishop's meeting.
    attending = got["invited_attending"]
    assert attending.total == t(11, 15)
    assert dict(attending.by_agency) == {
        CSC: t(0, 3),
        HOUSING: t(3, 4),
        POLICE: t(4, 4),
        "Probation Service - Derbyshire": t(4, 4),
    }
    assert dict(attending.by_level) == {"Level 2": t(8, 11), "Level 3": t(3, 4)}
    # Referrals six months before release: Bishop's on 10 Jul (due 15 Jul); Carter's on 1 Sep
    # (due 20 Aug); Ellis's never (due 10 Sep).
    assert got["referrals_on_time"].total == t(1, 3)
    assert dict(got["referrals_on_time"].by_agency) == {"Probation Service - Derbyshire": t(1, 3)}
    # Requests: housing answered one on time and one late and ignored one; probation declined
    # one, with reasons, in time.
    assert got["requests_on_time"].total == t(2, 4)
    assert dict(got["requests_on_time"].by_agency) == {
        HOUSING: t(1, 3),
        "Probation Service - Derbyshire": t(1, 1),
    }
    # Transfers: one decided in 2 working days and completed a day after it was sent; one
    # decided in 15 working days (10 allowed).
    assert got["transfers_on_time"].total == t(1, 2)
    assert dict(got["transfers_on_time"].by_agency) == {POLICE: t(1, 2)}
    # Email: what the relay accepted, against what it accepted and refused.
    recorder = running.recorder
    delivered = len(recorder.messages)
    assert recorder.refused > 0 and delivered > 0
    assert all(set(m.rcpt_tos) <= set(ADDRESSES.values()) for m in recorder.messages)
    assert got["emails_delivered"].total == t(delivered, delivered + recorder.refused)
    refused_agency = dict(got["emails_delivered"].by_agency)[HOUSING]
    assert refused_agency == t(0, recorder.refused)
    # By quarter: everything fell in July to September.
    for indicator in report.indicators:
        assert [q for q, tally in indicator.by_quarter if tally.of] == ["Jul-Sep 2027"]
    assert report.quarters == ("Jul-Sep 2027",)

    # Nottinghamshire: the receiving side of the same two transfers, by its new lead agency,
    # and the two reviews it took over, not held.
    nts = await hub.stats.board_indicators(
        await actor_for(hub, "nts.coordinator"), "NTS", FIRST, LAST
    )
    theirs = {i.key: i for i in nts.indicators}
    assert theirs["transfers_on_time"].total == t(1, 2)
    assert theirs["reviews_on_time"].total == t(0, 2)
    _published(await hub.stats.board_indicators(None, "DBY", FIRST, LAST, publish=True))
    await hub.ledger.verify()


def _published(report: BoardReport) -> None:
    """Marked for publication, a cell judging one to four things is hidden, and says so."""
    reviews = report.indicator("reviews_on_time")
    assert reviews.total.suppressed and reviews.total.shown() == "[c]"
    assert reviews.total.to_json() == {"met": None, "of": None, "percent": None,
                                       "suppressed": True}  # fmt: skip
    minutes = report.indicator("minutes_on_time")
    assert minutes.total.shown() == "60% (3 of 5)"  # five is not below five
    assert dict(minutes.by_level)["Level 3"].suppressed
    attending = report.indicator("invited_attending")
    assert not attending.total.suppressed and attending.total.percent == 73
    assert attending.total.shown() == "73% (11 of 15)"
