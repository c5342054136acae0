"""What a meeting's minutes recorded about the meeting itself, for the Strategic Management Board

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03

The board's indicators (issue 16) need to know, without opening the sealed minutes, whether
disclosure was considered at each meeting and which invited agencies attended. The minutes form
already asks both; the share that carries the minutes now also keeps these two answers in clear
beside the meeting (``meetings.disclosure_considered``, ``meeting_attendance``), as it keeps the
meeting's date and level. Meetings recorded before this revision have neither (NULL, no rows):
the indicators count them as not known, and say so. An index lets them count an agency's email
in a period without reading the whole outbox.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("meetings", sa.Column("disclosure_considered", sa.Boolean(), nullable=True))
    op.create_table(
        "meeting_attendance",
        sa.Column("meeting_id", sa.Integer(), sa.ForeignKey("meetings.id"), primary_key=True),
        sa.Column("agency_id", sa.Integer(), sa.ForeignKey("agencies.id"), primary_key=True),
        # Invited: the minutes list the agency as required at the meeting.
        sa.Column("invited", sa.Boolean(), nullable=False),
        sa.Column("attended", sa.Boolean(), nullable=False),
    )
    # The indicators count each agency's messages queued in a period.
    op.create_index("ix_email_outbox_agency", "email_outbox", ["agency_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_email_outbox_agency", table_name="email_outbox")
    op.drop_table("meeting_attendance")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("disclosure_considered")
