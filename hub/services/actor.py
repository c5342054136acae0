"""Who is acting: the account that acts, and the person behind it.

In the inbox both are the signed-in user. Through the API the account is the token's system
account (``hub.services.tokens``) and the person is the one the call names (``On-Behalf-Of``) or
else the admin who issued the token; a token the operator issued names nobody unless the call
does. Separation of duties compares people: the rules that say "never the proposer" or "one
decision each" look at ``person``, while the log keeps naming the account and the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.model.directory import Agency, Role, User


@dataclass(frozen=True)
class Actor:
    user: User
    agency: Agency
    # Set when an agency system acts through the API: the log names the token as well.
    token_id: int | None = None
    # For a token: the person it acts for (named in the call and checked, or its issuer).
    on_behalf_of: User | None = None
    # For a token: the call named its person (``On-Behalf-Of``), rather than the token standing
    # for its issuer. A named person acts as themselves: an agency administrator reads no content.
    person_named: bool = False

    @property
    def role(self) -> Role:
        return self.user.role

    def has_role(self, *roles: Role) -> bool:
        """The account's role: for a token, the ceiling of what its system may do."""
        return self.user.role in roles

    @property
    def person(self) -> User | None:
        """The person accountable for the action; None for a token that names nobody."""
        return self.user if self.token_id is None else self.on_behalf_of

    @property
    def sender(self) -> User:
        """Whom a packet this actor sends names as its sender (the signed header's
        ``sender_user``, the packet's ``sender_user_id``): the member of staff a call names
        (``On-Behalf-Of``), else the account that acts. A token that names nobody is its system
        account, not the admin who issued it: the issuer did not send the packet."""
        if self.person_named and self.on_behalf_of is not None:
            return self.on_behalf_of
        return self.user

    def person_has_role(self, *roles: Role) -> bool:
        person = self.person
        return person is not None and person.role in roles
