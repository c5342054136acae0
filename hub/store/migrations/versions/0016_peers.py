"""Pinned peer hubs and their signed directory documents (filled in by the change that builds it)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("signing_key", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("directory", sa.LargeBinary(), nullable=True),
        sa.Column("directory_fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peers")),
        sa.UniqueConstraint("name", name=op.f("uq_peers_name")),
        sa.UniqueConstraint("signing_key", name=op.f("uq_peers_signing_key")),
    )
    op.create_table(
        "peer_nonces",
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"], ["peers.id"], name=op.f("fk_peer_nonces_peer_id_peers")
        ),
        sa.PrimaryKeyConstraint("peer_id", "nonce", name=op.f("pk_peer_nonces")),
    )
    op.create_index("ix_peer_nonces_seen", "peer_nonces", ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_peer_nonces_seen", table_name="peer_nonces")
    op.drop_table("peer_nonces")
    op.drop_table("peers")
