"""``mappa-hub transfer propose|accept|decline|list|show|receive`` (and ``export|import|send`` from
adapters/transfer when it is installed alongside).

Proposing and deciding bind people, so each names the coordinator it is done for (``--as``):
the operator records what that person decided, and the log names them. Exit 0 done, 1 refused
(a rule of the workflow or the policy), 2 bad usage (no such case, transfer or person).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from hub.config import Config
from hub.errors import Forbidden, HubError, InvalidInput, NotFound
from hub.services.actor import Actor
from hub.wiring import Hub

if TYPE_CHECKING:
    from hub.model.transfers import Transfer

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_BUNDLE_ACTIONS = ("export", "import", "send", "deliver")


def _bundles() -> Any | None:
    """adapters.transfer.cli, if that adapter is installed (it adds export and import)."""
    if importlib.util.find_spec("adapters.transfer.cli") is None:
        return None
    from adapters.transfer import cli

    return cli


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    transfer = sub.add_parser("transfer", help="case transfers between MAPPA areas")
    actions = transfer.add_subparsers(dest="action", required=True)
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--as", dest="as_user", required=True, help="the coordinator's username")
    p = actions.add_parser("propose", parents=[common, who], help="propose a case's transfer")
    p.add_argument("case", help="case reference, e.g. DBY-2026-0001")
    p.add_argument("--to", dest="to_area", required=True, help="receiving area code")
    p.add_argument("--reason", required=True)
    p.add_argument("--date", dest="proposed_date", required=True, help="YYYY-MM-DD")
    p.add_argument("--peer", help="the pinned peer hub the receiving area is on")
    p.add_argument("--jurisdiction", help="the peer area's jurisdiction")
    a = actions.add_parser("accept", parents=[common, who], help="accept with reasons")
    a.add_argument("transfer_id", type=int)
    a.add_argument("--reasons", required=True)
    a.add_argument("--lead", required=True, help="the new lead agency's code")
    d = actions.add_parser("decline", parents=[common, who], help="decline with reasons")
    d.add_argument("transfer_id", type=int)
    d.add_argument("--reasons", required=True)
    actions.add_parser("list", parents=[common, who], help="the area's transfers")
    s = actions.add_parser("show", parents=[common, who], help="one transfer")
    s.add_argument("transfer_id", type=int)
    r = actions.add_parser(
        "receive", parents=[common, who], help="confirm a sent transfer's receipt and complete it"
    )
    r.add_argument("transfer_id", type=int)
    # -- adapters/transfer: ``transfer export CASE --out FILE`` and ``transfer import FILE`` --
    bundles = _bundles()
    if bundles is not None:
        bundles.add_parsers(actions, common)


async def run(args: argparse.Namespace, config: Config) -> int:
    if args.action in _BUNDLE_ACTIONS:
        bundles = _bundles()
        if bundles is None:  # pragma: no cover - the parser offers these only with the adapter
            print("mappa-hub: transfer bundles need adapters/transfer", file=sys.stderr)
            return EXIT_USAGE
        result: int = await bundles.run(args, config)
        return result
    hub = await Hub.open(config)
    try:
        return await _run(hub, args)
    except (InvalidInput, NotFound) as exc:
        print(f"mappa-hub: {exc.public_message}", file=sys.stderr)
        return EXIT_USAGE
    except HubError as exc:
        print(f"mappa-hub: refused: {exc.public_message}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await hub.close()


async def acting_as(hub: Hub, username: str) -> Actor:
    """The active user ``username`` as the actor (also for adapters/transfer's ``send``)."""
    return await _actor(hub, username)


async def _actor(hub: Hub, username: str) -> Actor:
    user = next((u for u in await hub.directory.users() if u.username == username), None)
    if user is None or not user.active:
        raise NotFound(f"No active user {username}.")
    return Actor(user, await hub.directory.agency(user.agency_id))


async def _run(hub: Hub, args: argparse.Namespace) -> int:
    from hub.services.transfers import Proposal

    actor = await _actor(hub, args.as_user)
    t = hub.transfers
    made: Transfer | None = None
    if args.action == "propose":
        case = await hub.cases.get(actor, args.case)
        try:
            when = date.fromisoformat(args.proposed_date)
        except ValueError:
            raise InvalidInput("--date is YYYY-MM-DD.") from None
        made = await t.propose(
            actor,
            Proposal(case.id, args.reason, when, args.to_area, args.peer, args.jurisdiction),
        )
        _print(made)
    elif args.action == "accept":
        _print(await t.accept(actor, args.transfer_id, args.reasons, args.lead))
    elif args.action == "decline":
        _print(await t.decline(actor, args.transfer_id, args.reasons))
    elif args.action == "list":
        for row in await t.for_area(actor):
            print(
                f"{row.id}\t{row.case_reference}\t{row.sending_area_code}->"
                f"{row.receiving_area_code}\t{row.state.value}"
            )
    elif args.action == "show":
        _print(await t.get(actor, args.transfer_id))
    elif args.action == "receive":
        _print(await t.confirm_received(actor, args.transfer_id))
    else:  # pragma: no cover - argparse allows only the actions above
        raise Forbidden(f"unknown action {args.action}")
    if args.action in ("propose", "accept", "decline"):
        await _tell_peer(hub, made if args.action == "propose" else None, args)
    return EXIT_OK


async def _tell_peer(hub: Hub, made: Transfer | None, args: argparse.Namespace) -> None:
    """A step of a transfer between hubs: tell the peer now, if adapters/transfer is here (the
    server's delivery job tells it otherwise)."""
    transfer_id = made.id if made is not None else int(args.transfer_id)
    bundles = _bundles()
    if bundles is not None:
        for line in await bundles.deliver_lines(hub, transfer_id):
            print(line)


def _print(t: Transfer) -> None:
    print(f"transfer {t.id}: {t.case_reference} {t.sending_area_code} -> {t.receiving_area_code}")
    print(f"state: {t.state.value} ({t.state.label})")
    print(f"reason: {t.reason}")
    print(f"proposed date: {t.proposed_date.isoformat()}")
    if t.meeting_held_on:
        print(f"MAPPA meeting held: {t.meeting_held_on.isoformat()}")
    if t.decision_reasons:
        print(f"decision reasons: {t.decision_reasons}")
    if t.new_lead_agency_code:
        print(f"new lead agency: {t.new_lead_agency_code}")
    if t.peer_name:
        told = f"not yet told of the {t.peer_owed}" if t.peer_owed else "told of every step"
        print(f"peer hub {t.peer_name}: {told}" + (f" ({t.peer_error})" if t.peer_error else ""))
