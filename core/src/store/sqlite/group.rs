//! Group commit: concurrent batches share one transaction and one fsync.
//!
//! With `synchronous = FULL` every commit waits for an fsync of the log,
//! which costs far more than the SQL of a batch. Writers that arrive while
//! another group is being committed therefore queue their batch; when that
//! commit is done, one of them (the *leader*) takes every queued batch,
//! runs each in its own `SAVEPOINT` inside one `BEGIN IMMEDIATE`
//! transaction, commits once, and hands each waiting caller its own
//! result. The protocol, under one mutex and one condition variable
//! ([`Committer`]):
//!
//! 1. A caller pushes its job (batch, linker, result slot) onto the queue.
//! 2. While its slot is empty: if no group is being committed, it becomes
//!    the leader, takes the queue (at most [`MAX_GROUP`] jobs: its own is
//!    among them unless the cap cut it off, in which case it leads again),
//!    and commits them on the writer connection with the mutex released;
//!    otherwise it waits on the condition variable.
//! 3. The leader fills the slots only after `COMMIT` returned, then wakes
//!    every waiter: those whose slot is filled return at once (no hand-off
//!    of the writer lock from one to the next), and one of the others leads
//!    the next group. A caller never sees success before its batch is
//!    durable, and a failed commit fails every batch of the group.
//!
//! What each batch sees: the batches of a group run one after the other on
//! one connection, so a batch reads what the earlier ones wrote (the audit
//! head of its tenant above all: the chain stays gapless and linked), and
//! a batch that fails is rolled back to its savepoint without touching the
//! others. Serialisability per tenant (and across tenants) is unchanged:
//! the group is one serial schedule of its batches.
//!
//! A leader that panics loses nothing and blocks no one: its jobs' tickets
//! fail them as the group unwinds, and its leadership is handed back (and
//! the waiters woken) by a guard.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, TransactionBehavior};

use super::sql::db;
use super::tx::SqliteTx;
use crate::audit::{AuditLinker, AuditRecord};
use crate::error::{Error, Result};
use crate::store::apply::{self, Checked};

/// Most batches one group commits together. A bound on the transaction's
/// size (each batch holds at most `MAX_BATCH` changes) and on how long the
/// first caller of a large group waits; beyond it the next leader takes
/// the rest.
pub(super) const MAX_GROUP: usize = 64;

/// Where a caller's result is left for it.
#[derive(Debug, Default)]
pub(super) struct Slot(Mutex<Option<Result<AuditRecord>>>);

impl Slot {
    /// The result, once a leader has left it.
    pub(super) fn take(&self) -> Option<Result<AuditRecord>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn put(&self, result: Result<AuditRecord>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    }
}

/// The promise to fill a slot exactly once: dropped unfilled (a panic in
/// the leader), it fills it with an error.
#[derive(Debug)]
pub(super) struct Ticket(Option<Arc<Slot>>);

impl Ticket {
    pub(super) fn new(slot: Arc<Slot>) -> Self {
        Self(Some(slot))
    }

    fn finish(mut self, result: Result<AuditRecord>) {
        if let Some(slot) = self.0.take() {
            slot.put(result);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.put(Err(Error::storage(
                "the writer stopped before this batch was committed; it was not applied",
            )));
        }
    }
}

/// A queued batch.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) batch: Checked,
    pub(super) linker: Arc<dyn AuditLinker>,
    pub(super) ticket: Ticket,
}

/// The queue of batches waiting to be committed, and who is committing.
#[derive(Debug, Default)]
pub(super) struct Committer {
    state: Mutex<State>,
    /// Signalled whenever a group's slots are filled and leadership is free.
    done: Condvar,
}

#[derive(Debug, Default)]
struct State {
    queue: Vec<Job>,
    /// A leader is committing a group now.
    leading: bool,
}

