"""``mappa-hub``: exit 0 on success, 1 on a failed check, 2 on bad usage."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Any

from hub.cli import backup as backup_cli
from hub.cli import case_events as case_events_cli
from hub.cli import email as email_cli
from hub.cli import jobs as jobs_cli
from hub.cli import keys_import
from hub.cli import logs as cli_logs
from hub.cli import peer as peer_cli
from hub.cli import policy as policy_cli
from hub.cli import stats as stats_cli
from hub.cli import tokens as tokens_cli
from hub.cli import transfer as transfer_cli
from hub.cli import users as users_cli
from hub.cli import visor as visor_cli
from hub.cli import witness as witness_cli
from hub.cli import workflows as workflows_cli
from hub.cli.progress import Progress
from hub.config import Config, load_config
from hub.errors import Conflict, Gone, HubError, InvalidInput, NotFound
from hub.ledger.checkpoint import BadCheckpoint, Checkpoint, Receipt
from hub.model.cases import MappaCategory, MappaLevel
from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.services.cases import NewCase
from hub.services.notice_service import valid_address
from hub.wiring import Hub, initialise

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Command = Callable[[argparse.Namespace, Config], Coroutine[Any, Any, int]]


def _add_shared_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--data-dir",
        default=default,
        help="directory for the SQLite database and keys (default $MAPPA_HUB_DATA_DIR or ./var)",
    )
    parser.add_argument(
        "--database-url",
        default=default,
        help="e.g. postgresql://user@host/db (default $MAPPA_HUB_DATABASE_URL, else SQLite)",
    )
    parser.add_argument(
        "--policy-dir",
        default=default,
        help="the policy files (default $MAPPA_HUB_POLICY_DIR, else the source tree's policies/)",
    )
    parser.add_argument(
        "--insecure-cookies",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="session cookie without Secure (plain HTTP beyond localhost; never in production)",
    )


def _parser() -> argparse.ArgumentParser:
    # The shared options are accepted before or after the subcommand
    # (``mappa-hub --data-dir X init`` and ``mappa-hub init --data-dir X``).
    common = argparse.ArgumentParser(add_help=False)
    _add_shared_options(common, default=argparse.SUPPRESS)
    p = argparse.ArgumentParser(prog="mappa-hub", description="MAPPA Hub operator commands")
    _add_shared_options(p, default=None)
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("init", parents=[common], help="create the data directory, KEK and database")
    s = sub.add_parser("serve", parents=[common], help="run the web inbox")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (default 1; about one per core)",
    )
    s.add_argument(
        "--no-cpu-affinity",
        dest="cpu_affinity",
        action="store_false",
        help="with one worker per CPU on SQLite, do not keep each worker on a CPU of its own",
    )
    # Internal: set on the helper processes that --workers starts.
    s.add_argument("--worker-of", type=int, help=argparse.SUPPRESS)
    s.add_argument("--worker-cpu", type=int, help=argparse.SUPPRESS)
    d = sub.add_parser("demo", parents=[common], help="seeded demo on SQLite")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8080)
    d.add_argument(
        "--no-history",
        dest="history",
        action="store_false",
        help="seed today's world only, without the year of Derbyshire's history",
    )

    area = sub.add_parser("area", help="MAPPA areas").add_subparsers(dest="action", required=True)
    a = area.add_parser("add", parents=[common])
    a.add_argument("code")
    a.add_argument("name")
    a.add_argument(
        "--jurisdiction", choices=[j.value for j in Jurisdiction], default="england-and-wales"
    )
    area.add_parser("list", parents=[common])

    agency = sub.add_parser("agency", help="agencies").add_subparsers(dest="action", required=True)
    a = agency.add_parser("add", parents=[common])
    a.add_argument("code")
    a.add_argument("name")
    a.add_argument("--type", required=True, choices=[t.value for t in AgencyType])
    a.add_argument("--area", required=True, help="area code")
    agency.add_parser("list", parents=[common])

    user = sub.add_parser("user", help="users").add_subparsers(dest="action", required=True)
    u = user.add_parser("add", parents=[common])
    u.add_argument("username")
    u.add_argument("--agency", required=True, help="agency code")
    u.add_argument("--role", required=True, choices=[r.value for r in Role])
    u.add_argument("--name", default="", help="display name")
    u.add_argument("--password-file", type=Path, help="read the initial password from this file")
    u.add_argument("--email", help="work address for the hub's email notifications")
    user.add_parser("list", parents=[common])
    u = user.add_parser("set-email", parents=[common], help="set where a person's email goes")
    u.add_argument("username")
    to = u.add_mutually_exclusive_group(required=True)
    to.add_argument("address", nargs="?", help="work email address")
    to.add_argument("--none", action="store_true", help="send this person no email")
    users_cli.add_parsers(user, common)

    case = sub.add_parser("case", help="cases").add_subparsers(dest="action", required=True)
    c = case.add_parser("add", parents=[common])
    c.add_argument("--family-name", required=True)
    c.add_argument("--given-names", required=True)
    c.add_argument("--category", type=int, choices=[1, 2, 3], required=True)
    c.add_argument("--level", type=int, choices=[1, 2, 3], required=True)
    c.add_argument("--lead", required=True, help="lead agency code")
    c.add_argument("--dob", type=date.fromisoformat, help="date of birth, YYYY-MM-DD")
    c.add_argument("--visor")
    c.add_argument("--pnc")
    c.add_argument("--crn", help="nDelius case reference number")
    c.add_argument("--reference", help="case reference (default: AREA-YEAR-NNNN)")
    case.add_parser("list", parents=[common])
    c = case.add_parser("show", parents=[common])
    c.add_argument("reference")
    c = case.add_parser("set-level", parents=[common], help="change a case's MAPPA level")
    c.add_argument("reference")
    c.add_argument("--level", type=int, choices=[1, 2, 3], required=True)
    c.add_argument("--category", type=int, choices=[1, 2, 3])

    c = case.add_parser(
        "involve",
        parents=[common],
        help="make an agency active on a case (the case page opens to it; shares to it are "
        "inside the case's arrangements)",
    )
    c.add_argument("reference")
    c.add_argument("agency", help="agency code, e.g. NTT-HOUSING")
    case_events_cli.add_parsers(case, common)
    c = case.add_parser("combine", parents=[common], help="combine a duplicate record into a case")
    c.add_argument("keep", help="reference of the case to keep")
    c.add_argument("duplicate", help="reference of the duplicate record")

    packet = sub.add_parser("packet", help="packets").add_subparsers(dest="action", required=True)
    shred = packet.add_parser("shred", parents=[common], help="erase a packet's content for good")
    shred.add_argument("packet_id")

    keys = sub.add_parser("keys", help="agency keys").add_subparsers(dest="action", required=True)
    keys.add_parser("list", parents=[common])
    k = keys.add_parser("rotate", parents=[common])
    group = k.add_mutually_exclusive_group(required=True)
    group.add_argument("--agency", help="agency code")
    group.add_argument("--all", action="store_true", help="every agency")
    keys_import.add_parser(keys, common)

    ledger = sub.add_parser("ledger", help="the log").add_subparsers(dest="action", required=True)
    v = ledger.add_parser(
        "verify", parents=[common], help="recompute the log, tree and checkpoints"
    )
    v.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help="an exported checkpoint held elsewhere, to check the log against (repeatable)",
    )
    c = ledger.add_parser("checkpoint", parents=[common], help="sign a checkpoint now")
    c.add_argument("--out", type=Path, help="also export it to this file")
    r = ledger.add_parser("check-receipt", help="check a receipt offline (no database)")
    r.add_argument("receipt", type=Path)
    r.add_argument(
        "--hub-key", type=Path, help="the hub's pinned public keys file (hub-signing.pub)"
    )
    policy_cli.add_parser(sub, common)
    tokens_cli.add_parser(sub, common)
    email_cli.add_parser(sub, common)
    workflows_cli.add_parsers(sub, common)
    visor_cli.add_parsers(sub, common)
    transfer_cli.add_parsers(sub, common)
    peer_cli.add_parsers(sub, common)
    witness_cli.add_parsers(sub, common)
    stats_cli.add_parsers(sub, common)
    backup_cli.add_parsers(sub, common)
    jobs_cli.add_parsers(sub, common)
    return p


async def _with_hub(config: Config, body: Callable[[Hub], Awaitable[int]]) -> int:
    hub = await Hub.open(config)
    try:
        return await body(hub)
    finally:
        await hub.close()


async def cmd_init(args: argparse.Namespace, config: Config) -> int:
    created = await initialise(config)
    print(f"database ready at {_redact(config.database_url)}")
    if config.owner_database_url:
        print(f"  migrated as the owner: {_redact(config.owner_database_url)}")
    if created:
        print(
            f"new key-encryption key written to {config.kek_path}: back it up apart from the database"
        )
    return EXIT_OK


async def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from hub.cli import affinity
    from hub.cli.serve import Helpers, run_server

    if not 1 <= args.workers <= 64:
        raise InvalidInput("--workers is between 1 and 64.")
    many = args.workers > 1 or args.worker_of is not None
    cpus = None
    if args.worker_cpu is not None:
        affinity.pin(args.worker_cpu)
    elif args.cpu_affinity and args.worker_of is None:
        cpus = affinity.plan(args.workers, config.is_sqlite)
        if cpus is not None:
            affinity.pin(cpus[0])
    hub = await Hub.open(config)
    helpers = None
    if args.workers > 1 and args.worker_of is None:
        helpers = Helpers(_helper_argv(args.argv), args.workers - 1, cpus[1:] if cpus else None)
    await run_server(
        hub, args.host, args.port, reuse_port=many, worker_of=args.worker_of, helpers=helpers
    )
    return EXIT_OK


def _helper_argv(argv: list[str]) -> list[str]:
    """This command line for a helper worker: the same options, one worker."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return out


