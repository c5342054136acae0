"""How long the fuzzers run: hypothesis profiles and atheris seconds, scaled by the environment.

``MAPPA_FUZZ_PROFILE``: ``fuzz`` (the default, in every test run: derandomized, so a failure in CI
is the same failure on a laptop) or ``ci-fuzz`` (a longer, random search for a scheduled job or
a local hunt, remembering what it found in ``.hypothesis/``, which git ignores).
``MAPPA_FUZZ_SECONDS``: each atheris target's run time (default 6 s: nine targets stay under a
minute of CI wall time on two cores; a hunt sets more).

The profiles are applied test by test (``fuzz_settings``), never loaded for the whole session, so
the other property-based tests (schemathesis) keep their own settings.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILE = os.environ.get("MAPPA_FUZZ_PROFILE", "fuzz")
_SCALE = {"fuzz": 1, "ci-fuzz": 20}
if PROFILE not in _SCALE:
    raise RuntimeError(f"MAPPA_FUZZ_PROFILE is fuzz or ci-fuzz, not {PROFILE!r}")

# The hub is shared by a test's examples (each example checks the state before and after itself),
# and some examples are large by design (a whole policy file, a bundle).
_SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "fuzz",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SUPPRESS,
)
settings.register_profile(
    "ci-fuzz",
    deadline=None,
    derandomize=False,
    database=DirectoryBasedExampleDatabase(".hypothesis/fuzz"),
    print_blob=True,
    suppress_health_check=_SUPPRESS,
)


def fuzz_settings(examples: int) -> settings:
    """``examples`` in the default profile, twenty times as many in ``ci-fuzz``."""
    return settings(settings.get_profile(PROFILE), max_examples=examples * _SCALE[PROFILE])


def atheris_seconds(default: int = 6) -> int:
    return int(os.environ.get("MAPPA_FUZZ_SECONDS", str(default)))