impl Committer {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing under this lock panics; the state stays consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `batch`, and returns its result once the group it was
    /// committed in is durable (see the module docs).
    pub(super) fn apply(
        &self,
        writer: &Mutex<Connection>,
        batch: Checked,
        linker: Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        let slot = Arc::new(Slot::default());
        let mut state = self.state();
        state.queue.push(Job {
            batch,
            linker,
            ticket: Ticket::new(Arc::clone(&slot)),
        });
        loop {
            if let Some(result) = slot.take() {
                return result;
            }
            if state.leading {
                state = self
                    .done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let n = state.queue.len().min(MAX_GROUP);
            let jobs: Vec<Job> = state.queue.drain(..n).collect();
            if jobs.is_empty() {
                // Unreachable: a job leaves the queue only with a leader,
                // which fills its slot before it gives up leadership.
                return Err(Error::storage(
                    "a queued batch was lost before it was applied",
                ));
            }
            state.leading = true;
            drop(state);
            {
                let _lead = Leadership(self);
                // See `Inner::writer` on why a poisoned lock is sound.
                let mut conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
                commit(&mut conn, jobs);
            }
            state = self.state();
        }
    }
}

/// Leadership of a group: handed back, with the waiters woken, when the
/// group is done or its leader unwinds.
struct Leadership<'a>(&'a Committer);

impl Drop for Leadership<'_> {
    fn drop(&mut self) {
        self.0.state().leading = false;
        self.0.done.notify_all();
    }
}

/// Applies one batch on `conn`, which is inside a transaction.
pub(super) fn run(
    conn: &Connection,
    batch: Checked,
    linker: &dyn AuditLinker,
) -> Result<AuditRecord> {
    apply::run_now(apply::apply(&mut SqliteTx::new(conn), batch, linker))
}

/// Commits `jobs` in one transaction on `conn` (the locked writer), each in
/// its own savepoint, and fills every job's slot.
pub(super) fn commit(conn: &mut Connection, jobs: Vec<Job>) {
    let fail_all = |jobs: VecDeque<Job>, e: &Error| {
        for job in jobs {
            job.ticket.finish(Err(Error::storage(store_message(e))));
        }
    };
    let mut jobs = VecDeque::from(jobs);
    if !conn.is_autocommit()
        && let Err(e) = conn
            .execute_batch("ROLLBACK")
            .map_err(db("roll back an abandoned transaction"))
    {
        return fail_all(jobs, &e);
    }
    let tx = match conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("begin a transaction"))
    {
        Ok(tx) => tx,
        Err(e) => return fail_all(jobs, &e),
    };
    if jobs.len() == 1
        && let Some(job) = jobs.pop_front()
    {
        // Alone: no savepoint, the transaction is the batch.
        let result = run(&tx, job.batch, job.linker.as_ref()).and_then(|record| {
            tx.commit().map_err(db("commit"))?;
            Ok(record)
        });
        // On error, dropping the transaction rolled it back.
        return job.ticket.finish(result);
    }
    let mut done: Vec<(Ticket, Result<AuditRecord>)> = Vec::with_capacity(jobs.len());
    while let Some(job) = jobs.pop_front() {
        match in_savepoint(&tx, job.batch, job.linker.as_ref()) {
            Ok(result) => done.push((job.ticket, result)),
            Err(e) => {
                // The savepoint machinery itself failed: the transaction's
                // state is unknown, so nothing of the group is committed.
                drop(tx);
                for (ticket, _) in done {
                    ticket.finish(Err(Error::storage(store_message(&e))));
                }
                fail_all(jobs, &e);
                return job.ticket.finish(Err(e));
            }
        }
    }
    match tx.commit().map_err(db("commit")) {
        Ok(()) => {
            for (ticket, result) in done {
                ticket.finish(result);
            }
        }
        Err(e) => {
            // A failed commit fails every batch of the group; a batch that
            // had failed on its own keeps its own error.
            for (ticket, result) in done {
                ticket.finish(result.and(Err(Error::storage(store_message(&e)))));
            }
        }
    }
}

