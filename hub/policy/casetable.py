"""Case tables: the policy's own tests, kept beside it in policies/tests/*.toml.

Each file has an optional [defaults] table and a list of [[cases]]; a case is a described share and
the decision the information-governance officer expects. ``mappa-hub policy test`` and the test
suite run them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.policy.compiled import identical
from hub.policy.engine import evaluate, interpret
from hub.policy.loader import PolicyError, PolicySet
from hub.policy.model import ApprovalNeed, Decision, Outcome, Party, ShareRequest

_REQUEST_KEYS = {
    "sender", "sender_role", "recipients", "packet_type", "categories", "purpose", "lawful_basis",
    "mappa_category", "level", "channel", "necessity", "schedule1_condition", "condition",
    "restricted_reason", "sender_area", "jurisdiction",
}  # fmt: skip
_PARTY_KEYS = {"type", "area", "jurisdiction", "active"}
_EXPECT_KEYS = {"expect", "expect_failed", "expect_approvers", "expect_rules"}
_INFO_KEYS = {"name", "source"}


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    source: str
    request: ShareRequest
    expect: Outcome
    expect_failed: frozenset[str] | None
    expect_approvers: tuple[str, ...] | None
    expect_rules: tuple[str, ...]


@dataclass(frozen=True)
class CaseResult:
    case: Case
    decision: Decision
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def _texts(file: str, name: str, merged: dict[str, Any], key: str) -> tuple[str, ...] | None:
    """A list of text (categories, expected tests or rules), None when absent."""
    value = merged.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(file, 0, f"case '{name}': '{key}' must be a list of names")
    return tuple(value)


def _optional_text(file: str, name: str, merged: dict[str, Any], key: str) -> str | None:
    value = merged.get(key)
    if value is not None and not isinstance(value, str):
        raise PolicyError(file, 0, f"case '{name}': '{key}' must be text")
    return value


def _case(file: str, raw: Any, defaults: dict[str, Any]) -> Case:
    if not isinstance(raw, dict):
        raise PolicyError(file, 0, "each [[cases]] entry must be a table")
    merged = {**defaults, **raw}
    name = str(merged.get("name", "?"))
    unknown = set(merged) - _REQUEST_KEYS - _EXPECT_KEYS - _INFO_KEYS
    if unknown:
        raise PolicyError(file, 0, f"case '{name}': unknown keys {sorted(unknown)}")
    if not isinstance(merged.get("recipients"), list):
        raise PolicyError(file, 0, f"case '{name}': 'recipients' must be a list")
    # Names the engine looks up must be text, not whatever else TOML allows (a list in a
    # set lookup was a TypeError, not a refusal naming the file).
    categories = _texts(file, name, merged, "categories")
    if categories is None:
        raise PolicyError(file, 0, f"case '{name}': 'categories' must be a list")
    parties = []
    for item in merged["recipients"]:
        if isinstance(item, str):
            parties.append(Party(item))
        elif isinstance(item, dict) and set(item) <= _PARTY_KEYS and "type" in item:
            parties.append(
                Party(
                    str(item["type"]),
                    str(item.get("area", "")),
                    str(item.get("jurisdiction", "")),
                    bool(item.get("active", False)),
                )
            )
        else:
            raise PolicyError(
                file,
                0,
                f"case '{name}': a recipient is a type or {{type, area, jurisdiction, active}}",
            )
    condition = _optional_text(
        file, name, merged, "condition" if "condition" in merged else "schedule1_condition"
    )
    try:
        request = ShareRequest(
            sender_type=str(merged["sender"]),
            sender_role=str(merged.get("sender_role", "practitioner")),
            recipient_types=tuple(p.agency_type for p in parties),
            recipients=tuple(parties),
            sender_area=str(merged.get("sender_area", "")),
            jurisdiction=str(merged.get("jurisdiction", "england-and-wales")),
            packet_type=str(merged.get("packet_type", "note")),
            data_categories=categories,
            purpose=str(merged["purpose"]),
            lawful_basis=str(merged["lawful_basis"]),
            mappa_category=int(merged["mappa_category"]),
            mappa_level=int(merged["level"]),
            channel=str(merged.get("channel", "hub")),
            necessity=dict(merged.get("necessity", {})),
            schedule1_condition=condition,
            restricted_reason=_optional_text(file, name, merged, "restricted_reason"),
        )
        expect = Outcome(str(merged["expect"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise PolicyError(file, 0, f"case '{name}': {type(exc).__name__} {exc}") from None
    if not all(isinstance(v, str) for v in request.necessity.values()):
        raise PolicyError(file, 0, f"case '{name}': 'necessity' must be a table of text")
    failed = _texts(file, name, merged, "expect_failed")
    approvers = _texts(file, name, merged, "expect_approvers")
    return Case(
        file=file,
        name=name,
        source=str(merged.get("source", "")),
        request=request,
        expect=expect,
        expect_failed=frozenset(failed) if failed is not None else None,
        expect_approvers=tuple(sorted(approvers)) if approvers is not None else None,
        expect_rules=_texts(file, name, merged, "expect_rules") or (),
    )


def approver_name(need: ApprovalNeed) -> str:
    """How a case table names an approval: the role, "/recipient-area" for the other area's."""
    return need.role + ("/recipient-area" if need.area == "recipient" else "")


def load_cases(directory: Path) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            doc = tomllib.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise PolicyError(path.name, 0, f"not UTF-8: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(path.name, 0, str(exc)) from None
        except RecursionError:  # tomllib recurses into nested arrays and inline tables
            raise PolicyError(path.name, 0, "arrays or tables nested too deeply") from None
        defaults, raws = doc.get("defaults", {}), doc.get("cases", [])
        if not isinstance(defaults, dict):
            raise PolicyError(path.name, 0, "[defaults] must be a table")
        if not isinstance(raws, list):
            raise PolicyError(path.name, 0, "the cases are a list of [[cases]] tables")
        for raw in raws:
            cases.append(_case(path.name, raw, defaults))
    return cases


def run_case(policy: PolicySet, case: Case) -> CaseResult:
    decision = evaluate(policy, case.request)
    problems = []
    # The tables are compiled from whatever files are in force, so hold them to the reference on
    # every case as well.
    if not identical(decision, interpret(policy, case.request)):
        problems.append("the compiled policy decides differently from the reference interpreter")
    if decision.outcome is not case.expect:
        problems.append(f"expected {case.expect.value}, got {decision.outcome.value}")
    failed = {t.test.value for t in decision.failed}
    if case.expect_failed is not None and failed != case.expect_failed:
        problems.append(f"expected failed tests {sorted(case.expect_failed)}, got {sorted(failed)}")
    if case.expect_approvers is not None:
        got = tuple(sorted(approver_name(a) for a in decision.approvals))
        if got != case.expect_approvers:
            problems.append(f"expected approvers {list(case.expect_approvers)}, got {list(got)}")
    for rule in case.expect_rules:
        if rule not in decision.rules:
            problems.append(f"expected rule {rule} to fire")
    return CaseResult(case, decision, tuple(problems))
