"""What the policy is told about who takes part in a share: the sender's area and jurisdiction,
and each recipient's area, jurisdiction and whether it is active on the case.

Every path that decides a share (inbox and API sends, sealed submissions, disclosure proposals)
describes the parties through here, so that area boundaries are decided the same way on each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model.directory import Agency, Area
from hub.policy.model import Party
from hub.store import directory as directory_store
from hub.store import workflows as workflow_store


@dataclass(frozen=True)
class ShareParties:
    sender_area: str
    jurisdiction: str
    recipients: tuple[Party, ...]


def describe(
    sender: Agency,
    recipients: Iterable[Agency],
    areas: Mapping[int, Area],
    active: set[int],
) -> ShareParties:
    home = areas[sender.area_id]
    return ShareParties(
        home.code,
        home.jurisdiction.value,
        tuple(
            Party(
                a.type.value,
                areas[a.area_id].code,
                areas[a.area_id].jurisdiction.value,
                a.id in active,
            )
            for a in recipients
        ),
    )


async def load(
    conn: AsyncConnection, case_id: int, sender: Agency, recipients: Iterable[Agency]
) -> ShareParties:
    """Read the areas and the case's active agencies, then describe the parties."""
    areas = {a.id: a for a in await directory_store.list_areas(conn)}
    active = await workflow_store.case_agency_ids(conn, case_id)
    return describe(sender, recipients, areas, active)
