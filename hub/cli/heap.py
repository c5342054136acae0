"""The garbage collector of a serving process: the start-up heap frozen, young collections rarer.

A started hub holds some 150,000 objects that live as long as the process (modules, SQLAlchemy's
tables and compiled statements, pydantic's validators, the policy). Each full collection walked
them all, 70-140 ms on a two-core machine, during which every request on that process waited;
under 500 shares/s each worker ran one every few seconds (bench/README.md). ``settle`` moves
them out of the collector's sight once the server is up (``gc.freeze``), so that a full
collection walks only what was made since. Young collections every 10,000 allocations rather
than 700 promote fewer of a request's short-lived objects to the older generations. Reference
counting frees everything that forms no cycle either way.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def tune() -> None:
    """Before start-up: collect the youngest generation less often."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)


def settle() -> None:
    """Once serving: collect what start-up left over, then freeze the rest."""
    gc.collect()
    gc.freeze()
