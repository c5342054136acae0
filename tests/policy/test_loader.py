"""Loading policies/*.toml: the real files load, the version is a digest of them, and a bad file is
refused naming the file, the line and the reason."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.config import SOURCE_POLICY_DIR
from hub.errors import ConfigError
from hub.model.directory import AgencyKind, AgencyType
from hub.policy.loader import FILES, PolicyError, PolicySet, kind_of, load_policy


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A copy of the shipped policy files to break."""
    copy = tmp_path / "policies"
    shutil.copytree(SOURCE_POLICY_DIR, copy)
    return copy


def _edit_line(
    policy_dir: Path, file: str, after: str, startswith: str, change: Callable[[str], str]
) -> int:
    """Change the first line starting with ``startswith`` at or after the line containing
    ``after``; return its number (1-based)."""
    path = policy_dir / file
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if after in line)
    index = next(i for i in range(start, len(lines)) if lines[i].startswith(startswith))
    changed = change(lines[index])
    assert changed != lines[index]
    lines[index] = changed
    path.write_text("".join(lines), encoding="utf-8")
    return index + 1


def _refused(policy_dir: Path) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy(policy_dir)
    error = info.value
    assert str(error) == f"{error.file}:{error.line}: {error.reason}"
    return error


# The real files.


def test_the_shipped_files_load() -> None:
    policy = load_policy(SOURCE_POLICY_DIR)
    assert isinstance(policy, PolicySet)
    assert re.fullmatch(r"[0-9a-f]{64}", policy.version)
    assert policy.short_version == policy.version[:12]
    assert set(policy.files) == set(FILES)
    assert "hub" in policy.channels and policy.channels["hub"].categories is None
    assert policy.channels["email"].categories == frozenset({"notification"})
    assert policy.necessity_min_chars == 20
    assert policy.outside_mappa_kinds == {"third-party", "voluntary"}
    assert policy.approver_is_never_proposer is True
    assert [r.id for r in policy.approval_rules] == [
        "third-party-disclosure",
        "third-party-disclosure-level-3",
        "restricted-category-with-reason",
    ]
    restricted = policy.approval_rules[2]
    assert (restricted.recipient_kinds, restricted.levels, restricted.restricted_override) == (
        None,
        None,
        True,
    )
    assert policy.approval_rules[1].levels == {3}
    assert policy.restricted["intelligence"].with_reason == "deny"
    assert policy.restricted["victim-information"].with_reason == "review"
    assert policy.packet_types["minutes"].necessity == ("why",)
    assert policy.packet_types["request-for-information"].necessity == ("use", "who", "why")
    assert policy.lawful_bases["ukgdpr-6-1-e"].special is False
    assert policy.categories["health"].special and not policy.categories["address"].special


def test_every_agency_type_has_a_precompiled_allowance() -> None:
    policy = load_policy(SOURCE_POLICY_DIR)
    assert set(policy.recipients) == {t.value for t in AgencyType}
    assert len(policy.allowed) == len(AgencyType) * 3 * 3
    csc = policy.recipients["childrens-social-care"]
    assert "registration" in policy.allowed[("childrens-social-care", 2, 1)]
    assert "registration" not in policy.allowed[("childrens-social-care", 2, 2)]
    assert policy.allowed[("childrens-social-care", 2, 2)] == csc.by_level[2]
    assert "intelligence" not in policy.allowed[("housing", 3, 1)]


def test_kind_of() -> None:
    assert kind_of("police") == AgencyKind.RESPONSIBLE_AUTHORITY.value
    assert kind_of("housing") == "duty-to-cooperate"
    assert kind_of("third-party") == "third-party"


def test_the_version_is_stable_for_the_same_files(policy_dir: Path) -> None:
    assert load_policy(policy_dir).version == load_policy(SOURCE_POLICY_DIR).version


@pytest.mark.parametrize("file", FILES)
def test_the_version_changes_when_any_file_changes(policy_dir: Path, file: str) -> None:
    before = load_policy(policy_dir).version
    with (policy_dir / file).open("a", encoding="utf-8") as f:
        f.write("\n# edited by the information-governance officer\n")
    after = load_policy(policy_dir)
    assert re.fullmatch(r"[0-9a-f]{64}", after.version)
    assert after.version != before


