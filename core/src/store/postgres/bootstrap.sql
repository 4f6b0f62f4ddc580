-- secrets-core on PostgreSQL: the two roles, run once by a DBA (or CI) as a
-- superuser, connected to the database the store will live in. Idempotent.
--
--   psql -v ON_ERROR_STOP=1 -d secrets \
--        -v owner=secrets_core_owner -v app=secrets_core_app \
--        [-v owner_password=...] [-v app_password=...] \
--        -f core/src/store/postgres/bootstrap.sql
--
-- Then, as the owner: PostgresStore::migrate (creates the schema and its
-- tables, each with ENABLE + FORCE ROW LEVEL SECURITY), and in every app
-- instance, as the app role: PostgresStore::open (which refuses a superuser,
-- a BYPASSRLS role, an owner, or a table without FORCE ROW LEVEL SECURITY).
--
-- The owner owns the schema and the tables and runs the migrations; it is
-- not a superuser and does not bypass row-level security (FORCE applies to
-- owners too). The app role logs in, is not a superuser, has NOBYPASSRLS,
-- owns nothing, is not a member of the owner, and receives only SELECT,
-- INSERT, UPDATE and DELETE, through the owner's default privileges, on
-- whatever the migrations create.

\if :{?owner}
\else
\set owner secrets_core_owner
\endif
\if :{?app}
\else
\set app secrets_core_app
\endif

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', :'owner')
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', :'app')
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
-- Re-running the script puts the attributes back, should someone have
-- changed them.
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', :'owner') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', :'app') \gexec
-- The app role is a member of no role (of the owner least of all).
SELECT format('REVOKE %I FROM %I', r.rolname, :'app')
    FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
    WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = :'app') \gexec

\if :{?owner_password}
SELECT format('ALTER ROLE %I PASSWORD %L', :'owner', :'owner_password') \gexec
\endif
\if :{?app_password}
SELECT format('ALTER ROLE %I PASSWORD %L', :'app', :'app_password') \gexec
\endif

-- The owner may create the store's schema in this database; both may connect.
SELECT format('GRANT CONNECT, CREATE ON DATABASE %I TO %I', current_database(), :'owner') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'app') \gexec
-- Nobody else creates objects in `public` (PostgreSQL 15's default; older
-- servers granted it to every role).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- What the owner's migrations create, the app role may use: the schemas
-- (USAGE, not CREATE) and the tables' rows, nothing more (no TRUNCATE,
-- REFERENCES or TRIGGER, no DDL).
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I GRANT USAGE ON SCHEMAS TO %I', :'owner', :'app') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', :'owner', :'app') \gexec
