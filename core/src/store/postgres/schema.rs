//! The schema (numbered migrations, run by the owner role only) and the
//! checks the app role's `open` makes before it serves a single request.

use deadpool_postgres::Client;

use super::sql::db;
use crate::error::{Error, Result};
use crate::store::HealthCheck;

/// The PostgreSQL schema version this build writes, and the newest it
/// opens. A database with a newer version is refused with
/// [`Error::SchemaTooNew`].
///
/// ```
/// use secrets_core::store::POSTGRES_SCHEMA_VERSION;
///
/// assert!(POSTGRES_SCHEMA_VERSION >= 1);
/// ```
pub const POSTGRES_SCHEMA_VERSION: i64 = 2;

/// The migrations, in order: migration `n` (from 1) brings the schema from
/// version `n - 1` to `n`. Never edit a released one; append a new one.
/// `{s}` stands for the schema's name (checked: `[a-z_][a-z0-9_]*`).
///
/// Layout (the whole of it is in `docs/FORMATS.md`, "PostgreSQL store"):
/// the same rows as SQLite's, with tenant ids as `uuid`, every key and index
/// leading with `tenant_id`, composite foreign keys (a row's owner is a user
/// of the row's own tenant), ids in the `C` collation (byte order, as the
/// other backends list them), and row-level security forced on every table:
///
/// - tenant tables (`tenants`, `users`, `records`, `audit_events`): one
///   policy, `USING` and `WITH CHECK` `tenant_id = {s}.current_tenant()`
///   (from schema 2, the function's body written out in the policy:
///   `NULLIF(current_setting('app.tenant', true), '')::uuid`, which the
///   planner does not have to inline at every planning);
/// - directories (`tenant_directory`, `lookup_directory`): per-command
///   policies, readable by every session, inserted and deleted only in the
///   entry's own tenant, never updated;
/// - `meta` (store-wide settings, outside every tenant): open to the app role;
/// - `schema_version`: readable by all, written only by the owner;
/// - `{s}.find_credential(kind, lookup, owner, tenant)` (schema 2): the
///   directory entry of a token's hash, then its row, its owner's user row
///   and its tenant's record read in that tenant's context, in one
///   statement, as the invoker (under every policy).
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE {s}.schema_version (
    version     integer PRIMARY KEY CHECK (version >= 1),
    applied_at  bigint  NOT NULL
);

-- The tenant context of the current transaction, NULL without one. NULLIF:
-- a pooled connection that ran a transaction with the setting earlier keeps
-- the placeholder '' (not NULL) afterwards; without NULLIF the cast would
-- fail and a query without context would error instead of seeing no row.
CREATE FUNCTION {s}.current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant', true), '')::uuid $$;

CREATE TABLE {s}.tenants (
    id       uuid   PRIMARY KEY,
    version  bigint NOT NULL CHECK (version >= 1),
    body     bytea  NOT NULL
);

CREATE TABLE {s}.tenant_directory (
    id  uuid PRIMARY KEY REFERENCES {s}.tenants (id) ON DELETE CASCADE
);

