"""Whether a packet is held for approval, on its recipient rows too, and in the boxes' indexes

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06

A packet held for approval (``held_shares``) is in no inbox until released, and the flag was on
the packet's row alone. So counting an inbox (how many rows the web inbox's box holds, and how
many come before the page, each up to 1,000) looked up each recipient row's packet to leave out
the held ones: on PostgreSQL with a million packets, 6 to 32 ms of the server's CPU a count, two
counts a page (bench/README.md, eighteenth session). Now:

- ``packet_recipients.held``: the packet's flag, copied; set with it when a share is held and
  cleared with it when the share is released (``hub.store.held_shares``).
- ``ix_packet_recipients_inbox`` is (agency, held, time, packet): an inbox, held rows left out,
  is a range of that index, so its count reads the index alone. (A partial index of the rows not
  held would do as much on PostgreSQL; SQLite then still read each row to test the flag.)
- ``ix_packets_sender_created`` is (sender, held, time, id) for the same reason: a sent box's
  count looked up each packet's row for its flag (1 to 4 ms of PostgreSQL's CPU a count).

Existing rows are marked from their packets. A listing still checks the packet's own flag as well,
so a held packet is never listed, whatever its rows say.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# Each index's columns before and after.
_INDEXES = {
    "ix_packet_recipients_inbox": (
        "packet_recipients",
        ["agency_id", "created_at", "packet_id"],
        ["agency_id", "held", "created_at", "packet_id"],
    ),
    "ix_packets_sender_created": (
        "packets",
        ["sender_agency_id", "created_at", "id"],
        ["sender_agency_id", "held", "created_at", "id"],
    ),
}


def upgrade() -> None:
    op.add_column(
        "packet_recipients",
        sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE packet_recipients SET held = "
        "(SELECT packets.held FROM packets WHERE packets.id = packet_recipients.packet_id)"
    )
    for name, (table, _, after) in _INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, after)


def downgrade() -> None:
    for name, (table, before, _) in _INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, before)
    op.drop_column("packet_recipients", "held")
