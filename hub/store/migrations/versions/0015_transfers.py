"""Case transfers between areas: the workflow's states, steps and deadlines

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

``transfers`` holds each case transfer (hub.services.transfers): proposed by the sending area's
coordinator after a MAPPA meeting, accepted or declined with reasons by the receiving area's,
sent, received and completed; the work item of the step that is due; and, for a transfer
between hubs, the peer and the other side's id (unique per peer: no bundle imported twice).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sending_area_code", sa.String(16), nullable=False),
        sa.Column("sending_area_id", sa.Integer(), nullable=True),
        sa.Column("receiving_area_code", sa.String(16), nullable=False),
        sa.Column("receiving_area_id", sa.Integer(), nullable=True),
        sa.Column("sending_jurisdiction", sa.String(32), nullable=False),
        sa.Column("receiving_jurisdiction", sa.String(32), nullable=False),
        sa.Column("peer_name", sa.String(64), nullable=True),
        sa.Column("remote_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_date", sa.Date(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("meeting_held_on", sa.Date(), nullable=True),
        sa.Column("proposer_user_id", sa.Integer(), nullable=True),
        sa.Column("proposer_person_id", sa.Integer(), nullable=True),
        sa.Column("proposer_agency_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_person_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_name", sa.String(200), nullable=True),
        sa.Column("decision_reasons", sa.Text(), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("new_lead_agency_id", sa.Integer(), nullable=True),
        sa.Column("new_lead_agency_code", sa.String(32), nullable=True),
        sa.Column("bundle_digest", sa.String(64), nullable=True),
        sa.Column("sent_at", _WHEN, nullable=True),
        sa.Column("sent_by_user_id", sa.Integer(), nullable=True),
        sa.Column("received_at", _WHEN, nullable=True),
        sa.Column("ack_digest", sa.String(64), nullable=True),
        sa.Column("completed_at", _WHEN, nullable=True),
        sa.Column("cancelled_at", _WHEN, nullable=True),
        sa.Column("sending_read_until", _WHEN, nullable=True),
        sa.Column("work_item_id", sa.Integer(), nullable=True),
        sa.Column("escalated_at", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_transfers_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["sending_area_id"], ["areas.id"], name=op.f("fk_transfers_sending_area_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["receiving_area_id"], ["areas.id"], name=op.f("fk_transfers_receiving_area_id_areas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
    )
    op.create_index("ix_transfers_case", "transfers", ["case_id", "created_at"])
    op.create_index("ix_transfers_sending", "transfers", ["sending_area_id", "state"])
    op.create_index("ix_transfers_receiving", "transfers", ["receiving_area_id", "state"])
    op.create_index(
        "ix_transfers_peer_remote", "transfers", ["peer_name", "remote_id"], unique=True
    )
    op.create_index("ix_transfers_work_item", "transfers", ["work_item_id"])


def downgrade() -> None:
    op.drop_index("ix_transfers_work_item", table_name="transfers")
    op.drop_index("ix_transfers_peer_remote", table_name="transfers")
    op.drop_index("ix_transfers_receiving", table_name="transfers")
    op.drop_index("ix_transfers_sending", table_name="transfers")
    op.drop_index("ix_transfers_case", table_name="transfers")
    op.drop_table("transfers")