def test_the_case_tables_are_not_part_of_the_version(policy_dir: Path) -> None:
    before = load_policy(policy_dir).version
    (policy_dir / "tests" / "extra.toml").write_text("# more cases\n", encoding="utf-8")
    (policy_dir / "README.md").write_text("notes\n", encoding="utf-8")
    assert load_policy(policy_dir).version == before


def test_a_policy_error_is_a_configuration_error() -> None:
    error = PolicyError("channels.toml", 12, "something is wrong")
    assert isinstance(error, ConfigError)
    assert (error.file, error.line, error.reason) == ("channels.toml", 12, "something is wrong")
    assert str(error) == "channels.toml:12: something is wrong"


# A bad file: the file, the line and the reason.


def test_a_toml_syntax_error(policy_dir: Path) -> None:
    line = _edit_line(
        policy_dir,
        "channels.toml",
        "[channels.email]",
        "[channels.email]",
        lambda s: "[channels.email\n",
    )
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("channels.toml", line)
    assert "Expected ']'" in error.reason


def test_a_toml_syntax_error_at_the_end_of_the_file(policy_dir: Path) -> None:
    with (policy_dir / "agreements.toml").open("a", encoding="utf-8") as f:
        f.write('title = "unterminated')
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("agreements.toml", 1)
    assert "Unterminated string" in error.reason


def test_a_file_that_is_not_utf8(policy_dir: Path) -> None:
    path = policy_dir / "necessity.toml"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"# caf\xe9\n"
    path.write_bytes(b"".join(lines))
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("necessity.toml", 3)
    assert error.reason.startswith("not UTF-8")


def test_an_unknown_data_category_in_proportionality(policy_dir: Path) -> None:
    line = _edit_line(
        policy_dir,
        "proportionality.toml",
        "[recipients.housing]",
        "level_2",
        lambda s: s.replace('"risk-summary"', '"risk-sumary"'),
    )
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("proportionality.toml", line)
    assert error.reason == "recipients.housing: unknown name 'risk-sumary' in 'level_2'"


def test_an_unknown_category_extra(policy_dir: Path) -> None:
    line = _edit_line(
        policy_dir,
        "proportionality.toml",
        "[recipients.childrens-social-care]",
        "category_1",
        lambda s: s.replace('"registration"', '"registered"'),
    )
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("proportionality.toml", line)
    assert "unknown name 'registered' in 'category_1'" in error.reason


def test_an_unknown_agreement(policy_dir: Path) -> None:
    line = _edit_line(
        policy_dir,
        "channels.toml",
        "[channels.letter]",
        "agreement",
        lambda s: s.replace("mappa-guidance-third-party", "mappa-guidance-ch9"),
    )
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("channels.toml", line)
    assert error.reason == "channels.letter: unknown agreement 'mappa-guidance-ch9'"


def test_an_unknown_agreement_in_an_approval_rule(policy_dir: Path) -> None:
    line = _edit_line(
        policy_dir,
        "approvals.toml",
        '"restricted-category-with-reason"',
        "agreement",
        lambda s: s.replace("victim-contact-scheme", "victims"),
    )
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("approvals.toml", line)
    assert "unknown agreement 'victims'" in error.reason


def test_an_unknown_agency_type(policy_dir: Path) -> None:
    line = _edit_line(
        policy_dir,
        "proportionality.toml",
        "[recipients.housing]",
        "[recipients.housing]",
        lambda s: "[recipients.housing-association]\n",
    )
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("proportionality.toml", line)
    assert error.reason == (
        "recipients.housing-association: unknown agency type 'housing-association'"
    )


@pytest.mark.parametrize("file", FILES)
def test_a_missing_file(policy_dir: Path, file: str) -> None:
    (policy_dir / file).unlink()
    error = _refused(policy_dir)
    assert (error.file, error.line) == (file, 0)
    assert "policy file not found" in error.reason and str(policy_dir) in error.reason


@pytest.mark.parametrize("value", ["0", "-1", '"ten"', "2.5"])
def test_a_bad_retention_years(policy_dir: Path, value: str) -> None:
    _edit_line(
        policy_dir,
        "packet_types.toml",
        "[packet_types.minutes]",
        "retention_years",
        lambda s: f"retention_years = {value}\n",
    )
    error = _refused(policy_dir)
    lines = (policy_dir / "packet_types.toml").read_text(encoding="utf-8").splitlines()
    assert error.file == "packet_types.toml"
    assert error.line == lines.index("[packet_types.minutes]") + 1
    assert error.reason == "packet_types.minutes: retention_years must be a positive whole number"


