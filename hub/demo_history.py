"""A year of Derbyshire's MAPPA work for the demo, so that the statistics page has something to
count: cases opened thirteen months back, meetings held and minuted (mostly on time, some late,
a few never), reviews, requests for information answered, declined or left, referrals before
release, breaches, civil orders, recalls and charges, level changes, and one case transferred to
Nottinghamshire. Everything goes through the services with the clock set to the day it happens,
so each step is sealed, decided by policy and on the log like any other. Fictional throughout,
and the same every time (a fixed random seed).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from adapters.transfer.send import send_within_hub
from hub.clock import ManualClock
from hub.model.cases import MappaCategory, MappaLevel
from hub.model.packets import Draft, PacketType
from hub.services.actor import Actor
from hub.services.case_events import NewCaseEvent
from hub.services.cases import NewCase
from hub.services.transfers import Proposal
from hub.wiring import Hub
from hub.workflows import deadlines

DAYS_BACK = 400
# (family name, given names, category, level, lead agency)
CASES = [
    ("Ashworth", "Gary", 1, 1, "DBY-PROBATION"), ("Brennan", "Neil", 1, 1, "DBY-PROBATION"),
    ("Cartwright", "Paul", 1, 1, "DBY-POLICE"), ("Dunmore", "Kevin", 1, 1, "DBY-POLICE"),
    ("Ellery", "Mark", 1, 1, "DBY-POLICE"), ("Fairbrother", "Lee", 1, 1, "DBY-POLICE"),
    ("Gresley", "Wayne", 1, 2, "DBY-PROBATION"), ("Hadfield", "Shaun", 1, 2, "DBY-PROBATION"),
    ("Ingham", "Craig", 1, 2, "DBY-PROBATION"), ("Jowett", "Darren", 1, 2, "DBY-PROBATION"),
    ("Kirkland", "Stuart", 1, 3, "DBY-PROBATION"), ("Lockwood", "Dean", 1, 3, "DBY-POLICE"),
    ("Marriott", "Ian", 2, 1, "DBY-PROBATION"), ("Needham", "Carl", 2, 1, "DBY-PROBATION"),
    ("Oakes", "Jamie", 2, 1, "DBY-PROBATION"), ("Pilkington", "Ryan", 2, 2, "DBY-PROBATION"),
    ("Radford", "Scott", 2, 2, "DBY-PROBATION"), ("Sutcliffe", "Adam", 2, 2, "DBY-PROBATION"),
    ("Tideswell", "Luke", 2, 2, "DBY-PROBATION"), ("Unwin", "Daniel", 2, 3, "DBY-POLICE"),
    ("Vickers", "Simon", 3, 2, "DBY-POLICE"), ("Walmsley", "Anthony", 3, 2, "DBY-PROBATION"),
    ("Yardley", "Martin", 3, 2, "DBY-PROBATION"), ("Zouch", "Gavin", 3, 3, "DBY-POLICE"),
]  # fmt: skip
TRANSFERRED = "Sutcliffe"
MINUTES_CATEGORIES = ("identity", "risk-summary", "risk-management-plan")
REFERRAL_CATEGORIES = (
    "identity", "offence-history", "risk-summary", "risk-assessment", "risk-management-plan",
)  # fmt: skip


@dataclass(frozen=True)
class Step:
    at: datetime
    order: int
    run: Callable[[], Awaitable[Any]]


class History:
    def __init__(self, hub: Hub, clock: ManualClock, today: date) -> None:
        self.hub, self.clock, self.today = hub, clock, today
        self.rng = random.Random(2006)  # noqa: S311 - fictional history, the same every run
        self.steps: list[Step] = []
        self.agencies: dict[str, int] = {}
        self.actors: dict[str, Actor] = {}
        self.cases: dict[str, int] = {}
        self.transfer_id = 0
        self.requests: dict[int, str] = {}

    def at(self, day: date, run: Callable[[], Awaitable[Any]], hour: int = 10) -> None:
        when = datetime.combine(day, time(hour, self.rng.randrange(60)), tzinfo=UTC)
        self.steps.append(Step(when, len(self.steps), run))

    async def actor(self, username: str) -> Actor:
        if username not in self.actors:
            user = next(u for u in await self.hub.directory.users() if u.username == username)
            self.actors[username] = Actor(user, await self.hub.directory.agency(user.agency_id))
        return self.actors[username]

    async def run(self) -> None:
        for step in sorted(self.steps, key=lambda s: (s.at, s.order)):
            if step.at.date() >= self.today:
                continue
            self.clock.set(step.at)
            await step.run()


async def add_history(hub: Hub, clock: ManualClock, today: date) -> int:
    """Build the year; returns how many steps it took. ``clock`` is ``hub``'s clock."""
    h = History(hub, clock, today)
    h.agencies = {a.code: a.id for a in await hub.directory.agencies()}
    start = today - timedelta(days=DAYS_BACK)
    coordinator = await h.actor("dby.coordinator")
    clock.set(datetime.combine(start, time(9), tzinfo=UTC))
    for i, (family, given, category, level, lead) in enumerate(CASES):
        clock.set(datetime.combine(start + timedelta(days=i % 10), time(9, i), tzinfo=UTC))
        case = await hub.cases.add(coordinator, NewCase(
            family, given, MappaCategory(category), MappaLevel(level), lead,
        ))  # fmt: skip
        h.cases[family] = case.id
        for code in ("DBY-POLICE", "DBY-PROBATION", "DBY-HOUSING"):
            if code != lead and level > 1:
                await hub.cases.involve(None, case.reference, code)
    year = today - timedelta(days=365)
    transfer_day = today - timedelta(days=40)
    for family, _, category, level, _ in CASES:
        if level > 1:
            # The case to be transferred: its regular meetings stop two months before, and the
            # meeting Probation Circular 52/2004 asks for is held three weeks before, minuted in
            # time, so that nothing is sent about it by Derbyshire once Nottinghamshire has it.
            until = transfer_day - timedelta(days=60) if family == TRANSFERRED else today
            _meetings(h, family, category, level, year, until)
    final = transfer_day - timedelta(days=21)
    _, _, category, level, _ = next(c for c in CASES if c[0] == TRANSFERRED)
    h.at(deadlines.add_working_days(final, 3),
         _minutes(h, TRANSFERRED, category, final, level, final + timedelta(weeks=12)))  # fmt: skip
    _transfer(h, transfer_day)
    _requests(h, year)
    _referrals(h, year)
    _events(h, year)
    await h.run()
    return len(h.steps)


