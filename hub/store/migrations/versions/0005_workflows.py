"""workflows: meetings, work items, requests, disclosures

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_agencies",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_case_agencies_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_agencies_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", "agency_id", name=op.f("pk_case_agencies")),
    )
    with op.batch_alter_table("case_agencies", schema=None) as batch_op:
        batch_op.create_index("ix_case_agencies_agency", ["agency_id"], unique=False)

    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("chair_user_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes_packet_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_meetings_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["chair_user_id"], ["users.id"], name=op.f("fk_meetings_chair_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index("ix_meetings_case", ["case_id", "held_on"], unique=False)

    op.create_table(
        "work_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("owner_agency_id", sa.Integer(), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_packet_id", sa.String(length=36), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("item_index", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("closed_by_packet_id", sa.String(length=36), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_work_items_area_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_work_items_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["owner_agency_id"],
            ["agencies.id"],
            name=op.f("fk_work_items_owner_agency_id_agencies"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_work_items_owner_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_items")),
    )
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.create_index("ix_work_items_area", ["area_id", "status", "due_on"], unique=False)
        batch_op.create_index("ix_work_items_case", ["case_id", "due_on"], unique=False)
        batch_op.create_index(
            "ix_work_items_owner", ["owner_agency_id", "status", "due_on"], unique=False
        )

    op.create_table(
        "disclosures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("proposal_packet_id", sa.String(length=36), nullable=False),
        sa.Column("proposer_user_id", sa.Integer(), nullable=False),
        sa.Column("proposer_agency_id", sa.Integer(), nullable=False),
        sa.Column("recipient_kind", sa.String(length=24), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("offender_to_be_told", sa.Boolean(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("lawful_basis", sa.String(length=64), nullable=False),
        sa.Column("categories", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approvals_needed", sa.Text(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_disclosures_area_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_disclosures_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_packet_id"],
            ["packets.id"],
            name=op.f("fk_disclosures_proposal_packet_id_packets"),
        ),
        sa.ForeignKeyConstraint(
            ["proposer_agency_id"],
            ["agencies.id"],
            name=op.f("fk_disclosures_proposer_agency_id_agencies"),
        ),
        sa.ForeignKeyConstraint(
            ["proposer_user_id"], ["users.id"], name=op.f("fk_disclosures_proposer_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.create_index("ix_disclosures_area", ["area_id", "created_at"], unique=False)
        batch_op.create_index("ix_disclosures_case", ["case_id", "created_at"], unique=False)

    op.create_table(
        "info_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("packet_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("requester_agency_id", sa.Integer(), nullable=False),
        sa.Column("requester_user_id", sa.Integer(), nullable=False),
        sa.Column("target_agency_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("work_item_id", sa.Integer(), nullable=False),
        sa.Column("response_packet_id", sa.String(length=36), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("closed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_info_requests_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["packet_id"], ["packets.id"], name=op.f("fk_info_requests_packet_id_packets")
        ),
        sa.ForeignKeyConstraint(
            ["requester_agency_id"],
            ["agencies.id"],
            name=op.f("fk_info_requests_requester_agency_id_agencies"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_user_id"],
            ["users.id"],
            name=op.f("fk_info_requests_requester_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["target_agency_id"],
            ["agencies.id"],
            name=op.f("fk_info_requests_target_agency_id_agencies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_info_requests")),
    )
    with op.batch_alter_table("info_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_info_requests_packet", ["packet_id", "target_agency_id"], unique=True
        )
        batch_op.create_index(
            "ix_info_requests_requester", ["requester_agency_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_info_requests_target", ["target_agency_id", "status"], unique=False
        )

    op.create_table(
        "disclosure_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disclosure_id", sa.Integer(), nullable=False),
        sa.Column("approver_user_id", sa.Integer(), nullable=False),
        sa.Column("approver_agency_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approver_agency_id"],
            ["agencies.id"],
            name=op.f("fk_disclosure_decisions_approver_agency_id_agencies"),
        ),
        sa.ForeignKeyConstraint(
            ["approver_user_id"],
            ["users.id"],
            name=op.f("fk_disclosure_decisions_approver_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["disclosure_id"],
            ["disclosures.id"],
            name=op.f("fk_disclosure_decisions_disclosure_id_disclosures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_decisions")),
    )
    with op.batch_alter_table("disclosure_decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_disclosure_decisions_once", ["disclosure_id", "approver_user_id"], unique=True
        )

    with op.batch_alter_table("packets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_to", sa.String(length=36), nullable=True))

    # Agencies already active on each case: its lead agency, and every sender and recipient.
    op.execute(
        "INSERT INTO case_agencies (case_id, agency_id, joined_at) "
        "SELECT id, lead_agency_id, created_at FROM cases"
    )
    op.execute(
        "INSERT INTO case_agencies (case_id, agency_id, joined_at) "
        "SELECT a.case_id, a.agency_id, MIN(a.created_at) FROM ("
        " SELECT case_id, sender_agency_id AS agency_id, created_at FROM packets"
        " UNION ALL"
        " SELECT p.case_id, r.agency_id, p.created_at FROM packets p"
        " JOIN packet_recipients r ON r.packet_id = p.id"
        ") a WHERE NOT EXISTS (SELECT 1 FROM case_agencies c"
        " WHERE c.case_id = a.case_id AND c.agency_id = a.agency_id)"
        " GROUP BY a.case_id, a.agency_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("packets", schema=None) as batch_op:
        batch_op.drop_column("reply_to")

    with op.batch_alter_table("disclosure_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosure_decisions_once")

    op.drop_table("disclosure_decisions")
    with op.batch_alter_table("info_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_info_requests_target")
        batch_op.drop_index("ix_info_requests_requester")
        batch_op.drop_index("ix_info_requests_packet")

    op.drop_table("info_requests")
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosures_case")
        batch_op.drop_index("ix_disclosures_area")

    op.drop_table("disclosures")
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.drop_index("ix_work_items_owner")
        batch_op.drop_index("ix_work_items_case")
        batch_op.drop_index("ix_work_items_area")

    op.drop_table("work_items")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index("ix_meetings_case")

    op.drop_table("meetings")
    with op.batch_alter_table("case_agencies", schema=None) as batch_op:
        batch_op.drop_index("ix_case_agencies_agency")

    op.drop_table("case_agencies")
