"""Inbox and outbox indexes that match their ORDER BY exactly, tie-breaker included

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

A page is "newest first, then by packet id": with the id in the index, a page is one backward
index range scan whatever the planner guesses (PostgreSQL sorted a million rows for a page of
100 without it).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_packet_recipients_inbox", table_name="packet_recipients")
    op.create_index(
        "ix_packet_recipients_inbox",
        "packet_recipients",
        ["agency_id", "created_at", "packet_id"],
    )
    op.drop_index("ix_packets_sender_created", table_name="packets")
    op.create_index(
        "ix_packets_sender_created", "packets", ["sender_agency_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_packets_sender_created", table_name="packets")
    op.create_index("ix_packets_sender_created", "packets", ["sender_agency_id", "created_at"])
    op.drop_index("ix_packet_recipients_inbox", table_name="packet_recipients")
    op.create_index("ix_packet_recipients_inbox", "packet_recipients", ["agency_id", "created_at"])
