"""Fewer B-trees written a share on SQLite: the log's ``seq`` is the rowid, and the two tables of
small rows a share writes keep one B-tree each

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07

A SQLite table whose primary key is not a single ``INTEGER`` column is two B-trees: the rows, keyed
by a hidden rowid, and an index of the key. A share wrote 17 B-trees, and three of them existed only
for that (bench/README.md, twenty-fifth session):

- ``ledger_entries.seq`` was ``BIGINT``: SQLite treats only ``INTEGER`` as the rowid's alias, so the
  log kept an index of ``seq`` beside its rows, and reading the log in order (its verification, a
  packet's or a case's entries) went through that index to each row. Now ``seq`` is ``INTEGER``
  on SQLite, the rowid itself (the same 64-bit integer); PostgreSQL keeps ``BIGINT``.
- ``packet_recipients`` and ``packet_keys`` hold a few small values a row, keyed by (packet,
  agency) and (packet, key): they become ``WITHOUT ROWID`` tables, a B-tree of the key alone.

Each table is rebuilt (alembic's batch mode: a copy, then a rename), its indexes with it, once:
32 s for a hub of a million packets on the benchmark's machine, and about 1 GB more file, which the
old tables' freed pages make up for later (deploy/README.md, Upgrades). Nothing changes on
PostgreSQL, whose tables are heaps with one index per key either way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_WITHOUT_ROWID = ("packet_recipients", "packet_keys")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _retype_seq(sa.BigInteger(), sa.Integer())
    for table in _WITHOUT_ROWID:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_with_rowid": False}
        ):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _WITHOUT_ROWID:
        # Said outright: the table is reflected with its WITHOUT ROWID, which the copy would keep.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_with_rowid": True}
        ):
            pass
    _retype_seq(sa.Integer(), sa.BigInteger())


def _retype_seq(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    """The log's table copied with ``seq`` of type ``new``: on SQLite an ``INTEGER`` key is the
    rowid, and a ``BIGINT`` one an index beside the rows."""
    with op.batch_alter_table("ledger_entries", recreate="always") as batch:
        batch.alter_column(
            "seq", existing_type=old, type_=new, existing_nullable=False, autoincrement=False
        )
