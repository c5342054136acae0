"""The coverage-guided fuzzer (atheris) on each target of ``fuzz_targets``, for a bounded time.

Each target runs in its own process (libFuzzer owns the process it runs in) for
``MAPPA_FUZZ_SECONDS`` (default 6 s), from the seeds committed under ``corpus/<target>/``,
writing what it discovers into a scratch directory, never into the committed corpus. It must end
with exit status 0; a crash fails the test, naming the file that holds the crashing input, which
is also copied under ``tests/artefacts/fuzz/`` (CI keeps that directory). Keep it under
``regressions/<target>/`` and fix the parser: ``test_corpus_and_regressions_replay`` runs it from
then on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.budget import PROFILE, atheris_seconds
from tests.fuzz.fuzz_targets import TARGETS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTEFACTS = ROOT / "tests" / "artefacts" / "fuzz"
_DONE = re.compile(r"^Done (\d+) runs in (\d+) second", re.MULTILINE)


def _inputs(target: str) -> list[Path]:
    return sorted(
        p
        for where in (HERE / "corpus" / target, HERE / "regressions" / target)
        if where.is_dir()
        for p in where.iterdir()
        if p.is_file() and not p.name.startswith(".")
    )


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_corpus_and_regressions_replay(target: str) -> None:
    """Every seed and every input that once crashed, through the target in this process."""
    inputs = _inputs(target)
    assert inputs, f"no seed for {target}: add one under tests/fuzz/corpus/{target}/"
    for path in inputs:
        TARGETS[target](path.read_bytes())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_atheris_finds_no_crash(target: str, tmp_path: Path) -> None:
    seconds = atheris_seconds()
    work, artefacts = tmp_path / "corpus", tmp_path / "crashes"
    work.mkdir()
    artefacts.mkdir()
    options = [
        f"-max_total_time={seconds}",
        "-rss_limit_mb=2048",
        "-timeout=30",  # one input slower than this is a finding too (a pathological pattern)
        f"-artifact_prefix={artefacts}/",
        "-print_final_stats=1",
    ]
    if PROFILE == "fuzz":  # as the hypothesis profile: the same search on every run
        options.append("-seed=1")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.atheris_targets",
            target,
            *options,
            str(work),
            str(HERE / "corpus" / target),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    done = _DONE.search(run.stderr)
    if done:
        runs, took = int(done.group(1)), max(int(done.group(2)), 1)
        print(f"atheris {target}: {runs} runs in {took} s ({runs // took} exec/s)")
    crashes = sorted(artefacts.iterdir())
    if run.returncode != 0 or crashes:
        kept = []
        for crash in crashes:
            (ARTEFACTS / target).mkdir(parents=True, exist_ok=True)
            kept.append(shutil.copy2(crash, ARTEFACTS / target / crash.name))
        pytest.fail(
            f"atheris found a crash in {target} (exit status {run.returncode}); input kept at "
            f"{', '.join(map(str, kept)) or '(none written)'} - add it under "
            f"tests/fuzz/regressions/{target}/ and fix the parser.\n{run.stderr[-4000:]}"
        )
    assert done, f"atheris did not finish normally:\n{run.stderr[-4000:]}"


def test_every_target_has_a_scope() -> None:
    from tests.fuzz.scopes import SCOPES

    assert set(SCOPES) == set(TARGETS)