async def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from hub.cli.demo import run_demo

    return await run_demo(config, args.host, args.port, history=args.history)


async def cmd_area(args: argparse.Namespace, config: Config) -> int:
    async def body(hub: Hub) -> int:
        if args.action == "add":
            area = await hub.directory.add_area(
                args.code, args.name, Jurisdiction(args.jurisdiction)
            )
            print(f"added area {area.code}")
        else:
            for a in await hub.directory.areas():
                print(f"{a.code}\t{a.name}\t{a.jurisdiction.value}")
        return EXIT_OK

    return await _with_hub(config, body)


async def cmd_agency(args: argparse.Namespace, config: Config) -> int:
    async def body(hub: Hub) -> int:
        if args.action == "add":
            agency = await hub.directory.add_agency(
                args.code, args.name, AgencyType(args.type), args.area.upper()
            )
            print(f"added agency {agency.code} with fresh encryption and signing keys")
        else:
            areas = {a.id: a.code for a in await hub.directory.areas()}
            for a in await hub.directory.agencies():
                print(f"{a.code}\t{areas[a.area_id]}\t{a.type.value}\t{a.kind.value}\t{a.name}")
        return EXIT_OK

    return await _with_hub(config, body)


def _read_password(path: Path | None) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    if not sys.stdin.isatty():
        raise InvalidInput("give --password-file when not at a terminal")
    first = getpass.getpass("Initial password: ")
    if getpass.getpass("Again: ") != first:
        raise InvalidInput("the passwords differ")
    return first


