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
    health, address, victim = (
        policy.categories[c] for c in ("health", "address", "victim-information")
    )
    assert health.special_category and health.criminal_offence
    assert address.criminal_offence and not address.special_category
    assert not victim.special_category and not victim.criminal_offence
    assert policy.purposes["risk-management"].law_enforcement is True
    assert policy.purposes["safeguarding-children"].law_enforcement is False
    s325 = policy.lawful_bases["cja2003-s325"]
    assert (s325.nature, s325.jurisdictions) == ("duty", {"england-and-wales"})
    assert policy.lawful_bases["cda1998-s115"].relied_on_by == {"*"}
    assert policy.lawful_bases["cja2003-s327a"].nature == "presumption"
    assert policy.lawful_bases["ukgdpr-6-1-f"].legitimate_interests is True
    assert policy.lawful_bases["care-act-2014-s45"].overrides_confidence is True
    assert policy.lawful_bases["cda1998-s115"].overrides_confidence is False
    assert not any(
        b.legitimate_interests for n, b in policy.lawful_bases.items() if n != "ukgdpr-6-1-f"
    )
    assert "ukgdpr-6-1-e" not in policy.lawful_bases
    assert "dpa2018-part3-s35" not in policy.lawful_bases
    para2, para30, sch8 = (
        policy.conditions[c] for c in ("sch1-para2", "sch1-para30", "sch8-para1")
    )
    assert (para2.schedule, para2.part, para2.policy_document) == (1, 1, None)
    assert para2.relied_on_by == {
        "health",
        "mental-health",
        "childrens-social-care",
        "adult-social-care",
    }
    assert (para30.schedule, para30.part) == (1, 3)
    assert (sch8.schedule, sch8.part, sch8.policy_document) == (8, None, "apd-mappa-part3")
    assert policy.conditions["sch1-para6"].relied_on_by is None
    assert set(policy.policy_documents) == {"apd-mappa-part2", "apd-mappa-part3"}
    dp = policy.data_protection
    assert "police" in dp.competent_authorities and "housing" not in dp.competent_authorities
    assert "housing" in dp.public_authorities and "voluntary" not in dp.public_authorities
    assert dp.general_dpv == "eu-gdpr:A6-1-e"
    assert dp.confidence_part == "public-interest" and "health" in dp.confidence_owed_by
    assert policy.strictly_necessary_parts == {"why", "who", "use"}
    assert policy.other_area.approvers == ("coordinator",)
    assert policy.other_jurisdiction.approvers == ()
    assert policy.other_jurisdiction.agreement == "cross-border-protocol"
    assert policy.other_area.travels == {"request-for-information", "case-transfer"}


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
            'categories = ["notification", "*"]',
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


# The data protection layer (conditions.toml), the gateways' new fields and the area boundaries.
# ``at`` says which line the error must name: "edit" (the changed line), "header" (the table the
# change is in) or a needle (the first line containing it).

