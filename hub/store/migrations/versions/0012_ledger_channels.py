"""Ledger entry v4: the channel a disclosure left by and the address it went to

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

Email notifications and letters are disclosures on the log (DPA 2018 s62): each entry names the
channel (policies/channels.toml) and, for email, the recipient's address. Older entries keep NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("recipient_address", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_column("recipient_address")
        batch_op.drop_column("channel")
