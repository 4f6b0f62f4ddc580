//! The backend conformance suite: one set of checks every [`Store`] must
//! pass unchanged. A backend's tests call [`run_all`] with a builder that
//! returns a fresh, empty store and a guard that cleans up when dropped.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use secrets_core::store::{MemoryStore, conformance};
//!
//! conformance::run_all(|| async {
//!     let store: Arc<dyn secrets_core::store::Store> = Arc::new(MemoryStore::new());
//!     (store, Box::new(()) as Box<dyn std::any::Any + Send>)
//! })
//! .await;
//! # }
//! ```
//!
//! Failures panic with the case's name: this is test code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod concurrency;
mod directory;

use self::concurrency::{
    a_failing_batch_among_concurrent_ones_fails_alone,
    concurrent_applies_number_the_audit_log_without_gaps,
};
use self::directory::{
    the_lookup_directory_follows_its_rows, the_lookup_directory_is_in_the_batch_transaction,
    the_lookup_directory_never_crosses_tenants, the_tenant_directory_lists_exactly_the_tenants,
};
use std::any::Any;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use crate::audit::{Actor, AuditChain, AuditDraft, AuditLinker, AuditRecord, Outcome};
use crate::clock::Timestamp;
use crate::crypto::{KeyRing, MasterKey};
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::rbac::Role;
use crate::store::records::{
    AgentSession, ApiToken, AppArchive, AppSecret, AppSecretPrevious, OAuthConnection, OAuthState,
    RefreshFamily, RefreshToken, SecretName, SeenWebhook, SettingSecret, User, WebhookEndpoint,
    WebhookPreviousSecret,
};
use crate::store::{
    AuditQuery, Batch, Change, Kind, ListQuery, Record, Row, Store, StoreExt, Tenant,
};

/// A fresh store and the guard that cleans it up.
pub type Fresh = (Arc<dyn Store>, Box<dyn Any + Send>);

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Fresh>,
{
    macro_rules! cases {
        ($($case:ident),* $(,)?) => {$(
            let (store, guard) = make().await;
            eprintln!("conformance: {}", stringify!($case));
            $case(Fx::new(store)).await;
            drop(guard);
        )*};
    }
    cases!(
        every_kind_round_trips,
        tenants_are_isolated,
        failing_batches_leave_nothing,
        a_change_without_its_audit_event_is_not_made,
        compare_and_swap_has_one_winner,
        concurrent_writers_lose_no_update,
        lists_page_in_a_stable_order,
        list_filters_select_exactly,
        lookup_keys_are_unique,
        deleting_a_user_deletes_what_it_owns,
        audit_log_is_chained_and_queryable,
        erase_respects_deletion_protection,
        export_holds_the_tenant_and_nothing_else,
        rewrap_moves_every_value_and_resumes,
        row_tags_are_stored_as_given,
        store_settings_compare_and_set,
        the_lookup_directory_follows_its_rows,
        the_lookup_directory_never_crosses_tenants,
        the_lookup_directory_is_in_the_batch_transaction,
        the_tenant_directory_lists_exactly_the_tenants,
        concurrent_applies_number_the_audit_log_without_gaps,
        a_failing_batch_among_concurrent_ones_fails_alone,
    );
}

/// Shared fixtures of one case.
struct Fx {
    store: Arc<dyn Store>,
    ring: KeyRing,
    chain: Arc<dyn AuditLinker>,
    now: Timestamp,
}

