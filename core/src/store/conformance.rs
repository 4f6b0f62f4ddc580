//! The backend conformance suite: one set of checks every [`Store`] must
//! pass unchanged.
//!
//! Each case is a public async function of an area module ([`rows`],
//! [`isolation`], [`batches`], ...) that takes a [`Fx`] over a fresh, empty
//! store. A backend's tests invoke [`conformance_tests!`](crate::conformance_tests)
//! once with a name and a factory; it emits one `#[test]` per case, so a
//! case fails (or is filtered, or skipped) alone, under a name such as
//! `memory::every_kind_round_trips`. The factory returns a [`Fresh`] store
//! and a guard that cleans up when dropped (a temporary directory, a
//! scratch schema); a backend that is not configured on this machine returns
//! `None` instead, and every case then says it was skipped.
//!
//! ```
//! use std::any::Any;
//! use std::sync::Arc;
//! use secrets_core::store::{MemoryStore, Store};
//!
//! secrets_core::conformance_tests!(memory, || async {
//!     let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//!     (store, Box::new(()) as Box<dyn Any + Send>)
//! });
//! # fn main() {}
//! ```
//!
//! Failures panic: this is test code. A new case is a `pub async fn` in
//! the module of its area plus one line in the list of
//! [`conformance_tests!`](crate::conformance_tests).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
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

pub mod audit;
pub mod batches;
pub mod concurrency;
pub mod concurrency_cas;
pub mod directory;
pub mod erase;
pub mod export;
pub mod isolation;
pub mod lists;
pub mod lookups;
pub mod rewrap;
pub mod rows;
pub mod settings;
pub mod tags;
pub mod users;

/// Emits one `#[test]` per conformance case for one backend, in a module
/// named `$backend`.
///
/// `$make` is a factory (a closure or a function) whose future returns a
/// [`Fresh`](crate::store::conformance::Fresh) store, or
/// `Option<Fresh>` where `None` skips the case (the backend is not
/// configured here; the test says so on stderr and passes). Each case runs
/// on its own tokio runtime, multi-threaded unless `CurrentThread` is given
/// (see [`Runtime`](crate::store::conformance::Runtime)). The module
/// `use`s its parent's names, so the factory may too.
///
/// ```
/// use std::any::Any;
/// use std::sync::Arc;
/// use secrets_core::store::{MemoryStore, Store};
///
/// async fn fresh() -> (Arc<dyn Store>, Box<dyn Any + Send>) {
///     (Arc::new(MemoryStore::new()), Box::new(()))
/// }
///
/// secrets_core::conformance_tests!(memory, fresh);
/// secrets_core::conformance_tests!(memory_current_thread, CurrentThread, fresh);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    // Every case, once: a new case is one line here.
    (@cases $backend:ident, $runtime:ident, $make:expr) => {
        $crate::conformance_tests!(@emit $backend, $runtime, $make;
            rows::every_kind_round_trips,
            rows::updates_move_every_indexed_column,
            rows::a_stale_update_is_a_conflict_whatever_else_it_names,
            isolation::tenants_are_isolated,
            batches::failing_batches_leave_nothing,
            batches::a_change_without_its_audit_event_is_not_made,
            concurrency_cas::compare_and_swap_has_one_winner,
            concurrency_cas::concurrent_writers_lose_no_update,
            lists::lists_page_in_a_stable_order,
            lists::list_filters_select_exactly,
            lookups::lookup_keys_are_unique,
            users::deleting_a_user_deletes_what_it_owns,
            audit::audit_log_is_chained_and_queryable,
            erase::erase_respects_deletion_protection,
            export::export_holds_the_tenant_and_nothing_else,
            rewrap::rewrap_moves_every_value_and_resumes,
            tags::row_tags_are_stored_as_given,
            settings::store_settings_compare_and_set,
            directory::the_lookup_directory_follows_its_rows,
            directory::the_lookup_directory_never_crosses_tenants,
            directory::the_lookup_directory_is_in_the_batch_transaction,
            directory::the_tenant_directory_lists_exactly_the_tenants,
            concurrency::concurrent_applies_number_the_audit_log_without_gaps,
            concurrency::a_failing_batch_among_concurrent_ones_fails_alone,
        );
    };
    (@emit $backend:ident, $runtime:ident, $make:expr; $($area:ident :: $case:ident),* $(,)?) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    $crate::store::conformance::run(
                        concat!(stringify!($area), "::", stringify!($case)),
                        $crate::store::conformance::Runtime::$runtime,
                        $make,
                        $crate::store::conformance::$area::$case,
                    );
                }
            )*
        }
    };
    ($backend:ident, $runtime:ident, $make:expr $(,)?) => {
        $crate::conformance_tests!(@cases $backend, $runtime, $make);
    };
    ($backend:ident, $make:expr $(,)?) => {
        $crate::conformance_tests!(@cases $backend, MultiThread, $make);
    };
}