def _meetings(h: History, family: str, category: int, level: int, year: date, until: date) -> None:
    interval = deadlines.REVIEW_WEEKS[level]
    held = year + timedelta(days=h.rng.randrange(10, 60))
    while held < until - timedelta(days=3):
        planned = held + timedelta(weeks=interval - h.rng.choice((0, 0, 1, 2)))
        limit = deadlines.MINUTES_WORKING_DAYS[level]
        roll = h.rng.random()
        if roll < 0.05:  # minutes never circulated
            h.at(held, _record(h, family, held, level), hour=14)
        else:
            late = roll > 0.8
            days = limit + h.rng.randrange(2, 8) if late else h.rng.randrange(1, limit + 1)
            sent = deadlines.add_working_days(held, days)
            h.at(sent, _minutes(h, family, category, held, level, planned))
        # Most reviews are held by the date set; some slip by one to three weeks.
        slip = timedelta(weeks=h.rng.choice((1, 2, 3))) if h.rng.random() < 0.2 else timedelta()
        held = planned - timedelta(days=h.rng.randrange(0, 5)) + slip


def _record(h: History, family: str, held: date, level: int) -> Callable[[], Awaitable[Any]]:
    async def run() -> None:
        coordinator = await h.actor("dby.coordinator")
        await h.hub.casework.record_meeting(coordinator, h.cases[family], held, level)

    return run


