"""``mappa-hub email list|dead|retry|send-now|test``: the outbox from the operator's console.

Listings show where a message goes and how its sending went, never its body. Exit codes: 0 ok,
1 a failed check (the relay refused the test message, or there is no relay), 2 bad usage (an
unknown id or status).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from hub.cli import email_digest
from hub.cli.progress import Progress
from hub.config import Config
from hub.errors import InvalidInput, NotFound
from hub.store import directory as directory_store
from hub.store import email_outbox as store
from hub.wiring import Hub

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    email = sub.add_parser("email", help="the email outbox").add_subparsers(
        dest="action", required=True
    )
    li = email.add_parser("list", parents=[common], help="messages in the outbox (no bodies)")
    li.add_argument("--status", help=f"one of {', '.join(store.STATUSES)}")
    li.add_argument("--agency", help="agency code")
    email.add_parser("dead", parents=[common], help="the dead letters")
    r = email.add_parser("retry", parents=[common], help="put dead letters back in the queue")
    r.add_argument("ids", nargs="*", type=int, default=[], metavar="ID")
    r.add_argument("--all-dead", action="store_true", help="every dead letter")
    email.add_parser("send-now", parents=[common], help="send what is due now, once")
    t = email.add_parser("test", parents=[common], help="send a test message through the relay")
    t.add_argument("address")
    email_digest.add_parser(email, common)


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


async def _list(hub: Hub, status: str | None, agency: str | None) -> int:
    if status is not None and status not in store.STATUSES:
        raise InvalidInput(f"--status is one of {', '.join(store.STATUSES)}")
    async with hub.db.read() as conn:
        agency_id = None
        if agency is not None:
            found = await directory_store.agency_by_code(conn, agency.upper())
            if found is None:
                raise NotFound(f"no agency {agency.upper()}")
            agency_id = found.id
        rows = await store.listing(conn, status=status, agency_id=agency_id)
    print("id\tstatus\tevent\tchannel\tto\tattempts\tnext attempt\tlast error")
    for r in rows:
        waiting = r.status in (store.PENDING, store.SENDING)
        print(
            "\t".join(
                [
                    str(r.id),
                    r.status,
                    r.event,
                    r.channel,
                    r.to_address,
                    str(r.attempts),
                    _when(r.next_attempt_at) if waiting else "-",
                    r.last_error or "-",
                ]
            )
        )
    print(f"{len(rows)} message(s)", file=sys.stderr)
    if not hub.config.email.configured:
        print("no SMTP relay is configured (MAPPA_HUB_SMTP_HOST): nothing is sent", file=sys.stderr)
    return EXIT_OK


async def _retry(hub: Hub, ids: list[int], all_dead: bool) -> int:
    if bool(ids) == all_dead:
        raise InvalidInput("name the messages to retry (ID...) or --all-dead, not both")
    async with hub.db.write() as conn:
        if all_dead:
            ids = [r.id for r in await store.listing(conn, status=store.DEAD, limit=1_000_000)]
        else:
            for row_id in ids:
                found = await store.by_id(conn, row_id)
                if found is None:
                    raise NotFound(f"no message {row_id} in the outbox")
                if found.status != store.DEAD:
                    raise InvalidInput(f"message {row_id} is {found.status}, not dead")
        count = await store.retry(conn, ids, hub.clock.now()) if ids else 0
    print(f"{count} message(s) queued again")
    return EXIT_OK


async def _send_now(hub: Hub) -> int:
    from adapters.email.sender import Sender

    if not hub.config.email.configured:
        print("mappa-hub: no SMTP relay is configured (MAPPA_HUB_SMTP_HOST)", file=sys.stderr)
        return EXIT_FAILED
    progress = Progress("sending")
    try:
        summary = await Sender.for_hub(hub).drain(progress)
    finally:
        progress.close()
    print(
        f"{summary.sent} sent, {summary.retrying} to retry, {summary.dead} dead"
        + (f", {summary.lost} claim(s) lost" if summary.lost else "")
    )
    return EXIT_OK if summary.retrying == summary.dead == 0 else EXIT_FAILED


async def _test(hub: Hub, address: str) -> int:
    from adapters.email import message as msg
    from adapters.email.transport import Relay, classify, read_password

    config = hub.config.email
    if not config.configured:
        print("mappa-hub: no SMTP relay is configured (MAPPA_HUB_SMTP_HOST)", file=sys.stderr)
        return EXIT_FAILED
    msg.checked_address("To", address)
    data = msg.build(
        message_id=store.new_message_id(config.message_id_domain),
        sender=config.from_address,
        to=address,
        subject=msg.SUBJECT_TEST,
        text="This is a test message from MAPPA Hub: the relay and its TLS set-up work.\n",
        when=hub.clock.now(),
    )
    try:
        async with Relay(config, read_password(config)) as relay:
            await relay.send(config.from_address, address, data)
    except Exception as exc:
        print(
            f"mappa-hub: the relay refused the test message: {classify(exc).error}", file=sys.stderr
        )
        return EXIT_FAILED
    print(f"test message sent to {address} through {config.host}:{config.port}")
    return EXIT_OK


async def run(args: argparse.Namespace, config: Config) -> int:
    if args.action == email_digest.ACTION:
        return await email_digest.run(args, config)
    hub = await Hub.open(config)
    try:
        if args.action == "list":
            return await _list(hub, args.status, args.agency)
        if args.action == "dead":
            return await _list(hub, store.DEAD, None)
        if args.action == "retry":
            return await _retry(hub, args.ids, args.all_dead)
        if args.action == "send-now":
            return await _send_now(hub)
        return await _test(hub, args.address)
    finally:
        await hub.close()
