"""The inbox for people: saved drafts (encrypted), who has read which packet, sign-in throttling
by username digest

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

``saved_drafts`` keeps a half-written packet (its fields and attachments) sealed to the author's
agency key, so a policy check, a refusal or an expired session loses nothing and a draft can be
resumed; nothing in it is stored in plaintext. ``packet_reads`` marks what a person has opened (the
inbox's unread markers; the ledger remains the record of every read). ``login_throttle`` counts
failed sign-ins per keyed digest of the username typed, whether or not such an account exists, so
that a lockout message reveals nothing about which usernames exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_drafts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("packet_type", sa.String(length=48), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_saved_drafts_owner_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_saved_drafts_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_drafts")),
    )
    with op.batch_alter_table("saved_drafts", schema=None) as batch_op:
        batch_op.create_index("ix_saved_drafts_owner", ["owner_user_id", "updated_at"])

    op.create_table(
        "packet_reads",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("packet_id", sa.String(length=36), nullable=False),
        sa.Column("first_read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_packet_reads_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["packet_id"], ["packets.id"], name=op.f("fk_packet_reads_packet_id_packets")
        ),
        sa.PrimaryKeyConstraint("user_id", "packet_id", name=op.f("pk_packet_reads")),
    )

    op.create_table(
        "login_throttle",
        sa.Column("username_digest", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username_digest", name=op.f("pk_login_throttle")),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.drop_table("packet_reads")
    with op.batch_alter_table("saved_drafts", schema=None) as batch_op:
        batch_op.drop_index("ix_saved_drafts_owner")
    op.drop_table("saved_drafts")
