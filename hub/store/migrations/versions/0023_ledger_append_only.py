"""The ledger is append-only in PostgreSQL itself, for every role but the tables' owner

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03

On PostgreSQL the migrations run as an owner role and the gateways connect as a runtime role
(deploy/postgres/setup.sql). This revision makes the log's rows - ``ledger_entries`` and the
signed ``ledger_checkpoints`` - impossible to change for the runtime role, twice over:

- privileges: UPDATE, DELETE and TRUNCATE on the two tables are revoked from every role that
  holds them except the owner (the runtime role keeps SELECT and INSERT, which appending needs);
- a trigger: an UPDATE, DELETE or TRUNCATE by anyone but the owner or a superuser is refused with
  an error naming the table, so a privilege granted by mistake later changes nothing.

The owner (and a superuser) can still drop the trigger: they are the database's administrators,
whom the Merkle checkpoints held outside the hub guard against (SECURITY.md). SQLite has no
roles; nothing is done there.
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TABLES = ("ledger_entries", "ledger_checkpoints")

_FUNCTION = """
CREATE OR REPLACE FUNCTION mappa_hub_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner name;
BEGIN
    SELECT pg_get_userbyid(relowner) INTO owner FROM pg_class WHERE oid = TG_RELID;
    IF current_user = owner
       OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'the MAPPA Hub log is append-only: % on % refused for role %',
        TG_OP, TG_TABLE_NAME, current_user
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# Every role but the owner loses UPDATE, DELETE and TRUNCATE on the two tables.
_REVOKE = """
DO $$
DECLARE
    grant_row record;
BEGIN
    FOR grant_row IN
        SELECT DISTINCT c.relname AS table_name, pg_get_userbyid(a.grantee) AS grantee
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid IN (to_regclass('ledger_entries'), to_regclass('ledger_checkpoints'))
          AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
          AND a.grantee <> c.relowner AND a.grantee <> 0
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM %I',
                       grant_row.table_name, grant_row.grantee);
    END LOOP;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    for table in TABLES:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC")
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION mappa_hub_ledger_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION mappa_hub_ledger_append_only()"
        )
    op.execute(_REVOKE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS mappa_hub_ledger_append_only()")
