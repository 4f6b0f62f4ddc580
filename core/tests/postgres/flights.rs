//! `apply` sends its statements in flights (several statements written
//! together, the last flight ending in `COMMIT`): attacked where a
//! pipelined `COMMIT` could commit what it must not. The failures are made
//! by the server itself, through triggers the owner puts on the tables:
//!
//! - a queued `INSERT` refused by the server, in the flight that carries
//!   `COMMIT`: the batch fails with that error, and neither the row nor the
//!   audit event is there (the `COMMIT` behind the failure was a rollback);
//! - an `UPDATE` that matches no row (a trigger skips it) after a queued
//!   `INSERT` sent in the same flight: the batch fails, the insert is
//!   undone, no event;
//! - a compare-and-swap conflict after a queued insert: nothing written;
//! - an apply cancelled while its last flight runs (a trigger makes the
//!   audit insert slow): the pooled connection comes back idle, outside any
//!   transaction, with no tenant set, and the batch is all there or not at
//!   all.
//!
//! Every case runs in both statement modes, on a pool of one connection
//! (so that the connection a failed or cancelled batch used is the next
//! one's).

use std::sync::Arc;
use std::time::Duration;

use secrets_core::audit::AuditLinker;
use secrets_core::error::ErrorKind;
use secrets_core::store::{Change, Kind, PostgresStore, Row, StatementMode, Store};
use secrets_core::{Error, TenantId};

use super::linker;
use super::retry::{create, insert, verified_log};
use super::scratch::{Scratch, raw};

const MODES: [StatementMode; 2] = [StatementMode::Prepared, StatementMode::Unprepared];

/// A store of one connection on `s`, its sessions named `name`.
async fn open_one(s: &Scratch, mode: StatementMode, name: &str) -> PostgresStore {
    let separator = if s.app_url.contains('?') { '&' } else { '?' };
    PostgresStore::open(
        &format!("{}{separator}application_name={name}", s.app_url),
        s.options().max_connections(1).statement_mode(mode),
    )
    .await
    .unwrap()
}

/// A fresh name for a pool's sessions.
fn session_name() -> String {
    format!("sc_flights_{}", TenantId::generate().as_uuid().simple())
}

/// The owner runs `sql` on the scratch schema (`{sc}` is its name).
async fn as_owner(s: &Scratch, sql: &str) {
    raw(&s.owner_url)
        .await
        .batch_execute(&sql.replace("{sc}", &s.schema))
        .await
        .unwrap();
}

/// Whether secret `id` of `tenant` is stored.
async fn stored(store: &dyn Store, tenant: TenantId, id: &str) -> bool {
    store
        .get(tenant, Kind::AppSecret, id)
        .await
        .unwrap()
        .is_some()
}