def _minutes(
    h: History, family: str, category: int, held: date, level: int, review: date
) -> Callable[[], Awaitable[Any]]:
    attended = {code: h.rng.random() < p for code, p in
                (("DBY-HOUSING", 0.85), ("DBY-CSC", 0.6), ("DBY-MH", 0.7))}  # fmt: skip
    considered = h.rng.random() < 0.85
    attendance = [
        {"agency": "DBY-POLICE", "role": "Chair", "attended": True},
        {"agency": "DBY-PROBATION", "role": "Offender manager", "attended": True},
        {"agency": "DBY-HOUSING", "role": "Housing options officer",
         "attended": attended["DBY-HOUSING"]},
    ]  # fmt: skip
    if category == 1:
        attendance.append({"agency": "DBY-CSC", "role": "Social worker",
                           "attended": attended["DBY-CSC"]})  # fmt: skip
    if level == 3:
        attendance.append({"agency": "DBY-MH", "role": "Forensic CMHT",
                           "attended": attended["DBY-MH"]})  # fmt: skip

    async def run() -> None:
        coordinator = await h.actor("dby.coordinator")
        form = {
            "meeting_date": held.isoformat(), "meeting_level": level,
            "chair": "Priya Shah (MAPPA Coordinator)", "attendance": attendance,
            "licence_conditions": "Reside at the approved address; report weekly.",
            "lead_agency": "DBY-PROBATION",
            "risk_assessment": "OASys high risk of serious harm; stable since the last review.",
            "risk_management_plan": {
                "supervision": "Weekly appointments with the offender manager.",
                "monitoring_and_control": "Unannounced home visits by the police.",
                "interventions_and_treatment": "Continue the accredited programme.",
                "victim_safety_planning": "Victim liaison keeps the victim informed.",
            },
            "actions": [],
            "disclosure_considered": considered,
            "disclosure_reasons": "No third party needs to be told at present."
            if considered else "",
            "offenders_views": "Engaging; accepts the conditions.",
            "next_review_date": review.isoformat(),
        }  # fmt: skip
        if not considered:
            form["disclosure_reasons"] = "Not discussed at this meeting."
        await h.hub.packets.send(coordinator, Draft(
            case_id=h.cases[family],
            recipient_agency_ids=(h.agencies["DBY-PROBATION"], h.agencies["DBY-HOUSING"]),
            subject=f"Level {level} MAPPA meeting {held:%d %B %Y}", body="",
            purpose="mappa-meeting", lawful_basis="cja2003-s325", packet_type=PacketType.MINUTES,
            data_categories=MINUTES_CATEGORIES,
            necessity={"why": "The panel's decisions must reach every agency that carries out "
                       "the plan."},
            form=form,
        ))  # fmt: skip

    return run


def _transfer(h: History, day: date) -> None:
    async def propose() -> None:
        proposal = Proposal(h.cases[TRANSFERRED], "Moving to his partner's address in Mansfield.",
                            day + timedelta(days=14), "NTS")  # fmt: skip
        made = await h.hub.transfers.propose(await h.actor("dby.coordinator"), proposal)
        h.transfer_id = made.id

    async def accept() -> None:
        nts = await h.actor("nts.coordinator")
        await h.hub.transfers.accept(nts, h.transfer_id, "Approved premises place confirmed.",
                                     "NTS-PROBATION")  # fmt: skip

    async def send() -> None:
        await send_within_hub(h.hub, await h.actor("dby.coordinator"), h.transfer_id)

    async def received() -> None:
        nts = await h.actor("nts.coordinator")
        await h.hub.transfers.confirm_received(nts, h.transfer_id)

    h.at(day, propose)
    h.at(deadlines.add_working_days(day, 4), accept)
    h.at(deadlines.add_working_days(day, 6), send)
    h.at(deadlines.add_working_days(day, 8), received)


def _requests(h: History, year: date) -> None:
    """Probation asks housing (most) and children's services; each is answered, declined or left
    as the roll says, on time or late."""
    panel = [c[0] for c in CASES if c[3] > 1 and c[0] != TRANSFERRED]
    for n in range(22):
        sent = year + timedelta(days=h.rng.randrange(5, 330))
        family = h.rng.choice(panel)
        target = "DBY-HOUSING" if n % 11 < 8 else "DBY-CSC"
        due = deadlines.request_default_due(sent)
        roll = h.rng.random()
        key = n
        h.at(sent, _ask(h, key, family, target, due))
        if roll < 0.7:
            reply = deadlines.add_working_days(sent, h.rng.randrange(1, 10))
        elif roll < 0.9:
            reply = due + timedelta(days=h.rng.randrange(1, 10))
        else:
            continue  # never answered
        if target == "DBY-HOUSING":
            h.at(reply, _answer(h, key, family), hour=15)
        else:
            h.at(reply, _decline(h, key), hour=15)