async def cmd_user(args: argparse.Namespace, config: Config) -> int:
    if args.action in users_cli.ACTIONS:
        return await users_cli.run(args, config)

    async def body(hub: Hub) -> int:
        if args.action == "set-email":
            user = await hub.notices.set_email(args.username, None if args.none else args.address)
            print(f"{user.username}: {user.email or 'no email address'}")
            return EXIT_OK
        if args.action == "add":
            password = _read_password(args.password_file)
            if args.email is not None:  # checked before the user is added: nothing half-done
                valid_address(args.email)
            enrolment = await hub.directory.add_user(
                args.username, args.name, args.agency.upper(), Role(args.role), password
            )
            print(f"added user {enrolment.user.username}")
            if args.email is not None:
                await hub.notices.set_email(args.username, args.email)
            print("TOTP enrolment (show once, to the user only):")
            print(f"  {enrolment.totp_uri}")
            users_cli.print_recovery_codes(
                await hub.accounts.recovery_codes_at_enrolment(enrolment.user.username)
            )
        else:
            agencies = {a.id: a.code for a in await hub.directory.agencies()}
            for u in await hub.directory.users():
                print(
                    f"{u.username}\t{agencies[u.agency_id]}\t{u.role.value}\t{u.display_name}"
                    f"\t{u.email or '-'}"
                )
        return EXIT_OK

    return await _with_hub(config, body)


