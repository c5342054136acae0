"""Progress on a terminal: a rewritten line when stderr is a TTY, nothing in pipes and logs."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str) -> None:
        self._label = label
        self._tty = sys.stderr.isatty()
        self._start = time.monotonic()
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self._tty:
            return
        rate = done / max(time.monotonic() - self._start, 1e-9)
        pct = 100.0 * done / total if total else 100.0
        sys.stderr.write(f"\r{self._label}: {done:,}/{total:,} ({pct:5.1f}%, {rate:,.0f}/s)")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