/// Runs one batch between `SAVEPOINT` and `RELEASE`; a batch that fails is
/// rolled back to its savepoint first. The outer error is the savepoint's
/// own failure; the inner result is the batch's.
fn in_savepoint(
    conn: &Connection,
    batch: Checked,
    linker: &dyn AuditLinker,
) -> Result<Result<AuditRecord>> {
    let exec = |sql: &'static str, doing: &'static str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
            .map_err(db(doing))
    };
    exec("SAVEPOINT batch", "open a savepoint")?;
    let result = run(conn, batch, linker);
    if result.is_err() {
        exec("ROLLBACK TO batch", "roll back to a savepoint")?;
    }
    exec("RELEASE batch", "release a savepoint")?;
    Ok(result)
}

/// The message of a store-level error, to hand the same failure to every
/// batch of a group (`Error` is not `Clone`).
fn store_message(e: &Error) -> String {
    match e {
        Error::Storage { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::audit::{Actor, AuditChain, AuditDraft, ChainVerifier};
    use crate::clock::Timestamp;
    use crate::crypto::{KeyRing, MasterKey};
    use crate::id::TenantId;
    use crate::store::sqlite::{schema, sql};
    use crate::store::{AuditQuery, Batch, Change, Kind, Row, Tenant};

    struct Fixture {
        _dir: tempfile::TempDir,
        conn: Connection,
        chain: Arc<dyn AuditLinker>,
        tenant: TenantId,
    }

    fn now() -> Timestamp {
        Timestamp::from_unix_seconds(1_700_000_000)
    }

    /// A migrated file with one tenant and a row `taken`.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group.db");
        std::fs::File::create(&path).unwrap();
        let conn = schema::open_writer(&path).unwrap();
        let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(
            MasterKey::from_bytes(&[3; 32]).unwrap(),
        )));
        let mut fx = Fixture {
            _dir: dir,
            conn,
            chain,
            tenant: TenantId::generate(),
        };
        let setup = Batch::new(AuditDraft::new(Actor::System, "setup", "t", now()))
            .with(Change::CreateTenant(
                Tenant::new(fx.tenant, "t", now()).unwrap(),
            ))
            .with(Change::Insert(row("taken")));
        let (job, slot) = fx.job(setup);
        commit(&mut fx.conn, vec![job]);
        slot.take().unwrap().unwrap();
        fx
    }

    fn row(id: &str) -> Row {
        Row::new(Kind::SeenWebhook, id, b"{}".to_vec())
    }

    impl Fixture {
        fn job(&self, batch: Batch) -> (Job, Arc<Slot>) {
            let slot = Arc::new(Slot::default());
            let job = Job {
                batch: Checked::new(self.tenant, batch).unwrap(),
                linker: Arc::clone(&self.chain),
                ticket: Ticket::new(Arc::clone(&slot)),
            };
            (job, slot)
        }

        fn insert(&self, id: &str, action: &str) -> (Job, Arc<Slot>) {
            self.job(
                Batch::new(AuditDraft::new(Actor::System, action, id, now()))
                    .with(Change::Insert(row(id))),
            )
        }

        fn stored(&self, id: &str) -> bool {
            sql::get(&self.conn, self.tenant, Kind::SeenWebhook, id)
                .unwrap()
                .is_some()
        }

        /// The whole log, checked link by link; its length.
        fn verified_log(&self) -> u64 {
            let log = sql::audit_events(&self.conn, self.tenant, &AuditQuery::default()).unwrap();
            let mut verifier = ChainVerifier::new(self.chain.as_ref(), self.tenant);
            for e in &log {
                verifier.push(e).unwrap();
            }
            verifier.finish().count
        }
    }

    #[test]
    fn one_failing_batch_in_a_group_fails_alone_and_the_others_commit() {
        let mut fx = fixture();
        let (a, slot_a) = fx.insert("a", "w");
        // Inserts `b`, then fails on the existing `taken`: `b` must go too.
        let (bad, slot_bad) = fx.job(
            Batch::new(AuditDraft::new(Actor::System, "w", "bad", now()))
                .with(Change::Insert(row("b")))
                .with(Change::Insert(row("taken"))),
        );
        let (c, slot_c) = fx.insert("c", "w");
        let (d, slot_d) = fx.insert("d", "w");
        commit(&mut fx.conn, vec![a, bad, c, d]);

        let seqs: Vec<u64> = [slot_a, slot_c, slot_d]
            .iter()
            .map(|s| s.take().unwrap().unwrap().seq)
            .collect();
        // Each batch read the audit head the one before it left.
        assert_eq!(seqs, [2, 3, 4]);
        let err = slot_bad.take().unwrap().unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert!(fx.stored("a") && fx.stored("c") && fx.stored("d"));
        assert!(!fx.stored("b"), "the failed batch's first change was kept");
        assert_eq!(fx.verified_log(), 4);
        assert!(fx.conn.is_autocommit());
    }

    #[test]
    fn a_failed_commit_fails_every_batch_of_the_group() {
        let mut fx = fixture();
        // A deferred foreign key that one batch's audit event violates: SQLite
        // checks it only at COMMIT, which then fails for the whole group.
        fx.conn
            .execute_batch(
                "CREATE TABLE doom (t BLOB REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED) STRICT;
                 CREATE TRIGGER doom_on AFTER INSERT ON audit_events WHEN NEW.action = 'doom'
                 BEGIN INSERT INTO doom VALUES (X'00'); END;",
            )
            .unwrap();
        let (a, slot_a) = fx.insert("a", "w");
        let (doomed, slot_doomed) = fx.insert("x", "doom");
        let (bad, slot_bad) = fx.job(
            Batch::new(AuditDraft::new(Actor::System, "w", "bad", now()))
                .with(Change::Insert(row("taken"))),
        );
        let (c, slot_c) = fx.insert("c", "w");
        commit(&mut fx.conn, vec![a, doomed, bad, c]);

        for slot in [slot_a, slot_doomed, slot_c] {
            let err = slot.take().unwrap().unwrap_err();
            assert!(
                matches!(&err, Error::Storage { message: m, .. } if m.contains("commit")),
                "{err}"
            );
        }
        // A batch that failed on its own keeps its own error.
        assert!(matches!(
            slot_bad.take().unwrap(),
            Err(Error::AlreadyExists { .. })
        ));
        assert!(!fx.stored("a") && !fx.stored("x") && !fx.stored("c"));
        assert_eq!(fx.verified_log(), 1);
        assert!(fx.conn.is_autocommit(), "the failed commit was rolled back");

        // The writer is usable again.
        let (e, slot_e) = fx.insert("e", "w");
        commit(&mut fx.conn, vec![e]);
        assert_eq!(slot_e.take().unwrap().unwrap().seq, 2);
    }

    #[test]
    fn a_job_dropped_unfinished_fails_instead_of_waiting_for_ever() {
        let fx = fixture();
        let (job, slot) = fx.insert("a", "w");
        drop(job);
        assert!(matches!(slot.take(), Some(Err(Error::Storage { .. }))));
        assert!(slot.take().is_none(), "a slot is filled once");
    }

    #[test]
    fn a_panicking_leader_fails_its_group_and_hands_leadership_back() {
        #[derive(Debug)]
        struct Panicking;
        impl AuditLinker for Panicking {
            #[allow(clippy::panic)]
            fn link(&self, _: &AuditRecord) -> Result<[u8; 32]> {
                panic!("a host linker with a bug")
            }
        }
        let Fixture {
            _dir: dir,
            conn,
            chain,
            tenant,
        } = fixture();
        let writer = Arc::new(Mutex::new(conn));
        let committer = Arc::new(Committer::default());
        let batch = |id: &str| {
            Checked::new(
                tenant,
                Batch::new(AuditDraft::new(Actor::System, "w", id, now()))
                    .with(Change::Insert(row(id))),
            )
            .unwrap()
        };
        let (c, w, b) = (Arc::clone(&committer), Arc::clone(&writer), batch("p"));
        let led = std::thread::spawn(move || c.apply(&w, b, Arc::new(Panicking))).join();
        assert!(led.is_err(), "the leader's panic reaches its caller");
        // Not deadlocked: the next caller leads, on a clean connection.
        let record = committer.apply(&writer, batch("q"), chain).unwrap();
        assert_eq!(record.seq, 2);
        let conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            sql::get(&conn, tenant, Kind::SeenWebhook, "p")
                .unwrap()
                .is_none()
        );
        drop(conn);
        drop(dir);
    }
}
