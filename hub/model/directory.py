"""Areas, agencies and users: who takes part in MAPPA (CJA 2003 ss325-327)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Jurisdiction(StrEnum):
    ENGLAND_AND_WALES = "england-and-wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern-ireland"


class AgencyKind(StrEnum):
    RESPONSIBLE_AUTHORITY = "responsible-authority"
    DUTY_TO_COOPERATE = "duty-to-cooperate"
    VOLUNTARY = "voluntary"
    THIRD_PARTY = "third-party"


class AgencyType(StrEnum):
    # Responsible Authority: CJCS Act 2000 ss67-68, CJA 2003 s325(1).
    POLICE = "police"
    PROBATION = "probation"
    PRISON = "prison"
    # Probation staff who deal only with victims (Victim Contact Scheme), never offenders.
    VICTIM_LIAISON = "victim-liaison"
    # Scotland: local authority justice social work, a Responsible Authority under the Management
    # of Offenders etc. (Scotland) Act 2005 s10 (Scotland has no probation service).
    CRIMINAL_JUSTICE_SOCIAL_WORK = "criminal-justice-social-work"
    # Duty to Cooperate: CJA 2003 s325(3).
    CHILDRENS_SOCIAL_CARE = "childrens-social-care"
    ADULT_SOCIAL_CARE = "adult-social-care"
    HEALTH = "health"
    MENTAL_HEALTH = "mental-health"
    YOUTH_OFFENDING = "youth-offending"
    HOUSING = "housing"
    EDUCATION = "education"
    JOBCENTRE_PLUS = "jobcentre-plus"
    ELECTRONIC_MONITORING = "electronic-monitoring"
    IMMIGRATION_ENFORCEMENT = "immigration-enforcement"
    # Outside the statutory arrangements.
    VOLUNTARY = "voluntary"
    THIRD_PARTY = "third-party"


KIND_OF_TYPE: dict[AgencyType, AgencyKind] = {
    AgencyType.POLICE: AgencyKind.RESPONSIBLE_AUTHORITY,
    AgencyType.PROBATION: AgencyKind.RESPONSIBLE_AUTHORITY,
    AgencyType.PRISON: AgencyKind.RESPONSIBLE_AUTHORITY,
    AgencyType.VICTIM_LIAISON: AgencyKind.RESPONSIBLE_AUTHORITY,
    AgencyType.CRIMINAL_JUSTICE_SOCIAL_WORK: AgencyKind.RESPONSIBLE_AUTHORITY,
    AgencyType.CHILDRENS_SOCIAL_CARE: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.ADULT_SOCIAL_CARE: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.HEALTH: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.MENTAL_HEALTH: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.YOUTH_OFFENDING: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.HOUSING: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.EDUCATION: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.JOBCENTRE_PLUS: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.ELECTRONIC_MONITORING: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.IMMIGRATION_ENFORCEMENT: AgencyKind.DUTY_TO_COOPERATE,
    AgencyType.VOLUNTARY: AgencyKind.VOLUNTARY,
    AgencyType.THIRD_PARTY: AgencyKind.THIRD_PARTY,
}


class Role(StrEnum):
    PRACTITIONER = "practitioner"
    COORDINATOR = "coordinator"
    # Senior approver for level 3 and community disclosures (e.g. an Assistant Chief Constable).
    SENIOR_MANAGER = "senior-manager"
    AGENCY_ADMIN = "agency-admin"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Area:
    id: int
    code: str
    name: str
    jurisdiction: Jurisdiction


@dataclass(frozen=True)
class Agency:
    id: int
    code: str
    name: str
    type: AgencyType
    area_id: int

    @property
    def kind(self) -> AgencyKind:
        return KIND_OF_TYPE[self.type]


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    agency_id: int
    role: Role
    active: bool = True
    # Where the hub's email notifications go (a work address); None: no email is sent.
    email: str | None = None
