"""MAPPA cases: minimal nominal identifiers plus category, level, lead agency and owning area."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum


class MappaCategory(IntEnum):
    """1 registered sexual offenders; 2 violent and other sexual offenders; 3 other dangerous."""

    REGISTERED_SEX_OFFENDER = 1
    VIOLENT_OR_OTHER_SEXUAL = 2
    OTHER_DANGEROUS = 3


class MappaLevel(IntEnum):
    """1 ordinary agency management; 2 active multi-agency; 3 the critical few."""

    ORDINARY = 1
    MULTI_AGENCY = 2
    CRITICAL_FEW = 3


@dataclass(frozen=True)
class Case:
    id: int
    reference: str
    family_name: str
    given_names: str
    date_of_birth: date | None
    visor_ref: str | None
    pnc_ref: str | None
    ndelius_crn: str | None
    category: MappaCategory
    level: MappaLevel
    lead_agency_id: int
    area_id: int
    created_at: datetime
    merged_into_id: int | None = None

    @property
    def display_name(self) -> str:
        return f"{self.family_name.upper()}, {self.given_names}"
