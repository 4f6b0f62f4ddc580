//! The retry rules of `PostgresStore::apply` (issue 11 item 6), with the
//! failures injected by the server itself: a trigger that the owner puts on
//! the audit table (every batch writes one audit event, so it fires once per
//! attempt) counts the attempts in a sequence, which no rollback undoes, and
//! raises a chosen SQLSTATE while the count is at most N.
//!
//! - 40001 (serialization failure) and 40P01 (deadlock) are retried: with
//!   N = 2 the third attempt succeeds, and the audit log has no gap; with N
//!   large the apply gives up after exactly `MAX_ATTEMPTS` (5) attempts,
//!   with a store error, quickly.
//! - Any other error (a check violation) is tried once.
//! - A `COMMIT` whose reply never comes, or that the server answers by
//!   ending the session, is an unknown outcome: said so, tried once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use secrets_core::audit::{Actor, AuditDraft, AuditLinker, ChainVerifier};
use secrets_core::error::ErrorKind;
use secrets_core::store::{AuditQuery, Batch, Change, Kind, Row, Store, Tenant};
use secrets_core::{Error, TenantId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::scratch::{Scratch, raw};
use super::{linker, now};

/// `PostgresStore`'s `MAX_ATTEMPTS`: how many times a batch that met a
/// serialization failure or a deadlock is tried in all.
const MAX_ATTEMPTS: i64 = 5;

/// The owner's failure injection on one scratch schema.
struct Injection<'a> {
    owner: tokio_postgres::Client,
    scratch: &'a Scratch,
}

impl<'a> Injection<'a> {
    /// The attempt counter and the (so far harmless) trigger on the audit
    /// table. The trigger functions run as the invoker (the app role), which
    /// may draw from the counter and nothing else.
    async fn install(scratch: &'a Scratch) -> Self {
        let owner = raw(&scratch.owner_url).await;
        let sc = &scratch.schema;
        owner
            .batch_execute(&format!(
                "CREATE SEQUENCE {sc}.attempts; \
                 GRANT USAGE ON SEQUENCE {sc}.attempts TO PUBLIC; \
                 CREATE FUNCTION {sc}.inject() RETURNS trigger LANGUAGE plpgsql AS \
                   $$ BEGIN PERFORM nextval('{sc}.attempts'); RETURN NEW; END $$; \
                 CREATE TRIGGER inject BEFORE INSERT ON {sc}.audit_events \
                   FOR EACH ROW EXECUTE FUNCTION {sc}.inject()"
            ))
            .await
            .unwrap();
        Self { owner, scratch }
    }

    /// From now on, attempts 1..=`failures` raise SQLSTATE `code`; the
    /// counter starts again.
    async fn fail(&self, code: &str, failures: i64) {
        let sc = &self.scratch.schema;
        self.owner
            .batch_execute(&format!(
                "CREATE OR REPLACE FUNCTION {sc}.inject() RETURNS trigger LANGUAGE plpgsql AS \
                   $$ BEGIN \
                     IF nextval('{sc}.attempts') <= {failures} THEN \
                       RAISE EXCEPTION 'injected failure' USING ERRCODE = '{code}'; \
                     END IF; \
                     RETURN NEW; \
                   END $$; \
                 ALTER SEQUENCE {sc}.attempts RESTART WITH 1"
            ))
            .await
            .unwrap();
    }

    /// Attempts counted since the last [`fail`](Self::fail), once the
    /// server has counted the first: `apply` sends its last writes and
    /// `COMMIT` together, so a store that lost its connection during that
    /// flight can report the loss before the server has run the writes it
    /// received (it runs them, then meets the closed connection). A retry
    /// would come before `apply` returned, so none can come after this.
    async fn attempts_settled(&self) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let n = self.attempts().await;
            if n > 0 || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Attempts counted since the last [`fail`](Self::fail).
    async fn attempts(&self) -> i64 {
        let row = self
            .owner
            .query_one(
                &format!(
                    "SELECT last_value, is_called FROM {}.attempts",
                    self.scratch.schema
                ),
                &[],
            )
            .await
            .unwrap();
        let (last, called): (i64, bool) = (row.get(0), row.get(1));
        if called { last } else { 0 }
    }
}

/// A new tenant, its creation (audit event 1) linked by `linker`.
pub(super) async fn create(store: &dyn Store, linker: &Arc<dyn AuditLinker>) -> TenantId {
    let tenant = TenantId::generate();
    let batch = Batch::new(AuditDraft::new(
        Actor::System,
        "test.create",
        "tenant",
        now(),
    ))
    .with(Change::CreateTenant(
        Tenant::new(tenant, "t", now()).unwrap(),
    ));
    store.apply(tenant, batch, linker).await.unwrap();
    tenant
}

/// A batch inserting secret `id`, with its audit event.
pub(super) fn insert(id: &str) -> Batch {
    Batch::new(AuditDraft::new(Actor::System, "test.insert", id, now())).with(Change::Insert(
        Row::new(Kind::AppSecret, id, b"{}".to_vec()),
    ))
}