/// A fresh store and the guard that cleans it up.
pub type Fresh = (Arc<dyn Store>, Box<dyn Any + Send>);

/// What a backend's factory returns: a [`Fresh`] store, or `None` when the
/// backend is not configured on this machine (the case is skipped).
pub trait IntoFresh {
    fn into_fresh(self) -> Option<Fresh>;
}

impl IntoFresh for Fresh {
    fn into_fresh(self) -> Option<Fresh> {
        Some(self)
    }
}

impl IntoFresh for Option<Fresh> {
    fn into_fresh(self) -> Option<Fresh> {
        self
    }
}

/// The tokio runtime a case runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// Four worker threads: concurrent cases really run in parallel.
    MultiThread,
    /// One thread, for backends that take another path there (SQLite uses
    /// the blocking pool instead of `block_in_place`).
    CurrentThread,
}

/// Runs one case, named `name`, on a fresh store from `make`, on its own
/// runtime: what [`conformance_tests!`](crate::conformance_tests) emits per
/// case.
pub fn run<F, Fut, R, C, CFut>(name: &str, runtime: Runtime, make: F, case: C)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = R>,
    R: IntoFresh,
    C: FnOnce(Fx) -> CFut,
    CFut: Future<Output = ()>,
{
    let rt = match runtime {
        Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            // Time, and I/O for a networked backend (PostgreSQL).
            .enable_all()
            .build(),
        Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .expect("a tokio runtime");
    rt.block_on(async {
        let Some((store, guard)) = make().await.into_fresh() else {
            eprintln!("conformance {name}: skipped, the backend is not configured here");
            return;
        };
        case(Fx::new(store)).await;
        drop(guard);
    });
}

/// Shared fixtures of one case.
pub struct Fx {
    store: Arc<dyn Store>,
    ring: KeyRing,
    chain: Arc<dyn AuditLinker>,
    now: Timestamp,
}

impl fmt::Debug for Fx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fx")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
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
                version: crate::webhook::SignatureVersion::V1,
                public_key: None,
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
                refresh_lease: None,
            }
            .to_row(None)
            .unwrap(),
        ];
        for mut row in sealed_records {
            let value = format!("secret of {} {} in {tag}", row.kind, row.id);
            row.sealed = Some(self.seal(tenant, row.kind, &row.id, value.as_bytes()));
            rows.push(row);
        }
        // Unsealed here (a real one is sealed), so the sealed-row counts the
        // rewrap suite pins stay as they were.
        rows.push(
            crate::store::records::WebhookSource {
                id: format!("src-{tag}"),
                style: crate::vault::SourceStyle::Github,
                created_at: now,
                rotated_at: None,
                previous_until: None,
                public_key: None,
            }
            .to_row(None)
            .unwrap(),
        );
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
        // A tenant key's row has an empty body (the Vault seals the key
        // into it); unsealed here, as the webhook source above.
        rows.push(Row::new(Kind::TenantKey, format!("key-{tag}"), Vec::new()));
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
        Err(Error::storage("the audit log is unavailable"))
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