async def cmd_case(args: argparse.Namespace, config: Config) -> int:
    async def body(hub: Hub) -> int:
        agencies = {a.id: a.code for a in await hub.directory.agencies()}
        if args.action == "add":
            case = await hub.cases.add(
                None,
                NewCase(
                    family_name=args.family_name,
                    given_names=args.given_names,
                    category=MappaCategory(args.category),
                    level=MappaLevel(args.level),
                    lead_agency_code=args.lead.upper(),
                    date_of_birth=args.dob,
                    visor_ref=args.visor,
                    pnc_ref=args.pnc,
                    ndelius_crn=args.crn,
                    reference=args.reference,
                ),
            )
            print(f"added case {case.reference}")
        elif args.action == "set-level":
            c = await hub.cases.change_level(
                None,
                args.reference,
                MappaLevel(args.level),
                MappaCategory(args.category) if args.category else None,
            )
            print(f"{c.reference}: now category {c.category.value}, level {c.level.value}")
        elif args.action == "involve":
            c = await hub.cases.involve(None, args.reference, args.agency)
            print(f"{args.agency.upper()} is now active on {c.reference}")
        elif args.action in ("event", "events"):
            await case_events_cli.run(hub, args)
        elif args.action == "combine":
            kept = await hub.cases.combine(None, args.keep, args.duplicate)
            print(f"{args.duplicate} combined into {kept.reference}")
        elif args.action == "list":
            for c in await hub.cases.visible_to(None):
                print(
                    f"{c.reference}\tcat {c.category.value}\tlevel {c.level.value}\t"
                    f"lead {agencies[c.lead_agency_id]}\t{c.display_name}"
                )
        else:
            c = await hub.cases.get(None, args.reference)
            for label, value in [
                ("reference", c.reference),
                ("name", c.display_name),
                ("date of birth", c.date_of_birth or ""),
                ("ViSOR", c.visor_ref or ""),
                ("PNC", c.pnc_ref or ""),
                ("nDelius CRN", c.ndelius_crn or ""),
                ("category", c.category.value),
                ("level", c.level.value),
                ("lead agency", agencies[c.lead_agency_id]),
            ]:
                print(f"{label:14} {value}")
        return EXIT_OK

    return await _with_hub(config, body)


async def cmd_keys(args: argparse.Namespace, config: Config) -> int:
    if args.action == "import":
        return await keys_import.run(args, config)

    async def body(hub: Hub) -> int:
        agencies = await hub.directory.agencies()
        if args.action == "rotate":
            chosen = (
                agencies if args.all else [a for a in agencies if a.code == args.agency.upper()]
            )
            if not chosen:
                raise NotFound(f"unknown agency {args.agency}")
            for agency in chosen:
                active = await hub.keyring.issue(agency.id)
                print(f"{agency.code}: new keys {active.encryption.key_id} {active.signing.key_id}")
            print("older keys are retired, not deleted: earlier packets stay readable")
        else:
            from hub.store import keys as key_store

            codes = {a.id: a.code for a in agencies}
            async with hub.db.read() as conn:
                for k in await key_store.all_keys(conn):
                    state = "active" if k.active else f"retired {k.retired_at:%Y-%m-%d}"
                    if not k.held_by_hub:
                        state += " (imported: private key held by the agency's system)"
                    print(f"{codes[k.agency_id]}\t{k.purpose}\t{k.key_id}\t{state}")
        return EXIT_OK

    return await _with_hub(config, body)