/// `tenant`'s whole audit log, checked: sequence numbers 1..=n without a
/// gap, each linked to the one before. Returns n.
pub(super) async fn verified_log(
    store: &dyn Store,
    tenant: TenantId,
    linker: &Arc<dyn AuditLinker>,
) -> u64 {
    let log = store
        .audit_events(tenant, &AuditQuery::default())
        .await
        .unwrap();
    let mut verifier = ChainVerifier::new(linker.as_ref(), tenant);
    for record in &log {
        verifier.push(record).unwrap();
    }
    verifier.finish().count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serialization_failures_and_deadlocks_are_retried_a_bounded_number_of_times() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    let store = s.open(2).await;
    let linker = linker();
    let injection = Injection::install(&s).await;
    // Created before any failure is injected.
    let tenants = [
        create(&store, &linker).await,
        create(&store, &linker).await,
        create(&store, &linker).await,
    ];
    for (code, tenant) in ["40001", "40P01"].into_iter().zip(tenants) {
        // Two failures, then success on the third attempt: one audit event
        // more, at seq 2, linked to the first.
        injection.fail(code, 2).await;
        let record = store
            .apply(tenant, insert("web/RETRIED"), &linker)
            .await
            .unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(injection.attempts().await, 3, "{code}");
        assert_eq!(record.seq, 2, "{code}");
        assert_eq!(verified_log(&store, tenant, &linker).await, 2, "{code}");
        assert!(
            store
                .get(tenant, Kind::AppSecret, "web/RETRIED")
                .await
                .unwrap()
                .is_some()
        );

        // Failing every time: given up after MAX_ATTEMPTS, as a store error
        // that names the SQLSTATE, within the jitter's bound (under 0.1 s
        // of sleep in all), nothing written.
        injection.fail(code, 1_000).await;
        let started = Instant::now();
        let e = tokio::time::timeout(
            Duration::from_secs(30),
            store.apply(tenant, insert("web/NEVER"), &linker),
        )
        .await
        .expect("the apply hung")
        .unwrap_err();
        assert_eq!(injection.attempts().await, MAX_ATTEMPTS, "{code}");
        assert_eq!(e.kind(), ErrorKind::Storage, "{code}: {e}");
        assert!(e.to_string().contains(code), "{code}: {e}");
        assert!(started.elapsed() < Duration::from_secs(10), "{code}");
        assert!(
            store
                .get(tenant, Kind::AppSecret, "web/NEVER")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(verified_log(&store, tenant, &linker).await, 2, "{code}");
    }

    // Any other error is the batch's own: tried once.
    let tenant = tenants[2];
    injection.fail("23514", 1_000).await;
    let e = store
        .apply(tenant, insert("web/CHECKED"), &linker)
        .await
        .unwrap_err();
    assert_eq!(injection.attempts().await, 1);
    assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
    assert!(e.to_string().contains("23514"), "{e}");
    assert_eq!(verified_log(&store, tenant, &linker).await, 1);
}

/// Whether `e` is the unknown-outcome error of a failed `COMMIT`: its own
/// kind, which is not retryable, and a message that says so.
fn outcome_unknown(e: &Error) -> bool {
    e.kind() == ErrorKind::OutcomeUnknown
        && !e.kind().is_retryable()
        && matches!(e, Error::OutcomeUnknown { message, .. } if message.contains("during COMMIT"))
        && e.to_string().contains("the outcome is unknown")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_during_commit_is_an_unknown_outcome_never_retried() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    let store = s.open(1).await;
    let linker = linker();
    let tenant = create(&store, &linker).await;
    let injection = Injection::install(&s).await;
    injection.fail("40001", 0).await;
    // A deferred constraint trigger: it runs inside COMMIT, and ends its own
    // session there (the server answers FATAL 57P01 and closes the
    // connection).
    let sc = &s.schema;
    injection
        .owner
        .batch_execute(&format!(
            "CREATE FUNCTION {sc}.die() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER die AFTER INSERT ON {sc}.audit_events \
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {sc}.die()"
        ))
        .await
        .unwrap();
    let e = store
        .apply(tenant, insert("web/DIED"), &linker)
        .await
        .unwrap_err();
    assert!(outcome_unknown(&e), "{e}");
    assert!(e.to_string().contains("57P01"), "{e}");
    assert_eq!(
        injection.attempts().await,
        1,
        "an unknown outcome was retried"
    );

    // Read back, as the error says to: here the server had not committed.
    // The pool replaced the dead connection.
    injection
        .owner
        .batch_execute(&format!("DROP TRIGGER die ON {sc}.audit_events"))
        .await
        .unwrap();
    assert!(
        store
            .get(tenant, Kind::AppSecret, "web/DIED")
            .await
            .unwrap()
            .is_none()
    );
    let record = store
        .apply(tenant, insert("web/AFTER"), &linker)
        .await
        .unwrap();
    assert_eq!(record.seq, 2);
    assert_eq!(verified_log(&store, tenant, &linker).await, 2);
}

/// What the proxy does with the next `COMMIT` it sees.
const PASS: u8 = 0;
/// Cut the client off without sending the `COMMIT` on.
const DROP_COMMIT: u8 = 1;
/// Send the `COMMIT` on (the server commits), then cut the client off
/// before the reply.
const CUT_AFTER_COMMIT: u8 = 2;

/// A TCP proxy in front of the server at `upstream` that, when armed, cuts
/// the client's connection at its next `COMMIT`: the connection lost
/// during COMMIT that no server-side trick gives deterministically.
/// Returns its address and its arming switch.
async fn commit_cutting_proxy(upstream: String) -> (String, Arc<AtomicU8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let armed = Arc::new(AtomicU8::new(PASS));
    let switch = Arc::clone(&armed);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            tokio::spawn(relay(client, server, Arc::clone(&armed)));
        }
    });
    (addr, switch)
}

