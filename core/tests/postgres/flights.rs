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
//!
//! And the point of the flights, pinned: behind a proxy that adds a fixed
//! delay each way, an `apply` of one insert takes two round trips and a
//! read one.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

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
pub(super) async fn session_states(s: &Scratch, name: &str) -> Vec<String> {
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

/// One-way delay of the latency proxy.
const DELAY: Duration = Duration::from_millis(100);

/// A TCP proxy in front of `upstream` that delays every byte by [`DELAY`]
/// in each direction (a delay line: each chunk leaves `DELAY` after it
/// arrived, however the sender split its writes), so that a round trip
/// costs about `2 * DELAY` and the round trips of a call can be counted
/// from its duration. Returns its address.
async fn latency_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            // No Nagle on the proxy's own writes: a small write held for
            // the peer's delayed ACK would add tens of ms to a flight.
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(delay_line(client_read, server_write));
            tokio::spawn(delay_line(server_read, client_write));
        }
    });
    addr
}

/// Copies `from` to `to`, each chunk [`DELAY`] after it was read.
async fn delay_line(mut from: OwnedReadHalf, mut to: OwnedWriteHalf) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0
            || tx
                .send((Instant::now() + DELAY, buf[..n].to_vec()))
                .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// How many round trips of `2 * DELAY` fit in `took`.
fn round_trips(took: Duration) -> f64 {
    took.as_secs_f64() / (2.0 * DELAY.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_is_two_round_trips_and_a_read_one() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    let (scheme_user, rest) = s.app_url.split_once('@').unwrap();
    let (upstream, path) = rest.split_once('/').unwrap();
    let addr = latency_proxy(upstream.to_owned()).await;
    let proxied = format!("{scheme_user}@{addr}/{path}");
    let linker = linker();
    for mode in MODES {
        let store = PostgresStore::open(
            &proxied,
            s.options().max_connections(1).statement_mode(mode),
        )
        .await
        .unwrap();
        let tenant = create(&store, &linker).await;
        // Warm: the connection is open and (prepared mode) its statements
        // are prepared, which costs round trips once per connection.
        store
            .apply(tenant, insert("web/WARM"), &linker)
            .await
            .unwrap();
        assert!(stored(&store, tenant, "web/WARM").await);
        // The fastest of three: a round trip too many lifts every run by
        // a whole round trip, while the server's and this process's time
        // (a fraction of one at this delay, but a commit that waits on a
        // slow disk under other tests' load can take more) only adds.
        let (mut apply, mut read) = (f64::MAX, f64::MAX);
        for i in 0..3 {
            let start = Instant::now();
            store
                .apply(tenant, insert(&format!("web/S{i}")), &linker)
                .await
                .unwrap();
            apply = apply.min(round_trips(start.elapsed()));
            let start = Instant::now();
            assert!(stored(&store, tenant, &format!("web/S{i}")).await);
            read = read.min(round_trips(start.elapsed()));
        }
        assert!(
            (2.0..2.9).contains(&apply),
            "{mode:?}: apply took {apply:.2} round trips"
        );
        assert!(
            (1.0..1.9).contains(&read),
            "{mode:?}: a read took {read:.2} round trips"
        );
    }
}
