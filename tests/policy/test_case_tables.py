"""The case tables in policies/tests: every described share gets the decision the
information-governance officer expects, for the reason they expect. Also the case-table format."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import SOURCE_POLICY_DIR
from hub.policy.casetable import Case, load_cases, run_case
from hub.policy.loader import PolicyError, PolicySet, load_policy
from hub.policy.model import Outcome

CASES_DIR = SOURCE_POLICY_DIR / "tests"
CASES = load_cases(CASES_DIR)


@pytest.fixture(scope="module")
def policy() -> PolicySet:
    return load_policy(SOURCE_POLICY_DIR)


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.file for c in CASES}) >= 5


@pytest.mark.parametrize("case", CASES, ids=[f"{c.file}::{c.name}" for c in CASES])
def test_case(policy: PolicySet, case: Case) -> None:
    result = run_case(policy, case)
    assert result.passed, (
        f"{case.file}: {case.name} ({case.source})\n  "
        + "\n  ".join(result.problems)
        + f"\n  decision: {result.decision.message()}"
    )


@pytest.mark.parametrize("case", CASES, ids=[f"{c.file}::{c.name}" for c in CASES])
def test_case_pins_down_its_reason(case: Case) -> None:
    """A case says where it comes from, and a DENY or REVIEW says why, not just what."""
    assert case.name != "?" and case.source
    if case.expect is Outcome.DENY:
        assert case.expect_failed, "a DENY case names the tests that fail (expect_failed)"
    else:
        assert case.expect_failed == frozenset()
    if case.expect is Outcome.REVIEW:
        assert case.expect_approvers, "a REVIEW case names its approvers (expect_approvers)"


def test_case_names_are_unique_within_a_file() -> None:
    seen = [(c.file, c.name) for c in CASES]
    assert len(seen) == len(set(seen))


def test_the_tables_cover_every_outcome_and_test() -> None:
    assert {c.expect for c in CASES} == set(Outcome)
    failed = set().union(*(c.expect_failed or () for c in CASES))
    assert failed == {"lawful", "necessary", "proportionate", "secure", "accountable"}


# The case-table format (hub.policy.casetable).

GOOD = """
[defaults]
sender = "police"
recipients = ["housing"]
purpose = "risk-management"
lawful_basis = "cja2003-s325"
mappa_category = 2
level = 2
categories = ["address", "risk-summary"]
necessity = { why = "Housing must assess the proposed address against the plan." }
"""


def _write(tmp_path: Path, text: str, name: str = "cases.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_defaults_fill_in_what_a_case_leaves_out(tmp_path: Path) -> None:
    text = GOOD + '[[cases]]\nname = "plain"\nexpect = "PERMIT"\n'
    text += '[[cases]]\nname = "to probation"\nrecipients = ["probation"]\nexpect = "PERMIT"\n'
    (case, other) = load_cases(_write(tmp_path, text))
    assert (case.file, case.name, case.source) == ("cases.toml", "plain", "")
    r = case.request
    assert (r.sender_type, r.sender_role, r.packet_type, r.channel) == (
        "police",
        "practitioner",
        "note",
        "hub",
    )
    assert r.recipient_types == ("housing",) and other.request.recipient_types == ("probation",)
    assert r.schedule1_condition is None and r.restricted_reason is None
    assert (case.expect_failed, case.expect_approvers, case.expect_rules) == (None, None, ())


def test_files_are_read_in_name_order_and_other_files_ignored(tmp_path: Path) -> None:
    _write(tmp_path, GOOD + '[[cases]]\nname = "b"\nexpect = "PERMIT"\n', "b.toml")
    _write(tmp_path, GOOD + '[[cases]]\nname = "a"\nexpect = "PERMIT"\n', "a.toml")
    _write(tmp_path, "not a case table", "README.md")
    _write(tmp_path, "# no cases yet\n", "empty.toml")
    assert [c.name for c in load_cases(tmp_path)] == ["a", "b"]


def test_a_case_without_defaults(tmp_path: Path) -> None:
    text = GOOD.replace("[defaults]", "[[cases]]") + 'expect = "PERMIT"\n'
    (case,) = load_cases(_write(tmp_path, text))
    assert case.name == "?"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ('name = "x"\nexpect = "PERMIT"\nrecipient = ["housing"]\n', "unknown keys ['recipient']"),
        ('name = "x"\nexpect = "ALLOW"\n', "case 'x': ValueError"),
        ('name = "x"\n', "case 'x': KeyError 'expect'"),
        ('name = "x"\nexpect = "PERMIT"\nlevel = "two"\n', "case 'x': ValueError"),
        ('name = "x"\nexpect = "PERMIT"\nnecessity = "why"\n', "case 'x': ValueError"),
        (
            'name = "x"\nexpect = "PERMIT"\nrecipients = 3\n',
            "case 'x': 'recipients' must be a list",
        ),
    ],
)
def test_a_malformed_case_is_refused_naming_the_file(
    tmp_path: Path, extra: str, reason: str
) -> None:
    with pytest.raises(PolicyError) as info:
        load_cases(_write(tmp_path, GOOD + "[[cases]]\n" + extra))
    assert info.value.file == "cases.toml"
    assert reason in info.value.reason


def test_a_case_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_cases(_write(tmp_path, "[[cases]\nname = 1\n", "broken.toml"))
    assert info.value.file == "broken.toml"
    assert "line 1" in info.value.reason


def test_run_case_reports_every_mismatch(tmp_path: Path, policy: PolicySet) -> None:
    text = GOOD + (
        '[[cases]]\nname = "wrong on every count"\ncategories = ["intelligence"]\n'
        'expect = "REVIEW"\nexpect_failed = ["secure"]\nexpect_approvers = ["coordinator"]\n'
        'expect_rules = ["channels.hub", "approvals.third-party-disclosure"]\n'
    )
    (case,) = load_cases(_write(tmp_path, text))
    result = run_case(policy, case)
    assert not result.passed
    assert result.decision.outcome is Outcome.DENY
    assert result.problems == (
        "expected REVIEW, got DENY",
        "expected failed tests ['secure'], got ['proportionate']",
        "expected approvers ['coordinator'], got []",
        "expected rule approvals.third-party-disclosure to fire",
    )


def test_run_case_passes_when_everything_matches(tmp_path: Path, policy: PolicySet) -> None:
    text = GOOD + (
        '[[cases]]\nname = "employer"\nrecipients = ["third-party"]\nlevel = 3\n'
        'lawful_basis = "common-law"\npurpose = "public-protection"\n'
        'categories = ["identity", "offence-history"]\n'
        'necessity = { why = "He has applied for work with children.", '
        'who = "The employer\'s managing director only.", '
        'use = "To decide the application, then destroyed." }\n'
        'expect = "REVIEW"\nexpect_failed = []\n'
        'expect_approvers = ["senior-manager", "coordinator"]\n'
        'expect_rules = ["approvals.third-party-disclosure-level-3"]\n'
    )
    (case,) = load_cases(_write(tmp_path, text))
    assert case.expect_approvers == ("coordinator", "senior-manager")
    result = run_case(policy, case)
    assert result.passed, result.problems
    assert result.problems == ()
