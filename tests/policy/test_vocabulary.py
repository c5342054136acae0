"""Every DPV term the hub uses exists in DPV 2.2: the dpv:, pd: and eu-gdpr: terms of
policies/*.toml (and the case tables beside them), and every DPV IRI in the ODRL export.

The term lists are shared/vocab/dpv-2.2/*.csv (iri,type,label), beside the repository; the prefixes
are the ones shared/vocab/README.md gives. Without that folder the tests skip, saying so.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.config import SOURCE_POLICY_DIR
from hub.policy import odrl
from hub.policy.loader import load_policy

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
VOCAB = SHARED / "vocab"
LISTS = VOCAB / "dpv-2.2"
PREFIXES = ("dpv", "pd", "eu-gdpr")
TERM = re.compile(r"^(?P<prefix>[A-Za-z][\w-]*):(?P<local>\S+)$")


def policy_files() -> list[Path]:
    return sorted(SOURCE_POLICY_DIR.rglob("*.toml"))


def strings(value: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """(where, key, string) for every string in a parsed TOML document."""
    if isinstance(value, dict):
        for key, item in value.items():
            for found in strings(item, f"{where}.{key}" if where else key):
                yield found[0], found[1] or str(key), found[2]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{where}[{index}]")
    elif isinstance(value, str):
        yield where, "", value


def policy_strings() -> Iterator[tuple[str, str, str]]:
    """(file:where, key, string) for every string in the policy files."""
    for path in policy_files():
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        name = path.relative_to(SOURCE_POLICY_DIR).as_posix()
        for where, key, value in strings(doc, ""):
            yield f"{name}:{where}", key, value


def policy_terms() -> dict[str, list[str]]:
    """Every dpv:, pd: or eu-gdpr: term in the policy files, with where each is used."""
    terms: dict[str, list[str]] = {}
    for where, _, value in policy_strings():
        match = TERM.match(value)
        if match and match["prefix"] in PREFIXES:
            terms.setdefault(value, []).append(where)
    return dict(sorted(terms.items()))


POLICY_TERMS = policy_terms()


@pytest.fixture(scope="module")
def prefixes() -> dict[str, str]:
    """The prefixes shared/vocab/README.md gives: `dpv:` = https://w3id.org/dpv#, ..."""
    if not SHARED.is_dir():
        pytest.skip(
            f"no DPV 2.2 term lists to check against: {SHARED.resolve()} (shared/ beside the "
            "checkout) is absent"
        )
    readme = VOCAB / "README.md"
    text = readme.read_text(encoding="utf-8")
    found = dict(re.findall(r"`([\w-]+):`\s*=\s*(https?://\S+?#)", text))
    assert set(PREFIXES) <= set(found), f"{readme} does not give the prefixes {PREFIXES}"
    return found


@pytest.fixture(scope="module")
def vocabulary(prefixes: dict[str, str]) -> dict[str, str]:
    """Every term of the DPV 2.2 lists: IRI -> type (class or property)."""
    files = sorted(LISTS.glob("*.csv"))
    assert files, f"{LISTS.resolve()} holds no term lists"
    terms: dict[str, str] = {}
    for path in files:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        assert rows, f"{path} is empty"
        assert set(rows[0]) >= {"iri", "type", "label"}, f"{path}: columns iri,type,label"
        terms.update((row["iri"], row["type"]) for row in rows)
    for prefix in PREFIXES:
        assert any(iri.startswith(prefixes[prefix]) for iri in terms), f"no {prefix}: terms"
    return terms


def expand(term: str, prefixes: dict[str, str]) -> str:
    prefix, _, local = term.partition(":")
    return prefixes[prefix] + local


def test_the_policy_files_use_dpv_terms() -> None:
    # The catalogue, the lawful bases and the conditions all carry DPV terms; finding none would
    # mean the scan is broken, not that all is well.
    assert any(t.startswith("dpv:") for t in POLICY_TERMS)
    assert any(t.startswith("pd:") for t in POLICY_TERMS)
    assert any(t.startswith("eu-gdpr:") for t in POLICY_TERMS)


def test_the_export_and_readme_agree_on_the_prefixes(prefixes: dict[str, str]) -> None:
    context = odrl.hub_context()
    for prefix in PREFIXES:
        assert odrl.PREFIXES[prefix] == prefixes[prefix]
        assert context[prefix] == prefixes[prefix]


@pytest.mark.parametrize(
    "term", list(POLICY_TERMS), ids=[f"{t} ({POLICY_TERMS[t][0]})" for t in POLICY_TERMS]
)
def test_every_policy_term_exists_in_dpv_2_2(
    term: str, vocabulary: dict[str, str], prefixes: dict[str, str]
) -> None:
    iri = expand(term, prefixes)
    assert iri in vocabulary, (
        f"{term} ({iri}) is not in the DPV 2.2 lists; used at {', '.join(POLICY_TERMS[term])}"
    )
    assert vocabulary[iri] == "class", f"{term} is a {vocabulary[iri]}, not a concept"


def test_every_dpv_field_is_empty_or_a_term() -> None:
    """A `dpv = "..."` names a term with one of the DPV prefixes, or is empty: a typo in the prefix
    (or no prefix) would otherwise escape the check above."""
    wrong = [
        f"{where} = {value!r}"
        for where, key, value in policy_strings()
        if key == "dpv" and value and not ((m := TERM.match(value)) and m["prefix"] in PREFIXES)
    ]
    assert wrong == []


def test_every_dpv_iri_in_the_odrl_export_exists(
    vocabulary: dict[str, str], prefixes: dict[str, str]
) -> None:
    expanded = odrl.expand(odrl.to_odrl(load_policy(SOURCE_POLICY_DIR)))
    namespaces = tuple(prefixes[p] for p in PREFIXES)
    used: dict[str, str] = {}

    def visit(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key == "@type":
                    used.update((t, "class") for t in item)
                elif key == "@id":
                    used.setdefault(item, "class")
                elif not key.startswith("@"):
                    used[key] = "property"
                    visit(item)

    visit(expanded)
    terms = {iri: kind for iri, kind in used.items() if iri.startswith(namespaces)}
    assert terms, "the export carries no DPV terms"
    missing = sorted(iri for iri in terms if iri not in vocabulary)
    assert missing == []
    misused = sorted(
        f"{iri} used as a {kind}, is a {vocabulary[iri]}"
        for iri, kind in terms.items()
        if vocabulary[iri] != kind
    )
    assert misused == []
    # Every term the rules name (policies/*.toml, not the case tables) is in the export.
    named = {
        expand(term, prefixes)
        for term, wheres in POLICY_TERMS.items()
        if any("/" not in where.split(":", 1)[0] for where in wheres)
    }
    assert named <= set(terms)