CREATE TABLE {s}.users (
    tenant_id   uuid   NOT NULL REFERENCES {s}.tenants (id) ON DELETE CASCADE,
    kind        text   NOT NULL CHECK (kind = 'user'),
    id          text   COLLATE "C" NOT NULL,
    parent      text   COLLATE "C",
    owner_id    text   COLLATE "C" CHECK (owner_id IS NULL),
    lookup      bytea,
    expires_at  bigint,
    version     bigint NOT NULL CHECK (version >= 1),
    body        bytea  NOT NULL,
    sealed      bytea,
    key_id      bigint,
    tag         bytea  CHECK (tag IS NULL OR length(tag) = 32),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX users_lookup ON {s}.users (tenant_id, kind, lookup) WHERE lookup IS NOT NULL;
CREATE INDEX users_parent ON {s}.users (tenant_id, parent, id) WHERE parent IS NOT NULL;
CREATE INDEX users_key ON {s}.users (tenant_id, key_id) WHERE key_id IS NOT NULL;

CREATE TABLE {s}.records (
    tenant_id   uuid   NOT NULL REFERENCES {s}.tenants (id) ON DELETE CASCADE,
    kind        text   NOT NULL CHECK (kind <> 'user'),
    id          text   COLLATE "C" NOT NULL,
    parent      text   COLLATE "C",
    owner_id    text   COLLATE "C",
    lookup      bytea,
    expires_at  bigint,
    version     bigint NOT NULL CHECK (version >= 1),
    body        bytea  NOT NULL,
    sealed      bytea,
    key_id      bigint,
    tag         bytea  CHECK (tag IS NULL OR length(tag) = 32),
    PRIMARY KEY (tenant_id, kind, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES {s}.users (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX records_lookup ON {s}.records (tenant_id, kind, lookup) WHERE lookup IS NOT NULL;
CREATE INDEX records_parent ON {s}.records (tenant_id, kind, parent, id) WHERE parent IS NOT NULL;
CREATE INDEX records_owner ON {s}.records (tenant_id, owner_id, kind, id);
CREATE INDEX records_expiry ON {s}.records (tenant_id, kind, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX records_key ON {s}.records (tenant_id, kind, key_id) WHERE key_id IS NOT NULL;

CREATE TABLE {s}.audit_events (
    tenant_id  uuid   NOT NULL REFERENCES {s}.tenants (id) ON DELETE CASCADE,
    seq        bigint NOT NULL CHECK (seq >= 1),
    at         bigint NOT NULL,
    actor      text   NOT NULL,
    action     text   NOT NULL,
    target     text   NOT NULL,
    source     text,
    outcome    text   NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
    details    text   NOT NULL,
    prev_hash  bytea  NOT NULL CHECK (length(prev_hash) = 32),
    hash       bytea  NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_actor ON {s}.audit_events (tenant_id, actor, seq);
CREATE INDEX audit_action ON {s}.audit_events (tenant_id, action, seq);
CREATE INDEX audit_target ON {s}.audit_events (tenant_id, target, seq);

-- (kind, lookup) -> tenant for the kinds whose lookup key is the hash of a
-- random secret: what token authentication reads before it knows the
-- tenant. The primary key makes such a key unique across tenants.
CREATE TABLE {s}.lookup_directory (
    kind       text  NOT NULL,
    lookup     bytea NOT NULL,
    tenant_id  uuid  NOT NULL REFERENCES {s}.tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, lookup)
);
CREATE INDEX lookup_directory_tenant ON {s}.lookup_directory (tenant_id);

CREATE TABLE {s}.meta (
    name   text  PRIMARY KEY,
    value  bytea NOT NULL
);

ALTER TABLE {s}.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {s}.tenants
    USING (id = {s}.current_tenant()) WITH CHECK (id = {s}.current_tenant());

ALTER TABLE {s}.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {s}.users
    USING (tenant_id = {s}.current_tenant()) WITH CHECK (tenant_id = {s}.current_tenant());

ALTER TABLE {s}.records ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {s}.records
    USING (tenant_id = {s}.current_tenant()) WITH CHECK (tenant_id = {s}.current_tenant());

ALTER TABLE {s}.audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {s}.audit_events
    USING (tenant_id = {s}.current_tenant()) WITH CHECK (tenant_id = {s}.current_tenant());

ALTER TABLE {s}.tenant_directory ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.tenant_directory FORCE ROW LEVEL SECURITY;
CREATE POLICY directory_read ON {s}.tenant_directory FOR SELECT USING (true);
CREATE POLICY directory_insert ON {s}.tenant_directory FOR INSERT
    WITH CHECK (id = {s}.current_tenant());
CREATE POLICY directory_delete ON {s}.tenant_directory FOR DELETE
    USING (id = {s}.current_tenant());

ALTER TABLE {s}.lookup_directory ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.lookup_directory FORCE ROW LEVEL SECURITY;
CREATE POLICY directory_read ON {s}.lookup_directory FOR SELECT USING (true);
CREATE POLICY directory_insert ON {s}.lookup_directory FOR INSERT
    WITH CHECK (tenant_id = {s}.current_tenant());
CREATE POLICY directory_delete ON {s}.lookup_directory FOR DELETE
    USING (tenant_id = {s}.current_tenant());

ALTER TABLE {s}.meta ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.meta FORCE ROW LEVEL SECURITY;
CREATE POLICY store_wide ON {s}.meta USING (true) WITH CHECK (true);

ALTER TABLE {s}.schema_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.schema_version FORCE ROW LEVEL SECURITY;
CREATE POLICY read_all ON {s}.schema_version FOR SELECT USING (true);
CREATE POLICY owner_writes ON {s}.schema_version FOR INSERT
    WITH CHECK (pg_has_role((SELECT relowner FROM pg_class
                             WHERE oid = '{s}.schema_version'::regclass), 'USAGE'));
"#,
    r#"
-- Schema 2: the same isolation, cheaper to plan, and authentication in one
-- round trip.

-- The policies name the context expression itself rather than call
-- current_tenant(): the planner inlines a SQL function by parsing and
-- analysing its body again at every planning, and a statement planned at
-- every execution (a page: its LIMIT is a parameter, so PostgreSQL keeps
-- choosing custom plans) paid that each time. The expression is the
-- function's body, NULLIF included, so the semantics are unchanged: a
-- transaction without a tenant sees no row and writes none.
ALTER POLICY tenant_isolation ON {s}.tenants
    USING (id = NULLIF(current_setting('app.tenant', true), '')::uuid)
    WITH CHECK (id = NULLIF(current_setting('app.tenant', true), '')::uuid);
ALTER POLICY tenant_isolation ON {s}.users
    USING (tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid);
ALTER POLICY tenant_isolation ON {s}.records
    USING (tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid);
ALTER POLICY tenant_isolation ON {s}.audit_events
    USING (tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid);
ALTER POLICY directory_insert ON {s}.tenant_directory
    WITH CHECK (id = NULLIF(current_setting('app.tenant', true), '')::uuid);
ALTER POLICY directory_delete ON {s}.tenant_directory
    USING (id = NULLIF(current_setting('app.tenant', true), '')::uuid);
ALTER POLICY directory_insert ON {s}.lookup_directory
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid);
ALTER POLICY directory_delete ON {s}.lookup_directory
    USING (tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid);

-- What authenticating a presented token reads, in one statement: the
-- directory names the token's tenant; the tenant context is set to it,
-- transaction-locally; the token's row (and, when asked, its owner's user
-- row and the tenant's record) are read under row-level security in that
-- context; the context the caller had is put back. SECURITY INVOKER: it
-- runs as the app role, bound by every policy, and grants nothing the app
-- role could not do with set_config and three SELECTs. A directory entry
-- naming the wrong tenant finds no row (the row's own tenant is not the
-- context). Called as a statement of its own, it is its own transaction,
-- and the context ends with it.
CREATE FUNCTION {s}.find_credential(p_kind text, p_lookup bytea, p_owner boolean, p_tenant boolean)
    RETURNS TABLE (
        tenant_id uuid,
        kind text, id text, parent text, owner_id text, lookup bytea,
        expires_at bigint, version bigint, body bytea, sealed bytea, tag bytea,
        owner_kind text, owner_row_id text, owner_parent text, owner_owner_id text,
        owner_lookup bytea, owner_expires_at bigint, owner_version bigint,
        owner_body bytea, owner_sealed bytea, owner_tag bytea,
        tenant_version bigint, tenant_body bytea)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
#variable_conflict use_column
DECLARE
    found_tenant uuid;
    previous text := current_setting('app.tenant', true);
BEGIN
    -- The directory entry and the context in one statement: the select
    -- list is evaluated only for the row the WHERE clause found, so the
    -- context is set to its tenant or not at all.
    SELECT set_config('app.tenant', d.tenant_id::text, true)::uuid INTO found_tenant
        FROM {s}.lookup_directory d
        WHERE d.kind = p_kind AND d.lookup = p_lookup;
    IF found_tenant IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT r.tenant_id, r.kind, r.id, r.parent, r.owner_id, r.lookup,
               r.expires_at, r.version, r.body, r.sealed, r.tag,
               u.kind, u.id, u.parent, u.owner_id, u.lookup,
               u.expires_at, u.version, u.body, u.sealed, u.tag,
               t.version, t.body
        FROM {s}.records r
        LEFT JOIN {s}.users u
            ON p_owner AND u.tenant_id = r.tenant_id AND u.id = r.owner_id
        LEFT JOIN {s}.tenants t
            ON p_tenant AND t.id = r.tenant_id
        WHERE r.tenant_id = found_tenant AND r.kind = p_kind AND r.lookup = p_lookup;
    PERFORM set_config('app.tenant', coalesce(previous, ''), true);
END
$$;
"#,
];

// One migration per schema version, no more, no fewer.
const _: () = assert!(MIGRATIONS.len() as i64 == POSTGRES_SCHEMA_VERSION);

/// Checks a schema name: 1 to 63 bytes of `a-z`, `0-9`, `_`, not starting
/// with a digit and not `pg_...`, so that it needs no quoting in SQL.
pub(super) fn check_schema_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !name.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "schema",
            "must be 1 to 63 bytes of `a-z`, `0-9` and `_`, not starting with a digit or `pg_`",
        ))
    }
}

