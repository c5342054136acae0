"""Run ``mappa-hub`` commands in the test process, with what a process would give back.

A new interpreter costs one to two seconds of imports before the command starts, and the suite
runs a few hundred commands, so most command-line tests call the CLI's own entry point here.
What a separate process gives them is kept: the exit status (``SystemExit`` from argparse too),
standard output and error as text (the log lines included), the environment the command sees,
and a standard input that is not a terminal. The command runs in a thread of its own, since it
starts its own event loop and a caller may be inside one. Tests that need a real process (the
console script, ``python -m hub``, signals, crashes) still start one.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from hub.cli.logs import LOG_FORMAT
from hub.cli.main import main

# One command at a time in a test process: standard streams and the environment are global.
_ONE_AT_A_TIME = threading.Lock()


def run_command(
    argv: list[str], env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``mappa-hub *argv`` as ``subprocess.run(..., capture_output=True, text=True)`` would
    report it; ``env``, when given, replaces the whole environment, as it would for a process.
    A command still running after ``timeout`` seconds fails the test (a thread cannot be killed
    as a process can, so it is left to end with the test process)."""
    out, err = io.StringIO(), io.StringIO()
    status: list[int] = []
    failure: list[BaseException] = []

    def command() -> None:
        try:
            status.append(main(list(argv)))
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code
            status.append(code if isinstance(code, int) else (0 if code is None else 2))
            if isinstance(code, str):
                err.write(code + "\n")
        except BaseException as exc:  # a crash is a test failure, raised in the caller
            failure.append(exc)

    with _ONE_AT_A_TIME, _environment(env), _streams(out, err), _log_to(err):
        worker = threading.Thread(target=command, name="mappa-hub-command", daemon=True)
        worker.start()
        worker.join(timeout)
    if worker.is_alive():
        raise AssertionError(f"mappa-hub {' '.join(argv)} did not end within {timeout:g} s")
    if failure:
        raise failure[0]
    return subprocess.CompletedProcess(
        ["mappa-hub", *argv], status[0], out.getvalue(), err.getvalue()
    )


@contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    if env is None:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _streams(out: io.StringIO, err: io.StringIO) -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(""), out, err
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


@contextmanager
def _log_to(err: io.StringIO) -> Iterator[None]:
    """The command's log lines on its standard error, as ``hub.cli.logs.configure`` puts them in
    a process. In the test process the root logger already has pytest's handlers, so the
    command's ``basicConfig`` adds nothing; this handler stands in for it, and the root logger's
    level and handlers are put back afterwards."""
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.handlers = [handler]  # basicConfig then leaves the root logger alone
    root.setLevel(os.environ.get("MAPPA_HUB_LOG_LEVEL", "WARNING"))
    try:
        yield
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
