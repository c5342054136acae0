"""The policy compiled at load: what decides shares.

``engine.interpret`` states the five tests readably and is the reference. A version is compiled
once, when it is loaded, into lookup tables (hub.policy.tables) holding everything that
interpretation can produce for the names the version knows, so that deciding a share is a few
dict lookups and mask tests and one Decision. Names the policy does not know are worded on the
spot, exactly as the reference words them. tests/policy/test_compiled.py holds the two to
identical decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hub.policy.engine import SHARING_ROLES, interpret
from hub.policy.lawful import dpv_terms, lawful_test
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
from hub.policy.tables import LEVELS, PASSED, Parts, Tables, _result, build, make_parts

if TYPE_CHECKING:
    from hub.policy.loader import PolicySet


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """One policy version as lookup tables, and the function that decides over them."""

    tables: Tables = field(repr=False)
    decide: Callable[[ShareRequest], Decision] = field(repr=False)

    @property
    def version(self) -> str:
        return self.tables.version


def identical(a: Decision, b: Decision) -> bool:
    """The same decision, field by field and in type too (an Outcome equals its plain string)."""
    return a == b and repr(a) == repr(b)


def compile_policy(policy: PolicySet) -> CompiledPolicy:
    tables = build(policy)
    return CompiledPolicy(tables, _decider(policy, tables))


def _decider(policy: PolicySet, tables: Tables) -> Callable[[ShareRequest], Decision]:
    """``decide`` for one version: the five tests of engine.interpret, in its order, with every
    table bound to a local name."""
    type_bit, category_bit = tables.type_bit, tables.category_bit
    categories = policy.categories
    packets, outside_mask = tables.packets, tables.outside_mask
    recipients, channels = tables.recipients, tables.channels
    approvals, approval_levels = tables.approvals, tables.approval_levels
    accountable_results = tables.accountable
    minimum = policy.necessity_min_chars
    refs = {n: AgreementRef(n, a.uri, a.version) for n, a in policy.agreements.items()}
    named = {c.agreement for c in channels.values()}
    named |= {a for fired, _ in approvals.values() for _, a in fired}
    named |= {policy.other_area.agreement, policy.other_jurisdiction.agreement}
    for row in recipients.values():
        named |= {r[1] for r in row.values()}
        named |= {d[1] for r in row.values() for d in r[3].values()}
    # The loader makes every named agreement exist; the check stays as the deny-by-default net.
    check_agreements = not (named - {None}) <= refs.keys()
    category_dpv = {c: term.dpv for c, term in categories.items() if term.dpv}
    version, never_proposer = policy.version, policy.approver_is_never_proposer
    proportionate_ = Test.PROPORTIONATE
    secure_ = Test.SECURE
    passed_proportionate = PASSED[proportionate_]
    deny, review, permit = Outcome.DENY, Outcome.REVIEW, Outcome.PERMIT
    other_area, jurisdiction_agreement = policy.other_area, policy.other_jurisdiction.agreement
    area_needs = tuple(
        ApprovalNeed("other-area", role, 1, area)
        for role in other_area.approvers
        for area in ("sender", "recipient")
    )
    outside_parts, strict_parts = policy.outside_mappa_parts, policy.strictly_necessary_parts
    confidence_part = policy.data_protection.confidence_part
    owed_confidence = policy.data_protection.confidence_owed_by
    # Compiled on first use, per shape: the lawful test (gateway, jurisdiction, data protection
    # route) by what it reads, and the necessity parts by the set of parts due.
    lawful_memo: dict[tuple[object, ...], _Lawful] = {}
    parts_memo: dict[frozenset[str], Parts] = {}

    def lawful_of(r: ShareRequest, known: tuple[str, ...], outside: object) -> _Lawful:
        key = (
            r.sender_type,
            r.jurisdiction,
            r.lawful_basis,
            r.purpose,
            r.recipient_types,
            outside,
            r.packet_type,
            known,
            r.schedule1_condition,
            r.sender_type in owed_confidence
            and long_enough(r.necessity.get(confidence_part), minimum),
        )
        found = lawful_memo.get(key)
        if found is None:
            finding = lawful_test(policy, r)
            basis = policy.lawful_bases.get(r.lawful_basis)
            extra = dpv_terms(policy, r, basis, finding.data_protection, known)
            del extra["personal_data"]
            found = _Lawful(
                _result(Test.LAWFUL, finding.reasons),
                tuple(finding.rules),
                finding.data_protection,
                finding.strictly_necessary,
                extra,
            )
            if len(lawful_memo) >= _MEMO_LIMIT:
                lawful_memo.clear()
            lawful_memo[key] = found
        return found

    def parts_for(names: frozenset[str]) -> Parts:
        found = parts_memo.get(names)
        if found is None:
            found = parts_memo[names] = make_parts(policy, names)
        return found

    def decide(r: ShareRequest) -> Decision:
        level, mappa_category = r.mappa_level, r.mappa_category
        if type(level) is not int or type(mappa_category) is not int:
            return interpret(policy, r)  # rule names show the number as given: rare, so as is
        rules: dict[str, None] = {}  # ordered sets: the order things fired in
        agreements: dict[str, None] = {}
        recipient_types = r.recipient_types
        mask = 0
        for t in recipient_types:
            mask |= type_bit.get(t, 0)
        # The known categories once each, in the order given, and as a mask.
        data_categories = r.data_categories
        known: list[str] = []
        cmask, strange = 0, False
        for c in data_categories:
            b = category_bit.get(c)
            if b is None:
                strange = True
            elif not cmask & b:
                cmask |= b
                known.append(c)
        outside = r.outside()

        # 1. Lawful authority.
        found = lawful_of(r, tuple(known), outside)
        lawful = found.result
        for rule in found.rules:
            rules[rule] = None
        if "boundaries.other-jurisdiction" in rules:
            agreements[jurisdiction_agreement] = None

        # 2. Necessary.
        packet = packets.get(r.packet_type)
        if packet is None:
            parts = parts_for(outside_parts | (strict_parts if found.strict else frozenset()))
        elif mask & outside_mask or found.strict:
            due = packet.names
            if mask & outside_mask:
                due = due | outside_parts
            if found.strict:
                due = due | strict_parts
            parts = parts_for(due)
        else:
            parts = packet.parts
        necessity = r.necessity
        missing = 0
        for part, b in parts.bits:
            if not long_enough(necessity.get(part), minimum):
                missing |= b
        necessary = parts.results[missing]

        # 3. Proportionate.
        refusals: list[str] = []
        if packet is None:
            refusals.append(f"'{r.packet_type}' is not a packet type the policy knows.")
        if not data_categories:
            refusals.append("Name the data categories the share carries.")
        if strange:
            unknown = [c for c in dict.fromkeys(data_categories) if c not in categories]
            refusals.append(f"Unknown data categories: {', '.join(unknown)}.")
        if packet is not None:
            rules[packet.rule] = None
            if cmask & packet.forbidden_mask:
                forbidden = packet.forbidden
                refusals.extend([forbidden[c] for c in known if c in forbidden])
        override = False
        if level not in LEVELS or mappa_category not in LEVELS:
            refusals.append("The case needs a MAPPA category and level of 1, 2 or 3.")
        else:
            row = recipients[level * 4 + mappa_category]
            for t in recipient_types:
                recipient = row.get(t)
                if recipient is None:
                    refusals.append(f"No sharing rule covers recipients of type '{t}'.")
                    continue
                rule, agreement, refused_mask, denied = recipient
                rules[rule] = None
                if agreement:
                    agreements[agreement] = None
                if not cmask & refused_mask:
                    continue
                for c in known:
                    denial = denied.get(c)
                    if denial is None:
                        continue
                    restricted, agreement, with_reason, reason = denial
                    if restricted is not None:
                        rules[restricted] = None
                        if agreement:
                            agreements[agreement] = None
                        if with_reason and long_enough(r.restricted_reason, minimum):
                            override = True
                            continue
                    refusals.append(reason)

        # 4. Secure.
        channel = channels.get(r.channel)
        if channel is None:
            secure = TestResult(
                secure_, False, (f"'{r.channel}' is not a channel the policy allows.",)
            )
        else:
            rules[channel.rule] = None
            if channel.agreement:
                agreements[channel.agreement] = None
            if cmask & channel.refused_mask:
                refused = channel.refused
                why = [refused[c] for c in known if c in refused]
                secure = TestResult(secure_, False, (*why, *channel.kinds[mask]))
            else:
                secure = channel.results[mask]

        # 5. Accountable.
        fired, needs = approvals[(mask, level if level in approval_levels else None, override)]
        for rule, agreement in fired:
            rules[rule] = None
            if agreement:
                agreements[agreement] = None
        for _, other in outside:
            if not other:
                rules["boundaries.other-area"] = None
                agreements[other_area.agreement] = None
                if r.packet_type not in other_area.travels:
                    needs = (*needs, *area_needs)
                break
        accountable = accountable_results[(r.sender_role in SHARING_ROLES, not recipient_types)]
        if check_agreements:
            strays = [
                f"Rule names an unknown agreement '{a}'." for a in agreements if a not in refs
            ]
            if strays:
                accountable = TestResult(accountable.test, False, (*accountable.reasons, *strays))

        if (
            refusals
            or not lawful.passed
            or not necessary.passed
            or not secure.passed
            or not accountable.passed
        ):
            outcome, needs = deny, ()
        else:
            outcome = review if needs else permit
        personal = [category_dpv[c] for c in known if c in category_dpv]
        extra = found.dpv
        dpv: dict[str, object] = {
            "purpose": extra["purpose"],
            "legal_basis": extra["legal_basis"],
            "personal_data": sorted(set(personal)) if len(personal) > 1 else personal,
        }
        if len(extra) > 2:
            dpv.update((k, v) for k, v in extra.items() if k not in ("purpose", "legal_basis"))
        # Positional: a frozen dataclass's keyword call costs a quarter more, on every decision.
        return Decision(
            outcome,
            (
                lawful,
                necessary,
                TestResult(proportionate_, False, tuple(refusals))
                if refusals
                else passed_proportionate,
                secure,
                accountable,
            ),
            tuple(rules),
            needs,
            tuple([refs[a] for a in agreements if a in refs]),
            version,
            packet.retention_years if packet is not None else None,
            never_proposer,
            dpv,
            found.data_protection,
        )

    return decide


_MEMO_LIMIT = 65536


@dataclass(frozen=True, slots=True)
class _Lawful:
    result: TestResult
    rules: tuple[str, ...]
    data_protection: Mapping[str, Any]
    strict: bool  # Part 3 sensitive processing: the strictly-necessary parts are due
    dpv: Mapping[str, Any]  # the decision's DPV terms other than the personal data
