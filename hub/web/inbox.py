"""Inbox and Sent: filtered, searched and paged listings. Reading a packet is in
``hub.web.packet_page``; composing in ``hub.web.compose``.

Filters travel in the query string (a GET form), so the pages work without JavaScript and a
filtered page can be bookmarked. Paging is by keyset: ``before``/``before_id`` for older rows,
``after``/``after_id`` for newer ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from aiohttp import web

from hub.errors import InvalidInput
from hub.model.packets import PacketType
from hub.services.actor import Actor
from hub.services.inbox_pages import ListingPage, search_words
from hub.services.packet_listing import Box, PacketFilter, Position, require_reader
from hub.web import navigation
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()

# The filter form's fields, in the order the page shows them (and the error summary lists them).
FILTER_FIELDS = ("subject", "case", "agency", "type", "from", "to")
_CURSOR_FIELDS = ("before", "before_id", "after", "after_id")
_MAX_ID = 10**12
# Asked by /static/inbox-live.js: only the parts of the page a new packet changes.
FRAGMENT_HEADER = "X-Hub-Fragment"


@dataclass
class ListingQuery:
    """What the filter form asked for, as typed, and what it means."""

    raw: dict[str, str]
    flt: PacketFilter = field(default_factory=PacketFilter)
    words: tuple[str, ...] = ()
    before: Position | None = None
    after: Position | None = None
    errors: dict[str, str] = field(default_factory=dict)
    # The dates asked for, as days ("from", "to"), for the selected-filter tags.
    days: dict[str, date] = field(default_factory=dict)

    @property
    def filtered(self) -> bool:
        return any(self.raw.get(f) for f in FILTER_FIELDS)

    def url(self, path: str, **changes: str | None) -> str:
        """This page's address with the filters kept, ``changes`` applied and cursors dropped."""
        params = {k: v for k, v in self.raw.items() if k in FILTER_FIELDS and v}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return f"{path}?{urlencode(params)}" if params else path


def _day(text: str, name: str, what: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        if "/" in text:
            day, month, year = (int(p) for p in text.split("/"))
            return date(year, month, day)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{what} must be a real date, for example 27/3/2026.", field=name
        ) from None


def _id(text: str, name: str, what: str, allowed: Mapping[int, object]) -> int | None:
    text = text.strip()
    if not text:
        return None
    if text.isdigit() and int(text) < _MAX_ID and int(text) in allowed:
        return int(text)
    raise InvalidInput(f"Choose {what} from the list.", field=name)


def _cursor(query: Mapping[str, str], when: str, ident: str) -> Position | None:
    """A page link's position; a damaged one is ignored (the listing starts at the newest)."""
    packet_id = query.get(ident, "")
    if when not in query or not 0 < len(packet_id) <= 36:
        return None
    try:
        moment = datetime.fromisoformat(query[when][:40])
    except ValueError:
        return None
    return Position(moment.astimezone(UTC), packet_id) if moment.tzinfo else None


