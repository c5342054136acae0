"""Who is acting: a signed-in user of one agency (the web layer builds this after login)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.model.directory import Agency, Role, User


@dataclass(frozen=True)
class Actor:
    user: User
    agency: Agency
    # Set when an agency system acts through the API: the log names the token as well.
    token_id: int | None = None

    @property
    def role(self) -> Role:
        return self.user.role

    def has_role(self, *roles: Role) -> bool:
        return self.user.role in roles
