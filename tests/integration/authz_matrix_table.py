"""The expected answer of every route, for every caller and every relation of the object to the
caller (``authz_world``): the authorisation matrix that ``test_authz_matrix`` holds the app to.

One ``Entry`` per (method, path) the app routes; HEAD answers as its GET. ``expect`` maps a
caller to its answers. For a route that takes an object's id, the answer is five words, one per
relation in ``RELATIONS`` order (own, other_on_case, not_on_case, other_area, missing), ``-`` where
the relation does not apply to that kind of object; for a route without one, a single word.

The words:
- ``ok``: authorised. The request got past every authorisation check: a success (2xx), a redirect
  anywhere but the sign-in page, or an answer about the request itself (400 validation, 409 the
  state has moved on, 410 erased, 422 did not verify). Never 401, 403, 404 or 5xx.
- ``403``: refused, the object's existence not hidden (it is in the caller's own area).
- ``404``: as if nothing were there. Another area's ids answer exactly as missing ones.
- ``401``: no credentials (API, federation).
- ``login``: a browser sent to the sign-in page (303 to /login).
- a number: exactly that status.

Callers of the web (``WEB_CALLERS``) are the five roles signed in through the real sign-in, all
of Derbyshire Constabulary, and ``anonymous`` (no session). An entry that leaves out
``anonymous`` expects ``login`` everywhere. Callers of the API (``API_CALLERS``): ``token`` (a
practitioner system of the constabulary holding every scope), ``token-coordinator`` (its
coordinator system, every scope), ``token-lacking-scope`` (every scope but the one the OpenAPI
document names for the route), ``session`` (a signed-in browser's cookie, no token) and
``no-token``. Unless listed: ``no-token`` and ``session`` expect 401, ``token-lacking-scope`` 403.

``hides``: personal data of a relation's case (``name``: given names; ``dob``: date of birth)
that the caller's answer must not contain even when it is ``ok`` (lists).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tests.conftest import NECESSITY, SHARE_CATEGORIES
from tests.integration.authz_world import World

WEB_CALLERS = ("practitioner", "coordinator", "senior-manager", "agency-admin", "auditor",
               "anonymous")  # fmt: skip
API_CALLERS = ("token", "token-coordinator", "token-lacking-scope", "session", "no-token")
API_DEFAULTS = {"no-token": "401", "session": "401", "token-lacking-scope": "403"}


@dataclass(frozen=True)
class Body:
    form: tuple[tuple[str, str], ...] = ()
    files: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)
    json: object = None


BodyFor = Callable[[World, str | None], Body]


@dataclass(frozen=True)
class Entry:
    method: str
    path: str
    expect: Mapping[str, str]
    body: BodyFor | None = None
    # Path parameters that take one value whatever the relation (e.g. a transfer's step).
    fixed: Mapping[str, str] = field(default_factory=dict)
    # A path parameter whose ids come from another of the world's kinds (e.g. {user_id} as
    # ``person_id``: people an admin may act on, not the demo's signed-in callers).
    kinds: Mapping[str, str] = field(default_factory=dict)
    hides: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    # Run after the other unsafe calls (it ends a session or changes who is on a case).
    last: bool = False
    why: str = ""

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")


def _form(**values: str) -> BodyFor:
    return lambda world, relation: Body(tuple(values.items()))


def _compose(world: World, relation: str | None) -> Body:
    pairs = [
        ("case", world.ids["case_id"]["own"]),
        ("recipients", world.agencies["DBY-PROBATION"]),
        ("purpose", "risk-management"),
        ("lawful_basis", "cja2003-s325"),
        ("subject", "Address check before release"),
        ("body", "Please confirm whether the proposed address is suitable."),
        *(("categories", c) for c in SHARE_CATEGORIES),
        *((f"necessity_{k}", v) for k, v in NECESSITY.items()),
        ("action", "send"),
    ]
    return Body(tuple(pairs))


def _days(n: int) -> Callable[[World], str]:
    return lambda world: (world.today + timedelta(days=n)).isoformat()


def _dated(name: str, days: int, **rest: str) -> BodyFor:
    return lambda world, relation: Body(((name, _days(days)(world)), *rest.items()))


def _transfer_form(world: World, relation: str | None) -> Body:
    return Body(
        (
            ("receiving_area", "NTS"),
            ("proposed_date", _days(14)(world)),
            ("reason", "Moving to his sister's address; approved premises place offered."),
        )
    )


def _visor_upload(world: World, relation: str | None) -> Body:
    return Body(files={"record": ("record.json", world.visor_record)})


def _receipt_upload(world: World, relation: str | None) -> Body:
    return Body(files={"receipt": ("receipt-1.json", b'{"not": "a receipt"}')})


def _json(value: object) -> BodyFor:
    return lambda world, relation: Body(json=value)


def _send_json(world: World, relation: str | None) -> Body:
    return Body(
        json={
            "case_id": int(world.ids["case_id"]["own"]),
            "recipient_agencies": ["DBY-PROBATION"],
            "subject": "Address check before release",
            "body": "Please confirm whether the proposed address is suitable.",
            "purpose": "risk-management",
            "lawful_basis": "cja2003-s325",
            "data_categories": list(SHARE_CATEGORIES),
            "necessity": dict(NECESSITY),
        }
    )


def _proposal_json(world: World, relation: str | None) -> Body:
    return Body(
        json={
            "case_id": int(world.ids["case_id"]["own"]),
            "reason": "Moving to his sister's address; approved premises place offered.",
            "proposed_date": _days(14)(world),
            "receiving_area": "NTS",
        }
    )


ENTRIES: list[Entry] = []


def E(method: str, path: str, expect: Mapping[str, str], **kw: Any) -> None:
    ENTRIES.append(Entry(method, path, expect, **kw))


def roles(everyone: str = "", **by_role: str) -> dict[str, str]:
    """Answers by web role (``senior_manager`` for senior-manager); ``everyone`` for the rest
    of the five signed-in roles. ``anonymous`` answers ``login`` unless given."""
    out = {r: everyone for r in WEB_CALLERS if r != "anonymous" and everyone}
    out.update({k.replace("_", "-"): v for k, v in by_role.items()})
    return out


def tokens(everyone: str = "", **by_caller: str) -> dict[str, str]:
    """Answers by API caller (``token_coordinator`` for token-coordinator); ``everyone`` for
    both tokens."""
    out = {t: everyone for t in ("token", "token-coordinator") if everyone}
    out.update({k.replace("_", "-"): v for k, v in by_caller.items()})
    return out


# Frequently met rows (relations: own, other_on_case, not_on_case, other_area, missing).
ALL_403 = "403 403 403 403 403"
ALL_404 = "404 404 404 404 404"
PARTY = "ok 403 403 404 404"  # the agency's own only; in-area others 403; elsewhere as missing
ON_CASE = "ok ok 403 404 404"  # the case's active agencies
AREA = "ok ok ok 404 404"  # anything in the area (the coordinator's reach)
ROLE_REFUSED_IN_AREA = "403 403 403 404 404"  # the role may not, found in the area only
HIDDEN_OWN = "ok 404 404 404 404"  # shares and API packets: all but one's own as missing
# The case lists name the area's cases; a case whose file is closed shows no date of birth, and
# no other area's case shows at all.
LIST_HIDES = {"not_on_case": ("dob",), "other_area": ("name", "dob")}
COORDINATOR_LIST_HIDES = {"other_area": ("name", "dob")}

# -- public ---------------------------------------------------------------------------------
E("GET", "/healthz", roles("ok", anonymous="ok"))
E("GET", "/static", roles("ok", anonymous="ok"))
E("GET", "/accessibility", roles("ok", anonymous="ok"))
E("GET", "/login", roles("ok", anonymous="ok"))
E("GET", "/login/totp", roles("login"), why="no password step is pending: back to the start")
# -- inbox and packets ----------------------------------------------------------------------
E("GET", "/", roles("ok"))
E("GET", "/inbox", roles("ok", agency_admin="403", auditor="403"))
E("GET", "/outbox", roles("ok", agency_admin="403", auditor="403"))
E("GET", "/inbox/events", roles("ok", agency_admin="403", auditor="403"))
E("GET", "/packets/{packet_id}", roles(PARTY, agency_admin=ALL_403, auditor=ALL_403))
E(
    "GET",
    "/packets/{packet_id}/attachments/{index}",
    roles(PARTY, agency_admin=ALL_403, auditor=ALL_403),
)
E(
    "GET",
    "/packets/{packet_id}/receipt",
    roles(PARTY, senior_manager=ALL_403, agency_admin=ALL_403),
    why="the sender's receipt: for practitioners, coordinators and auditors",
)
E("GET", "/notifications", roles("ok", agency_admin="403", auditor="403"))
E("GET", "/compose", roles("403", practitioner="ok", coordinator="ok"))
E("POST", "/compose", roles("403", practitioner="ok", coordinator="ok"), body=_compose)
E("GET", "/drafts", roles("403", practitioner="ok", coordinator="ok"))
E(
    "POST",
    "/drafts/{draft_id}/delete",
    roles(ALL_403, practitioner=HIDDEN_OWN, coordinator=ALL_404),
    why="a draft is its author's alone: anyone else's is as missing",
)
# -- requests, disclosures, held shares -----------------------------------------------------
E("GET", "/requests", roles("403", practitioner="ok", coordinator="ok"))
E(
    "POST",
    "/requests/{request_id}/decline",
    roles(ALL_403, practitioner=PARTY, coordinator=PARTY),
    body=_form(reason="We hold nothing on this address."),
)
E("GET", "/disclosures", roles("ok", practitioner="403", agency_admin="403"))
E("GET", "/disclosures/{disclosure_id}", roles(AREA, practitioner=ON_CASE, agency_admin=ALL_403))
E(
    "POST",
    "/disclosures/{disclosure_id}/decide",
    roles(ROLE_REFUSED_IN_AREA, coordinator=PARTY, senior_manager=PARTY, agency_admin=ALL_403),
    body=_form(decision="approve", reasons="Necessary and proportionate.", conditions=""),
    why="decided by the approvers the proposal reached, never by the proposer",
)
E(
    "POST",
    "/disclosures/{disclosure_id}/deliver",
    roles(ROLE_REFUSED_IN_AREA, practitioner=PARTY, coordinator=AREA, agency_admin=ALL_403),
    why="the proposer, or the area's coordinator (then 409 until it is approved)",
)
E(
    "POST",
    "/disclosures/{disclosure_id}/letter",
    roles(ROLE_REFUSED_IN_AREA, practitioner=PARTY, coordinator=AREA, agency_admin=ALL_403),
    body=_form(to_address="hr@acme-logistics.example", letter_text="We write to tell you..."),
)
E("GET", "/shares", roles("ok", agency_admin="403"))
E("GET", "/shares/{share_id}", roles(HIDDEN_OWN, coordinator=AREA, agency_admin=ALL_404))
E(
    "GET",
    "/shares/{share_id}/content",
    roles(HIDDEN_OWN, coordinator=AREA, agency_admin=ALL_404, auditor="403 404 404 404 404"),
)
E(
    "GET",
    "/shares/{share_id}/attachments/{index}",
    roles(HIDDEN_OWN, coordinator=AREA, agency_admin=ALL_404, auditor="403 404 404 404 404"),
)
E(
    "POST",
    "/shares/{share_id}/decide",
    roles("403 404 404 404 404", coordinator=AREA, agency_admin=ALL_404),
    body=_form(decision="approve", reasons="Housing needs the victim's street to exclude it."),
)
# -- cases and deadlines --------------------------------------------------------------------
E(
    "GET",
    "/cases",
    roles("ok", agency_admin="403"),
    hides={r: LIST_HIDES for r in ("practitioner", "senior-manager", "auditor")}
    | {"coordinator": COORDINATOR_LIST_HIDES},
)
E("GET", "/cases/{case_id}", roles(ON_CASE, coordinator=AREA, agency_admin=ALL_403))
E(
    "POST",
    "/cases/{case_id}/meetings",
    roles(ALL_403, coordinator=AREA),
    body=_dated("held_on", -3, level="2"),
    last=True,
    why="recording a meeting makes the coordinator's agency active on the case: run last",
)
E(
    "POST",
    "/cases/{case_id}/agencies",
    roles(ROLE_REFUSED_IN_AREA, practitioner=PARTY, coordinator=AREA),
    body=_form(agency="DBY-YOT"),
    why="the coordinator, or the case's lead agency",
)
E(
    "POST",
    "/cases/{case_id}/release",
    roles(ALL_403, practitioner=ON_CASE, coordinator=AREA),
    body=_dated("release_date", 90),
)
E("GET", "/deadlines", roles("ok", agency_admin="403"))
E(
    "POST",
    "/deadlines/{item_id}/complete",
    roles(ROLE_REFUSED_IN_AREA, practitioner=PARTY, coordinator=AREA),
    body=_form(outcome="The address was checked."),
    why="the owning agency, or the coordinator",
)
E(
    "GET",
    "/cases/{case_id}/events",
    roles(ROLE_REFUSED_IN_AREA, practitioner=ON_CASE, coordinator=AREA),
)
E(
    "POST",
    "/cases/{case_id}/events",
    roles(ROLE_REFUSED_IN_AREA, practitioner=ON_CASE, coordinator=AREA),
    body=lambda w, r: Body((("kind", "charged-serious-offence"), ("occurred_on", _days(-1)(w)))),
)
E(
    "GET",
    "/cases/{case_id}/visor-record.json",
    roles(ROLE_REFUSED_IN_AREA, practitioner=ON_CASE, coordinator=AREA),
)
E("GET", "/visor/import", roles("403", coordinator="ok"))
E("POST", "/visor/import", roles("403", coordinator="ok"), body=_visor_upload)
# -- transfers ------------------------------------------------------------------------------
E("GET", "/transfers", roles("403", coordinator="ok", senior_manager="ok"))
E("GET", "/cases/{case_id}/transfer", roles(ALL_403, coordinator=AREA))
E("POST", "/cases/{case_id}/transfer", roles(ALL_403, coordinator=AREA), body=_transfer_form)
E(
    "GET",
    "/transfers/{transfer_id}",
    roles("403 403 - 403 403", coordinator="ok ok - 404 404", senior_manager="ok ok - 404 404"),
    why="own: out of Derbyshire; other_on_case: into it; other_area: between two others",
)
E(
    "POST",
    "/transfers/{transfer_id}/{step}",
    roles("403 403 - 403 403", coordinator="403 ok - 404 404", senior_manager="403 403 - 404 404"),
    fixed={"step": "decline"},
    body=_form(reasons="No approved premises place in this area."),
    why="the receiving area's coordinator declines; the sending area cannot",
)
# -- audit, statistics, administration, settings --------------------------------------------
E("GET", "/audit", roles("403", coordinator="ok", auditor="ok"))
E("GET", "/audit/cases/{case_id}", roles(ALL_403, coordinator=AREA, auditor=AREA))
E(
    "GET",
    "/audit/users/{user_id}",
    roles("403 403 - 403 403", coordinator="ok ok - 404 404", auditor="ok ok - 404 404"),
)
E("GET", "/statistics", roles("ok", practitioner="403", agency_admin="403"))
E("GET", "/admin/tokens", roles("403", agency_admin="ok"))
E(
    "POST",
    "/admin/tokens",
    roles("403", agency_admin="ok"),
    body=_form(name="Case system", scopes="cases:read", cases="", days="30", role="practitioner"),
)
E(
    "POST",
    "/admin/tokens/{token_id}/revoke",
    roles("403 403 - 403 403", agency_admin="ok 404 - 404 404"),
    why="own: the constabulary's token; other_on_case: probation's, in the same area",
)
E("GET", "/admin/keys", roles("403", agency_admin="ok"))
E("GET", "/admin/email", roles("403", agency_admin="ok"))
E(
    "POST",
    "/admin/email/{row_id}/retry",
    roles("403 403 - 403 403", agency_admin="ok 404 - 404 404"),
)
E("GET", "/notification-settings", roles("ok", agency_admin="403", auditor="403"))
E(
    "POST",
    "/notification-settings",
    roles("ok", agency_admin="403", auditor="403"),
    body=_form(
        **{
            "new-packets": "immediate",
            "requests-due": "digest",
            "decisions": "immediate",
            "overdue": "immediate",
        }
    ),
)
E("GET", "/receipts/check", roles("ok", agency_admin="403"))
E("POST", "/receipts/check", roles("ok", agency_admin="403"), body=_receipt_upload)
# -- people: one's own account; an agency admin's people (hub.web.account, admin_people) ------
E("GET", "/account", roles("ok"))
E(
    "POST",
    "/account/password",
    roles("ok"),
    last=True,
    body=_form(
        current="not-the-password", new="a-new-long-passphrase-1", again="a-new-long-passphrase-1"
    ),
    why="a wrong current password: refused as bad input (400), nothing changed",
)
E(
    "POST",
    "/account/recovery-codes",
    roles("ok"),
    last=True,
    body=_form(current="not-the-password"),
    why="a wrong current password: 400",
)
E("GET", "/admin/people", roles("403", agency_admin="ok"))
E(
    "GET",
    "/admin/people/{user_id}/reset-authenticator",
    roles("403 403 - 403 403", agency_admin="ok 404 - 404 404"),
    kinds={"user_id": "person_id"},
    why="the confirmation page: as the reset itself",
)
E(
    "POST",
    "/admin/people/{user_id}/reset-authenticator",
    roles("403 403 - 403 403", agency_admin="ok 404 - 404 404"),
    kinds={"user_id": "person_id"},
    why="own: a person of the admin's agency; other_on_case: of another agency in the area",
)
E(
    "POST",
    "/admin/people/{user_id}/sign-out",
    roles("403 403 - 403 403", agency_admin="ok 404 - 404 404"),
    kinds={"user_id": "person_id"},
)
# -- the API --------------------------------------------------------------------------------
E("GET", "/api/v1/openapi.json", tokens("ok", session="ok", no_token="ok"))
E(
    "GET",
    "/api/v1/cases",
    tokens("ok"),
    hides={"token": LIST_HIDES, "token-coordinator": COORDINATOR_LIST_HIDES},
    why="no more than the inbox's case list shows",
)
E(
    "GET",
    "/api/v1/cases/{case_id}",
    tokens(ON_CASE, token_coordinator=AREA),
    why="no more than the case page shows: the file is for the case's agencies and coordinator",
)
E("POST", "/api/v1/packets", tokens("ok"), body=_send_json)
E("POST", "/api/v1/packets/preview", tokens("ok"), body=_send_json)
E("GET", "/api/v1/inbox", tokens("ok"))
E("GET", "/api/v1/outbox", tokens("ok"))
E("GET", "/api/v1/packets/{packet_id}", tokens(HIDDEN_OWN))
E("GET", "/api/v1/packets/{packet_id}/attachments/{index}", tokens(HIDDEN_OWN))
E("GET", "/api/v1/packets/{packet_id}/receipt", tokens(HIDDEN_OWN))
E("GET", "/api/v1/requests", tokens("ok"))
E(
    "POST",
    "/api/v1/requests/{request_id}/decline",
    tokens(PARTY),
    body=_json({"reason": "We hold nothing."}),
)
E(
    "GET",
    "/api/v1/disclosures",
    tokens(token="403", token_coordinator="ok"),
    why="the area's register is for a coordinator's system",
)
E("GET", "/api/v1/disclosures/{disclosure_id}", tokens(ON_CASE, token_coordinator=AREA))
E(
    "POST",
    "/api/v1/disclosures/{disclosure_id}/decisions",
    tokens(ALL_403),
    body=_json({"decision": "approve", "reasons": "Necessary and proportionate."}),
    why="policies/approvals.toml allows no delegated decisions: people decide in the inbox",
)
E("POST", "/api/v1/disclosures/{disclosure_id}/delivery", tokens(PARTY, token_coordinator=AREA))
E("POST", "/api/v1/sealed", tokens("ok"), body=_json({}))
E("GET", "/api/v1/packets/{packet_id}/sealed", tokens(HIDDEN_OWN))
E("GET", "/api/v1/shares", tokens("ok"))
E("GET", "/api/v1/shares/{share_id}", tokens(HIDDEN_OWN, token_coordinator=AREA))
E("GET", "/api/v1/shares/{share_id}/content", tokens(HIDDEN_OWN, token_coordinator=AREA))
E(
    "GET",
    "/api/v1/shares/{share_id}/attachments/{index}",
    tokens(HIDDEN_OWN, token_coordinator=AREA),
)
E(
    "POST",
    "/api/v1/shares/{share_id}/decisions",
    tokens(ALL_403),
    body=_json({"decision": "approve", "reasons": "Housing needs it to exclude the street."}),
    why="no delegated decisions (as disclosures)",
)
E("GET", "/api/v1/transfers", tokens(token="403", token_coordinator="ok"))
E("POST", "/api/v1/transfers", tokens(token="403", token_coordinator="ok"), body=_proposal_json)
E(
    "GET",
    "/api/v1/transfers/{transfer_id}",
    tokens(token="403 403 - 403 403", token_coordinator="ok ok - 404 404"),
)
E(
    "POST",
    "/api/v1/transfers/{transfer_id}/accept",
    tokens(token="403 403 - 403 403", token_coordinator="403 ok - 404 404"),
    body=_json({"reasons": "Place confirmed.", "lead_agency": "DBY-PROBATION"}),
)
E(
    "POST",
    "/api/v1/transfers/{transfer_id}/decline",
    tokens(token="403 403 - 403 403", token_coordinator="403 ok - 404 404"),
    body=_json({"reasons": "No approved premises place in this area."}),
)
E("GET", "/api/v1/statistics/annual-report", tokens(token="403", token_coordinator="ok"))
E("GET", "/api/v1/statistics/indicators", tokens(token="403", token_coordinator="ok"))
# -- federation: peer hubs, each call signed; no session or token gets in -------------------
for _path, _method in (
    ("/federation/v1/directory", "GET"),
    ("/federation/v1/transfers", "POST"),
    ("/federation/v1/transfer-proposals", "POST"),
    ("/federation/v1/transfer-decisions", "POST"),
    ("/federation/v1/transfer-cancellations", "POST"),
    ("/federation/v1/witness/checkpoints", "POST"),
):
    E(_method, _path, roles("401", anonymous="401"), body=None if _method == "GET" else _json({}))
# -- signing in and out: last of all, since they end the session they are sent in ----------
E(
    "POST",
    "/login",
    roles("401", anonymous="401"),
    body=_form(username="dby.police", password="not-the-password"),
    last=True,
    why="a wrong password, from a session signed in or not: refused, nothing else",
)
E(
    "POST",
    "/login/totp",
    roles("login"),
    body=_form(code="000000"),
    last=True,
    why="no password step pending: back to the sign-in page",
)
E("POST", "/logout", roles("login"), last=True)
