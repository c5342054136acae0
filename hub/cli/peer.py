"""``mappa-hub peer add|list|remove|fetch-directory|self`` and ``mappa-hub hub-key``.

Pinning a peer hub is a trust decision: ``peer self --out FILE`` on the peer writes its key file
(JSON: format, name, url, key in hex, fingerprint), its operator reads the fingerprint to ours by
another channel (telephone, letter), and ``peer add`` shows the fingerprint of the key it read and
asks for a typed ``yes`` before pinning (``--yes`` for scripts, after checking).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hub.config import Config
from hub.crypto.canonical import canonical_json
from hub.crypto.errors import CryptoFailure
from hub.crypto.http_signatures import decode_key, fingerprint
from hub.errors import InvalidInput
from hub.wiring import Hub

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
KEY_FILE_FORMAT = "mappa-hub-peer-key"


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    peer = sub.add_parser("peer", help="peer hubs (federation)").add_subparsers(
        dest="action", required=True
    )
    a = peer.add_parser("add", parents=[common], help="pin a peer hub by its signing key")
    a.add_argument("name", help="a short name for the peer, e.g. scotland")
    a.add_argument("url", help="its base URL, e.g. https://hub.scotland.example")
    a.add_argument("--key", type=Path, required=True, help="the key file its operator sent")
    a.add_argument("--yes", action="store_true", help="the fingerprint has been checked")
    peer.add_parser("list", parents=[common], help="pinned peers")
    r = peer.add_parser("remove", parents=[common], help="unpin a peer (kept in the history)")
    r.add_argument("name")
    f = peer.add_parser("fetch-directory", parents=[common],
                        help="fetch, verify and keep a peer's signed directory")  # fmt: skip
    f.add_argument("name")
    for parser in (
        peer.add_parser("self", parents=[common], help="this hub's key file, for a peer"),
        sub.add_parser("hub-key", parents=[common], help="this hub's public signing key"),
    ):
        parser.add_argument("--name", default="", help="the name this hub goes by")
        parser.add_argument("--url", default="", help="the base URL peers reach this hub at")
        parser.add_argument("--out", type=Path, help="write the key file here (default: stdout)")


def _grouped(fp: str) -> str:
    """A fingerprint as it is read aloud: groups of four."""
    return " ".join(fp[i : i + 4] for i in range(0, len(fp), 4))


def read_key_file(path: Path) -> bytes:
    """The key from a ``peer self`` file (its fingerprint checked), or a bare hex/base64 key."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    try:
        if isinstance(doc, dict):
            if doc.get("format") != KEY_FILE_FORMAT:
                raise InvalidInput(f"{path} is not a {KEY_FILE_FORMAT} file.")
            key = decode_key(str(doc.get("key", "")))
            if doc.get("fingerprint") not in (None, fingerprint(key)):
                raise InvalidInput(f"{path}: the fingerprint does not match the key in the file.")
            return key
        return decode_key(text)
    except CryptoFailure:
        raise InvalidInput(f"{path} holds no Ed25519 public key (hex or base64).") from None


def _confirm(args: argparse.Namespace, fp: str) -> bool:
    print(f"peer {args.name} at {args.url}")
    print(f"fingerprint (SHA-256 of its signing key):\n  {_grouped(fp)}")
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise InvalidInput("Check the fingerprint with the peer's operator, then use --yes.")
    answer = input("Type yes if this is the fingerprint the peer's operator gave you: ")
    return answer.strip().lower() == "yes"


async def _add(args: argparse.Namespace, hub: Hub) -> int:
    key = read_key_file(args.key)
    if not _confirm(args, fingerprint(key)):
        print("mappa-hub: not pinned", file=sys.stderr)
        return EXIT_FAILED
    peer = await hub.peers.add(None, args.name, args.url, key)
    print(f"pinned peer {peer.name} ({peer.url}), fingerprint {peer.fingerprint}")
    return EXIT_OK


async def _list(hub: Hub) -> int:
    for p in await hub.peers.list():
        fetched = f"{p.directory_fetched_at:%Y-%m-%d %H:%M}" if p.directory_fetched_at else "-"
        state = "active" if p.active else "removed"
        print("\t".join((p.name, p.url, p.fingerprint, state, f"directory {fetched}")))
    return EXIT_OK


async def _fetch_directory(args: argparse.Namespace, hub: Hub) -> int:
    from hub.client.peer import PeerClient  # the HTTP client: imported only to use it

    peer = await hub.peers.get(args.name)
    async with PeerClient(await hub.peers.hub_key(), hub.clock) as client:
        data = await client.fetch_directory(peer)
    directory = await hub.peers.store_directory(peer.name, data)
    print(
        f"directory of {peer.name}: {len(directory.agencies)} agencies, issued "
        f"{directory.issued_at:%Y-%m-%d %H:%M}, valid to {directory.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    return EXIT_OK


async def _self(args: argparse.Namespace, hub: Hub) -> int:
    own = await hub.peers.hub_key()
    doc = {"format": KEY_FILE_FORMAT, "version": 1, "name": args.name, "url": args.url,
           "key": own.public.hex(), "fingerprint": own.fingerprint}  # fmt: skip
    data = canonical_json(doc) + b"\n"
    if args.out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        args.out.write_bytes(data)
    print(f"fingerprint: {_grouped(own.fingerprint)}", file=sys.stderr)
    return EXIT_OK


async def run(args: argparse.Namespace, config: Config) -> int:
    hub = await Hub.open(config)
    try:
        if args.command == "hub-key" or args.action == "self":
            return await _self(args, hub)
        if args.action == "add":
            return await _add(args, hub)
        if args.action == "remove":
            peer = await hub.peers.remove(None, args.name)
            print(f"removed peer {peer.name}: its calls and bundles are refused from now on")
            return EXIT_OK
        if args.action == "fetch-directory":
            return await _fetch_directory(args, hub)
        return await _list(hub)
    finally:
        await hub.close()