def _ask(h: History, key: int, family: str, target: str, due: date) -> Callable[[], Awaitable[Any]]:
    async def run() -> None:
        probation = await h.actor("dby.probation")
        sent = await h.hub.packets.send(probation, Draft(
            case_id=h.cases[family], recipient_agency_ids=(h.agencies[target],),
            subject="Address and household check", body="", purpose="risk-management",
            lawful_basis="cja2003-s325", packet_type=PacketType.REQUEST,
            data_categories=("identity", "risk-summary"),
            necessity={"why": "The panel must know who lives at and visits the address.",
                       "who": "The offender manager and the panel.",
                       "use": "To review the risk management plan; recorded in the minutes."},
            form={"information_sought": "Tenancy status and any children in the household.",
                  "purpose_of_request": "Review of the risk management plan.",
                  "who_needs_access": "Offender manager; panel members.",
                  "how_it_will_be_used": "Discussed at the panel and recorded in the minutes.",
                  "due_on": due.isoformat()},
        ))  # fmt: skip
        h.requests[key] = sent.id

    return run


def _answer(h: History, key: int, family: str) -> Callable[[], Awaitable[Any]]:
    async def run() -> None:
        housing = await h.actor("dby.housing")
        await h.hub.packets.send(housing, Draft(
            case_id=h.cases[family], recipient_agency_ids=(h.agencies["DBY-PROBATION"],),
            subject="Re: address and household check", body="", purpose="risk-management",
            lawful_basis="cja2003-s325", packet_type=PacketType.RESPONSE,
            data_categories=("address",),
            necessity={"why": "Answering the offender manager's request."},
            schedule1_condition="sch1-para6",
            form={"information_provided": "Sole tenant; no children in the household."},
            reply_to=h.requests[key],
        ))  # fmt: skip

    return run


def _decline(h: History, key: int) -> Callable[[], Awaitable[Any]]:
    async def run() -> None:
        csc = await h.actor("dby.csc")
        queue = await h.hub.requests.queue(csc)
        row = next(r for r in queue.incoming if r.row.packet_id == h.requests[key])
        await h.hub.requests.decline(csc, row.id, "No open case or record at this address.")

    return run


def _referrals(h: History, year: date) -> None:
    """Prisoners due for release: a referral six months before, mostly in time."""
    for n, family in enumerate(("Ashworth", "Brennan", "Marriott", "Needham", "Oakes")):
        told = year + timedelta(days=h.rng.randrange(0, 30))
        due = told + timedelta(days=h.rng.randrange(40, 280))
        release = due + (due - deadlines.referral_due(due))  # six months after the due date
        h.at(told, _release(h, family, release))
        if n < 3:
            h.at(due - timedelta(days=h.rng.randrange(3, 25)), _refer(h, family, release))
        elif n == 3:
            h.at(due + timedelta(days=h.rng.randrange(5, 20)), _refer(h, family, release))


def _release(h: History, family: str, release: date) -> Callable[[], Awaitable[Any]]:
    async def run() -> None:
        coordinator = await h.actor("dby.coordinator")
        await h.hub.casework.expect_release(coordinator, h.cases[family], release)

    return run


