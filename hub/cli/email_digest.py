"""``mappa-hub email digest``: fold each person's waiting notices into their daily digest now.

``serve`` runs the same job once a day after the configured local time; this is for cron or an
operator. Either way a person gets at most one digest per local day (``digest:<user>:<date>``).
The ``email`` command itself belongs to hub/cli/email.py, which adds this action with
``add_parser`` and hands it to ``run``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hub.config import Config
from hub.wiring import Hub

EXIT_OK = 0
ACTION = "digest"


def add_parser(actions: Any, common: argparse.ArgumentParser) -> None:
    actions.add_parser(
        ACTION,
        parents=[common],
        help="send each person's daily digest now (once a day; serve does it after "
        "MAPPA_HUB_DIGEST_TIME, default 07:00)",
    )


async def run(args: argparse.Namespace, config: Config) -> int:
    hub = await Hub.open(config)
    try:
        done = await hub.notices.run_digests()
    finally:
        await hub.close()
    # Counts only: no addresses, no case details.
    print(f"{done.people} digest(s) queued, folding {done.folded} notice(s)", file=sys.stderr)
    return EXIT_OK
