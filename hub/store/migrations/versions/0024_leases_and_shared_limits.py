"""Leases for background jobs, and API rate limits shared by every gateway

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03

Several gateway processes on several machines serve one database. Two things that lived in each
process's memory now live here:

- ``leases``: which process runs each background job (checkpoint signing, reminder sweeps, telling
  peer hubs of transfers). A holder renews its lease; when it dies, another process takes the job
  over once the lease runs out (hub.services.leases).
- ``api_rate_limits``: each API token's bucket, so a client cannot multiply its rate by spreading
  requests over gateways. On PostgreSQL the table is UNLOGGED: a bucket's level is not worth a WAL
  write per request, and a crash that empties the table only forgives a client's recent burst.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "api_rate_limits",
        sa.Column("token_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE api_rate_limits SET UNLOGGED")


def downgrade() -> None:
    op.drop_table("api_rate_limits")
    op.drop_table("leases")