/// Brings `schema` up to [`POSTGRES_SCHEMA_VERSION`] in one transaction,
/// under a transaction-scoped advisory lock (two processes migrating at once
/// apply each step once; safe behind a transaction-pooling proxy).
pub(super) async fn migrate(client: &mut Client, schema: &str) -> Result<()> {
    let tx = client
        .transaction()
        .await
        .map_err(db("begin the migration"))?;
    let key = format!("secrets-core migrations {schema}");
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&key])
        .await
        .map_err(db("take the migration lock"))?;
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .await
        .map_err(db("create the schema"))?;
    let current = version_in(&tx, schema).await?;
    if current > POSTGRES_SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: POSTGRES_SCHEMA_VERSION,
        });
    }
    let now = crate::clock::Clock::now(&crate::clock::SystemClock).unix_millis();
    for (number, sql) in (1_i64..).zip(MIGRATIONS) {
        if number <= current {
            continue;
        }
        tx.batch_execute(&sql.replace("{s}", schema))
            .await
            .map_err(db("apply a migration"))?;
        let n = i32::try_from(number).map_err(|_| Error::Internal {
            what: "a migration number outgrew i32",
        })?;
        tx.execute(
            &format!("INSERT INTO {schema}.schema_version (version, applied_at) VALUES ($1, $2)"),
            &[&n, &now],
        )
        .await
        .map_err(db("record a migration"))?;
    }
    tx.commit().await.map_err(db("commit the migration"))
}

