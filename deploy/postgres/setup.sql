-- MAPPA Hub: the database role and database, for psql run by a PostgreSQL superuser.
--
--   psql -v ON_ERROR_STOP=1 -v hub_password="$(cat /root/mappa_hub.pw)" -f deploy/postgres/setup.sql
--
-- Creates a login role `mappa_hub` (no superuser, no CREATEDB, no CREATEROLE, no replication)
-- with a SCRAM-SHA-256 password, and a database `mappa_hub` owned by it that nobody else can
-- connect to or create objects in. The hub creates its tables itself: `mappa-hub init` runs the
-- Alembic migrations as `mappa_hub`.
--
-- Then allow the role in pg_hba.conf with scram-sha-256 only, from the hub's host only, e.g.
--   hostssl  mappa_hub  mappa_hub  192.0.2.10/32  scram-sha-256
-- (or, on the same machine over the Unix socket:  local  mappa_hub  mappa_hub  scram-sha-256)
-- and reload PostgreSQL. See deploy/postgres/README.md.

\set ON_ERROR_STOP on

\if :{?hub_password}
\else
  \echo 'usage: psql -v ON_ERROR_STOP=1 -v hub_password=... -f deploy/postgres/setup.sql'
  DO $$ BEGIN RAISE EXCEPTION 'hub_password is not set'; END $$;
\endif

-- Hash the password with SCRAM-SHA-256 whatever the server default (md5 is not acceptable).
SET password_encryption = 'scram-sha-256';

CREATE ROLE mappa_hub
    LOGIN
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    -- Each gateway process keeps a pool of up to 30 connections (20 + 10 overflow).
    CONNECTION LIMIT 100
    PASSWORD :'hub_password';

CREATE DATABASE mappa_hub
    OWNER mappa_hub
    ENCODING 'UTF8'
    TEMPLATE template0;

-- Nobody but the owner connects or creates temporary tables.
REVOKE ALL ON DATABASE mappa_hub FROM PUBLIC;

\connect mappa_hub

-- Before PostgreSQL 15 every role could create objects in the public schema; take that away, and
-- give the schema to the hub's role (on 15 and later it belongs to pg_database_owner already).
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO mappa_hub;

-- Case material must not be written to the server log by slow-query or error logging of
-- statement parameters. Applies to the hub's sessions only.
ALTER ROLE mappa_hub IN DATABASE mappa_hub SET log_parameter_max_length = 0;
ALTER ROLE mappa_hub IN DATABASE mappa_hub SET log_parameter_max_length_on_error = 0;