def parse_query(
    query: Mapping[str, str],
    box: Box,
    cases: Mapping[int, object],
    agencies: Mapping[int, object],
) -> ListingQuery:
    """Read the filter form; every field that is wrong gets its own message, in form order."""
    raw = {k: query.get(k, "")[:300] for k in FILTER_FIELDS}
    parsed = ListingQuery(raw=raw)
    words: tuple[str, ...] = ()
    values: dict[str, object] = {}
    what = "received" if box == "inbox" else "sent"
    checks: dict[str, Callable[[], object]] = {
        "subject": lambda: search_words(raw["subject"]),
        "case": lambda: _id(raw["case"], "case", "a case", cases),
        "agency": lambda: _id(raw["agency"], "agency", "an agency", agencies),
        "type": lambda: _type(raw["type"]),
        "from": lambda: _day(raw["from"], "from", f"{what.capitalize()} on or after"),
        "to": lambda: _day(raw["to"], "to", f"{what.capitalize()} on or before"),
    }
    for name, check in checks.items():
        try:
            values[name] = check()
        except InvalidInput as exc:
            parsed.errors[name] = exc.public_message
    since, until = values.get("from"), values.get("to")
    if isinstance(since, date) and isinstance(until, date) and until < since:
        parsed.errors["to"] = "The end date must be the same as or after the start date."
        until = None
    parsed.days = {k: v for k, v in (("from", since), ("to", until)) if isinstance(v, date)}
    subject = values.get("subject")
    if isinstance(subject, tuple):
        words = subject
    parsed.words = words
    parsed.flt = PacketFilter(
        case_id=_int_or_none(values.get("case")),
        agency_id=_int_or_none(values.get("agency")),
        packet_type=_str_or_none(values.get("type")),
        since=datetime.combine(since, time(0), tzinfo=UTC) if isinstance(since, date) else None,
        until=(
            datetime.combine(until + timedelta(days=1), time(0), tzinfo=UTC)
            if isinstance(until, date)
            else None
        ),
    )
    parsed.before = _cursor(query, "before", "before_id")
    parsed.after = None if parsed.before else _cursor(query, "after", "after_id")
    return parsed


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _type(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    try:
        return PacketType(text).value
    except ValueError:
        raise InvalidInput("Choose a type from the list.", field="type") from None


@dataclass(frozen=True)
class _Paging:
    previous: str | None
    next: str | None
    summary: str


def _paging(path: str, q: ListingQuery, page: ListingPage) -> _Paging:
    def link(kind: str, at: Position | None) -> str | None:
        if at is None:
            return None
        base = q.url(path)
        extra = urlencode({kind: at.created_at.isoformat(), f"{kind}_id": at.id})
        return f"{base}{'&' if '?' in base else '?'}{extra}"

    shown = len(page.rows)
    if page.searched:
        summary = f"{shown} matching packet{'s' if shown != 1 else ''} on this page"
    elif not shown:
        summary = ""
    elif page.offset is not None and page.total is not None:
        summary = f"Showing {page.offset + 1} to {page.offset + shown} of {page.total:,} packets"
    elif page.offset is not None:
        summary = f"Showing {page.offset + 1} to {page.offset + shown} of more than 1,000 packets"
    else:
        summary = f"Showing {shown} packets, older than the newest 1,000"
    return _Paging(link("after", page.newer), link("before", page.older), summary)


async def _listing(request: web.Request, box: Box) -> web.Response:
    hub, actor = request.app[HUB], request[ACTOR]
    path = "/inbox" if box == "inbox" else "/outbox"
    # Checked before anything else is read: a role that reads no packets sees only the refusal.
    require_reader(actor)
    agencies = await hub.directory.agencies()
    names = {a.id: a.name for a in agencies}
    cases = [c for c in await hub.cases.visible_to(actor) if c.merged_into_id is None]
    q = parse_query(request.query, box, {c.id: c for c in cases}, names)
    page = await hub.packets.listing.page(
        actor, box, q.flt, q.words, before=q.before, after=q.after
    )
    unread_total = await hub.packets.listing.unread_count(actor)
    if request.headers.get(FRAGMENT_HEADER) == "listing":
        response = render(
            request,
            "listing_fragment.html",
            status=400 if q.errors else 200,
            box=box,
            path=path,
            page=page,
            q=q,
            paging=_paging(path, q, page),
            names=names,
            unread_total=unread_total,
            tabs=_tabs(actor),
        )
        response.headers["Vary"] = FRAGMENT_HEADER
        return response
    due = await hub.casework.due(actor)
    held: Sequence[object] = ()
    if box == "outbox" and not q.filtered and q.before is None and q.after is None:
        # Shares held for approval are not sent yet: listed apart, until released or refused.
        held = await hub.held_shares.proposed(actor, unreleased=True)
    return render(
        request,
        "listing.html",
        status=400 if q.errors else 200,
        error_title_prefix=bool(q.errors),
        box=box,
        path=path,
        page=page,
        q=q,
        paging=_paging(path, q, page),
        held=held,
        names=names,
        case_options=cases,
        agency_options=sorted(agencies, key=lambda a: a.name),
        type_options=list(PacketType),
        unread_total=unread_total,
        tabs=_tabs(actor),
        overdue=[d for d in due if d.overdue],
        due_soon=[d for d in due if not d.overdue],
    )


def _tabs(actor: Actor) -> list[navigation.MenuItem]:
    return [i for i in navigation.menu(actor) if i.href in ("/inbox", "/outbox", "/drafts")]


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    # Each role lands on a page of its own menu: auditors on the access reports, agency admins on
    # the API tokens, everyone else on the inbox (hub.web.navigation).
    raise web.HTTPSeeOther(navigation.home(request[ACTOR]))


@routes.get("/inbox")
async def inbox(request: web.Request) -> web.StreamResponse:
    return await _listing(request, "inbox")


@routes.get("/outbox")
async def outbox(request: web.Request) -> web.StreamResponse:
    return await _listing(request, "outbox")
