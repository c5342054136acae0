"""Which CPU each ``serve --workers N`` process runs on.

On SQLite a worker hands every write batch to its writer thread and every checkpoint to its
checkpointer, and gets the answer back on the event loop's thread. Left to the kernel, those
threads of one process run on different CPUs, so each hand-off wakes another CPU and moves the
work's memory across (in a virtual machine, a wake-up of another virtual CPU). With one worker per
CPU, each worker and all its threads are kept on a CPU of their own, as nginx's
``worker_cpu_affinity auto`` does. Measured on two vCPUs (bench/README.md, twelfth session): a
fresh hub at 64 clients, 1,918 against 1,748 shares/s (four runs each, alternated) and 4 % less
CPU a share; after the benchmark's earlier loads, and at a fixed 500 shares/s, no difference
beyond the noise; nowhere less.

Not on PostgreSQL: there the worker has no threads to hand work to, and the server's own
processes need the same CPUs, which a pinned worker could not leave to them (no gain measured, a
little lost). Not with fewer workers than CPUs either, where a worker's threads could otherwise
use the spare ones. ``serve --no-cpu-affinity`` leaves placement to the kernel.
"""

from __future__ import annotations

import contextlib
import os

_TASKS = "/proc/self/task"


def plan(workers: int, sqlite: bool) -> list[int] | None:
    """The CPU of each worker (the first is this process), or None to leave them unpinned."""
    if not sqlite or workers < 2 or not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus if len(cpus) == workers else None


def pin(cpu: int) -> None:
    """This process, every thread it has, and so every thread they start, on ``cpu``."""
    if not hasattr(os, "sched_setaffinity"):
        return
    try:
        tasks = [int(task) for task in os.listdir(_TASKS)]
    except OSError:  # no /proc (some sandboxes): the calling thread, which starts the others
        tasks = [0]
    for task in tasks:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(task, {cpu})
