"""Each packet's recipients and manifest on its own row, for listings

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05

An inbox page of a hundred packets looked up, for each packet, its recipients
(``packet_recipients``) and its encrypted manifest (``packet_parts``) beside its row: two index
descents a packet, over half of what a page cost PostgreSQL (measured in bench/README.md, fourteenth
session). Both are written once, when the packet is stored, and never change, so each packet's row
now carries them as well:

- ``packets.recipient_ids``: the recipient agencies' ids in ascending order, as text ("3,7"; ""
  for none). ``packet_recipients`` stays: it is the inbox's index (a row per recipient, in time
  order).
- ``packets.manifest``: a copy of the packet's ``manifest`` part (ciphertext, as stored there;
  NULL where that part is missing, which a listing shows as failing its integrity check). The
  part stays too: opening a packet and transfer bundles read a packet's parts as a whole.
  Crypto-shredding deletes the wrapped keys, which leaves both copies undecryptable.

Existing rows are filled from those tables, which rewrites each packet's row once (about a
minute per million packets on the benchmark's machine). ``recipient_ids`` is added with an empty
default so that SQLite can add it NOT NULL in place; PostgreSQL then drops the default, so that an
insert that leaves it out fails. (SQLite cannot drop a default without rebuilding the table, which
the packets' foreign keys make unsafe; the hub writes the column on every insert.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# Ids sorted before they are joined: neither aggregate promises an order of its own otherwise.
_RECIPIENTS = {
    "postgresql": (
        "SELECT string_agg(r.agency_id::text, ',' ORDER BY r.agency_id) "
        "FROM packet_recipients r WHERE r.packet_id = packets.id"
    ),
    "sqlite": (
        "SELECT group_concat(agency_id) FROM (SELECT r.agency_id FROM packet_recipients r "
        "WHERE r.packet_id = packets.id ORDER BY r.agency_id)"
    ),
}
_MANIFEST = (
    "SELECT m.data FROM packet_parts m WHERE m.packet_id = packets.id AND m.name = 'manifest'"
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column(
        "packets", sa.Column("recipient_ids", sa.Text(), nullable=False, server_default="")
    )
    op.add_column("packets", sa.Column("manifest", sa.LargeBinary(), nullable=True))
    # Constant SQL of this module's own, chosen by dialect: nothing from outside is written in.
    recipients = _RECIPIENTS[dialect]
    op.execute(
        f"UPDATE packets SET recipient_ids = COALESCE(({recipients}), ''), "  # noqa: S608
        f"manifest = ({_MANIFEST})"
    )
    if dialect == "postgresql":
        op.alter_column("packets", "recipient_ids", server_default=None)


def downgrade() -> None:
    op.drop_column("packets", "manifest")
    op.drop_column("packets", "recipient_ids")
