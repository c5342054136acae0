"""``mappa-hub keys import``: register an agency system's own public keys (end-to-end mode).

The agency's system generates its key pairs and keeps the private halves; the operator registers
the public halves here. They become the agency's active keys: the hub wraps content keys for the
X25519 key and verifies headers with the Ed25519 key, and can no longer open or sign anything new
for the agency. The keys the hub held before are retired, not deleted, so older packets stay
readable on the hub.
"""

from __future__ import annotations

import argparse
import base64
import binascii

from hub.config import Config
from hub.errors import InvalidInput, NotFound
from hub.wiring import Hub

EXIT_OK = 0


def add_parser(
    keys: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    k = keys.add_parser(
        "import",
        parents=[common],
        help="make an agency system's own public keys the agency's active keys (end-to-end mode)",
    )
    k.add_argument("--agency", required=True, help="agency code")
    k.add_argument(
        "--encryption-public", required=True, help="the X25519 public key, standard base64"
    )
    k.add_argument(
        "--signing-public", required=True, help="the Ed25519 public key, standard base64"
    )


def _key(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"the {what} public key is not standard base64") from None


async def run(args: argparse.Namespace, config: Config) -> int:
    encryption = _key(args.encryption_public, "encryption")
    signing = _key(args.signing_public, "signing")
    hub = await Hub.open(config)
    try:
        agency = next(
            (a for a in await hub.directory.agencies() if a.code == args.agency.upper()), None
        )
        if agency is None:
            raise NotFound(f"unknown agency {args.agency}")
        active = await hub.keyring.import_public(agency.id, encryption, signing)
    finally:
        await hub.close()
    print(
        f"{agency.code}: imported keys {active.encryption.key_id} (x25519) "
        f"{active.signing.key_id} (ed25519) are now active; the hub holds no private key for them"
    )
    print("the keys the hub held are retired, not deleted: earlier packets stay readable")
    return EXIT_OK
