-- MAPPA Hub: the database and its two roles, for psql run by a PostgreSQL superuser.
--
--   psql -v ON_ERROR_STOP=1 -v owner_password="$(cat /root/mappa_hub_owner.pw)" \
--        -v hub_password="$(cat /root/mappa_hub.pw)" -f deploy/postgres/setup.sql
--
-- Creates two login roles (no superuser, no CREATEDB, no CREATEROLE, no replication), each with a
-- SCRAM-SHA-256 password:
--   mappa_hub_owner  owns the database and its tables; `mappa-hub init` runs the migrations as it
--                    (and only that: it never serves requests);
--   mappa_hub        what the gateways connect as: it reads and writes the hub's rows, but cannot
--                    change the schema, and cannot UPDATE, DELETE or TRUNCATE the log's rows
--                    (ledger_entries, ledger_checkpoints): migration 0023 revokes those privileges
--                    and adds a trigger that refuses them to anyone but the owner.
-- and a database mappa_hub owned by mappa_hub_owner that no other role can connect to or create
-- objects in. Optional: -v database=NAME -v owner_role=NAME -v runtime_role=NAME (defaults above).
--
-- Then allow both roles in pg_hba.conf with scram-sha-256 only, the runtime role from the gateway
-- hosts and the owner from where you run `mappa-hub init`, e.g.
--   hostssl  mappa_hub  mappa_hub        192.0.2.10/32  scram-sha-256
--   hostssl  mappa_hub  mappa_hub_owner  192.0.2.10/32  scram-sha-256
-- and reload PostgreSQL. See deploy/postgres/README.md.

\set ON_ERROR_STOP on

\if :{?hub_password}
\else
  \echo 'usage: psql -v ON_ERROR_STOP=1 -v owner_password=... -v hub_password=... -f deploy/postgres/setup.sql'
  DO $$ BEGIN RAISE EXCEPTION 'hub_password is not set'; END $$;
\endif
\if :{?owner_password}
\else
  \echo 'usage: psql -v ON_ERROR_STOP=1 -v owner_password=... -v hub_password=... -f deploy/postgres/setup.sql'
  DO $$ BEGIN RAISE EXCEPTION 'owner_password is not set'; END $$;
\endif
\if :{?database}
\else
  \set database mappa_hub
\endif
\if :{?owner_role}
\else
  \set owner_role mappa_hub_owner
\endif
\if :{?runtime_role}
\else
  \set runtime_role mappa_hub
\endif

-- Hash the passwords with SCRAM-SHA-256 whatever the server default (md5 is not acceptable).
SET password_encryption = 'scram-sha-256';

CREATE ROLE :"owner_role"
    LOGIN
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    CONNECTION LIMIT 5
    PASSWORD :'owner_password';

CREATE ROLE :"runtime_role"
    LOGIN
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    -- Each gateway process keeps a pool of up to 30 connections (20 + 10 overflow).
    CONNECTION LIMIT 100
    PASSWORD :'hub_password';

CREATE DATABASE :"database"
    OWNER :"owner_role"
    ENCODING 'UTF8'
    TEMPLATE template0;

-- Nobody but the two roles connects or creates temporary tables.
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"runtime_role";

\connect :"database"

-- Before PostgreSQL 15 every role could create objects in the public schema; take that away, and
-- give the schema to the owner (on 15 and later it belongs to pg_database_owner already). The
-- runtime role may use it, not create in it.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"owner_role";
GRANT USAGE ON SCHEMA public TO :"runtime_role";

-- Every table and sequence the owner's migrations create: read and write rows for the runtime
-- role, nothing more (no TRUNCATE, no REFERENCES, no TRIGGER). Migration 0023 then takes UPDATE
-- and DELETE on the log's tables back.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"runtime_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"runtime_role";

-- Case material must not be written to the server log by slow-query or error logging of
-- statement parameters. Applies to both roles' sessions.
ALTER ROLE :"runtime_role" IN DATABASE :"database" SET log_parameter_max_length = 0;
ALTER ROLE :"runtime_role" IN DATABASE :"database" SET log_parameter_max_length_on_error = 0;
ALTER ROLE :"owner_role" IN DATABASE :"database" SET log_parameter_max_length = 0;
ALTER ROLE :"owner_role" IN DATABASE :"database" SET log_parameter_max_length_on_error = 0;
