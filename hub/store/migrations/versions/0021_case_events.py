"""Typed case events and the history of a case's area, category and level, for the statistics

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03

``case_events`` holds what the MAPPA annual report counts and the hub did not record before
(breaches of notification requirements, civil orders applied for and granted, recalls, charges
with a serious offence, the end of MAPPA management), as codes and dates. ``case_gradings`` keeps
each case's area, category and level over time; every case already here gets one open row from
its creation with its present values (the history before this revision is not known).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "case_gradings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("area_id", sa.Integer(), sa.ForeignKey("areas.id"), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("valid_from", _WHEN, nullable=False),
        sa.Column("valid_to", _WHEN, nullable=True),
    )
    op.create_index("ix_case_gradings_area", "case_gradings", ["area_id", "valid_from"])
    op.create_index("ix_case_gradings_case", "case_gradings", ["case_id", "valid_to"])
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("order_type", sa.String(length=40), nullable=True),
        sa.Column("order_stage", sa.String(length=16), nullable=True),
        sa.Column("area_id", sa.Integer(), sa.ForeignKey("areas.id"), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("recorded_by_user_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by_agency_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", _WHEN, nullable=False),
    )
    op.create_index("ix_case_events_area", "case_events", ["area_id", "occurred_on"])
    op.create_index("ix_case_events_case", "case_events", ["case_id", "occurred_on"])
    op.execute(
        "INSERT INTO case_gradings (case_id, area_id, category, level, valid_from, valid_to) "
        "SELECT id, area_id, category, level, created_at, NULL FROM cases"
    )


def downgrade() -> None:
    op.drop_index("ix_case_events_case", table_name="case_events")
    op.drop_index("ix_case_events_area", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index("ix_case_gradings_case", table_name="case_gradings")
    op.drop_index("ix_case_gradings_area", table_name="case_gradings")
    op.drop_table("case_gradings")
