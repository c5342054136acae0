"""Shares held for approval: the packet's held flag, the held share and its approvers' decisions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

A share the policy answers REVIEW is sealed as it will be sent and stored with ``packets.held``
set: no listing or lookup of packets shows it until the approvers the policy names have agreed.
The flag is a plain column with a constant default, so adding it rewrites no rows (PostgreSQL 11+
stores the default in the catalogue; SQLite adds the column in place), and dropping it is SQLite's
own ALTER TABLE DROP COLUMN, with no table rebuild.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "packets", sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "held_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("packet_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("proposer_user_id", sa.Integer(), nullable=False),
        sa.Column("proposer_person_id", sa.Integer(), nullable=False),
        sa.Column("proposer_token_id", sa.Integer(), nullable=True),
        sa.Column("proposer_agency_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("restricted_reason", sa.Text(), nullable=True),
        sa.Column("approvals_needed", sa.Text(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["packet_id"], ["packets.id"], name=op.f("fk_held_shares_packet_id_packets")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_held_shares_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_held_shares_area_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["proposer_user_id"],
            ["users.id"],
            name=op.f("fk_held_shares_proposer_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["proposer_person_id"],
            ["users.id"],
            name=op.f("fk_held_shares_proposer_person_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["proposer_token_id"],
            ["api_tokens.id"],
            name=op.f("fk_held_shares_proposer_token_id_api_tokens"),
        ),
        sa.ForeignKeyConstraint(
            ["proposer_agency_id"],
            ["agencies.id"],
            name=op.f("fk_held_shares_proposer_agency_id_agencies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_shares")),
    )
    with op.batch_alter_table("held_shares", schema=None) as batch_op:
        batch_op.create_index("ix_held_shares_packet", ["packet_id"], unique=True)
        batch_op.create_index("ix_held_shares_status", ["status", "created_at"], unique=False)
        batch_op.create_index(
            "ix_held_shares_proposer_agency", ["proposer_agency_id", "created_at"], unique=False
        )

    op.create_table(
        "held_share_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("held_share_id", sa.Integer(), nullable=False),
        sa.Column("approver_user_id", sa.Integer(), nullable=False),
        sa.Column("approver_person_id", sa.Integer(), nullable=False),
        sa.Column("approver_agency_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["held_share_id"],
            ["held_shares.id"],
            name=op.f("fk_held_share_decisions_held_share_id_held_shares"),
        ),
        sa.ForeignKeyConstraint(
            ["approver_user_id"],
            ["users.id"],
            name=op.f("fk_held_share_decisions_approver_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["approver_person_id"],
            ["users.id"],
            name=op.f("fk_held_share_decisions_approver_person_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["approver_agency_id"],
            ["agencies.id"],
            name=op.f("fk_held_share_decisions_approver_agency_id_agencies"),
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_held_share_decisions_area_id_areas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_share_decisions")),
    )
    with op.batch_alter_table("held_share_decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_held_share_decisions_person", ["held_share_id", "approver_person_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("held_share_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_held_share_decisions_person")
    op.drop_table("held_share_decisions")
    with op.batch_alter_table("held_shares", schema=None) as batch_op:
        batch_op.drop_index("ix_held_shares_proposer_agency")
        batch_op.drop_index("ix_held_shares_status")
        batch_op.drop_index("ix_held_shares_packet")
    op.drop_table("held_shares")
    op.drop_column("packets", "held")
