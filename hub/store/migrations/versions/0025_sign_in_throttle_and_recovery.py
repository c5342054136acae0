"""Sign-in throttling instead of a lock, recovery codes, and second-factor resets

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03

- ``login_throttle`` is rebuilt: a row now counts failures under a keyed digest of a username, of a
  browser's device cookie or of a client address, and holds the time before which no attempt is
  checked (``not_before``) instead of a lock. Its rows are short-lived counters, so the table is
  rebuilt empty rather than converted; lock times in ``users`` are cleared (they are no longer
  read: a lock would outlive the throttle that replaces it).
- ``recovery_codes``: a keyed digest of each one-time code for a lost authenticator.
- ``users.password_changed_at`` and ``users.totp_enrol_by`` (a second factor reset by an agency
  admin, to be set up at the person's next sign-in before that time).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("not_before", _WHEN, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
    )
    op.create_index("ix_recovery_codes_user", "recovery_codes", ["user_id"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_changed_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("totp_enrol_by", _WHEN, nullable=True))
    op.execute("UPDATE users SET failed_logins = 0, locked_until = NULL")


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+): a batch rebuild of ``users`` would fight its foreign keys.
    op.execute("ALTER TABLE users DROP COLUMN totp_enrol_by")
    op.execute("ALTER TABLE users DROP COLUMN password_changed_at")
    op.drop_index("ix_recovery_codes_user", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("username_digest", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", _WHEN, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("username_digest", name=op.f("pk_login_throttle")),
    )
