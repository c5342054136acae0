"""Deciding a share: the five tests, deny by default.

Every test is evaluated (not just up to the first failure) so that the user is told everything that
would need to change. The answer is PERMIT, DENY or REVIEW (needs approval), with the rules that
fired, the agreements they implement and the policy version.

``interpret`` is the readable statement of the tests and the reference for every decision. Shares
are decided by ``evaluate``: the version's decision memo in front of the policy compiled to lookup
tables at load (hub.policy.compiled), which is held to give exactly what ``interpret`` gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.model.directory import Role
from hub.policy.lawful import KIND_LABEL, dpv_terms, kind_of, lawful_test
from hub.policy.model import (
    AgreementRef,
    ApprovalNeed,
    Decision,
    Outcome,
    ShareRequest,
    Test,
    TestResult,
)
from hub.policy.statements import long_enough

if TYPE_CHECKING:  # the loader imports the compiled form, which builds on this module
    from hub.policy.loader import PolicySet

# Roles that may propose a share of case information (auditors and administrators may not).
SHARING_ROLES = frozenset(
    {Role.PRACTITIONER.value, Role.COORDINATOR.value, Role.SENIOR_MANAGER.value}
)
_CACHE_LIMIT = 65536


def evaluate(policy: PolicySet, request: ShareRequest) -> Decision:
    """Decide a share with the compiled policy. A decision depends on the request's shape, not the
    wording of its statements (only on whether each is long enough, measured as
    hub.policy.statements measures), so decisions are memoised per version."""
    key = shape(policy, request)
    cached = policy.decisions.get(key)
    if isinstance(cached, Decision):
        return cached
    decision = policy.compiled.decide(request)
    if len(policy.decisions) >= _CACHE_LIMIT:
        policy.decisions.clear()
    policy.decisions[key] = decision
    return decision


def shape(policy: PolicySet, request: ShareRequest) -> tuple[object, ...]:
    """Everything a decision depends on: the memo key."""
    minimum = policy.necessity_min_chars
    return (
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
        frozenset(k for k, v in request.necessity.items() if long_enough(v, minimum)),
        request.schedule1_condition,
        long_enough(request.restricted_reason, minimum),
        request.jurisdiction,
        request.outside(),
    )


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

    recipient_kinds = {t: kind_of(t) for t in request.recipient_types}
    categories = policy.categories
    wanted = tuple(dict.fromkeys(request.data_categories))
    level, mappa_category = request.mappa_level, request.mappa_category
    minimum = policy.necessity_min_chars

    # 1. Lawful authority.
    finding = lawful_test(policy, request)
    lawful = finding.reasons
    for name in finding.rules:
        fired(name)
    if "boundaries.other-jurisdiction" in finding.rules:
        fired("boundaries.other-jurisdiction", policy.other_jurisdiction.agreement)

    # 2. Necessary.
    necessary: list[str] = []
    packet_type = policy.packet_types.get(request.packet_type)
    needed = set(packet_type.necessity) if packet_type else set(policy.outside_mappa_parts)
    if any(k in policy.outside_mappa_kinds for k in recipient_kinds.values()):
        needed |= policy.outside_mappa_parts
    if finding.strictly_necessary:
        needed |= policy.strictly_necessary_parts
    for part in sorted(needed):
        if not long_enough(request.necessity.get(part), minimum):
            necessary.append(
                f"State {policy.necessity_parts[part][0].lower()}{policy.necessity_parts[part][1:]} "
                f"(at least {minimum} characters)."
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
                    if restricted.with_reason == "review" and long_enough(
                        request.restricted_reason, minimum
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
    if any(not other for _, other in request.outside()):
        # Another area of the same jurisdiction: both areas' coordinators, unless it travels.
        boundary = policy.other_area
        fired("boundaries.other-area", boundary.agreement)
        if request.packet_type not in boundary.travels:
            for role in boundary.approvers:
                approvals.append(ApprovalNeed("other-area", role, 1, "sender"))
                approvals.append(ApprovalNeed("other-area", role, 1, "recipient"))
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
    basis = policy.lawful_bases.get(request.lawful_basis)
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
        dpv=dpv_terms(policy, request, basis, finding.data_protection, known),
        data_protection=finding.data_protection,
    )
