"""Case-transfer bundles imported: replay protection and the sender's log evidence

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

``transfer_imports`` keeps one row per bundle imported (adapters/transfer): its id and the digest
its sending hub signed, both unique, so a bundle replayed or imported twice is refused; and the
sending hub's log entries for the case with their inclusion proofs to its signed checkpoint, kept
as evidence beside this hub's own log rather than appended into it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transfer_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bundle_id", sa.String(length=36), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("from_area", sa.String(length=16), nullable=False),
        sa.Column("to_area", sa.String(length=16), nullable=False),
        sa.Column("sender_key", sa.String(length=64), nullable=False),
        sa.Column("evidence", sa.LargeBinary(), nullable=False),
        sa.Column("completeness", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_transfer_imports_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_imports")),
        sa.UniqueConstraint("bundle_id", name=op.f("uq_transfer_imports_bundle_id")),
        sa.UniqueConstraint("digest", name=op.f("uq_transfer_imports_digest")),
    )


def downgrade() -> None:
    op.drop_table("transfer_imports")
