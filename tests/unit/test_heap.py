"""A serving process's collector (hub.cli.heap), in a fresh interpreter: freezing is for good."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, weakref
    from hub.cli import heap

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    heap.tune()
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    kept = Node()
    kept.self = kept  # alive at start-up, referenced: frozen with the rest
    garbage_before = cycle()  # start-up's unreachable cycles are collected, not frozen
    heap.settle()
    assert garbage_before() is None
    assert gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects()), "out of the collector's sight"
    garbage_after = cycle()  # made while serving: the collector still finds it
    assert garbage_after() is not None
    gc.collect()
    assert garbage_after() is None
    print("ok", gc.get_freeze_count())
    """
)


def test_the_start_up_heap_is_frozen_and_later_garbage_still_collected() -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok ")