impl Fx {
    fn new(store: Arc<dyn Store>) -> Self {
        let ring = KeyRing::new(MasterKey::from_bytes(&[0x6b; 32]).unwrap());
        let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&ring));
        Self {
            store,
            ring,
            chain,
            now: Timestamp::from_unix_seconds(1_700_000_000),
        }
    }

    fn draft(&self, action: &str) -> AuditDraft {
        AuditDraft::new(Actor::System, action, "conformance", self.now)
    }

    async fn apply(&self, tenant: TenantId, changes: Vec<Change>) -> Result<AuditRecord> {
        let mut batch = Batch::new(self.draft("test.change"));
        batch.changes = changes;
        self.store.apply(tenant, batch, &self.chain).await
    }

    async fn tenant(&self, name: &str) -> TenantId {
        let id = TenantId::generate();
        let t = Tenant::new(id, name, self.now).unwrap();
        self.apply(id, vec![Change::CreateTenant(t)]).await.unwrap();
        id
    }

    async fn user(&self, tenant: TenantId, login: &str) -> UserId {
        let u = user(login, self.now);
        let id = u.id;
        self.apply(tenant, vec![Change::Insert(u.to_row(None).unwrap())])
            .await
            .unwrap();
        id
    }

    fn seal(&self, tenant: TenantId, kind: Kind, id: &str, value: &[u8]) -> Vec<u8> {
        self.ring
            .seal(value, &Row::context(tenant, kind, id))
            .unwrap()
    }

    fn open(&self, tenant: TenantId, row: &Row) -> Vec<u8> {
        let ctx = Row::context(tenant, row.kind, &row.id);
        self.ring
            .open(row.sealed.as_ref().unwrap(), &ctx)
            .unwrap()
            .expose_secret()
            .to_vec()
    }

    async fn count_rows(&self, tenant: TenantId) -> usize {
        let mut n = 0;
        for kind in Kind::ALL {
            n += self
                .store
                .list(tenant, &ListQuery::new(kind))
                .await
                .unwrap()
                .len();
        }
        n
    }

    async fn count_audit(&self, tenant: TenantId) -> usize {
        self.store
            .audit_events(tenant, &AuditQuery::default())
            .await
            .unwrap()
            .len()
    }

    /// One row of every kind but `User`, owned by `owner`, with sealed values
    /// where the kind has one.
    fn sample_rows(&self, tenant: TenantId, owner: UserId, tag: &str) -> Vec<Row> {
        let now = self.now;
        let later = now.saturating_add(std::time::Duration::from_secs(600));
        let hash = |n: u8| {
            let mut h = [n; 32];
            h[..tag.len().min(32)].copy_from_slice(&tag.as_bytes()[..tag.len().min(32)]);
            h
        };
        let name = SecretName::parse("DATABASE_URL").unwrap();
        let mut rows = vec![
            ApiToken {
                id: format!("tok-{tag}"),
                owner,
                name: "ci".into(),
                hash: hash(1),
                display_prefix: "sc_1234".into(),
                scopes: vec!["apps:read".into()],
                created_at: now,
                expires_at: Some(later),
                last_used_at: None,
                revoked_at: None,
                epoch: 0,
            }
            .to_row(None)
            .unwrap(),
            AgentSession {
                id: format!("agent-{tag}"),
                user: owner,
                agent: "claude".into(),
                token_hash: hash(2),
                scopes: vec![],
                created_at: now,
                expires_at: later,
                revoked_at: None,
                epoch: 0,
            }
            .to_row(None)
            .unwrap(),
            RefreshFamily {
                id: format!("fam-{tag}"),
                user: owner,
                created_at: now,
                last_used_at: now,
                absolute_expiry: later,
                generation: 1,
                rotated_at: now,
                revoked_at: None,
                epoch: 0,
            }
            .to_row(None)
            .unwrap(),
            RefreshToken {
                id: format!("rt-{tag}"),
                family: format!("fam-{tag}"),
                generation: 1,
                user: owner,
                hash: hash(3),
                created_at: now,
                used_at: None,
                overlap_used: false,
            }
            .to_row(None)
            .unwrap(),
        ];
        let sealed_records: Vec<Row> = vec![
            AppSecret::new("web", name.clone(), Actor::User(owner), now)
                .unwrap()
                .to_row(None)
                .unwrap(),
            AppSecretPrevious {
                app: "web".into(),
                name: name.clone(),
                replaced_at: now,
            }
            .to_row(None)
            .unwrap(),
            AppArchive {
                app: "old-app".into(),
                names: vec![name],
                archived_by: Actor::System,
                archived_at: now,
            }
            .to_row(None)
            .unwrap(),
            SettingSecret {
                name: "provider/openai".into(),
                updated_by: Actor::User(owner),
                updated_at: now,
            }
            .to_row(None)
            .unwrap(),
            WebhookEndpoint {
                id: format!("ep-{tag}"),
                url: "https://example.com/hook".into(),
                description: "deploys".into(),
                created_at: now,
                disabled: false,
            }
            .to_row(None)
            .unwrap(),
            WebhookPreviousSecret {
                endpoint: format!("ep-{tag}"),
                expires_at: later,
            }
            .to_row(None)
            .unwrap(),
            OAuthState {
                state: format!("state-{tag}"),
                user: owner,
                provider: "github".into(),
                redirect_uri: "https://app.example.com/cb".into(),
                created_at: now,
                expires_at: later,
            }
            .to_row(None)
            .unwrap(),
            OAuthConnection {
                user: owner,
                provider: "github".into(),
                scopes: vec!["repo".into()],
                access_expires_at: Some(later),
                updated_at: now,
                last_refresh_error: None,
                needs_reconnect: false,
            }
            .to_row(None)
            .unwrap(),
        ];
        for mut row in sealed_records {
            let value = format!("secret of {} {} in {tag}", row.kind, row.id);
            row.sealed = Some(self.seal(tenant, row.kind, &row.id, value.as_bytes()));
            rows.push(row);
        }
        rows.push(
            SeenWebhook {
                source: "github".into(),
                message_id: format!("msg-{tag}"),
                expires_at: later,
            }
            .to_row(None)
            .unwrap(),
        );
        rows.push(
            crate::store::records::DeployEvaluation {
                deploy: format!("web-{tag}"),
                profile: crate::gate::Profile::Hardened,
                held: true,
                reasons: vec!["lint sbom failed".into()],
                reason_count: 1,
                evaluated_by: crate::audit::Actor::System,
                evaluated_at: now,
                expires_at: later,
                overridden: None,
            }
            .to_row(None)
            .unwrap(),
        );
        rows
    }
}

fn user(login: &str, now: Timestamp) -> User {
    User {
        id: UserId::generate(),
        login: login.into(),
        role: Role::Developer,
        password_hash: Some("$2b$12$not-a-real-hash".into()),
        disabled: false,
        created_at: now,
        credential_epoch: 0,
        credentials_revoked_at: None,
    }
}

fn failing() -> Arc<dyn AuditLinker> {
    Arc::new(FailingLinker)
}

struct FailingLinker;

impl std::fmt::Debug for FailingLinker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FailingLinker")
    }
}

impl AuditLinker for FailingLinker {
    fn link(&self, _: &AuditRecord) -> Result<[u8; 32]> {
        Err(Error::Store("the audit log is unavailable".into()))
    }
}

fn assert_same_row(got: &Row, want: &Row, version: u64) {
    assert_eq!(got.kind, want.kind);
    assert_eq!(got.id, want.id);
    assert_eq!(got.parent, want.parent, "{} parent", want.kind);
    assert_eq!(got.owner, want.owner, "{} owner", want.kind);
    assert_eq!(got.lookup, want.lookup, "{} lookup", want.kind);
    assert_eq!(got.expires_at, want.expires_at, "{} expires_at", want.kind);
    assert_eq!(got.body, want.body, "{} body", want.kind);
    assert_eq!(got.sealed, want.sealed, "{} sealed", want.kind);
    assert_eq!(got.version, version, "{} version", want.kind);
}

