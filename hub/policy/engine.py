"""Deciding a share: the five tests, deny by default.

Every test is evaluated (not just up to the first failure) so that the user is told everything that
would need to change. The answer is PERMIT, DENY or REVIEW (needs approval), with the rules that
fired, the agreements they implement and the policy version.

``interpret`` is the readable statement of the tests and the reference for every decision. Shares
are decided by ``evaluate``: the version's decision memo in front of the policy compiled to lookup
tables at load (hub.policy.compiled), which is held to give exactly what ``interpret`` gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hub.model.directory import KIND_OF_TYPE, AgencyType, Role
from hub.policy.model import (
    AgreementRef,
    ApprovalNeed,
    Decision,
    Outcome,
    ShareRequest,
    Test,
    TestResult,
)

if TYPE_CHECKING:  # the loader imports the compiled form, which builds on this module
    from hub.policy.loader import PolicySet

# Roles that may propose a share of case information (auditors and administrators may not).
SHARING_ROLES = frozenset(
    {Role.PRACTITIONER.value, Role.COORDINATOR.value, Role.SENIOR_MANAGER.value}
)
KIND_LABEL = {
    "responsible-authority": "a Responsible Authority agency",
    "duty-to-cooperate": "a Duty to Cooperate agency",
    "voluntary": "a voluntary partner",
    "third-party": "a third party outside MAPPA",
}


def _kind(agency_type: str) -> str | None:
    try:
        return KIND_OF_TYPE[AgencyType(agency_type)].value
    except ValueError:
        return None


_CACHE_LIMIT = 65536


def evaluate(policy: PolicySet, request: ShareRequest) -> Decision:
    """Decide a share with the compiled policy. A decision depends on the request's shape, not the
    wording of its statements (only on whether each is long enough), so decisions are memoised
    per version."""
    minimum = policy.necessity_min_chars
    key = (
        request.sender_type,
        request.sender_role,
        request.recipient_types,
        request.packet_type,
        request.data_categories,
        request.purpose,
        request.lawful_basis,
        request.mappa_category,
        request.mappa_level,
        request.channel,
        frozenset(k for k, v in request.necessity.items() if len((v or "").strip()) >= minimum),
        request.schedule1_condition,
        len((request.restricted_reason or "").strip()) >= minimum,
    )
    cached = policy.decisions.get(key)
    if isinstance(cached, Decision):
        return cached
    decision = policy.compiled.decide(request)
    if len(policy.decisions) >= _CACHE_LIMIT:
        policy.decisions.clear()
    policy.decisions[key] = decision
    return decision


def interpret(policy: PolicySet, request: ShareRequest) -> Decision:
    """The five tests as written, worked through for one request: the reference decision."""
    rules: list[str] = []
    agreements: list[str] = []
    approvals: list[ApprovalNeed] = []
    override = False

    def fired(rule: str, agreement: str | None = None) -> None:
        if rule not in rules:
            rules.append(rule)
        if agreement and agreement not in agreements:
            agreements.append(agreement)

    sender_kind = _kind(request.sender_type)
    recipient_kinds = {t: _kind(t) for t in request.recipient_types}
    categories = policy.categories
    wanted = tuple(dict.fromkeys(request.data_categories))
    level, mappa_category = request.mappa_level, request.mappa_category

    # 1. Lawful authority.
    lawful: list[str] = []
    basis = policy.lawful_bases.get(request.lawful_basis)
    if request.purpose not in policy.purposes:
        lawful.append(
            f"'{request.purpose}' is not a purpose in the catalogue; choose one from the list."
        )
    if sender_kind is None:
        lawful.append(f"'{request.sender_type}' is not a known agency type.")
    if basis is None:
        lawful.append(
            f"'{request.lawful_basis}' is not a lawful basis in the catalogue; choose one from the list."
        )
    else:
        fired(f"lawful_bases.{basis.name}")
        if sender_kind is not None and sender_kind not in basis.relied_on_by:
            lawful.append(
                f"{KIND_LABEL[sender_kind].capitalize()} cannot rely on {basis.label}."
                + suggest_bases(policy, sender_kind, recipient_kinds.values(), request.purpose)
            )
        for kind in sorted({k for k in recipient_kinds.values() if k is not None}):
            if kind not in basis.recipients:
                lawful.append(
                    f"{basis.label} does not cover sharing with {KIND_LABEL[kind]}."
                    + suggest_bases(policy, sender_kind, [kind], request.purpose)
                )
        if request.purpose in policy.purposes and request.purpose not in basis.purposes:
            lawful.append(f"{basis.label} does not support the purpose '{request.purpose}'.")
        special = [c for c in wanted if c in categories and categories[c].special]
        if special and not basis.special:
            condition = request.schedule1_condition
            if condition not in policy.schedule1_conditions:
                lawful.append(
                    f"{basis.label} needs a DPA 2018 Schedule 1 condition for "
                    f"{', '.join(categories[c].label.lower() for c in special)}: cite one."
                )
            else:
                fired(f"schedule1_conditions.{condition}")

    # 2. Necessary.
    necessary: list[str] = []
    packet_type = policy.packet_types.get(request.packet_type)
    needed = set(packet_type.necessity) if packet_type else set(policy.necessity_parts)
    if any(k in policy.outside_mappa_kinds for k in recipient_kinds.values()):
        needed = set(policy.necessity_parts)
    for part in sorted(needed):
        text = (request.necessity.get(part) or "").strip()
        if len(text) < policy.necessity_min_chars:
            necessary.append(
                f"State {policy.necessity_parts[part][0].lower()}{policy.necessity_parts[part][1:]} "
                f"(at least {policy.necessity_min_chars} characters)."
            )

    # 3. Proportionate.
    proportionate: list[str] = []
    if packet_type is None:
        proportionate.append(f"'{request.packet_type}' is not a packet type the policy knows.")
    if not wanted:
        proportionate.append("Name the data categories the share carries.")
    unknown = [c for c in wanted if c not in categories]
    if unknown:
        proportionate.append(f"Unknown data categories: {', '.join(unknown)}.")
    known = [c for c in wanted if c in categories]
    if packet_type is not None:
        fired(f"packet_types.{packet_type.name}")
        for c in known:
            if c not in packet_type.categories:
                proportionate.append(
                    f"{packet_type.label} cannot carry {categories[c].label.lower()}."
                )
    if level not in (1, 2, 3) or mappa_category not in (1, 2, 3):
        proportionate.append("The case needs a MAPPA category and level of 1, 2 or 3.")
    else:
        for agency_type in request.recipient_types:
            rule = policy.recipients.get(agency_type)
            if rule is None:
                proportionate.append(f"No sharing rule covers recipients of type '{agency_type}'.")
                continue
            fired(f"proportionality.{agency_type}.level-{level}", rule.agreement)
            allowed = policy.allowed[(agency_type, level, mappa_category)]
            for c in known:
                if c in allowed:
                    continue
                restricted = policy.restricted.get(c)
                if restricted is not None:
                    fired(f"restricted.{c}", restricted.agreement)
                    reason = (request.restricted_reason or "").strip()
                    if (
                        restricted.with_reason == "review"
                        and len(reason) >= policy.necessity_min_chars
                    ):
                        override = True
                        continue
                    hint = (
                        " State the reason it must go to them; a coordinator then decides."
                        if restricted.with_reason == "review"
                        else ""
                    )
                    proportionate.append(
                        f"{restricted.label}: {rule.label} may not receive it.{hint}"
                    )
                else:
                    proportionate.append(
                        f"{rule.label} may not receive {categories[c].label.lower()} "
                        f"for a level {level} case."
                    )

    # 4. Secure.
    secure: list[str] = []
    channel = policy.channels.get(request.channel)
    if channel is None:
        secure.append(f"'{request.channel}' is not a channel the policy allows.")
    else:
        fired(f"channels.{channel.name}", channel.agreement)
        if channel.categories is not None:
            for c in known:
                if c not in channel.categories:
                    secure.append(
                        f"{channel.label} cannot carry {categories[c].label.lower()}: "
                        "send it as a packet through the hub."
                    )
        if channel.recipient_kinds is not None:
            for kind in sorted({k for k in recipient_kinds.values() if k is not None}):
                if kind not in channel.recipient_kinds:
                    secure.append(f"{channel.label} is not a channel to {KIND_LABEL[kind]}.")

    # 5. Accountable: a named proposer with a sharing role, rules that name an agreement, and the
    # approvals the policy asks for.
    accountable: list[str] = []
    if request.sender_role not in SHARING_ROLES:
        accountable.append("Your role cannot propose a share of case information.")
    if not request.recipient_types:
        accountable.append("Name at least one recipient.")
    for rule_ in policy.approval_rules:
        if rule_.recipient_kinds is not None and not (
            rule_.recipient_kinds & {k for k in recipient_kinds.values() if k}
        ):
            continue
        if rule_.levels is not None and level not in rule_.levels:
            continue
        if rule_.restricted_override and not override:
            continue
        fired(f"approvals.{rule_.id}", rule_.agreement)
        approvals.extend(ApprovalNeed(rule_.id, role, rule_.count) for role in rule_.approvers)
    for name in agreements:
        if (
            name not in policy.agreements
        ):  # the loader prevents this; kept as the deny-by-default net
            accountable.append(f"Rule names an unknown agreement '{name}'.")

    tests = (
        TestResult(Test.LAWFUL, not lawful, tuple(lawful)),
        TestResult(Test.NECESSARY, not necessary, tuple(necessary)),
        TestResult(Test.PROPORTIONATE, not proportionate, tuple(proportionate)),
        TestResult(Test.SECURE, not secure, tuple(secure)),
        TestResult(Test.ACCOUNTABLE, not accountable, tuple(accountable)),
    )
    if any(not t.passed for t in tests):
        outcome = Outcome.DENY
    elif approvals:
        outcome = Outcome.REVIEW
    else:
        outcome = Outcome.PERMIT
    return Decision(
        outcome=outcome,
        tests=tests,
        rules=tuple(rules),
        approvals=tuple(approvals) if outcome is not Outcome.DENY else (),
        agreements=tuple(
            AgreementRef(a, policy.agreements[a].uri, policy.agreements[a].version)
            for a in agreements
            if a in policy.agreements
        ),
        policy_version=policy.version,
        retention_years=packet_type.retention_years if packet_type else None,
        approver_is_never_proposer=policy.approver_is_never_proposer,
        dpv={
            "purpose": policy.purposes[request.purpose].dpv
            if request.purpose in policy.purposes
            else None,
            "legal_basis": basis.dpv if basis else None,
            "personal_data": sorted({categories[c].dpv for c in known if categories[c].dpv}),
        },
    )


def suggest_bases(
    policy: PolicySet, sender_kind: str | None, kinds: Iterable[str | None], purpose: str | None
) -> str:
    targets = {k for k in kinds if isinstance(k, str)}
    options = [
        b.label
        for b in policy.lawful_bases.values()
        if (sender_kind is None or sender_kind in b.relied_on_by)
        and targets <= b.recipients
        and purpose in b.purposes
    ]
    return f" Bases that would: {'; '.join(options)}." if options else ""
