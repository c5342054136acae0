"""``mappa-hub user deactivate|reset-totp|end-sessions|set-password``: the operator's sign-in
controls over one person (``user add|list|set-email`` are in hub.cli.main).

Each acts as the operator (no person: the log entry's actor is empty, as for every operator
command) and is on the log. An unknown username is bad usage (exit 2) and changes nothing.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from hub.config import Config
from hub.errors import InvalidInput, NotFound
from hub.wiring import Hub

EXIT_OK = 0
ACTIONS = ("deactivate", "reset-totp", "end-sessions", "set-password")


def _username(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username", nargs="?", help="the person's username")
    parser.add_argument("--username", dest="username_option", help=argparse.SUPPRESS)


def add_parsers(
    user: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    _username(
        user.add_parser(
            "deactivate",
            parents=[common],
            help="stop a person signing in and end their sessions (nothing else is revoked)",
        )
    )
    _username(
        user.add_parser(
            "reset-totp",
            parents=[common],
            help="a new authenticator and recovery codes for a person (printed once)",
        )
    )
    _username(
        user.add_parser("end-sessions", parents=[common], help="sign a person out everywhere")
    )
    p = user.add_parser(
        "set-password", parents=[common], help="set a forgotten password; ends their sessions"
    )
    _username(p)
    p.add_argument("--password-file", type=Path, help="read the new password from this file")


def print_recovery_codes(codes: tuple[str, ...] | list[str]) -> None:
    print("Recovery codes (show once, to the user only; each signs in once without the app):")
    for code in codes:
        print(f"  {code}")


def _named(args: argparse.Namespace) -> str:
    given = {str(u).strip() for u in (args.username, args.username_option) if u}
    if len(given) != 1:
        raise InvalidInput(f"name one user: mappa-hub user {args.action} USERNAME")
    return given.pop()


def _new_password(path: Path | None) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    if not sys.stdin.isatty():
        raise InvalidInput("give --password-file when not at a terminal")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise InvalidInput("the passwords differ")
    return first


async def run(args: argparse.Namespace, config: Config) -> int:
    username = _named(args)
    hub = await Hub.open(config)
    try:
        accounts = hub.accounts
        if args.action == "deactivate":
            done = await accounts.deactivate(username)
            print(
                f"deactivated {done.user.username}: they can no longer sign in; "
                f"{done.sessions_ended} session(s) ended"
            )
            print(
                "unchanged: their packets, cases and log entries, and "
                f"{done.tokens_issued} API token(s) they issued, which stay in force "
                "(see 'mappa-hub token list'; 'mappa-hub token revoke ID' ends one)"
            )
        elif args.action == "reset-totp":
            reset = await accounts.operator_reset_second_factor(username)
            print(
                f"reset the authenticator of {reset.user.username}: the old app's codes and "
                "recovery codes no longer work, and their sessions have ended"
            )
            print("TOTP enrolment (show once, to the user only):")
            print(f"  {reset.uri}")
            print_recovery_codes(reset.recovery_codes)
        elif args.action == "end-sessions":
            user, ended = await accounts.end_sessions(None, username)
            print(f"signed {user.username} out everywhere: {ended} session(s) ended")
        else:
            if not any(u.username == username for u in await hub.directory.users()):
                raise NotFound(f"unknown user {username}")  # before asking for a password
            user, ended = await accounts.set_password(username, _new_password(args.password_file))
            print(f"set a new password for {user.username}: {ended} session(s) ended")
        return EXIT_OK
    finally:
        await hub.close()
