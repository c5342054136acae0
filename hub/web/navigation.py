"""What each role may open: the menu, the landing page and the error page's way back.

The service layer decides every request; this module only keeps the menu honest, so that no link
is offered to a page that would answer 403 (tests/web/test_navigation.py walks every role's menu).
Each row below names the service check it mirrors:

- Inbox, Sent: ``PacketService.inbox/outbox`` (readers of packet content; agency admins manage
  keys and tokens and are not offered packets). Sent, Drafts and New packet are for the roles that
  may send (``PacketService`` sender roles: practitioners and coordinators).
- Cases: ``CaseService.visible_to`` lists the area's cases to anyone; offered to the roles whose
  work is cases. Auditors reach cases through the access reports, never the case file.
- Requests: ``RequestService.queue`` (practitioners and coordinators handle requests).
- Deadlines: ``CaseworkService.due`` (the agency's own items; coordinators and senior managers
  also see the area's).
- Notifications: ``NotificationService.for_actor`` (practitioners, coordinators, senior managers:
  decisions on what they proposed, requests put to their agency, what their agency has due).
- Disclosures: ``DisclosureService.register`` (coordinators, senior managers and auditors).
- Approvals: ``HeldShareService.queue`` (the policy's approvers: coordinators, senior managers).
- Transfers: ``TransferService.for_area`` (coordinators, and senior managers who take escalations).
- Access reports: ``AccessReportService`` (auditors and coordinators).
- Statistics: ``StatisticsService.annual_report`` and ``board_indicators`` (coordinators, senior
  managers, auditors).
- Check a receipt: ``LedgerService.check_receipt`` (anyone signed in but an agency admin);
  offered in the menu to auditors, whose work it is, and linked from the pages that give receipts.
- API tokens: ``TokenService.list``; Agency keys: ``KeyRing``'s read-only view (agency admins).
- Email: ``NoticeService.agency_outbox`` (agency admins); Notification settings:
  ``NoticeService.settings`` (the notified roles: practitioners, coordinators, senior managers).
- People: ``AccountService.people`` (agency admins, their own agency's people).
- Your account: ``AccountService.summary`` (everyone signed in: their own password and recovery
  codes).
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.model.directory import Role
from hub.services.actor import Actor

P, C, S, A, AU = (
    Role.PRACTITIONER,
    Role.COORDINATOR,
    Role.SENIOR_MANAGER,
    Role.AGENCY_ADMIN,
    Role.AUDITOR,
)


@dataclass(frozen=True)
class MenuItem:
    href: str
    text: str
    dom_id: str
    roles: frozenset[Role]

    def current(self, path: str) -> bool:
        return path == self.href or path.startswith(self.href + "/")


MENU: tuple[MenuItem, ...] = (
    MenuItem("/inbox", "Inbox", "inbox-link", frozenset({P, C, S})),
    MenuItem("/outbox", "Sent", "sent-link", frozenset({P, C})),
    MenuItem("/drafts", "Drafts", "drafts-link", frozenset({P, C})),
    MenuItem("/compose", "New packet", "compose-link", frozenset({P, C})),
    MenuItem("/cases", "Cases", "cases-link", frozenset({P, C, S})),
    MenuItem("/requests", "Requests", "requests-link", frozenset({P, C})),
    MenuItem("/deadlines", "Deadlines", "deadlines-link", frozenset({P, C, S})),
    MenuItem("/notifications", "Notifications", "notifications-link", frozenset({P, C, S})),
    MenuItem("/disclosures", "Disclosures", "disclosures-link", frozenset({C, S, AU})),
    MenuItem("/shares", "Approvals", "shares-link", frozenset({C, S})),
    MenuItem("/transfers", "Transfers", "transfers-link", frozenset({C, S})),
    MenuItem("/audit", "Access reports", "audit-link", frozenset({C, AU})),
    MenuItem("/statistics", "Statistics", "statistics-link", frozenset({C, S, AU})),
    MenuItem("/receipts/check", "Check a receipt", "receipts-link", frozenset({AU})),
    MenuItem("/admin/tokens", "API tokens", "tokens-link", frozenset({A})),
    MenuItem("/admin/keys", "Agency keys", "keys-link", frozenset({A})),
    MenuItem("/admin/email", "Email", "email-link", frozenset({A})),
    MenuItem("/admin/people", "People", "people-link", frozenset({A})),
    MenuItem(
        "/notification-settings",
        "Notification settings",
        "notice-settings-link",
        frozenset({P, C, S}),
    ),
    MenuItem("/account", "Your account", "account-link", frozenset({P, C, S, A, AU})),
)

# A role's landing page when it is not the first page of its menu: an auditor's work starts at
# the access reports, though the menu keeps the order the other roles see.
_LANDING = {AU: "/audit"}
# The way back from an error page, in words: "Go to access reports".
_BACK = {
    "/inbox": "Go to your inbox",
    "/audit": "Go to access reports",
    "/admin/tokens": "Go to API tokens",
}


def menu(actor: Actor | None) -> list[MenuItem]:
    if actor is None:
        return []
    return [item for item in MENU if actor.role in item.roles]


def home(actor: Actor | None) -> str:
    """Where a role lands after sign-in, and where an error page leads back to: the first page
    of its menu (the inbox; API tokens for agency admins) or its landing page (access reports
    for auditors). Always a page of its menu."""
    items = menu(actor)
    if not items or actor is None:
        return "/login"
    landing = _LANDING.get(actor.role)
    return next((i.href for i in items if i.href == landing), items[0].href)


def home_label(actor: Actor | None) -> str:
    """The words of the link to ``home(actor)``: "Go to your inbox", or "Sign in"."""
    target = home(actor)
    if target == "/login":
        return "Sign in"
    text = next(i.text for i in MENU if i.href == target)
    return _BACK.get(target, f"Go to {text}")
