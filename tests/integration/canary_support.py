"""Canaries and where to look for them: a secret or a piece of content the hub must never let out,
every form it would likely take if it leaked, and a search over captured artefacts (log files,
pages, emails, ledger rows, bundles) that says where one was found without printing it.

A canary is checked in every artefact except the kinds it is allowed in by design, each with the
reason (a session's CSRF token is on the pages served to that session; the person who typed a
username sees it again on the sign-in page).
"""

from __future__ import annotations

import base64
import html
import json
import tarfile
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# Kinds of artefact: each captured blob is one of these.
LOG = "log"  # the hub's log at DEBUG (every logger, as MAPPA_HUB_LOG_LEVEL=DEBUG gives)
ACCESS_LOG = "access-log"  # aiohttp.access, the request lines
PAGE = "page"  # an error page or problem document, as the client received it
EMAIL = "email"  # a message as the SMTP relay received it
LEDGER = "ledger"  # ledger rows, the entries' bytes, `ledger verify` output
BUNDLE = "bundle"  # files written by exports, transfers and backups
CLI = "cli"  # a command's stdout and stderr at DEBUG
DATABASE = "database"  # the database files, or a pg_dump

# Shorter derived forms could match by chance; every canary is long enough to clear this (a
# recovery code, 10 characters of base32, is the shortest: one chance in 2^50 per position).
_MIN_FORM = 10
_EXCERPT = 24
# A piece of a canary this long at an excerpt's edge is masked too.
_PIECE = 6


@dataclass(frozen=True)
class Canary:
    name: str
    value: str | bytes
    # Artefact kind -> why the canary belongs there by design.
    allowed: dict[str, str] = field(default_factory=dict)
    # A control: it must be found in every kind it is allowed in (see ``unused_allowances``).
    control: bool = False
    # The canary's random part, searched for on its own too: it survives an encoding of the rest
    # that no form here foresaw (a URL library's own choice of what to escape, a truncation).
    core: str | None = None

    def forms(self) -> dict[str, bytes]:
        """Every encoding a leak would likely take: as is, escaped for HTML, JSON and URLs,
        and the hex, base64 and base32 of its bytes."""
        raw = self.value.encode() if isinstance(self.value, str) else self.value
        found: dict[str, bytes] = {"raw": raw, "hex": raw.hex().encode()}
        found["HEX"] = raw.hex().upper().encode()
        if isinstance(self.value, str):
            found["html"] = html.escape(self.value).encode()
            found["json"] = json.dumps(self.value)[1:-1].encode()
            found["url"] = urllib.parse.quote(self.value, safe="").encode()
            found["url+"] = urllib.parse.quote_plus(self.value).encode()
            found["utf-16"] = self.value.encode("utf-16-le")
        if self.core is not None:
            found["core"] = self.core.encode()
        # A short value's base64 at an awkward alignment leaves too few characters to search.
        found.update((k, v) for k, v in _base64_forms(raw).items() if len(v) >= _MIN_FORM)
        found["base32"] = base64.b32encode(raw).rstrip(b"=")
        forms = {k: v for k, v in found.items() if v}
        short = [k for k, v in forms.items() if len(v) < _MIN_FORM]
        assert not short, f"canary {self.name} is too short to search for reliably ({short})"
        return forms


def _base64_forms(raw: bytes) -> dict[str, bytes]:
    """Base64 of ``raw`` wherever it sits in a larger encoded blob: for each of the three
    alignments, the run of characters that depends only on ``raw`` (standard and URL-safe)."""
    out: dict[str, bytes] = {}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        # Characters touching the padding prefix or the unknown tail vary with the neighbours.
        start = 0 if shift == 0 else 4
        whole = (shift + len(raw)) // 3 * 4
        core = encoded[start:whole]
        out[f"base64@{shift}"] = core
        out[f"base64url@{shift}"] = core.replace(b"+", b"-").replace(b"/", b"_")
    return out


@dataclass(frozen=True)
class Artefact:
    kind: str
    where: str
    data: bytes


def file_artefacts(kind: str, root: Path) -> list[Artefact]:
    """Every file under ``root`` (a file or a directory), and every member of a tar file."""
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    found = []
    for path in paths:
        found.append(Artefact(kind, str(path), path.read_bytes()))
        if tarfile.is_tarfile(path):
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    extracted = tar.extractfile(member) if member.isfile() else None
                    if extracted is not None:
                        found.append(Artefact(kind, f"{path}!{member.name}", extracted.read()))
                    # The member's name is data too (an attachment's file name, say).
                    found.append(Artefact(kind, f"{path}!name", member.name.encode()))
    return found


def _masked(data: bytes, at: int, length: int, all_forms: Iterable[bytes]) -> str:
    """The bytes either side of a hit, with the hit, any other canary form and any piece of one
    cut by the excerpt's edges masked."""
    before, after = data[max(0, at - _EXCERPT) : at], data[at + length : at + length + _EXCERPT]
    forms = sorted(all_forms, key=len, reverse=True)
    for form in forms:
        before, after = before.replace(form, b"<CANARY>"), after.replace(form, b"<CANARY>")
    for form in forms:
        for k in range(min(len(form) - 1, _EXCERPT), _PIECE - 1, -1):
            if before.startswith(form[-k:]):
                before = b"<CANARY>" + before[k:]
            if after.endswith(form[:k]):
                after = after[:-k] + b"<CANARY>"
    return repr(before + b"<CANARY>" + after)


def leaks(canaries: Iterable[Canary], artefacts: Iterable[Artefact]) -> list[str]:
    """Where a canary was found: artefact, canary, form and a masked excerpt, one per line."""
    with_forms = [(c, c.forms()) for c in canaries]
    every_form = [f for _, forms in with_forms for f in forms.values()]
    found = []
    for artefact in artefacts:
        for canary, forms in with_forms:
            if artefact.kind in canary.allowed:
                continue
            for form_name, form in forms.items():
                at = artefact.data.find(form)
                if at >= 0:
                    excerpt = _masked(artefact.data, at, len(form), every_form)
                    found.append(
                        f"{canary.name} ({form_name}) in {artefact.kind} {artefact.where}: "
                        f"{excerpt}"
                    )
                    break
    return found


def unused_allowances(canaries: Iterable[Canary], artefacts: Iterable[Artefact]) -> list[str]:
    """A control canary allowed in a kind of artefact and found in none of that kind. Controls
    show the search sees what it should (a session's CSRF token on its pages and in the sessions
    table, the letter in the email), and catch an allowance left behind after its reason went."""
    artefacts = list(artefacts)
    unused = []
    for canary in (c for c in canaries if c.control):
        forms = canary.forms().values()
        for kind, reason in canary.allowed.items():
            if not any(f in a.data for a in artefacts if a.kind == kind for f in forms):
                unused.append(f"{canary.name}: allowed in {kind} ({reason}), found in none")
    return unused