/// The schema version of `schema` (0 when it has no `schema_version` table).
pub(super) async fn version_in(
    client: &impl deadpool_postgres::GenericClient,
    schema: &str,
) -> Result<i64> {
    let exists = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{schema}.schema_version")],
        )
        .await
        .map_err(db("look for the schema_version table"))?;
    let exists: bool = exists.try_get(0).map_err(db("read the schema version"))?;
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            &format!("SELECT coalesce(max(version), 0)::bigint FROM {schema}.schema_version"),
            &[],
        )
        .await
        .map_err(db("read the schema version"))?;
    row.try_get(0).map_err(db("read the schema version"))
}

/// What `open` checks and `diagnose` reports about the connection's role
/// and the schema, read in one go.
pub(super) struct RoleFacts {
    /// The role's name.
    name: String,
    superuser: bool,
    bypass: bool,
    /// Tables (or the schema itself) the role owns or is a member of the
    /// owner of.
    owned: Vec<String>,
    /// The schema's version (0 when never migrated).
    version: i64,
    /// Tables without both ENABLE and FORCE ROW LEVEL SECURITY.
    unforced: Vec<String>,
}

/// Reads the [`RoleFacts`] of the connection's role in `schema`.
pub(super) async fn role_facts(client: &Client, schema: &str) -> Result<RoleFacts> {
    const D: &str = "check the connection's role";
    let role = client
        .query_one(
            "SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles \
             WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(db(D))?;
    let name: String = role.try_get(0).map_err(db(D))?;
    let superuser: bool = role.try_get(1).map_err(db(D))?;
    let bypass: bool = role.try_get(2).map_err(db(D))?;
    // MEMBER, not USAGE: a member that does not inherit the owner's
    // privileges can still `SET ROLE` to it and turn row-level security off.
    let owned = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
             AND pg_has_role(current_user, c.relowner, 'MEMBER') \
             UNION ALL SELECT n.nspname::text FROM pg_namespace n \
             WHERE n.nspname = $1 AND pg_has_role(current_user, n.nspowner, 'MEMBER')",
            &[&schema],
        )
        .await
        .map_err(db(D))?
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db(D))?;
    let version = version_in(client, schema).await?;
    let unforced = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
             AND NOT (c.relrowsecurity AND c.relforcerowsecurity) ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(db(D))?
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db(D))?;
    Ok(RoleFacts {
        name,
        superuser,
        bypass,
        owned,
        version,
        unforced,
    })
}