_LINE_NAMED = [
    pytest.param(
        "catalogue.toml",
        "[data_categories.health]",
        "special_category",
        "special = true\n",
        "header",
        "data_categories.health: 'special' is replaced by special_category (UK GDPR Art 9) and "
        "criminal_offence (Art 10)",
        id="special-in-catalogue",
    ),
    pytest.param(
        "catalogue.toml",
        "[data_categories.identity]",
        "criminal_offence",
        'criminal_offence = "yes"\n',
        "header",
        "data_categories.identity: 'criminal_offence' must be true or false",
        id="criminal-offence-not-a-flag",
    ),
    pytest.param(
        "catalogue.toml",
        "[purposes.case-transfer]",
        "law_enforcement",
        "\n",
        "header",
        "purposes.case-transfer: 'law_enforcement' must be true or false",
        id="law-enforcement-missing",
    ),
    pytest.param(
        "catalogue.toml",
        "[purposes.case-transfer]",
        "law_enforcement",
        'law_enforcement = "yes"\n',
        "header",
        "purposes.case-transfer: 'law_enforcement' must be true or false",
        id="law-enforcement-not-a-flag",
    ),
    pytest.param(
        "lawful_bases.toml",
        "[lawful_bases.cda1998-s115]",
        "nature",
        'nature = "power"\nspecial = true\n',
        "header",
        "lawful_bases.cda1998-s115: a gateway never covers special category or criminal offence "
        "data by itself ('special' is not allowed): the condition is in conditions.toml",
        id="special-in-lawful-bases",
    ),
    pytest.param(
        "lawful_bases.toml",
        "[lawful_bases.common-law]",
        "nature",
        'nature = "discretion"\n',
        "header",
        "lawful_bases.common-law: nature must be one of duty, power, presumption",
        id="bad-nature",
    ),
    pytest.param(
        "lawful_bases.toml",
        "[lawful_bases.common-law]",
        "nature",
        "# no nature\n",
        "header",
        "lawful_bases.common-law: 'nature' must be text",
        id="nature-missing",
    ),
    pytest.param(
        "lawful_bases.toml",
        "[lawful_bases.mosa2005-s10]",
        "jurisdictions",
        'jurisdictions = ["scotland", "wales"]\n',
        "edit",
        "lawful_bases.mosa2005-s10: unknown name 'wales' in 'jurisdictions'",
        id="unknown-jurisdiction",
    ),
    pytest.param(
        "lawful_bases.toml",
        "[lawful_bases.ukgdpr-6-1-f]",
        "legitimate_interests",
        'legitimate_interests = "yes"\n',
        "header",
        "lawful_bases.ukgdpr-6-1-f: 'legitimate_interests' must be true or false",
        id="legitimate-interests-not-a-flag",
    ),
    pytest.param(
        "lawful_bases.toml",
        "[lawful_bases.care-act-2014-s45]",
        "overrides_confidence",
        'overrides_confidence = "yes"\n',
        "header",
        "lawful_bases.care-act-2014-s45: 'overrides_confidence' must be true or false",
        id="overrides-confidence-not-a-flag",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch1-para18]",
        "schedule",
        "schedule = 2\n",
        "header",
        "conditions.sch1-para18: schedule must be 1 or 8",
        id="bad-schedule",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch1-para18]",
        "schedule",
        "# no schedule\n",
        "header",
        "conditions.sch1-para18: schedule must be 1 or 8",
        id="schedule-missing",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch1-para18]",
        "part",
        "part = 4\n",
        "header",
        "conditions.sch1-para18: a Schedule 1 condition needs part = 1, 2 or 3",
        id="bad-schedule-1-part",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch1-para18]",
        "part",
        "# no part\n",
        "header",
        "conditions.sch1-para18: a Schedule 1 condition needs part = 1, 2 or 3",
        id="schedule-1-part-missing",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch8-para3]",
        "schedule",
        "schedule = 8\npart = 2\n",
        "header",
        "conditions.sch8-para3: Schedule 8 has no parts",
        id="schedule-8-with-a-part",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch8-para4]",
        "policy_document",
        "\n",
        "header",
        "conditions.sch8-para4: every Schedule 8 condition needs an appropriate policy document "
        "(DPA 2018 s35(5)(c), s42)",
        id="schedule-8-without-policy-document",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch1-para6]",
        "policy_document",
        'policy_document = "apd-mappa"\n',
        "edit",
        "conditions.sch1-para6: unknown policy document 'apd-mappa'",
        id="unknown-policy-document",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch1-para2]",
        "relied_on_by",
        'relied_on_by = ["health", "gp"]\n',
        "edit",
        "conditions.sch1-para2: unknown name 'gp' in 'relied_on_by'",
        id="condition-relied-on-by-unknown-type",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch1-para18]",
        "purposes",
        'purposes = ["safeguarding-children", "safeguarding"]\n',
        "edit",
        "conditions.sch1-para18: unknown name 'safeguarding' in 'purposes'",
        id="condition-unknown-purpose",
    ),
    pytest.param(
        "conditions.toml",
        "[regimes.general]",
        "[regimes.general]",
        "[regimes.gdpr]\n",
        "[regimes",
        "[regimes.general] is missing",
        id="regimes-general-missing",
    ),
    pytest.param(
        "conditions.toml",
        "[regimes.law-enforcement]",
        "[regimes.law-enforcement]",
        "[regimes.part-3]\n",
        "[regimes",
        "[regimes.law-enforcement] is missing",
        id="regimes-law-enforcement-missing",
    ),
    pytest.param(
        "conditions.toml",
        "[regimes.law-enforcement]",
        "competent_authorities",
        'competent_authorities = ["police", "sheriff"]\n',
        "edit",
        "regimes.law-enforcement: unknown name 'sheriff' in 'competent_authorities'",
        id="unknown-competent-authority",
    ),
    pytest.param(
        "conditions.toml",
        "[public_authorities]",
        "agency_types",
        'agency_types = ["police", "parish-council"]\n',
        "edit",
        "public_authorities: unknown name 'parish-council' in 'agency_types'",
        id="unknown-public-authority",
    ),
    pytest.param(
        "conditions.toml",
        "[confidence]",
        "owed_by",
        'owed_by = ["health", "gp"]\n',
        "edit",
        "confidence: unknown name 'gp' in 'owed_by'",
        id="confidence-owed-by-unknown-type",
    ),
    pytest.param(
        "conditions.toml",
        "[confidence]",
        "part",
        "part = 3\n",
        "header",
        "confidence: 'part' must be text",
        id="confidence-part-not-text",
    ),
    pytest.param(
        "necessity.toml",
        "[strictly_necessary]",
        "parts",
        'parts = ["why", "how"]\n',
        "edit",
        "strictly_necessary: unknown name 'how' in 'parts'",
        id="strictly-necessary-unknown-part",
    ),
    pytest.param(
        "boundaries.toml",
        "[other_jurisdiction]",
        "travels",
        'travels = ["request-for-information", "transfer"]\n',
        "edit",
        "other_jurisdiction: unknown name 'transfer' in 'travels'",
        id="boundary-travels-unknown-packet-type",
    ),
    pytest.param(
        "boundaries.toml",
        "[other_area]",
        "travels",
        'travels = ["case-transfer", "memo"]\n',
        "edit",
        "other_area: unknown name 'memo' in 'travels'",
        id="other-area-travels-unknown-packet-type",
    ),
    pytest.param(
        "boundaries.toml",
        "[other_area]",
        "approvers",
        'approvers = ["chair"]\n',
        "edit",
        "other_area: unknown name 'chair' in 'approvers'",
        id="boundary-unknown-approver-role",
    ),
    pytest.param(
        "boundaries.toml",
        "[other_area]",
        "agreement",
        'agreement = "mappa"\n',
        "edit",
        "other_area: unknown agreement 'mappa'",
        id="boundary-unknown-agreement",
    ),
    pytest.param(
        "boundaries.toml",
        "[other_jurisdiction]",
        "[other_jurisdiction]",
        "[other_jurisdictions]\n",
        "edit",
        "[other_jurisdiction] is missing or empty",
        id="boundary-missing",
    ),
    # Mistakes named at the line at fault, not at the first mention of the name in the file.
    pytest.param(
        "conditions.toml",
        "[confidence]",
        "part",
        'part = "public-good"\n',
        "edit",
        "confidence: part 'public-good' is not in necessity.toml",
        id="confidence-part-not-in-necessity",
    ),
    pytest.param(
        "conditions.toml",
        "[conditions.sch8-para4]",
        "purposes",
        'purposes = ["safeguarding-children", "police"]\n',
        "edit",
        "conditions.sch8-para4: unknown name 'police' in 'purposes'",
        id="unknown-name-found-earlier-in-the-file",
    ),
    pytest.param(
        "lawful_bases.toml",
        "[lawful_bases.cda1998-s115]",
        "recipients",
        'recipients = ["*"]\n',
        "edit",
        "lawful_bases.cda1998-s115: unknown name '*' in 'recipients'",
        id="unknown-name-found-in-a-comment",
    ),
]


