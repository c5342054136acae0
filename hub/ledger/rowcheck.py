"""Accepting stored ledger rows in bulk: the entry bytes are compared, never decoded.

The exact check (``ChainVerifier.feed``) decodes each entry's JSON and compares it with the row's
columns, about 25 µs an entry. Here the entry an honest hub would have written is rendered from the
columns (``Record`` -> ``encode`` by hand, in one join) and compared with the stored bytes, then
hashed: a few microseconds an entry, most of it reading and hashing. Entries of the current version
(v4, which names a message's channel and recipient address) and of v3, which lacks those two keys,
are rendered in the loop; v1 and v2 entries in ``_render_older``.

It only ever accepts. A row it does not accept (another shape, a gap, a tamper) is left to the exact
check, which decides and names the first bad entry; so it must never accept a row the exact check
would refuse. A rendering equals ``canonical_json`` of the columns only when no string needs
escaping, so that is checked too: no quote inside a value (each row's quotes are counted), no
backslash or control character in the batch, and times and recipients in the forms that read back
unchanged (``datetime.fromisoformat`` then ``entries._iso``; ``Entry.columns``'s join). Integers
must be ``int`` and text ``str`` (format specs refuse anything else), so that no other storage class
passes for the right one: a column that only equals the entry once cast would still mislead a
query. tests/unit/test_ledger_rowcheck.py holds the two checks to the same answer for every tamper.

On SQLite the rendering is SQLite's own (``accept_compared``): ``json_object`` over the columns,
compared with the entry in the statement, so that a row reaches Python as seven values rather than
twenty. Whatever that comparison does not accept is then offered to ``accept`` by its columns.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

Row = Sequence[Any]

# Rows are (seq, entry_hash, entry, then these columns), as hub.store.ledger_rows selects them, in
# the order of the entry's keys; "at" is recorded_at as the entry writes it, without the "Z".
COLUMNS = (
    "action",
    "actor_agency_id",
    "actor_token_id",
    "actor_user_id",
    "at",
    "case_id",
    "channel",
    "content_digest",
    "decision",
    "event",
    "lawful_basis",
    "packet_id",
    "policy_version",
    "prev_hash",
    "purpose",
    "recipients",
    "recipient_address",
)
PREV = 3 + COLUMNS.index("prev_hash")

_NUMBER = "(?:0|[1-9][0-9]*)"
_RECIPIENTS = re.compile(f"(?:{_NUMBER}(?:,{_NUMBER})*)?")
_LEAP_YEAR = "(?:[1-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)"
_DATE = (
    "(?:[1-9][0-9]{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    "|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    f"|{_LEAP_YEAR}-02-29)"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}"
# A batch's times are checked joined by newlines, with one match.
_TIMES = re.compile(f"(?:{_DATE}T{_TIME}(?:\n{_DATE}T{_TIME})*)?")
# Bytes allowed anywhere in an entry that needs no escaping (0x20 and up, but not the backslash).
_UNESCAPED = bytes(range(0x20, 0x100)).replace(b"\\", b"")
_Q = '"'
# Quotes each version's rendering holds besides those of non-null nullable strings: two per key
# and two per string that is never null (action, at, event, lawful_basis, prev, purpose).
_QUOTES = {1: 2 * 14 + 12, 2: 2 * 16 + 12, 3: 2 * 17 + 12, 4: 2 * 19 + 12}
# The parts where v3 and v4 differ, chosen by the entry's last digit (canonical JSON ends with
# ``"v":N}``): v4 adds "channel" after "case" and "to" after "seq". A v3 row must hold neither.
_V3_TAIL = ',"v":3}'
_V4_TAIL = ',"v":4}'
_V3_QUOTES, _V4_QUOTES = _QUOTES[3], _QUOTES[4]
_CHANNEL, _NO_CHANNEL = ',"channel":"', ',"channel":null'
_ADDRESS, _NO_ADDRESS = ',"to":"', ',"to":null'


def _int(value: int | None) -> str:
    return "null" if value is None else f"{value:d}"


def _str(value: str | None) -> str:
    return "null" if value is None else f'"{value:s}"'


def _render_older(row: Row, version: int) -> str | None:
    """A v1 or v2 entry from the columns, or None if they hold what that version cannot."""
    (_, _, _, action, agency, token, user, at, case, channel, digest, decision, event, basis,
     packet, policy, prev, purpose, recipients, address, seq) = (*row, row[0])  # fmt: skip
    if token is not None or channel is not None or address is not None:
        return None  # the exact check reads a field the version lacks as None
    if version == 1 and (decision is not None or policy is not None):
        return None
    middle = "" if version == 1 else f',"decision":{_str(decision)}'
    policy_part = "" if version == 1 else f',"policy_version":{_str(policy)}'
    return (
        f'{{"action":"{action:s}","actor_agency":{_int(agency)},"actor_user":{_int(user)},'
        f'"at":"{at:s}Z","case":{_int(case)},"content_digest":{_str(digest)}{middle},'
        f'"event":"{event:s}","lawful_basis":"{basis:s}","packet":{_str(packet)}{policy_part},'
        f'"prev":"{prev:s}","purpose":"{purpose:s}","recipients":[{recipients:s}],'
        f'"seq":{seq:d},"v":{version}}}'
    )


def _older_accepted(row: Row, data: bytes) -> bool:
    version = {b"1": 1, b"2": 2}.get(data[-2:-1])
    if version is None:
        return False
    built = _render_older(row, version)
    if built is None or built.encode() != data:
        return False
    nullable = (row[10], row[14]) if version == 1 else (row[10], row[11], row[14], row[15])
    return built.count(_Q) == _QUOTES[version] + 2 * sum(v is not None for v in nullable)


def accept(rows: Iterable[Row], seq: int, prev: str, leaves: bytearray) -> tuple[int, str]:
    """Accept rows in ``seq`` order for as long as each checks out; return the (seq, hash) of the
    last one accepted, starting from ``seq`` and ``prev``, the entry before the first row.

    Appends each accepted row's leaf hash to ``leaves``. The first row not accepted, and every row
    after it, is left to the exact check; and if the rows accepted hold a value that a rendering
    cannot carry unescaped, or a time or recipient list in another form, none of them is accepted.
    """
    start_seq, start_prev = seq, prev
    entries: list[bytes] = []
    hashes: list[str] = []
    times: list[str] = []
    recipient_lists: set[str] = set()
    sha256 = hashlib.sha256
    int_text = int.__repr__
    for row in rows:
        (row_seq, entry_hash, data, action, agency, token, user, at, case, channel, digest,
         decision, event, basis, packet, policy, row_prev, purpose, recipients,
         address) = row  # fmt: skip
        if row_seq != seq + 1 or row_prev != prev:
            break
        try:
            if data[-2:-1] == b"4":
                # str + anything but str raises, as str.join does below.
                channel_part = _NO_CHANNEL if channel is None else _CHANNEL + channel + _Q
                to_part = _NO_ADDRESS if address is None else _ADDRESS + address + _Q
                tail, quotes = _V4_TAIL, _V4_QUOTES
            elif channel is None and address is None:
                channel_part = to_part = ""
                tail, quotes = _V3_TAIL, _V3_QUOTES
            else:
                break  # an older entry cannot hold a channel: the exact check refuses the row
            # str.join refuses anything but str, int.__repr__ anything but int: no other storage
            # class passes for the right one.
            built = "".join((
                '{"action":"', action,
                '","actor_agency":', "null" if agency is None else int_text(agency),
                ',"actor_token":', "null" if token is None else int_text(token),
                ',"actor_user":', "null" if user is None else int_text(user),
                ',"at":"', at,
                'Z","case":', "null" if case is None else int_text(case),
                channel_part,
                ',"content_digest":', "null" if digest is None else _Q + digest + _Q,
                ',"decision":', "null" if decision is None else _Q + decision + _Q,
                ',"event":"', event,
                '","lawful_basis":"', basis,
                '","packet":', "null" if packet is None else _Q + packet + _Q,
                ',"policy_version":', "null" if policy is None else _Q + policy + _Q,
                ',"prev":"', row_prev,
                '","purpose":"', purpose,
                '","recipients":[', recipients,
                '],"seq":', int_text(row_seq), to_part, tail,
            ))  # fmt: skip
            if built.encode() == data:
                nulls = (digest, decision, packet, policy, channel, address).count(None)
                if built.count(_Q) != quotes + 12 - 2 * nulls:
                    break  # a quote inside a value: the rendering is not canonical JSON
            elif not _older_accepted(row, data):
                break
        except (TypeError, ValueError, UnicodeError):  # a column of another type
            break
        computed = sha256(b"\x00" + data).hexdigest()
        if computed != entry_hash:
            break
        entries.append(data)
        hashes.append(computed)
        times.append(at)
        recipient_lists.add(recipients)
        seq, prev = row_seq, computed
    if not _batch_holds(entries, times, recipient_lists):
        return start_seq, start_prev
    leaves += bytes.fromhex("".join(hashes))
    return seq, prev


def _batch_holds(
    entries: list[bytes],
    times: list[str],
    recipient_lists: set[str],
    *,
    rendered_by_sqlite: bool = False,
) -> bool:
    """Whether the entries accepted row by row hold what a rendering cannot carry unescaped, and
    the times and recipient lists are in the forms that read back unchanged: one pass a batch.

    ``json_object`` escapes a control character as it escapes a quote, with a backslash, so an
    entry equal to SQLite's rendering holds one only beside a backslash: for those, looking for
    backslashes alone is enough (a twentieth of the scan for both)."""
    joined = b"".join(entries)
    if rendered_by_sqlite:
        unescaped = b"\\" not in joined
    else:
        unescaped = not joined.translate(None, _UNESCAPED)  # a control character or a backslash
    try:
        joined.decode()  # UTF-8 (SQLite's comparison compares bytes)
        joined_times = "\n".join(times)  # a time that is not text (NULL) raises
    except (UnicodeDecodeError, TypeError):
        return False
    return (
        unescaped
        and bool(_TIMES.fullmatch(joined_times))
        and all(type(r) is str and _RECIPIENTS.fullmatch(r) for r in recipient_lists)
    )


# Rows whose entry SQLite rendered and compared (hub.store.ledger_rows_sqlite.SQLITE_COMPARED):
# (seq, entry_hash, entry, at, prev_hash, recipients, same), where ``same`` is 1 only if the entry's
# bytes equal ``json_object`` of the columns for its version (v3 or v4), keys in the entry's order.
COMPARED_PREV = 4


def accept_compared(rows: Iterable[Row], seq: int, prev: str, leaves: bytearray) -> tuple[int, str]:
    """As ``accept``, for rows SQLite compared with their entries; older versions, and anything
    ``json_object`` renders otherwise than the entry, are not accepted here.

    ``json_object`` keeps storage classes apart (an INTEGER renders bare, TEXT quoted, a REAL with
    its point; a row with a BLOB is not read) and escapes what needs it, so a backslash anywhere in
    the batch refuses it, as in ``accept``. Left to Python: the chain, the hash, that the entries
    are UTF-8 (SQLite compares bytes), and the times and recipient lists, whose forms SQLite would
    accept more widely than the exact check reads them (``json()`` reads "4, 12" as [4,12]).
    """
    start_seq, start_prev = seq, prev
    entries: list[bytes] = []
    hashes: list[str] = []
    times: list[str] = []
    recipient_lists: set[str] = set()
    sha256 = hashlib.sha256
    try:
        for row_seq, entry_hash, data, at, row_prev, recipients, same in rows:
            if same != 1 or row_seq != seq + 1 or row_prev != prev:
                break
            computed = sha256(b"\x00" + data).hexdigest()  # a TEXT entry raises
            if computed != entry_hash:
                break
            entries.append(data)
            hashes.append(computed)
            times.append(at)
            recipient_lists.add(recipients)
            seq, prev = row_seq, computed
    except TypeError:
        pass  # the rows before it stand; this one is left to ``accept``
    if not _batch_holds(entries, times, recipient_lists, rendered_by_sqlite=True):
        return start_seq, start_prev
    leaves += bytes.fromhex("".join(hashes))
    return seq, prev
