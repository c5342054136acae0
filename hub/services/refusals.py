"""How a refusal answers: another area's objects answer as objects that do not exist.

Inside its own area a caller may be told that something exists and is not theirs (403): the
area's case list names every case, and the caller can act on the answer ("ask the agency on the
case"). Outside it, a 403 where a missing id gets 404 would let anyone with an account probe
another area's ids, so the refusal is the same "not found" a missing id gets (ASVS V4.2).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import Forbidden, HubError, NotFound
from hub.services.actor import Actor
from hub.store import cases as case_store


def refusal_in_area(actor: Actor, area_id: int | None, forbidden: str, missing: str) -> HubError:
    """403 with ``forbidden`` for an object of the actor's own area, else 404 with ``missing``
    (the message a missing id gets)."""
    if area_id is not None and area_id == actor.agency.area_id:
        return Forbidden(forbidden)
    return NotFound(missing)


async def refusal_on_case(
    conn: AsyncConnection, actor: Actor, case_id: int | None, forbidden: str, missing: str
) -> HubError:
    """As ``refusal_in_area``, for an object that belongs to a case (its area is the case's)."""
    case = await case_store.case_by_id(conn, case_id) if case_id is not None else None
    return refusal_in_area(actor, case.area_id if case else None, forbidden, missing)