/// The states of the sessions named `name`, as the server sees them.
async fn session_states(s: &Scratch, name: &str) -> Vec<String> {
    raw(&s.app_url)
        .await
        .query(
            "SELECT state FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_in_the_committing_flight_leaves_nothing() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    // The server refuses one row's insert (SQLSTATE 23514), as a
    // constraint would, after the rules have let it through.
    as_owner(
        &s,
        "CREATE FUNCTION {sc}.refuse() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN \
             IF NEW.id LIKE 'web/REFUSED%' THEN \
               RAISE EXCEPTION 'refused by a trigger' USING ERRCODE = '23514'; \
             END IF; \
             RETURN NEW; \
           END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON {sc}.records \
           FOR EACH ROW EXECUTE FUNCTION {sc}.refuse()",
    )
    .await;
    let linker = linker();
    for mode in MODES {
        let name = session_name();
        let store = open_one(&s, mode, &name).await;
        let tenant = create(&store, &linker).await;
        // Alone, and behind an accepted insert of the same batch.
        let lone = insert("web/REFUSED_1");
        let behind = insert("web/ACCEPTED").with(Change::Insert(Row::new(
            Kind::AppSecret,
            "web/REFUSED_2",
            b"{}".to_vec(),
        )));
        for batch in [lone, behind] {
            let e = store.apply(tenant, batch, &linker).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Storage, "{mode:?}: {e}");
            assert!(e.to_string().contains("23514"), "{mode:?}: {e}");
            assert!(!matches!(e, Error::OutcomeUnknown { .. }), "{mode:?}: {e}");
        }
        for id in ["web/REFUSED_1", "web/ACCEPTED", "web/REFUSED_2"] {
            assert!(!stored(&store, tenant, id).await, "{mode:?}: {id} is there");
        }
        // No event either: the next one follows the creation's.
        assert_eq!(verified_log(&store, tenant, &linker).await, 1, "{mode:?}");
        let next = store
            .apply(tenant, insert("web/AFTER"), &linker)
            .await
            .unwrap();
        assert_eq!(next.seq, 2, "{mode:?}");
        assert_eq!(verified_log(&store, tenant, &linker).await, 2, "{mode:?}");
        let states = session_states(&s, &name).await;
        assert!(
            !states.is_empty() && states.iter().all(|s| s == "idle"),
            "{mode:?}: {states:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_matching_no_row_after_a_queued_insert_leaves_nothing() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    // A trigger that makes one row's UPDATE change nothing (0 rows), as a
    // backend that broke the per-tenant lock would.
    as_owner(
        &s,
        "CREATE FUNCTION {sc}.skip() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN \
             IF NEW.id = 'web/SKIPPED' THEN RETURN NULL; END IF; \
             RETURN NEW; \
           END $$; \
         CREATE TRIGGER skip BEFORE UPDATE ON {sc}.records \
           FOR EACH ROW EXECUTE FUNCTION {sc}.skip()",
    )
    .await;
    let linker = linker();
    for mode in MODES {
        let store = open_one(&s, mode, &session_name()).await;
        let tenant = create(&store, &linker).await;
        store
            .apply(tenant, insert("web/SKIPPED"), &linker)
            .await
            .unwrap();
        // The insert is queued, then sent in the UPDATE's flight, and ran
        // on the server before the UPDATE matched nothing.
        let batch = insert("web/NEW").with(Change::Update {
            row: Row::new(Kind::AppSecret, "web/SKIPPED", b"{\"v\":2}".to_vec()),
            expected_version: 1,
        });
        let e = store.apply(tenant, batch, &linker).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Storage, "{mode:?}: {e}");
        assert!(
            e.to_string().contains("changed inside its own transaction"),
            "{mode:?}: {e}"
        );
        assert!(!stored(&store, tenant, "web/NEW").await, "{mode:?}");
        let row = store
            .get(tenant, Kind::AppSecret, "web/SKIPPED")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.version, 1, "{mode:?}");
        assert_eq!(verified_log(&store, tenant, &linker).await, 2, "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_after_a_queued_insert_leaves_nothing() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    let linker = linker();
    for mode in MODES {
        let store = open_one(&s, mode, &session_name()).await;
        let tenant = create(&store, &linker).await;
        store
            .apply(tenant, insert("web/HELD"), &linker)
            .await
            .unwrap();
        for expected_version in [0, 2] {
            let batch = insert("web/NEW").with(Change::Update {
                row: Row::new(Kind::AppSecret, "web/HELD", b"{}".to_vec()),
                expected_version,
            });
            let e = store.apply(tenant, batch, &linker).await.unwrap_err();
            assert!(
                matches!(e, Error::Conflict { found: 1, .. }),
                "{mode:?}: {e}"
            );
        }
        // A delete at the wrong version, behind an insert and a user.
        let batch = insert("web/NEW")
            .with(Change::Insert(Row::new(Kind::User, "u-1", b"{}".to_vec())))
            .with(Change::Delete {
                kind: Kind::AppSecret,
                id: "web/HELD".into(),
                expected_version: Some(7),
            });
        let e = store.apply(tenant, batch, &linker).await.unwrap_err();
        assert!(matches!(e, Error::Conflict { .. }), "{mode:?}: {e}");
        assert!(!stored(&store, tenant, "web/NEW").await, "{mode:?}");
        assert!(
            store
                .get(tenant, Kind::User, "u-1")
                .await
                .unwrap()
                .is_none(),
            "{mode:?}"
        );
        assert_eq!(verified_log(&store, tenant, &linker).await, 2, "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_cancelled_in_its_last_flight_leaves_the_connection_clean() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    // The audit insert, in the flight that carries COMMIT, takes a second.
    as_owner(
        &s,
        "CREATE FUNCTION {sc}.slow() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN \
             IF NEW.target LIKE 'web/SLOW%' THEN PERFORM pg_sleep(1); END IF; \
             RETURN NEW; \
           END $$; \
         CREATE TRIGGER slow BEFORE INSERT ON {sc}.audit_events \
           FOR EACH ROW EXECUTE FUNCTION {sc}.slow()",
    )
    .await;
    let linker: Arc<dyn AuditLinker> = linker();
    for (round, mode) in MODES.into_iter().enumerate() {
        let name = session_name();
        let store = open_one(&s, mode, &name).await;
        let (a, b) = (create(&store, &linker).await, create(&store, &linker).await);
        store.apply(b, insert("web/B"), &linker).await.unwrap();
        let cancelled = tokio::time::timeout(
            Duration::from_millis(300),
            store.apply(a, insert("web/SLOW"), &linker),
        )
        .await;
        assert!(cancelled.is_err(), "{mode:?}: the apply did not wait");

        // The one connection serves B next, inside no transaction of A's:
        // B's reads see B's rows only, the directory read (no context)
        // works, and A's lock is free.
        let next = tokio::time::timeout(Duration::from_secs(10), async {
            assert!(stored(&store, b, "web/B").await);
            assert!(!stored(&store, b, "web/SLOW").await);
            // Two tenants a round, in one schema.
            let tenants = store.directory_tenants(None, 10).await.unwrap().len();
            assert_eq!(tenants, 2 * (round + 1));
            store.apply(a, insert("web/AFTER"), &linker).await.unwrap()
        })
        .await
        .expect("the connection was left inside the cancelled transaction");
        // All or nothing: the cancelled batch's COMMIT was sent, so it is
        // either whole (row and event 2) or absent.
        let slow = stored(&store, a, "web/SLOW").await;
        assert_eq!(next.seq, if slow { 3 } else { 2 }, "{mode:?}");
        assert_eq!(verified_log(&store, a, &linker).await, next.seq, "{mode:?}");
        let states = session_states(&s, &name).await;
        assert!(
            !states.is_empty() && states.iter().all(|s| s == "idle"),
            "{mode:?}: {states:?}"
        );
    }
}
