"""Which CPU each ``serve --workers N`` process is kept on (``hub.cli.affinity.plan``)."""

from __future__ import annotations

import os

import pytest

from hub.cli import affinity


@pytest.fixture
def four_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {6, 2, 3, 5})


@pytest.mark.usefixtures("four_cpus")
def test_one_worker_per_cpu_on_sqlite_gets_each_cpu_it_may_use() -> None:
    assert affinity.plan(4, sqlite=True) == [2, 3, 5, 6]


@pytest.mark.usefixtures("four_cpus")
@pytest.mark.parametrize(
    ("workers", "sqlite"),
    [
        (4, False),  # PostgreSQL's own processes need the same CPUs
        (1, True),  # one process: its threads may use every CPU
        (2, True),  # fewer workers than CPUs: their threads may use the spare ones
        (8, True),  # more than CPUs: no CPU of its own for each
    ],
)
def test_otherwise_the_kernel_places_them(workers: int, sqlite: bool) -> None:
    assert affinity.plan(workers, sqlite) is None


def test_without_proc_the_calling_thread_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned: list[tuple[int, set[int]]] = []

    def no_proc(path: str) -> list[str]:
        raise FileNotFoundError(path)

    monkeypatch.setattr(os, "listdir", no_proc)
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: pinned.append((pid, cpus)))
    affinity.pin(3)
    assert pinned == [(0, {3})]
