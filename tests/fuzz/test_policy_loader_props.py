"""The policy loader (hub.policy.loader) and the case tables (hub.policy.casetable) under
hypothesis: a policy directory with one file changed - a value replaced by any TOML value, a key
removed or added, or its bytes damaged - loads, or is refused with ``PolicyError`` naming the file
and line; never another exception (the hub would fail to start with a traceback instead of a
reason, and ``mappa-hub policy check`` would crash)."""

from __future__ import annotations

import datetime as dt
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from hub.policy.casetable import load_cases, run_case
from hub.policy.loader import FILES, PolicyError, PolicySet, load_policy
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.strategies import Named, flipped, mutated

POLICIES = Path(__file__).resolve().parents[2] / "policies"
ORIGINAL = {name: (POLICIES / name).read_bytes() for name in FILES}
DOCS = {name: tomllib.loads(data.decode()) for name, data in ORIGINAL.items()}
TABLES = {p.name: p.read_bytes() for p in sorted((POLICIES / "tests").glob("*.toml"))}
TABLE_DOCS = {name: tomllib.loads(data.decode()) for name, data in TABLES.items()}

# What a TOML parser hands the loader: no null, but dates, times and special floats.
_TOML_SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=30)
    | st.dates()
    | st.datetimes()
    | st.times()
    | st.sampled_from(["*", "", "police", "risk-management", "address", "practitioner", "1"])
)
TOML_VALUES = st.recursive(
    _TOML_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


def _known_keys() -> st.SearchStrategy[str]:
    """Key names the policy files use, so that an added key often means something."""
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            names.update(value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for doc in (*DOCS.values(), *TABLE_DOCS.values()):
        walk(doc)
    return st.sampled_from(sorted(names)) | st.text(min_size=1, max_size=10)


KEYS = _known_keys()
# strategies.RETYPED without null, which TOML does not have.
RETYPED = st.sampled_from([True, 7, -1, 2.5, "x", [1], ["x", "y"], {"a": 1}, [[]], [{}]])


def _dumped(doc: Any) -> bytes:
    if not isinstance(doc, dict):  # a whole file replaced by a value: put it under a key
        doc = {"value": doc}
    return tomli_w.dumps(doc).encode()


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("policies")
    shutil.copytree(POLICIES, where, dirs_exist_ok=True)
    return where


def _loads_or_is_refused(policy_dir: Path, name: str, data: bytes) -> PolicySet | None:
    try:
        (policy_dir / name).write_bytes(data)
        return load_policy(policy_dir)
    except PolicyError as exc:
        assert exc.file == name or exc.file in FILES, exc
        assert exc.reason and str(exc).startswith(f"{exc.file}:{exc.line}: ")
        return None
    finally:
        (policy_dir / name).write_bytes(ORIGINAL[name])


def test_the_files_as_shipped_load(policy_dir: Path) -> None:
    """The base of every mutation below loads, so a refusal below is the mutation's."""
    assert load_policy(policy_dir).version


@st.composite
def _one_file_changed(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(FILES))
    doc = draw(mutated(DOCS[name], values=TOML_VALUES, keys=KEYS, retyped=RETYPED))
    return name, _dumped(doc)


@fuzz_settings(200)
@given(_one_file_changed())
def test_a_changed_policy_file_loads_or_is_refused_with_its_line(
    policy_dir: Path, changed: tuple[str, bytes]
) -> None:
    _loads_or_is_refused(policy_dir, *changed)


@fuzz_settings(80)
@given(st.sampled_from(FILES).flatmap(lambda n: st.tuples(st.just(n), flipped(ORIGINAL[n]))))
def test_damaged_policy_bytes_load_or_are_refused(
    policy_dir: Path, changed: tuple[str, bytes]
) -> None:
    _loads_or_is_refused(policy_dir, *changed)


@fuzz_settings(10)
@given(
    st.sampled_from(FILES),
    st.sampled_from(
        [
            Named("not UTF-8", b"\xff\xfe"),
            Named("deep array", b"a = " + b"[" * 100_000),
            Named("deep inline table", b"a = " + b"{b = " * 100_000),
            Named("NUL", b"\x00"),
            Named("array of tables", b"[[a]]\n" * 3),
        ]
    ),
)
def test_hostile_policy_bytes_are_refused(policy_dir: Path, name: str, data: bytes) -> None:
    assert _loads_or_is_refused(policy_dir, name, data) is None


@pytest.fixture(scope="module")
def policy() -> PolicySet:
    return load_policy(POLICIES)


@pytest.fixture
def tables_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


@st.composite
def _one_table_changed(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(TABLES)))
    if draw(st.booleans()):
        return draw(flipped(TABLES[name]))
    return _dumped(draw(mutated(TABLE_DOCS[name], values=TOML_VALUES, keys=KEYS, retyped=RETYPED)))


@fuzz_settings(200)
@given(_one_table_changed())
def test_a_changed_case_table_runs_or_is_refused(
    policy: PolicySet, tables_dir: Path, data: bytes
) -> None:
    """``mappa-hub policy test``: a case table with any change is read and each case run (its
    problems listed), or refused with ``PolicyError``."""
    (tables_dir / "table.toml").write_bytes(data)
    try:
        cases = load_cases(tables_dir)
    except PolicyError as exc:
        assert exc.file == "table.toml" and exc.reason
        return
    for case in cases:
        result = run_case(policy, case)
        assert isinstance(result.problems, tuple)


def test_dates_in_a_policy_are_read_as_toml_hands_them_over() -> None:
    """The strategies above give dates and times (TOML has them, JSON does not)."""
    assert isinstance(tomllib.loads(tomli_w.dumps({"a": dt.date(2026, 1, 1)}))["a"], dt.date)