def test_a_duplicate_approval_id(policy_dir: Path) -> None:
    id_line = _edit_line(
        policy_dir,
        "approvals.toml",
        'id = "restricted-category-with-reason"',
        "id",
        lambda s: 'id = "third-party-disclosure"\n',
    )
    error = _refused(policy_dir)
    assert error.file == "approvals.toml"
    # The [[rules]] header of the second rule to use the id, not the first rule.
    assert error.line == id_line - 1
    assert (policy_dir / "approvals.toml").read_text().splitlines()[error.line - 1] == "[[rules]]"
    assert error.reason == (
        "every [[rules]] needs a unique id: 'third-party-disclosure' is used twice"
    )


def test_an_approval_rule_without_an_id(policy_dir: Path) -> None:
    id_line = _edit_line(
        policy_dir,
        "approvals.toml",
        'id = "third-party-disclosure-level-3"',
        "id",
        lambda s: "# no id\n",
    )
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("approvals.toml", id_line - 1)
    assert error.reason == "every [[rules]] needs a unique id"


def test_an_unknown_role_in_approvers(policy_dir: Path) -> None:
    line = _edit_line(
        policy_dir,
        "approvals.toml",
        '"third-party-disclosure-level-3"',
        "approvers",
        lambda s: 'approvers = ["assistant-chief-constable"]\n',
    )
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("approvals.toml", line)
    assert error.reason == (
        "rules \"third-party-disclosure-level-3\": unknown name 'assistant-chief-constable' "
        "in 'approvers'"
    )


@pytest.mark.parametrize(
    ("file", "after", "startswith", "new", "needle", "reason"),
    [
        (
            "lawful_bases.toml",
            "[lawful_bases.common-law]",
            "relied_on_by",
            'relied_on_by = "responsible-authority"\n',
            "[lawful_bases.common-law]",
            "lawful_bases.common-law: 'relied_on_by' must be a list of names",
        ),
        (
            "lawful_bases.toml",
            "[lawful_bases.common-law]",
            "purposes",
            'purposes = ["public-protection", "gossip"]\n',
            '"gossip"',
            "lawful_bases.common-law: unknown name 'gossip' in 'purposes'",
        ),
        (
            "agreements.toml",
            "[agreements.mappa-isp]",
            "version",
            "version = 3.1\n",
            "[agreements.mappa-isp]",
            "agreements.mappa-isp: 'version' must be text",
        ),
        (
            "necessity.toml",
            "",
            "min_chars",
            "min_chars = -5\n",
            "min_chars",
            "min_chars must be a whole number",
        ),
        (
            "necessity.toml",
            "[outside_mappa]",
            "recipient_kinds",
            'recipient_kinds = ["third-party", "public"]\n',
            '"public"',
            "outside_mappa: unknown name 'public' in 'recipient_kinds'",
        ),
        (
            "packet_types.toml",
            "[packet_types.referral]",
            "necessity",
            'necessity = ["why", "when"]\n',
            '"when"',
            "packet_types.referral: unknown name 'when' in 'necessity'",
        ),
        (
            "proportionality.toml",
            "[restricted.intelligence]",
            "[restricted.intelligence]",
            "[restricted.intel]\n",
            "[restricted.intel]",
            "restricted.intel: unknown data category 'intel'",
        ),
        (
            "proportionality.toml",
            "[restricted.intelligence]",
            "with_reason",
            'with_reason = "ask"\n',
            "[restricted.intelligence]",
            'restricted.intelligence: with_reason must be "review" or "deny"',
        ),
        (
            "approvals.toml",
            '"third-party-disclosure-level-3"',
            "levels",
            "levels = [4]\n",
            'id = "third-party-disclosure-level-3"',
            'rules "third-party-disclosure-level-3": levels must be a list of 1, 2 or 3',
        ),
        (
            "approvals.toml",
            '"third-party-disclosure-level-3"',
            "levels",
            "levels = 3\n",
            'id = "third-party-disclosure-level-3"',
            'rules "third-party-disclosure-level-3": levels must be a list of 1, 2 or 3',
        ),
        (
            "approvals.toml",
            '"restricted-category-with-reason"',
            "count",
            "count = 0\n",
            'id = "restricted-category-with-reason"',
            'rules "restricted-category-with-reason": count must be at least 1',
        ),
        (
            "approvals.toml",
            '"third-party-disclosure"',
            "recipient_kinds",
            'recipient_kinds = ["third-party", "press"]\n',
            '"press"',
            "rules \"third-party-disclosure\": unknown name 'press' in 'recipient_kinds'",
        ),
        (
            "channels.toml",
            "[channels.email]",
            "categories",
            'categories = ["notification", "*"]\n',
            '"*"',
            "channels.email: unknown name '*' in 'categories'",
        ),
        (
            "channels.toml",
            "[channels.hub]",
            "[channels.hub]",
            "[channels.packet]\n",
            "[channels.packet]",
            "the 'hub' channel must be defined",
        ),
        (
            "catalogue.toml",
            "[purposes.risk-management]",
            "label",
            "label = 1\n",
            "[purposes.risk-management]",
            "purposes.risk-management: 'label' must be text",
        ),
    ],
)
def test_other_mistakes_name_file_line_and_reason(
    policy_dir: Path, file: str, after: str, startswith: str, new: str, needle: str, reason: str
) -> None:
    _edit_line(policy_dir, file, after, startswith, lambda s: new)
    error = _refused(policy_dir)
    lines = (policy_dir / file).read_text(encoding="utf-8").splitlines()
    assert (error.file, error.line, error.reason) == (
        file,
        next(i for i, s in enumerate(lines, 1) if needle in s),
        reason,
    )