/// The statement that restores row-level security on `schema.table`.
fn force_rls_fix(schema: &str, table: &str) -> String {
    format!("ALTER TABLE {schema}.{table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
}

/// What `open` refuses to run as, or on, before it serves anything: a role
/// that row-level security does not bind, and a schema whose tables do not
/// force it.
///
/// # Errors
///
/// [`Error::InvalidInput`] (field `postgres role` or `postgres schema`)
/// naming the reason; [`Error::SchemaTooNew`]; [`Error::Storage`] for a
/// schema that was never migrated.
pub(super) async fn check_app_role(client: &Client, schema: &str) -> Result<()> {
    let RoleFacts {
        name,
        superuser,
        bypass,
        owned,
        version,
        unforced,
    } = role_facts(client, schema).await?;
    if superuser {
        return Err(Error::invalid(
            "postgres role",
            format!(
                "`{name}` is a superuser, which row-level security does not bind; \
                 connect as the app role that bootstrap.sql creates"
            ),
        ));
    }
    if bypass {
        return Err(Error::invalid(
            "postgres role",
            format!(
                "`{name}` has BYPASSRLS, so row-level security would not bind it; \
                 connect as a role with NOBYPASSRLS (bootstrap.sql's app role)"
            ),
        ));
    }
    if let Some(what) = owned.first() {
        return Err(Error::invalid(
            "postgres role",
            format!(
                "`{name}` owns (or is a member of the owner of) `{what}`: an owner can turn \
                 row-level security off; connect as the app role, and migrate as the owner"
            ),
        ));
    }
    if version > POSTGRES_SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: POSTGRES_SCHEMA_VERSION,
        });
    }
    if version < POSTGRES_SCHEMA_VERSION {
        return Err(Error::storage(format!(
            "the schema `{schema}` is at version {version}, this build needs \
             {POSTGRES_SCHEMA_VERSION}: run `PostgresStore::migrate` as the owner role first"
        )));
    }
    if let Some(table) = unforced.first() {
        return Err(Error::invalid(
            "postgres schema",
            format!(
                "table `{schema}.{table}` does not ENABLE and FORCE ROW LEVEL SECURITY; \
                 tenant isolation would rest on the application alone: restore it with `{}`",
                force_rls_fix(schema, table)
            ),
        ));
    }
    Ok(())
}

/// Every check of `open` as a [`HealthCheck`], failing ones included (one
/// per table without FORCE ROW LEVEL SECURITY), for `diagnose`.
pub(super) fn health(facts: &RoleFacts, schema: &str) -> Vec<HealthCheck> {
    let name = &facts.name;
    let mut checks = vec![
        HealthCheck::new(
            "superuser",
            !facts.superuser,
            if facts.superuser {
                format!("`{name}` is a superuser, which row-level security does not bind")
            } else {
                format!("`{name}` is not a superuser")
            },
        ),
        HealthCheck::new(
            "bypassrls",
            !facts.bypass,
            if facts.bypass {
                format!("`{name}` has BYPASSRLS: row-level security does not bind it")
            } else {
                format!("`{name}` has no BYPASSRLS")
            },
        ),
        HealthCheck::new(
            "owner",
            facts.owned.is_empty(),
            if facts.owned.is_empty() {
                format!("`{name}` owns nothing in `{schema}`")
            } else {
                format!(
                    "`{name}` owns (or is a member of the owner of) {}: an owner can turn \
                     row-level security off; connect as the app role",
                    facts.owned.join(", ")
                )
            },
        ),
        HealthCheck::new(
            "schema_version",
            facts.version == POSTGRES_SCHEMA_VERSION,
            format!(
                "`{schema}` is at version {} (this build needs {POSTGRES_SCHEMA_VERSION})",
                facts.version
            ),
        ),
    ];
    if facts.unforced.is_empty() {
        checks.push(HealthCheck::new(
            "force_rls",
            true,
            format!("every table of `{schema}` has ENABLE and FORCE ROW LEVEL SECURITY"),
        ));
    }
    for table in &facts.unforced {
        checks.push(HealthCheck::new(
            "force_rls",
            false,
            format!(
                "table `{schema}.{table}` does not ENABLE and FORCE ROW LEVEL SECURITY: `{}`",
                force_rls_fix(schema, table)
            ),
        ));
    }
    checks
}
