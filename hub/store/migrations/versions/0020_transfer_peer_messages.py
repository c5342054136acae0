"""What a hub owes its peer about a hub-to-hub transfer: the proposal, the decision, a cancellation

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03

A transfer to or from a peer hub changes state on one hub and must be told to the other: the
sending hub's proposal reaches the receiving area's coordinator there, whose acceptance or
refusal comes back; a cancellation before sending goes out too. ``peer_owed`` names the message
the row owes, set in the same transaction as the step that causes it, so a message is never lost
with a crash or an unreachable peer: the delivery job retries with backoff (``peer_next_at``,
``peer_attempts``) and keeps the last refusal's words (``peer_error``) for the coordinator.
A proposal from a peer names its proposer as that hub does (``proposer_name``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("transfers", sa.Column("peer_owed", sa.String(length=16), nullable=True))
    op.add_column(
        "transfers",
        sa.Column("peer_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("transfers", sa.Column("peer_next_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("transfers", sa.Column("peer_error", sa.String(length=300), nullable=True))
    op.create_index("ix_transfers_peer_owed", "transfers", ["peer_owed", "peer_next_at"])
    # Who proposed a transfer on a peer hub, as that hub named them (decided_by_name's twin).
    op.add_column("transfers", sa.Column("proposer_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    # Not batch mode: SQLite 3.35+ and PostgreSQL both drop a plain column in place.
    op.drop_index("ix_transfers_peer_owed", table_name="transfers")
    for column in ("proposer_name", "peer_error", "peer_next_at", "peer_attempts", "peer_owed"):
        op.execute(f"ALTER TABLE transfers DROP COLUMN {column}")
