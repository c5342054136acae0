"""Signed acknowledgements of hub-to-hub transfer bundles, kept on both sides

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

On the receiving hub ``transfer_imports`` keeps the SHA-256 of the bundle file as uploaded and the
signed acknowledgement it answered with, so a sender whose connection dropped before the answer
arrived sends the same bundle again and gets the original acknowledgement back rather than a
refusal as a replay. On the sending hub ``transfers.ack`` keeps the peer's acknowledgement whose
digest closed the transfer (``ack_digest``), as the evidence of receipt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "transfer_imports", sa.Column("upload_sha256", sa.String(length=64), nullable=True)
    )
    op.add_column("transfer_imports", sa.Column("ack", sa.LargeBinary(), nullable=True))
    op.create_index(
        "ix_transfer_imports_upload", "transfer_imports", ["upload_sha256"], unique=False
    )
    op.add_column("transfers", sa.Column("ack", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite that rebuilds the tables. SQLite 3.35+ and PostgreSQL both drop
    # a plain column in place.
    op.drop_index("ix_transfer_imports_upload", table_name="transfer_imports")
    op.execute("ALTER TABLE transfers DROP COLUMN ack")
    op.execute("ALTER TABLE transfer_imports DROP COLUMN ack")
    op.execute("ALTER TABLE transfer_imports DROP COLUMN upload_sha256")