@pytest.mark.parametrize(("file", "after", "startswith", "new", "at", "reason"), _LINE_NAMED)
def test_data_protection_and_boundary_mistakes_name_file_line_and_reason(
    policy_dir: Path, file: str, after: str, startswith: str, new: str, at: str, reason: str
) -> None:
    original = (policy_dir / file).read_text(encoding="utf-8").splitlines()
    header = next(i for i, s in enumerate(original, 1) if after in s)
    edited = _edit_line(policy_dir, file, after, startswith, lambda s: new)
    error = _refused(policy_dir)
    lines = (policy_dir / file).read_text(encoding="utf-8").splitlines()
    expected = {"edit": edited, "header": header}.get(at) or next(
        i for i, s in enumerate(lines, 1) if at in s
    )
    assert (error.file, error.line, error.reason) == (file, expected, reason)


def test_schedule1_conditions_in_lawful_bases_are_refused(policy_dir: Path) -> None:
    """The old home of the conditions: they moved to conditions.toml, and a gateway file that
    still has them is refused rather than silently ignored."""
    with (policy_dir / "lawful_bases.toml").open("a", encoding="utf-8") as f:
        f.write(
            "\n[schedule1_conditions.sch1-para10]\n"
            'label = "DPA 2018 Sch 1 para 10: preventing or detecting unlawful acts"\n'
        )
    error = _refused(policy_dir)
    lines = (policy_dir / "lawful_bases.toml").read_text(encoding="utf-8").splitlines()
    assert (error.file, error.line, error.reason) == (
        "lawful_bases.toml",
        lines.index("[schedule1_conditions.sch1-para10]") + 1,
        "[schedule1_conditions] moved to conditions.toml as [conditions.*]",
    )


def test_a_necessity_part_the_confidence_test_names_must_exist(policy_dir: Path) -> None:
    _edit_line(
        policy_dir,
        "necessity.toml",
        "[parts.public-interest]",
        "[parts.public-interest]",
        lambda s: "[parts.public-good]\n",
    )
    error = _refused(policy_dir)
    # The line is not asserted: it is the line-1 error of "confidence-part-not-in-necessity".
    assert (error.file, error.reason) == (
        "conditions.toml",
        "confidence: part 'public-interest' is not in necessity.toml",
    )


@pytest.mark.parametrize(
    ("after", "startswith", "new"),
    [
        pytest.param("[conditions.sch1-para18]", "schedule", "schedule = true\n", id="schedule"),
        pytest.param("[conditions.sch1-para18]", "part", "part = true\n", id="part"),
    ],
)
def test_a_flag_is_not_a_schedule_or_part_number(
    policy_dir: Path, after: str, startswith: str, new: str
) -> None:
    _edit_line(policy_dir, "conditions.toml", after, startswith, lambda s: new)
    error = _refused(policy_dir)
    assert error.file == "conditions.toml"


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
