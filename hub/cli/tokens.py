"""``mappa-hub token issue|list|revoke``: API tokens for agency systems, from the operator's console.

``issue`` prints the token's secret on standard output and nothing else there, so that it can be
piped straight into the system's secret store; it is shown this once (only its hash is kept).
A token issued here acts for no person: its system names one per call (``On-Behalf-Of``) to
propose, decide or record a disclosure. Issuing and revoking are on the log.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from hub.config import Config
from hub.errors import InvalidInput
from hub.model.directory import Role
from hub.services.tokens import DEFAULT_LIFETIME, Scope, Token
from hub.wiring import Hub

EXIT_OK = 0
MAX_DAYS = 365
_ROLES = (Role.PRACTITIONER, Role.COORDINATOR)


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    token = sub.add_parser("token", help="API tokens for agency systems").add_subparsers(
        dest="action", required=True
    )
    i = token.add_parser(
        "issue", parents=[common], help="issue a token (its secret is printed once)"
    )
    i.add_argument("--agency", required=True, help="agency code")
    i.add_argument("--name", required=True, help="the system the token is for")
    i.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="SCOPE",
        help=f"what it may do (repeatable): {', '.join(s.value for s in Scope)}",
    )
    i.add_argument(
        "--case",
        action="append",
        metavar="REF",
        help="limit it to this case reference (repeatable; default every case of the area)",
    )
    i.add_argument(
        "--days",
        type=int,
        default=DEFAULT_LIFETIME.days,
        help=f"lifetime in days, 1-{MAX_DAYS} (default {DEFAULT_LIFETIME.days})",
    )
    i.add_argument(
        "--role",
        choices=[r.value for r in _ROLES],
        default=Role.PRACTITIONER.value,
        help=(
            "what its system account acts as (disclosures:decide needs coordinator, and a "
            "policy that allows delegated decisions)"
        ),
    )
    li = token.add_parser("list", parents=[common], help="tokens, of one agency or all")
    li.add_argument("--agency", help="agency code")
    r = token.add_parser("revoke", parents=[common], help="revoke a token and its system account")
    r.add_argument("id", type=int, help="the token's id (see 'token list')")


def _state(token: Token, hub: Hub) -> str:
    if token.revoked_at is not None:
        return f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"
    if token.expires_at <= hub.clock.now():
        return "expired"
    return "active"


async def _issue(args: argparse.Namespace, hub: Hub) -> int:
    if not 1 <= args.days <= MAX_DAYS:
        raise InvalidInput(f"--days is 1 to {MAX_DAYS}")
    issued = await hub.tokens.issue(
        None,
        args.agency.upper(),
        args.name,
        args.scope,
        lifetime=timedelta(days=args.days),
        case_references=args.case,
        role=Role(args.role),
    )
    t = issued.token
    print(
        f"issued token {t.id} ({t.name}) for {args.agency.upper()}: "
        f"{', '.join(sorted(s.value for s in t.scopes))}; expires {t.expires_at:%Y-%m-%d %H:%M} UTC",
        file=sys.stderr,
    )
    print(
        "mappa-hub: the secret below is shown only this once and the hub keeps only its hash: "
        "store it now, and revoke the token if it is lost",
        file=sys.stderr,
        flush=True,
    )
    print(issued.secret, flush=True)
    return EXIT_OK


async def _list(args: argparse.Namespace, hub: Hub) -> int:
    agency = args.agency.upper() if args.agency else None
    tokens = await hub.tokens.list(None, agency)
    codes = {a.id: a.code for a in await hub.directory.agencies()}
    users = {u.id: u.username for u in await hub.directory.users()}
    cases = {c.id: c.reference for c in await hub.cases.visible_to(None)}
    for t in tokens:
        limit = (
            "*"
            if t.case_ids is None
            else ",".join(sorted(cases.get(i, f"#{i}") for i in t.case_ids))
        )
        print(
            "\t".join(
                [
                    str(t.id),
                    codes.get(t.agency_id, "?"),
                    t.name,
                    ",".join(sorted(s.value for s in t.scopes)),
                    limit or "-",
                    f"created {t.created_at:%Y-%m-%d %H:%M}",
                    f"expires {t.expires_at:%Y-%m-%d %H:%M}",
                    _state(t, hub),
                    users.get(t.user_id, "?"),
                    # Who issued it: the person it acts for unless a call names another.
                    users.get(t.issued_by_user_id, "?") if t.issued_by_user_id else "operator",
                ]
            )
        )
    return EXIT_OK


async def _revoke(args: argparse.Namespace, hub: Hub) -> int:
    t = await hub.tokens.revoke(None, args.id)
    print(f"revoked token {t.id} ({t.name}); its system account is deactivated")
    return EXIT_OK


async def run(args: argparse.Namespace, config: Config) -> int:
    hub = await Hub.open(config)
    try:
        if args.action == "issue":
            return await _issue(args, hub)
        if args.action == "list":
            return await _list(args, hub)
        return await _revoke(args, hub)
    finally:
        await hub.close()
