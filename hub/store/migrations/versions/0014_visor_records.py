"""ViSOR-style nominal records

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

``visor_records`` keeps one nominal record per case (hub.services.visor): aliases, addresses,
offences, orders, risk assessments, the risk management plan, licence conditions, meetings and
disclosure decisions, sealed like packet content to the case's Responsible Authority agencies.
Only what the case row already keeps in clear (identifiers, category, level, lead agency) is
outside the seal, and it stays on the case row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visor_records",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("signer_agency_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_visor_records_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["signer_agency_id"],
            ["agencies.id"],
            name=op.f("fk_visor_records_signer_agency_id_agencies"),
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_visor_records")),
    )


def downgrade() -> None:
    op.drop_table("visor_records")