def _refer(h: History, family: str, release: date) -> Callable[[], Awaitable[Any]]:
    async def run() -> None:
        probation = await h.actor("dby.probation")
        await h.hub.packets.send(probation, Draft(
            case_id=h.cases[family], recipient_agency_ids=(h.agencies["DBY-POLICE"],),
            subject="MAPPA referral before release", body="", purpose="mappa-meeting",
            lawful_basis="cja2003-s325", packet_type=PacketType.REFERRAL,
            data_categories=REFERRAL_CATEGORIES,
            necessity={"why": "Release on licence needs multi-agency management."},
            form={
                "level_sought": 2,
                "reason_for_referral": "Release on licence; multi-agency management needed.",
                "likelihood_of_reoffending": "high",
                "likelihood_evidence": "OGRS 71% over two years.",
                "risk_of_serious_harm": "high",
                "risk_of_serious_harm_to_whom": "Known adults and the public.",
                "imminence": "Could occur soon after release without a suitable address.",
                "agency_risk_assessment": {"tool": "OASys", "completed_on": "2026-01-12",
                                           "assessor": "Helen Carter"},
                "risk_management_plan": "Approved premises; curfew; weekly supervision.",
                "agencies_to_invite": [
                    {"agency": "DBY-POLICE", "reason": "Public protection unit visits."},
                    {"agency": "DBY-HOUSING", "reason": "Move-on accommodation."},
                ],
                "added_value": "Housing and police input needed to manage the address risk.",
                "release_date": release.isoformat(),
            },
        ))  # fmt: skip

    return run


# (family name, kind, days into the year, order, stage)
EVENTS = [
    ("Cartwright", "notification-breach-convicted", 100, None, None),
    ("Dunmore", "notification-breach-cautioned", 150, None, None),
    ("Ellery", "notification-breach-convicted", 200, None, None),
    ("Cartwright", "notification-breach-convicted", 260, None, None),
    ("Gresley", "order-applied", 60, "sexual-harm-prevention-order", None),
    ("Gresley", "order-granted", 65, "sexual-harm-prevention-order", "interim"),
    ("Gresley", "order-granted", 110, "sexual-harm-prevention-order", "full"),
    ("Hadfield", "order-applied", 90, "sexual-harm-prevention-order", None),
    ("Hadfield", "order-granted", 140, "sexual-harm-prevention-order", "full"),
    ("Ingham", "order-applied", 120, "sexual-harm-prevention-order", None),
    ("Fairbrother", "order-applied", 200, "sexual-harm-prevention-order", None),
    ("Fairbrother", "order-granted", 240, "sexual-harm-prevention-order", "full"),
    ("Jowett", "order-applied", 180, "notification-order", None),
    ("Jowett", "order-granted", 210, "notification-order", "full"),
    ("Kirkland", "order-applied", 220, "foreign-travel-order", None),
    ("Kirkland", "order-granted", 250, "foreign-travel-order", "full"),
    ("Pilkington", "recalled-licence-breach", 130, None, None),
    ("Radford", "recalled-licence-breach", 230, None, None),
    ("Unwin", "recalled-licence-breach", 300, None, None),
    ("Hadfield", "recalled-order-breach", 280, None, None),
    ("Tideswell", "charged-serious-offence", 310, None, None),
]  # fmt: skip


def _events(h: History, year: date) -> None:
    for family, kind, days, order, stage in EVENTS:
        h.at(year + timedelta(days=days), _event(h, family, kind, year + timedelta(days=days),
                                                 order, stage), hour=16)  # fmt: skip
    ended = year + timedelta(days=330)  # recorded by the area's coordinator
    h.at(ended, _event(h, "Oakes", "management-ended", ended, None, None, "dby.coordinator"),
         hour=16)  # fmt: skip
    h.at(year + timedelta(days=150), _level(h, "Vickers", MappaLevel.CRITICAL_FEW), hour=8)
    h.at(year + timedelta(days=200), _level(h, "Lockwood", MappaLevel.MULTI_AGENCY), hour=8)


def _event(
    h: History, family: str, kind: str, day: date, order: str | None, stage: str | None,
    by: str = "dby.police",
) -> Callable[[], Awaitable[Any]]:  # fmt: skip
    async def run() -> None:
        await h.hub.case_events.record(await h.actor(by), h.cases[family],
                                       NewCaseEvent(kind, day, order, stage))  # fmt: skip

    return run


def _level(h: History, family: str, level: MappaLevel) -> Callable[[], Awaitable[Any]]:
    async def run() -> None:
        case = await h.hub.cases.get(None, h.cases[family])
        await h.hub.cases.change_level(await h.actor("dby.coordinator"), case.reference, level)

    return run
