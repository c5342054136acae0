"""What each role may open: the menu, the landing page and the error page's way back.

The service layer decides every request; this module only keeps the menu honest, so that no link
is offered to a page that would answer 403 (tests/web/test_navigation.py walks every role's menu).
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
    MenuItem("/disclosures", "Disclosures", "disclosures-link", frozenset({C, S, AU})),
    MenuItem("/shares", "Approvals", "shares-link", frozenset({C, S})),
    MenuItem("/audit", "Access reports", "audit-link", frozenset({C, AU})),
    MenuItem("/admin/tokens", "API tokens", "tokens-link", frozenset({A})),
    MenuItem("/admin/keys", "Agency keys", "keys-link", frozenset({A})),
)


def menu(actor: Actor | None) -> list[MenuItem]:
    if actor is None:
        return []
    return [item for item in MENU if actor.role in item.roles]


def home(actor: Actor | None) -> str:
    """Where a role lands after sign-in, and where an error page leads back to."""
    items = menu(actor)
    return items[0].href if items else "/login"


def home_label(actor: Actor | None) -> str:
    items = menu(actor)
    return items[0].text if items else "Sign in"