async def cmd_ledger(args: argparse.Namespace, config: Config) -> int:
    if args.action == "check-receipt":
        return _check_receipt(args.receipt, args.hub_key)

    async def body(hub: Hub) -> int:
        if args.action == "checkpoint":
            cp = await hub.ledger.checkpoint()
            print(f"checkpoint: tree size {cp.tree_size}, root {cp.root.hex()}")
            if args.out:
                args.out.write_text(json.dumps(cp.to_json(), indent=2) + "\n")
                print(f"exported to {args.out}: keep it outside this hub's database")
            return EXIT_OK
        trusted = [_held_checkpoint(p) for p in args.checkpoint]
        progress = Progress("verifying")
        try:
            report = await hub.ledger.verify(trusted, progress)
        finally:
            progress.close()
        print(
            f"ledger verified: {report.entries} entries, chain intact, Merkle root "
            f"{report.root.hex()}; {report.checkpoints} signed checkpoints and "
            f"{report.trusted_checkpoints} exported checkpoints consistent"
        )
        return EXIT_OK

    return await _with_hub(config, body)


def _held_checkpoint(path: Path) -> Checkpoint:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BadCheckpoint(f"{path} is not a checkpoint file") from None
    return Checkpoint.from_json(doc)


def _check_receipt(path: Path, pins_file: Path | None) -> int:
    from hub.services.checkpoints import read_pins

    receipt = Receipt.from_bytes(path.read_bytes())
    pins = read_pins(pins_file) if pins_file else set()
    if pins_file and receipt.checkpoint.public_key not in pins:
        print("mappa-hub: the receipt is signed by a key that is not pinned", file=sys.stderr)
        return EXIT_FAILED
    entry = receipt.verify()
    print(
        f"receipt verified: entry {receipt.seq} ({entry['action']}, {entry['event']}, at "
        f"{entry['at']}) is in the log of {receipt.checkpoint.tree_size} entries signed at "
        f"{receipt.checkpoint.signed_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    if not pins_file:
        print(
            f"signing key {receipt.checkpoint.public_key.hex()}: compare it with the hub's "
            "published key, or pass --hub-key"
        )
    return EXIT_OK


async def cmd_packet(args: argparse.Namespace, config: Config) -> int:
    async def body(hub: Hub) -> int:
        await hub.packets.shred(args.packet_id)
        print(f"packet {args.packet_id}: content keys destroyed; the log and proofs remain")
        return EXIT_OK

    return await _with_hub(config, body)


COMMANDS: dict[str, Command] = {
    "init": cmd_init,
    "serve": cmd_serve,
    "demo": cmd_demo,
    "area": cmd_area,
    "agency": cmd_agency,
    "user": cmd_user,
    "case": cmd_case,
    "keys": cmd_keys,
    "ledger": cmd_ledger,
    "packet": cmd_packet,
    "policy": policy_cli.run,
    "token": tokens_cli.run,
    "email": email_cli.run,
    "forms": workflows_cli.run_forms,
    "deadlines": workflows_cli.run_deadlines,
    "export": visor_cli.run_export,
    "import": visor_cli.run_import,
    "transfer": transfer_cli.run,
    "peer": peer_cli.run,
    "hub-key": peer_cli.run,
    "witness": witness_cli.run,
    "stats": stats_cli.run,
    "backup": backup_cli.run_backup,
    "restore": backup_cli.run_restore,
    "jobs": jobs_cli.run,
}


def _redact(url: str) -> str:
    """Hide any password in a database URL before printing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    cli_logs.configure(os.environ.get("MAPPA_HUB_LOG_LEVEL", "WARNING"))
    try:
        config = load_config(
            args.data_dir,
            args.database_url,
            policy_dir=args.policy_dir,
            cookie_secure=not args.insecure_cookies,
        )
        return asyncio.run(COMMANDS[args.command](args, config))
    except (InvalidInput, NotFound, Conflict, Gone) as exc:
        print(f"mappa-hub: {exc.public_message}", file=sys.stderr)
        return EXIT_USAGE
    except HubError as exc:
        print(f"mappa-hub: {exc.public_message}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # a file named on the command line cannot be read or written
        print(f"mappa-hub: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILED
