"""Cosignatures: checkpoints of pinned peers this hub witnessed, and its own witnessed by them

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

``witnessed_checkpoints`` is the witness side (one row per peer: the newest checkpoint of its log
this hub cosigned); ``checkpoint_cosignatures`` the log side (this hub's checkpoints with the
cosignature each peer returned). See hub.services.witness and SECURITY.md, Witnessing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "witnessed_checkpoints",
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint", sa.LargeBinary(), nullable=False),
        sa.Column("cosignature", sa.LargeBinary(), nullable=False),
        sa.Column("cosigned_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["peers.id"],
            ondelete="CASCADE",
            name=op.f("fk_witnessed_checkpoints_peer_id_peers"),
        ),
        sa.PrimaryKeyConstraint("peer_id", name=op.f("pk_witnessed_checkpoints")),
    )
    op.create_table(
        "checkpoint_cosignatures",
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint", sa.LargeBinary(), nullable=False),
        sa.Column("witness_key", sa.String(length=64), nullable=False),
        sa.Column("cosignature", sa.LargeBinary(), nullable=False),
        sa.Column("cosigned_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["peers.id"],
            ondelete="CASCADE",
            name=op.f("fk_checkpoint_cosignatures_peer_id_peers"),
        ),
        sa.PrimaryKeyConstraint("peer_id", "tree_size", name=op.f("pk_checkpoint_cosignatures")),
    )


def downgrade() -> None:
    op.drop_table("checkpoint_cosignatures")
    op.drop_table("witnessed_checkpoints")