/// Relays one connection, message by message from the client (so that a
/// `COMMIT` is seen whole), bytes as they come from the server.
async fn relay(client: TcpStream, server: TcpStream, armed: Arc<AtomicU8>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (cut_tx, mut cut_rx) = tokio::sync::oneshot::channel::<()>();
    // Server to client, until the server closes or the client is cut off
    // (then whatever the server still says is read and dropped).
    let back = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                _ = &mut cut_rx => break,
                n = server_read.read(&mut buf) => match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                },
            }
        }
        drop(client_write);
        while matches!(server_read.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    // Client to server. The startup message has no type byte; every later
    // message is a type byte and a length that counts itself.
    let mut first = true;
    loop {
        let mut head = vec![0u8; if first { 4 } else { 5 }];
        if client_read.read_exact(&mut head).await.is_err() {
            break;
        }
        let len_at = if first { 0 } else { 1 };
        let len = u32::from_be_bytes(head[len_at..len_at + 4].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len - 4];
        if client_read.read_exact(&mut body).await.is_err() {
            break;
        }
        first = false;
        let is_commit = head[0] == b'Q' && body == b"COMMIT\0";
        let action = if is_commit {
            armed.swap(PASS, Ordering::SeqCst)
        } else {
            PASS
        };
        if action != DROP_COMMIT {
            head.extend_from_slice(&body);
            if server_write.write_all(&head).await.is_err() {
                break;
            }
        }
        if action != PASS {
            // The client's connection closes (both halves dropped); the
            // server's is half-closed after the COMMIT, which it still
            // reads and runs in order.
            let _ = cut_tx.send(());
            drop(client_read);
            drop(server_write);
            let _ = back.await;
            return;
        }
    }
    drop(server_write);
    let _ = back.await;
}

/// The parts of `url` (`postgres://user@host:port/path`): before the
/// address, the address, after it.
fn split_url(url: &str) -> (&str, &str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, rest) = rest.split_once('@').unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    (&url[..scheme.len() + 3 + user.len() + 1], addr, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_during_commit_is_an_unknown_outcome_never_retried() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    let (before, upstream, path) = split_url(&s.app_url);
    let (addr, arm) = commit_cutting_proxy(upstream.to_owned()).await;
    let proxied = format!("{before}{addr}/{path}");
    let store = secrets_core::store::PostgresStore::open(&proxied, s.options().max_connections(1))
        .await
        .unwrap();
    let linker = linker();
    let tenant = create(&store, &linker).await;
    let injection = Injection::install(&s).await;

    // The COMMIT never reaches the server: an unknown outcome, tried once;
    // read back, nothing was written.
    injection.fail("40001", 0).await;
    arm.store(DROP_COMMIT, Ordering::SeqCst);
    let e = store
        .apply(tenant, insert("web/LOST"), &linker)
        .await
        .unwrap_err();
    assert!(outcome_unknown(&e), "{e}");
    assert_eq!(
        injection.attempts_settled().await,
        1,
        "an unknown outcome was retried"
    );
    assert!(
        store
            .get(tenant, Kind::AppSecret, "web/LOST")
            .await
            .unwrap()
            .is_none()
    );

    // The COMMIT reaches the server, the reply does not reach the store:
    // the same error, tried once; read back, the change is there (which is
    // why a blind retry would be wrong).
    injection.fail("40001", 0).await;
    arm.store(CUT_AFTER_COMMIT, Ordering::SeqCst);
    let e = store
        .apply(tenant, insert("web/COMMITTED"), &linker)
        .await
        .unwrap_err();
    assert!(outcome_unknown(&e), "{e}");
    assert_eq!(
        injection.attempts_settled().await,
        1,
        "an unknown outcome was retried"
    );
    assert_eq!(
        arm.load(Ordering::SeqCst),
        PASS,
        "the proxy never saw COMMIT"
    );
    // The server may still be finishing the half-closed session.
    let deadline = Instant::now() + Duration::from_secs(10);
    while store
        .get(tenant, Kind::AppSecret, "web/COMMITTED")
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "the COMMIT sent on never landed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(verified_log(&store, tenant, &linker).await, 2);
    let e = store
        .apply(tenant, insert("web/COMMITTED"), &linker)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
}