def _replace_file(policy_dir: Path, file: str, text: str) -> None:
    (policy_dir / file).write_text(text, encoding="utf-8")


def test_a_missing_table(policy_dir: Path) -> None:
    _replace_file(policy_dir, "agreements.toml", 'version = "x"\n')
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("agreements.toml", 1)
    assert error.reason == "[agreements] is missing or empty"


def test_an_empty_table(policy_dir: Path) -> None:
    _replace_file(policy_dir, "agreements.toml", 'version = "x"\n\n[agreements]\n')
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("agreements.toml", 3)


def test_an_entry_that_is_not_a_table(policy_dir: Path) -> None:
    text = (policy_dir / "agreements.toml").read_text(encoding="utf-8")
    _replace_file(policy_dir, "agreements.toml", text + '\n[agreements]\nlatest = "mappa-isp"\n')
    error = _refused(policy_dir)
    lines = (policy_dir / "agreements.toml").read_text(encoding="utf-8").splitlines()
    assert (error.file, error.line) == ("agreements.toml", lines.index('latest = "mappa-isp"') + 1)
    assert error.reason == "agreements.latest must be a table"


def test_approval_rules_missing(policy_dir: Path) -> None:
    _replace_file(policy_dir, "approvals.toml", 'version = "x"\n')
    error = _refused(policy_dir)
    assert (error.file, error.line, error.reason) == (
        "approvals.toml",
        1,
        "[[rules]] is missing",
    )


def test_an_approval_rule_that_is_not_a_table(policy_dir: Path) -> None:
    _replace_file(policy_dir, "approvals.toml", 'version = "x"\nrules = ["coordinator"]\n')
    error = _refused(policy_dir)
    assert (error.file, error.line) == ("approvals.toml", 1)
    assert error.reason == "every [[rules]] needs a unique id"


def test_optional_settings_take_their_defaults(policy_dir: Path) -> None:
    for file, prefix in (("necessity.toml", "min_chars"), ("approvals.toml", "approver_is")):
        _edit_line(policy_dir, file, "", prefix, lambda s: "# " + s)
    _edit_line(
        policy_dir, "approvals.toml", '"restricted-category-with-reason"', "count", lambda s: "\n"
    )
    _edit_line(policy_dir, "catalogue.toml", "[purposes.mappa-meeting]", "dpv", lambda s: "\n")
    policy = load_policy(policy_dir)
    assert policy.necessity_min_chars == 20
    assert policy.approver_is_never_proposer is True
    assert policy.approval_rules[2].count == 1
    assert policy.purposes["mappa-meeting"].dpv == ""


def test_an_agency_type_with_no_rule_may_receive_nothing(policy_dir: Path) -> None:
    path = policy_dir / "proportionality.toml"
    text = path.read_text(encoding="utf-8")
    start = text.index("[recipients.education]")
    end = text.index("[recipients.jobcentre-plus]")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    policy = load_policy(policy_dir)
    assert "education" not in policy.recipients
    assert all(
        policy.allowed[("education", lv, c)] == frozenset() for lv in (1, 2, 3) for c in (1, 2, 3)
    )
