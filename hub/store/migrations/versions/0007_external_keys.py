"""Agency public keys without a hub-held private key (end-to-end mode)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agency_keys", schema=None) as batch_op:
        batch_op.alter_column("wrapped_private", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.alter_column("kek_id", existing_type=sa.String(length=32), nullable=True)


def downgrade() -> None:
    # Imported public keys have no private half to keep: the older schema cannot hold them.
    op.execute("DELETE FROM agency_keys WHERE wrapped_private IS NULL OR kek_id IS NULL")
    with op.batch_alter_table("agency_keys", schema=None) as batch_op:
        batch_op.alter_column("kek_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("wrapped_private", existing_type=sa.LargeBinary(), nullable=False)