async fn every_kind_round_trips(fx: Fx) {
    let t = fx.tenant("acme").await;
    let owner = fx.user(t, "ada@example.com").await;
    let got = fx
        .store
        .get_record::<User>(t, &owner.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.record.login, "ada@example.com");
    assert_eq!(got.version, 1);
    let by_login = fx
        .store
        .get_by_lookup(t, Kind::User, b"ada@example.com")
        .await
        .unwrap();
    assert_eq!(by_login.map(|r| r.id), Some(owner.to_string()));

    let rows = fx.sample_rows(t, owner, "a");
    let kinds: BTreeSet<Kind> = rows.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds.len() + 1,
        Kind::ALL.len(),
        "the sample covers every kind"
    );
    fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();

    for want in &rows {
        let got = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
        assert_same_row(&got, want, 1);
        if want.sealed.is_some() {
            let plain = fx.open(t, &got);
            assert!(plain.starts_with(b"secret of "));
        }
        let listed = fx.store.list(t, &ListQuery::new(want.kind)).await.unwrap();
        assert_eq!(listed.len(), 1, "{}", want.kind);
        assert_same_row(&listed[0], want, 1);
        if let Some(lookup) = &want.lookup {
            let found = fx
                .store
                .get_by_lookup(t, want.kind, lookup)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.id, want.id);
            if want.kind.has_global_lookup() {
                let (tenant, found) = fx
                    .store
                    .find_by_lookup(want.kind, lookup)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!((tenant, found.id.as_str()), (t, want.id.as_str()));
            }
        }
    }

    // Update every row (compare-and-swap on version 1), then delete it.
    for want in &rows {
        let mut changed = want.clone();
        changed.body = br#"{"changed":true}"#.to_vec();
        changed.expires_at = Some(Timestamp::from_unix_seconds(5));
        fx.apply(
            t,
            vec![Change::Update {
                row: changed.clone(),
                expected_version: 1,
            }],
        )
        .await
        .unwrap();
        let got = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
        assert_same_row(&got, &changed, 2);
        fx.apply(
            t,
            vec![Change::Delete {
                kind: want.kind,
                id: want.id.clone(),
                expected_version: Some(2),
            }],
        )
        .await
        .unwrap();
        assert!(
            fx.store
                .get(t, want.kind, &want.id)
                .await
                .unwrap()
                .is_none()
        );
        if let Some(lookup) = &want.lookup {
            assert!(
                fx.store
                    .get_by_lookup(t, want.kind, lookup)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }
    assert_eq!(fx.count_rows(t).await, 1, "only the user is left");

    // Tenant record: update with compare-and-swap.
    let mut tenant = fx.store.tenant(t).await.unwrap().unwrap();
    assert_eq!(tenant.version, 1);
    tenant.deletion_protection = true;
    tenant.agent_sessions_enabled = false;
    fx.apply(
        t,
        vec![Change::UpdateTenant {
            tenant: tenant.clone(),
            expected_version: 1,
        }],
    )
    .await
    .unwrap();
    let again = fx.store.tenant(t).await.unwrap().unwrap();
    assert!(again.deletion_protection && !again.agent_sessions_enabled);
    assert_eq!(again.version, 2);
    let err = fx
        .apply(
            t,
            vec![Change::UpdateTenant {
                tenant,
                expected_version: 1,
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
}

async fn tenants_are_isolated(fx: Fx) {
    let a = fx.tenant("a").await;
    let b = fx.tenant("b").await;
    let ua = fx.user(a, "same@example.com").await;
    let ub = fx.user(b, "same@example.com").await;
    let rows_a = fx.sample_rows(a, ua, "a");
    let rows_b = fx.sample_rows(b, ub, "b");
    fx.apply(a, rows_a.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    fx.apply(b, rows_b.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();

    for rb in &rows_b {
        // Reads of B's ids from A see A's own row of that id, or nothing.
        let own = rows_a.iter().find(|r| r.kind == rb.kind && r.id == rb.id);
        match (fx.store.get(a, rb.kind, &rb.id).await.unwrap(), own) {
            (None, None) => {}
            (Some(got), Some(own)) => assert_same_row(&got, own, 1),
            (got, own) => panic!("{} {}: read {got:?}, own row {own:?}", rb.kind, rb.id),
        }
        if let Some(lookup) = &rb.lookup
            && rows_a.iter().all(|r| r.lookup.as_ref() != Some(lookup))
        {
            assert!(
                fx.store
                    .get_by_lookup(a, rb.kind, lookup)
                    .await
                    .unwrap()
                    .is_none(),
                "{} lookup leaked across tenants",
                rb.kind
            );
        }
    }
    // Lists from A hold exactly A's rows.
    for kind in Kind::ALL {
        for row in fx.store.list(a, &ListQuery::new(kind)).await.unwrap() {
            let mine = rows_a.iter().any(|r| {
                r.kind == row.kind && r.id == row.id && r.sealed == row.sealed && r.body == row.body
            }) || (kind == Kind::User && row.id == ua.to_string());
            assert!(mine, "A listed a row that is not its own: {row:?}");
        }
    }
    // Ids that exist only in B: update and delete from A fail, B unchanged.
    let only_b: Vec<&Row> = rows_b.iter().filter(|r| r.id.ends_with("-b")).collect();
    assert!(only_b.len() >= 4);
    for rb in only_b {
        let mut stolen = rb.clone();
        stolen.body = b"{}".to_vec();
        let err = fx
            .apply(
                a,
                vec![Change::Update {
                    row: stolen,
                    expected_version: 1,
                }],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        let err = fx
            .apply(
                a,
                vec![Change::Delete {
                    kind: rb.kind,
                    id: rb.id.clone(),
                    expected_version: None,
                }],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_same_row(
            &fx.store.get(b, rb.kind, &rb.id).await.unwrap().unwrap(),
            rb,
            1,
        );
    }
    // A row in A cannot point at B's user, nor can A delete B's user.
    let mut bad = fx.sample_rows(a, ub, "x").remove(0);
    bad.owner = Some(ub);
    let err = fx.apply(a, vec![Change::Insert(bad)]).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = fx
        .apply(
            a,
            vec![Change::Delete {
                kind: Kind::User,
                id: ub.to_string(),
                expected_version: None,
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(
        fx.store
            .get(b, Kind::User, &ub.to_string())
            .await
            .unwrap()
            .is_some()
    );
    // The owner filter with B's user finds nothing in A.
    for kind in Kind::ALL {
        assert!(
            fx.store
                .list(a, &ListQuery::new(kind).owner(ub))
                .await
                .unwrap()
                .is_empty()
        );
    }
    // A batch for A cannot create or change tenant B.
    let tb = fx.store.tenant(b).await.unwrap().unwrap();
    assert!(
        fx.apply(
            a,
            vec![Change::UpdateTenant {
                tenant: tb,
                expected_version: 1
            }]
        )
        .await
        .is_err()
    );
    // Audit logs are per tenant.
    for e in fx
        .store
        .audit_events(a, &AuditQuery::default())
        .await
        .unwrap()
    {
        assert_eq!(e.tenant, a);
    }
    // Global lookups name the right tenant.
    for rb in rows_b.iter().filter(|r| r.kind.has_global_lookup()) {
        let (t, _) = fx
            .store
            .find_by_lookup(rb.kind, rb.lookup.as_ref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t, b);
    }
    // A tenant that does not exist sees nothing and can write nothing.
    let ghost = TenantId::generate();
    assert!(
        fx.store
            .list(ghost, &ListQuery::new(Kind::ApiToken))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        fx.store
            .audit_events(ghost, &AuditQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        fx.apply(ghost, vec![Change::Insert(rows_a[0].clone())])
            .await
            .is_err()
    );
}

async fn failing_batches_leave_nothing(fx: Fx) {
    let t = fx.tenant("t").await;
    let owner = fx.user(t, "u@example.com").await;
    let rows = fx.sample_rows(t, owner, "f");
    let (rows_before, audit_before) = (fx.count_rows(t).await, fx.count_audit(t).await);

    // The last change fails (duplicate id): the earlier ones must not stick.
    let mut changes: Vec<Change> = rows.iter().cloned().map(Change::Insert).collect();
    changes.push(Change::Insert(rows[0].clone()));
    let err = fx.apply(t, changes).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");

    // A failing update after an insert and a delete.
    fx.apply(t, vec![Change::Insert(rows[1].clone())])
        .await
        .unwrap();
    let (rows_mid, audit_mid) = (fx.count_rows(t).await, fx.count_audit(t).await);
    let err = fx
        .apply(
            t,
            vec![
                Change::Insert(rows[2].clone()),
                Change::Delete {
                    kind: rows[1].kind,
                    id: rows[1].id.clone(),
                    expected_version: None,
                },
                Change::Update {
                    row: rows[3].clone(),
                    expected_version: 1,
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(
        fx.store
            .get(t, rows[2].kind, &rows[2].id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        fx.store
            .get(t, rows[1].kind, &rows[1].id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        (fx.count_rows(t).await, fx.count_audit(t).await),
        (rows_mid, audit_mid)
    );

    // Invalid rows are refused before anything is written.
    let mut too_long = rows[4].clone();
    too_long.id = "x".repeat(crate::store::MAX_ID_LEN + 1);
    let mut garbage_sealed = rows[5].clone();
    garbage_sealed.sealed = Some(b"not an envelope".to_vec());
    let mut huge_body = rows[6].clone();
    huge_body.body = vec![b' '; crate::store::MAX_BODY_LEN + 1];
    for bad in [too_long, garbage_sealed, huge_body] {
        let err = fx
            .apply(
                t,
                vec![Change::Insert(rows[7].clone()), Change::Insert(bad)],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput { .. }
                    | Error::TooLarge { .. }
                    | Error::Truncated { .. }
                    | Error::UnsupportedVersion { .. }
            ),
            "{err}"
        );
    }
    assert!(
        fx.store
            .get(t, rows[7].kind, &rows[7].id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        (fx.count_rows(t).await, fx.count_audit(t).await),
        (rows_mid, audit_mid)
    );
    assert!(rows_mid == rows_before + 1 && audit_mid == audit_before + 1);
}

async fn a_change_without_its_audit_event_is_not_made(fx: Fx) {
    let t = fx.tenant("t").await;
    let owner = fx.user(t, "u@example.com").await;
    let rows = fx.sample_rows(t, owner, "a");
    let before = (fx.count_rows(t).await, fx.count_audit(t).await);

    // The linker fails: the batch must not be applied.
    let batch = Batch::new(fx.draft("test.change")).with(Change::Insert(rows[0].clone()));
    let err = fx.store.apply(t, batch, &failing()).await.unwrap_err();
    assert!(
        err.to_string().contains("audit log is unavailable"),
        "{err}"
    );
    // The audit event is invalid: same.
    let mut bad = fx.draft("test.change");
    bad.action = "x".repeat(crate::audit::MAX_ACTION_LEN + 1);
    let batch = Batch::new(bad).with(Change::Insert(rows[0].clone()));
    assert!(fx.store.apply(t, batch, &fx.chain).await.is_err());
    // Creating a tenant with a failing audit leaves no tenant behind.
    let ghost = TenantId::generate();
    let batch = Batch::new(fx.draft("tenant.create")).with(Change::CreateTenant(
        Tenant::new(ghost, "ghost", fx.now).unwrap(),
    ));
    assert!(fx.store.apply(ghost, batch, &failing()).await.is_err());
    assert!(fx.store.tenant(ghost).await.unwrap().is_none());

    assert!(
        fx.store
            .get(t, rows[0].kind, &rows[0].id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!((fx.count_rows(t).await, fx.count_audit(t).await), before);

    // An event alone (a denied attempt) is recorded with no change.
    let denied = fx.draft("secret.read").outcome(Outcome::Denied);
    let rec = fx
        .store
        .apply(t, Batch::new(denied), &fx.chain)
        .await
        .unwrap();
    assert_eq!(rec.event.outcome, Outcome::Denied);
    assert_eq!(fx.count_audit(t).await, before.1 + 1);
}

async fn compare_and_swap_has_one_winner(fx: Fx) {
    let t = fx.tenant("t").await;
    let owner = fx.user(t, "u@example.com").await;
    let row = fx.sample_rows(t, owner, "c").remove(0);
    fx.apply(t, vec![Change::Insert(row.clone())])
        .await
        .unwrap();

    let mut handles = Vec::new();
    for i in 0..8u8 {
        let store = fx.store.clone();
        let mut r = row.clone();
        r.body = format!("{{\"writer\":{i}}}").into_bytes();
        let chain = fx.chain.clone();
        let draft = fx.draft("test.race");
        handles.push(tokio::spawn(async move {
            let batch = Batch::new(draft).with(Change::Update {
                row: r,
                expected_version: 1,
            });
            store.apply(t, batch, &chain).await
        }));
    }
    let mut wins = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::Conflict {
                expected: 1,
                found: 2,
                ..
            }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one compare-and-swap wins");
    let stored = fx.store.get(t, row.kind, &row.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);

    // A delete with a stale version loses too, and deletes nothing.
    let err = fx
        .apply(
            t,
            vec![Change::Delete {
                kind: row.kind,
                id: row.id.clone(),
                expected_version: Some(1),
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(fx.store.get(t, row.kind, &row.id).await.unwrap().is_some());
}

async fn concurrent_writers_lose_no_update(fx: Fx) {
    let t = fx.tenant("t").await;
    let counter = Row::new(Kind::SeenWebhook, "counter", b"0".to_vec());
    fx.apply(t, vec![Change::Insert(counter)]).await.unwrap();
    let tasks = 8;
    let per_task = 25;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = fx.store.clone();
        let chain = fx.chain.clone();
        let draft = fx.draft("test.increment");
        handles.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for _ in 0..per_task {
                loop {
                    let row = store
                        .get(t, Kind::SeenWebhook, "counter")
                        .await
                        .unwrap()
                        .unwrap();
                    let n: u64 = std::str::from_utf8(&row.body).unwrap().parse().unwrap();
                    let mut next = row.clone();
                    next.body = (n + 1).to_string().into_bytes();
                    let batch = Batch::new(draft.clone()).with(Change::Update {
                        row: next,
                        expected_version: row.version,
                    });
                    match store.apply(t, batch, &chain).await {
                        Ok(_) => break,
                        Err(Error::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                // Reads keep working while others write.
                assert!(
                    store
                        .list(t, &ListQuery::new(Kind::SeenWebhook))
                        .await
                        .unwrap()
                        .len()
                        == 1
                );
            }
            conflicts
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let row = fx
        .store
        .get(t, Kind::SeenWebhook, "counter")
        .await
        .unwrap()
        .unwrap();
    let total = tasks * per_task;
    assert_eq!(std::str::from_utf8(&row.body).unwrap(), total.to_string());
    assert_eq!(row.version, 1 + total as u64);
    // One audit event per successful increment, plus tenant creation and insert.
    assert_eq!(fx.count_audit(t).await, 2 + total);
}

async fn lists_page_in_a_stable_order(fx: Fx) {
    let t = fx.tenant("t").await;
    let total = 2_345;
    let mut ids: Vec<String> = (0..total)
        .map(|i| format!("msg-{:05}", (i * 7919) % 100_000))
        .collect();
    for chunk in ids.chunks(crate::store::MAX_BATCH) {
        let changes = chunk
            .iter()
            .map(|id| Change::Insert(Row::new(Kind::SeenWebhook, id.clone(), b"{}".to_vec())))
            .collect();
        fx.apply(t, changes).await.unwrap();
    }
    ids.sort();
    for page_size in [1_000, 333, 7] {
        let mut seen = Vec::new();
        let mut query = ListQuery::new(Kind::SeenWebhook).limit(page_size);
        loop {
            let page = fx.store.list(t, &query).await.unwrap();
            assert!(page.len() <= page_size);
            let Some(last) = page.last() else { break };
            query.after = Some(last.id.clone());
            seen.extend(page.into_iter().map(|r| r.id));
        }
        assert_eq!(seen, ids, "page size {page_size}");
    }
    // The limit is capped.
    let page = fx
        .store
        .list(t, &ListQuery::new(Kind::SeenWebhook).limit(usize::MAX))
        .await
        .unwrap();
    assert_eq!(page.len(), crate::store::MAX_PAGE);
    // An empty kind lists nothing.
    assert!(
        fx.store
            .list(t, &ListQuery::new(Kind::AppArchive))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn list_filters_select_exactly(fx: Fx) {
    let t = fx.tenant("t").await;
    let u1 = fx.user(t, "one@example.com").await;
    let u2 = fx.user(t, "two@example.com").await;
    let mut changes = Vec::new();
    for (i, app) in ["api", "web", "web", "worker"].iter().enumerate() {
        let mut r = AppSecret::new(
            app,
            SecretName::parse(&format!("V{i}")).unwrap(),
            Actor::System,
            fx.now,
        )
        .unwrap()
        .to_row(None)
        .unwrap();
        r.sealed = Some(fx.seal(t, r.kind, &r.id, b"v"));
        changes.push(Change::Insert(r));
    }
    for (i, owner) in [u1, u2, u1].iter().enumerate() {
        let mut r = fx.sample_rows(t, *owner, &format!("o{i}")).remove(0);
        r.expires_at = Some(Timestamp::from_unix_seconds(100 * (i as i64 + 1)));
        changes.push(Change::Insert(r));
    }
    fx.apply(t, changes).await.unwrap();

    let web = fx
        .store
        .list(t, &ListQuery::new(Kind::AppSecret).parent("web"))
        .await
        .unwrap();
    assert_eq!(
        web.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["web/V1", "web/V2"]
    );
    let of_u1 = fx
        .store
        .list(t, &ListQuery::new(Kind::ApiToken).owner(u1))
        .await
        .unwrap();
    assert_eq!(of_u1.len(), 2);
    assert!(of_u1.iter().all(|r| r.owner == Some(u1)));
    let expired = fx
        .store
        .list(
            t,
            &ListQuery::new(Kind::ApiToken).expires_before(Timestamp::from_unix_seconds(250)),
        )
        .await
        .unwrap();
    assert_eq!(expired.len(), 2);
    let combined = fx
        .store
        .list(
            t,
            &ListQuery::new(Kind::ApiToken)
                .owner(u1)
                .expires_before(Timestamp::from_unix_seconds(250)),
        )
        .await
        .unwrap();
    assert_eq!(combined.len(), 1);

    // Sealed-key filter: rotate, re-seal one value, then filter.
    let old_key = fx.ring.active_key_id();
    let new_key = fx.ring.rotate().unwrap();
    let mut r = web[0].clone();
    r.sealed = Some(fx.seal(t, r.kind, &r.id, b"v2"));
    fx.apply(
        t,
        vec![Change::Update {
            row: r,
            expected_version: 1,
        }],
    )
    .await
    .unwrap();
    let not_new = fx
        .store
        .list(
            t,
            &ListQuery::new(Kind::AppSecret).sealed_not_under(new_key),
        )
        .await
        .unwrap();
    assert_eq!(not_new.len(), 3);
    let not_old = fx
        .store
        .list(
            t,
            &ListQuery::new(Kind::AppSecret).sealed_not_under(old_key),
        )
        .await
        .unwrap();
    assert_eq!(
        not_old.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["web/V1"]
    );
    // Rows with no sealed value never match the sealed-key filter.
    assert!(
        fx.store
            .list(t, &ListQuery::new(Kind::ApiToken).sealed_not_under(new_key))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn lookup_keys_are_unique(fx: Fx) {
    let a = fx.tenant("a").await;
    let b = fx.tenant("b").await;
    let ua = fx.user(a, "dup@example.com").await;
    let ub = fx.user(b, "dup@example.com").await; // same login, other tenant: fine
    // Same login twice in one tenant (case-insensitively): refused.
    let again = user("DUP@example.com", fx.now);
    let err = fx
        .apply(a, vec![Change::Insert(again.to_row(None).unwrap())])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    // A token hash is unique across tenants.
    let ta = fx.sample_rows(a, ua, "t").remove(0);
    let mut tb = fx.sample_rows(b, ub, "u").remove(0);
    tb.lookup = ta.lookup.clone();
    fx.apply(a, vec![Change::Insert(ta.clone())]).await.unwrap();
    let err = fx.apply(b, vec![Change::Insert(tb)]).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    // Global lookups only for kinds that have them.
    assert!(matches!(
        fx.store
            .find_by_lookup(Kind::User, b"dup@example.com")
            .await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(
        fx.store
            .find_by_lookup(Kind::ApiToken, &[0xee; 32])
            .await
            .unwrap()
            .is_none()
    );
    // Updating a row to take another row's lookup key is refused too.
    let mut second = fx.sample_rows(a, ua, "v").remove(0);
    fx.apply(a, vec![Change::Insert(second.clone())])
        .await
        .unwrap();
    second.lookup = ta.lookup.clone();
    let err = fx
        .apply(
            a,
            vec![Change::Update {
                row: second,
                expected_version: 1,
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
}

async fn deleting_a_user_deletes_what_it_owns(fx: Fx) {
    let t = fx.tenant("t").await;
    let keep = fx.user(t, "keep@example.com").await;
    let gone = fx.user(t, "gone@example.com").await;
    let rows_keep = fx.sample_rows(t, keep, "k");
    let rows_gone = fx.sample_rows(t, gone, "g");
    fx.apply(t, rows_keep.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    let owned: Vec<Row> = rows_gone
        .into_iter()
        .filter(|r| r.owner.is_some())
        .collect();
    fx.apply(t, owned.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    fx.apply(
        t,
        vec![Change::Delete {
            kind: Kind::User,
            id: gone.to_string(),
            expected_version: Some(1),
        }],
    )
    .await
    .unwrap();
    for r in &owned {
        assert!(
            fx.store.get(t, r.kind, &r.id).await.unwrap().is_none(),
            "{} survived",
            r.kind
        );
        if let Some(l) = &r.lookup {
            assert!(
                fx.store
                    .get_by_lookup(t, r.kind, l)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }
    for r in &rows_keep {
        assert!(fx.store.get(t, r.kind, &r.id).await.unwrap().is_some());
    }
}

async fn audit_log_is_chained_and_queryable(fx: Fx) {
    let t = fx.tenant("t").await;
    let other = fx.tenant("other").await;
    let u = fx.user(t, "u@example.com").await;
    for i in 0..30 {
        let mut draft = AuditDraft::new(
            if i % 3 == 0 {
                Actor::User(u)
            } else {
                Actor::System
            },
            if i % 2 == 0 {
                "secret.read"
            } else {
                "secret.write"
            },
            format!("app/web/{}", i % 5),
            fx.now.saturating_add(std::time::Duration::from_secs(i)),
        )
        .source("198.51.100.7")
        .detail("i", i.to_string());
        if i == 29 {
            draft = draft.outcome(Outcome::Denied);
        }
        fx.store
            .apply(t, Batch::new(draft), &fx.chain)
            .await
            .unwrap();
    }
    fx.apply(other, vec![]).await.unwrap();

    let all = fx
        .store
        .audit_events(t, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 32); // tenant creation, user, 30 events
    let mut prev = [0u8; 32];
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(e.prev_hash, prev);
        assert_eq!(
            fx.chain.link(e).unwrap(),
            e.hash,
            "seq {} does not verify",
            e.seq
        );
        prev = e.hash;
    }
    assert_eq!(all[31].event.outcome, Outcome::Denied);
    assert_eq!(
        all[31].event.details.get("i").map(String::as_str),
        Some("29")
    );
    assert_eq!(all[31].event.source.as_deref(), Some("198.51.100.7"));
    // The other tenant's chain starts at 1.
    let o = fx
        .store
        .audit_events(other, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!((o[0].seq, o[0].prev_hash), (1, [0; 32]));

    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    let by_actor = fx
        .store
        .audit_events(
            t,
            &AuditQuery {
                actor: Some(Actor::User(u)),
                ..q(|_| {})
            },
        )
        .await
        .unwrap();
    assert_eq!(by_actor.len(), 10);
    let by_action = fx
        .store
        .audit_events(t, &q(|q| q.action = Some("secret.write".into())))
        .await
        .unwrap();
    assert_eq!(by_action.len(), 15);
    let by_target = fx
        .store
        .audit_events(t, &q(|q| q.target = Some("app/web/0".into())))
        .await
        .unwrap();
    assert_eq!(by_target.len(), 6);
    let start = fx.now.saturating_add(std::time::Duration::from_secs(10));
    let end = fx.now.saturating_add(std::time::Duration::from_secs(20));
    let window = fx
        .store
        .audit_events(
            t,
            &AuditQuery {
                from: Some(start),
                until: Some(end),
                ..q(|_| {})
            },
        )
        .await
        .unwrap();
    assert_eq!(window.len(), 10);
    // Paginated by seq, with filters still applied.
    let mut seen = Vec::new();
    let mut query = AuditQuery {
        action: Some("secret.read".into()),
        limit: 4,
        ..q(|_| {})
    };
    loop {
        let page = fx.store.audit_events(t, &query).await.unwrap();
        let Some(last) = page.last() else { break };
        query.after_seq = Some(last.seq);
        seen.extend(page.iter().map(|e| e.seq));
    }
    assert_eq!(seen.len(), 15);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

async fn erase_respects_deletion_protection(fx: Fx) {
    let t = fx.tenant("t").await;
    let keep = fx.tenant("keep").await;
    let u = fx.user(t, "u@example.com").await;
    let uk = fx.user(keep, "u@example.com").await;
    let rows = fx.sample_rows(t, u, "e");
    fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    let rows_keep = fx.sample_rows(keep, uk, "k");
    fx.apply(
        keep,
        rows_keep.iter().cloned().map(Change::Insert).collect(),
    )
    .await
    .unwrap();

    let mut tenant = fx.store.tenant(t).await.unwrap().unwrap();
    tenant.deletion_protection = true;
    fx.apply(
        t,
        vec![Change::UpdateTenant {
            tenant: tenant.clone(),
            expected_version: 1,
        }],
    )
    .await
    .unwrap();
    let err = fx.store.erase_tenant(t).await.unwrap_err();
    assert!(matches!(err, Error::DeletionProtected { .. }), "{err}");
    assert_eq!(fx.count_rows(t).await, rows.len() + 1);

    tenant.deletion_protection = false;
    fx.apply(
        t,
        vec![Change::UpdateTenant {
            tenant,
            expected_version: 2,
        }],
    )
    .await
    .unwrap();
    fx.store.erase_tenant(t).await.unwrap();
    assert!(fx.store.tenant(t).await.unwrap().is_none());
    assert_eq!(fx.count_rows(t).await, 0);
    assert_eq!(fx.count_audit(t).await, 0);
    for r in rows.iter().filter(|r| r.kind.has_global_lookup()) {
        assert!(
            fx.store
                .find_by_lookup(r.kind, r.lookup.as_ref().unwrap())
                .await
                .unwrap()
                .is_none()
        );
    }
    // The other tenant is untouched; erasing an unknown tenant says so.
    assert_eq!(fx.count_rows(keep).await, rows_keep.len() + 1);
    assert!(matches!(
        fx.store.erase_tenant(t).await,
        Err(Error::NotFound { .. })
    ));
    // The id can be used again from scratch.
    fx.apply(
        t,
        vec![Change::CreateTenant(
            Tenant::new(t, "again", fx.now).unwrap(),
        )],
    )
    .await
    .unwrap();
    assert_eq!(fx.count_audit(t).await, 1);
}

async fn export_holds_the_tenant_and_nothing_else(fx: Fx) {
    let t = fx.tenant("t").await;
    let other = fx.tenant("other").await;
    let u = fx.user(t, "u@example.com").await;
    let uo = fx.user(other, "o@example.com").await;
    let rows = fx.sample_rows(t, u, "x");
    fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    fx.apply(
        other,
        fx.sample_rows(other, uo, "y")
            .into_iter()
            .map(Change::Insert)
            .collect(),
    )
    .await
    .unwrap();

    let mut out = Vec::new();
    let lines = fx.store.export_jsonl(t, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let parsed: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed.len() as u64, lines);
    let rows_out: Vec<&serde_json::Value> = parsed.iter().filter(|v| v["type"] == "row").collect();
    let audits: Vec<&serde_json::Value> = parsed.iter().filter(|v| v["type"] == "audit").collect();
    assert_eq!(parsed[0]["type"], "tenant");
    assert_eq!(rows_out.len(), rows.len() + 1);
    assert_eq!(audits.len(), fx.count_audit(t).await);
    for r in &rows {
        assert!(
            rows_out
                .iter()
                .any(|v| v["id"] == r.id.as_str() && v["kind"] == r.kind.as_str()),
            "{}",
            r.id
        );
    }
    assert!(
        !text.contains(&other.to_string()),
        "another tenant leaked into the export"
    );
    assert!(!text.contains(&uo.to_string()));
    assert!(
        !text.contains("secret of "),
        "a sealed value was exported in the clear"
    );
    assert!(matches!(
        fx.store
            .export_jsonl(TenantId::generate(), &mut Vec::new())
            .await,
        Err(Error::NotFound { .. })
    ));
}

async fn rewrap_moves_every_value_and_resumes(fx: Fx) {
    let t1 = fx.tenant("one").await;
    let t2 = fx.tenant("two").await;
    let u1 = fx.user(t1, "u@example.com").await;
    let u2 = fx.user(t2, "u@example.com").await;
    let mut extra = Vec::new();
    for i in 0..25 {
        let mut r = SettingSecret {
            name: format!("provider/p{i:02}"),
            updated_by: Actor::System,
            updated_at: fx.now,
        }
        .to_row(None)
        .unwrap();
        r.sealed = Some(fx.seal(t1, r.kind, &r.id, format!("value {i}").as_bytes()));
        extra.push(Change::Insert(r));
    }
    fx.apply(t1, extra).await.unwrap();
    fx.apply(
        t1,
        fx.sample_rows(t1, u1, "a")
            .into_iter()
            .map(Change::Insert)
            .collect(),
    )
    .await
    .unwrap();
    fx.apply(
        t2,
        fx.sample_rows(t2, u2, "b")
            .into_iter()
            .map(Change::Insert)
            .collect(),
    )
    .await
    .unwrap();

    let sealed_rows = |t: TenantId| {
        let store = fx.store.clone();
        async move {
            let mut out = Vec::new();
            for kind in Kind::ALL {
                out.extend(
                    store
                        .list(t, &ListQuery::new(kind))
                        .await
                        .unwrap()
                        .into_iter()
                        .filter(|r| r.sealed.is_some()),
                );
            }
            out
        }
    };
    let before1 = sealed_rows(t1).await;
    let before2 = sealed_rows(t2).await;
    let total = (before1.len() + before2.len()) as u64;
    assert_eq!(total, 25 + 8 + 8);

    let new_key = fx.ring.rotate().unwrap();
    let audit_before = fx.count_audit(t1).await;
    let mut reports = Vec::new();
    let done = fx
        .store
        .rewrap(&fx.ring, &fx.chain, fx.now, 10, &mut |p| reports.push(p))
        .await
        .unwrap();
    assert_eq!(done.rows_rewrapped, total);
    assert_eq!(done.tenants_done, 2);
    assert_eq!(done.active_key, new_key);
    assert!(reports.len() >= 5, "progress is reported per batch");
    assert!(
        reports
            .windows(2)
            .all(|w| w[0].rows_rewrapped <= w[1].rows_rewrapped)
    );
    assert!(
        fx.count_audit(t1).await > audit_before,
        "rewrap batches are audited"
    );

    for (t, before) in [(t1, &before1), (t2, &before2)] {
        for old in before {
            let now = fx.store.get(t, old.kind, &old.id).await.unwrap().unwrap();
            assert_eq!(now.sealed_key().unwrap(), Some(new_key));
            assert_eq!(now.version, old.version + 1);
            assert_eq!(
                fx.open(t, &now),
                fx.open(t, old),
                "value changed in {} {}",
                old.kind,
                old.id
            );
        }
    }
    // Running it again finds nothing left to do.
    let again = fx
        .store
        .rewrap(&fx.ring, &fx.chain, fx.now, 10, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again.rows_rewrapped, 0);
}

/// A row's integrity tag is the Vault's business: a backend stores it as
/// given, on insert and on update, and returns it from every read.
async fn row_tags_are_stored_as_given(fx: Fx) {
    let t = fx.tenant("acme").await;
    let owner = fx.user(t, "ada@example.com").await;
    let mut rows = fx.sample_rows(t, owner, "t");
    for (i, row) in rows.iter_mut().enumerate() {
        row.tag = Some([u8::try_from(i).unwrap(); 32]);
    }
    fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    for want in &rows {
        let got = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
        assert_eq!(got.tag, want.tag, "{} get", want.kind);
        let listed = fx.store.list(t, &ListQuery::new(want.kind)).await.unwrap();
        assert_eq!(listed[0].tag, want.tag, "{} list", want.kind);
        if let Some(lookup) = &want.lookup {
            let found = fx.store.get_by_lookup(t, want.kind, lookup).await.unwrap();
            assert_eq!(found.unwrap().tag, want.tag, "{} lookup", want.kind);
            if want.kind.has_global_lookup() {
                let (_, found) = fx
                    .store
                    .find_by_lookup(want.kind, lookup)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(found.tag, want.tag, "{} global lookup", want.kind);
            }
        }
        // An update replaces the tag, and may clear it.
        for tag in [Some([0xee; 32]), None] {
            let mut changed = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
            let expected_version = changed.version;
            changed.tag = tag;
            fx.apply(
                t,
                vec![Change::Update {
                    row: changed,
                    expected_version,
                }],
            )
            .await
            .unwrap();
            let got = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
            assert_eq!(got.tag, tag, "{} update", want.kind);
        }
    }
    let user = fx
        .store
        .get(t, Kind::User, &owner.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.tag, None, "a row written without a tag has none");
}

/// Store-wide settings: absent until set, compare-and-set with exactly one
/// winner, names and sizes checked, untouched by erasing a tenant.
async fn store_settings_compare_and_set(fx: Fx) {
    let s = &fx.store;
    assert_eq!(s.meta("key_check").await.unwrap(), None);
    assert!(s.set_meta("key_check", b"a", None).await.unwrap());
    assert_eq!(s.meta("key_check").await.unwrap(), Some(b"a".to_vec()));
    // Set already: a create-only write loses, and so does a stale expectation.
    assert!(!s.set_meta("key_check", b"b", None).await.unwrap());
    assert!(!s.set_meta("key_check", b"b", Some(b"x")).await.unwrap());
    assert_eq!(s.meta("key_check").await.unwrap(), Some(b"a".to_vec()));
    assert!(s.set_meta("key_check", b"b", Some(b"a")).await.unwrap());
    assert_eq!(s.meta("key_check").await.unwrap(), Some(b"b".to_vec()));
    // Names are independent; an empty value is a value.
    assert_eq!(s.meta("row_tags").await.unwrap(), None);
    assert!(s.set_meta("row_tags", b"", None).await.unwrap());
    assert_eq!(s.meta("row_tags").await.unwrap(), Some(Vec::new()));
    assert!(!s.set_meta("row_tags", b"x", None).await.unwrap());

    for bad in [
        "",
        "Key",
        "a b",
        "a/b",
        &"x".repeat(crate::store::MAX_META_NAME_LEN + 1),
    ] {
        assert!(
            matches!(s.meta(bad).await, Err(Error::InvalidInput { .. })),
            "{bad:?}"
        );
        assert!(
            matches!(
                s.set_meta(bad, b"v", None).await,
                Err(Error::InvalidInput { .. })
            ),
            "{bad:?}"
        );
    }
    let big = vec![0; crate::store::MAX_META_VALUE_LEN + 1];
    assert!(matches!(
        s.set_meta("big", &big, None).await,
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(s.meta("big").await.unwrap(), None);

    // Concurrent create-only writes: exactly one wins.
    let tasks: Vec<_> = (0u8..8)
        .map(|i| {
            let s = Arc::clone(s);
            tokio::spawn(async move { s.set_meta("race", &[i], None).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);

    // Settings are not a tenant's: erasing one leaves them.
    let t = fx.tenant("acme").await;
    s.erase_tenant(t).await.unwrap();
    assert_eq!(s.meta("key_check").await.unwrap(), Some(b"b".to_vec()));
}
