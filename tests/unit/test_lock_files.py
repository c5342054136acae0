"""The hash-pinned lock files (deploy/*.lock) agree with pyproject.toml.

CI and the container install only what the lock files pin (pip --require-hashes); this catches a
dependency added to or tightened in pyproject.toml without `.ci/lock` being run, and a runtime pin
that differs from what the tests ran on.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "deploy" / "requirements.lock"
DEV = ROOT / "deploy" / "requirements-dev.lock"
# A pin, with the extras it is installed with if any (``sqlalchemy[asyncio]==2.1.9``).
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[A-Za-z0-9._,-]*\])?==(\S+)")


def _pins(lock: Path) -> dict[str, tuple[Version, int]]:
    """Each pinned package's version and how many hashes follow its pin."""
    pins: dict[str, tuple[Version, int]] = {}
    current = None
    for line in lock.read_text().splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match.group(1))
            pins[current] = (Version(match.group(2)), 0)
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            current = None
    return pins


def _project() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"runtime": project["dependencies"], "dev": project["optional-dependencies"]["dev"]}


@pytest.mark.parametrize(
    ("lock", "groups"), [(RUNTIME, ("runtime",)), (DEV, ("runtime", "dev"))], ids=["runtime", "dev"]
)
def test_every_dependency_is_pinned_within_its_range(lock: Path, groups: tuple[str, ...]) -> None:
    pins = _pins(lock)
    project = _project()
    problems = []
    for group in groups:
        for text in project[group]:
            req = Requirement(text)
            name = canonicalize_name(req.name)
            if name not in pins:
                problems.append(f"{req.name} is not pinned in {lock.name}")
            elif not req.specifier.contains(pins[name][0], prereleases=True):
                problems.append(f"{req.name} is pinned at {pins[name][0]}, outside {req.specifier}")
    assert not problems, "run .ci/lock: " + "; ".join(problems)


@pytest.mark.parametrize("lock", [RUNTIME, DEV], ids=["runtime", "dev"])
def test_every_pin_carries_hashes(lock: Path) -> None:
    pins = _pins(lock)
    assert len(pins) > 20
    unhashed = sorted(name for name, (_, hashes) in pins.items() if hashes == 0)
    assert not unhashed, f"pins without a hash in {lock.name}: {unhashed}"


def test_what_ships_is_what_the_tests_ran_on() -> None:
    runtime, dev = _pins(RUNTIME), _pins(DEV)
    differ = {
        name: (str(v), str(dev[name][0]) if name in dev else "missing")
        for name, (v, _) in runtime.items()
        if name not in dev or dev[name][0] != v
    }
    assert not differ, f"runtime pins differ from the tested (dev) pins: {differ}"
