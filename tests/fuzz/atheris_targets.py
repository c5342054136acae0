"""Run one fuzz target under atheris (libFuzzer, coverage-guided), the hub's modules instrumented:

    python -m tests.fuzz.atheris_targets <target> [libFuzzer options] [corpus directories]

e.g. ``python -m tests.fuzz.atheris_targets policy -max_total_time=60 /tmp/work
tests/fuzz/corpus/policy``. Targets are in ``tests.fuzz.fuzz_targets``. A crash is written where
``-artifact_prefix=`` says; keep it under ``tests/fuzz/regressions/<target>/`` (it is then replayed
by ``test_atheris.py``) and fix the parser.
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> None:
    import atheris

    if len(argv) < 2 or argv[1].startswith("-"):
        sys.exit("usage: python -m tests.fuzz.atheris_targets <target> [libFuzzer options]")
    name = argv[1]
    # The target's own modules are instrumented as they are imported (fuzz_targets.SCOPES): so
    # nothing of them may be imported before this.
    from tests.fuzz.scopes import SCOPES

    if name not in SCOPES:
        sys.exit(f"unknown target {name!r}; one of {', '.join(sorted(SCOPES))}")
    with atheris.instrument_imports(include=list(SCOPES[name])):
        from tests.fuzz.fuzz_targets import TARGETS

        # The modules a target imports only when it runs, imported now, instrumented.
        for module in SCOPES[name]:
            importlib.import_module(module)
    if name not in TARGETS:
        sys.exit(f"unknown target {name!r}; one of {', '.join(sorted(TARGETS))}")
    target = TARGETS[name]
    # libFuzzer reads its options from argv[1:]: the target's name is not one of them.
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
