//! Group commit: concurrent batches share one transaction and one fsync.
//!
//! With `synchronous = FULL` every commit waits for an fsync of the log,
//! which costs far more than the SQL of a batch. So batches are not
//! committed by their callers: a [`Committer`] owns a thread of its own
//! (the *writer thread*) that takes batches from a queue. The protocol:
//!
//! 1. A caller sends its job (batch, linker, and the sending half of a
//!    one-shot channel) to the queue, and awaits the receiving half: an
//!    async wait, so no runtime worker blocks and no thread is handed over.
//! 2. The writer thread waits for a job, then takes every job already
//!    queued behind it (at most [`MAX_GROUP`]), runs them one after the
//!    other inside one `BEGIN IMMEDIATE` transaction on the writer
//!    connection, and commits once. Batches that arrive meanwhile wait in
//!    the queue for the next group: the busier the store, the larger the
//!    groups, and a lone batch is committed at once.
//! 3. Only after `COMMIT` returned does it answer the callers, from a
//!    task it spawns on their runtime if that is multi-threaded, else
//!    itself ([`Relay`]). A caller never sees
//!    success before its batch is durable, and a failed commit fails every
//!    batch of the group.
//!
//! What each batch sees: the batches of a group run one after the other on
//! one connection, so a batch reads what the earlier ones wrote (the audit
//! head of its tenant above all: the chain stays gapless and linked), and
//! a batch that fails leaves no trace and does not fail the others. A batch
//! that fails in its checks, before writing anything, has nothing to undo.
//! One that fails after writing makes the group start over with each batch
//! in its own `SAVEPOINT`, so that it can be rolled back alone (see
//! [`commit_shared`] on why savepoints are not the rule). Serialisability
//! per tenant (and across tenants) is unchanged: the group is one serial
//! schedule of its batches.
//!
//! A caller that stops waiting (its future dropped) does not withdraw its
//! batch: once sent it is applied, as a statement sent to a database
//! server would be. A panic while committing (a bug, or a host's
//! [`AuditLinker`]) fails the batches of that group through their tickets
//! and leaves the writer thread running. Dropping the `Committer` closes
//! the queue and waits for the thread to finish what was queued.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;

use super::sql::db;
use super::tx::{Memo, SqliteTx};
use crate::audit::{AuditLinker, AuditRecord};
use crate::error::{Error, Result};
use crate::store::apply::{self, Checked};

/// Most batches one group commits together. A bound on the transaction's
/// size (each batch holds at most `MAX_BATCH` changes) and on how long the
/// first caller of a large group waits; beyond it the next group takes
/// the rest.
pub(super) const MAX_GROUP: usize = 64;

/// What a caller awaits: its batch's result.
#[derive(Debug)]
pub(super) struct Outcome(oneshot::Receiver<Result<AuditRecord>>);

impl Outcome {
    /// Waits for the batch's result.
    ///
    /// # Errors
    ///
    /// The batch's error, or [`Error::Internal`] if the writer dropped it
    /// without an answer (a bug: every ticket answers).
    pub(super) async fn answer(self) -> Result<AuditRecord> {
        Self::open(self.0.await)
    }

    /// The answer if it has arrived, without waiting; `None` if not yet.
    fn try_answer(&mut self) -> Option<Result<AuditRecord>> {
        match self.0.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => None,
            other => Some(Self::open(other)),
        }
    }

    fn open<E>(answer: std::result::Result<Result<AuditRecord>, E>) -> Result<AuditRecord> {
        answer.unwrap_or_else(|_| {
            Err(Error::Internal {
                what: "the SQLite writer dropped a batch without an answer",
            })
        })
    }
}

/// The answers to the callers of a committed group, sent from a task of
/// the callers' runtime rather than from the writer thread.
///
/// Waking a task from the writer thread (outside the runtime) goes through
/// the runtime's shared queue and usually unparks a worker with a system
/// call: about 8 µs a caller on this 2-core machine, measured, on the path
/// every batch of the next group waits on (its callers are woken one after
/// the other, then the first of them comes back). From a worker, a wake is
/// a push onto that worker's own queue. So the writer thread spawns one
/// task that answers them all. Dropped unsent (the runtime is shutting
/// down), it answers them from wherever it is dropped: every caller is
/// answered, and only ever after the commit.
#[derive(Debug, Default)]
struct Relay(Vec<(Ticket, Result<AuditRecord>)>);

impl Relay {
    /// Answers every caller: from a task on `runtime` if there is one (no
    /// caller's own polling is waited for), else at once.
    fn dispatch(self, runtime: Option<&Handle>) {
        match runtime {
            Some(runtime) if self.0.len() > 1 => {
                // Detached: the task owns the answers.
                drop(runtime.spawn(async move { self.send() }));
            }
            _ => self.send(),
        }
    }

    fn send(mut self) {
        self.send_all();
    }

    fn send_all(&mut self) {
        for (ticket, result) in self.0.drain(..) {
            ticket.finish(result);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.send_all();
    }
}

/// The promise to answer a caller exactly once: dropped unanswered (a
/// panic while committing), it answers with an error.
#[derive(Debug)]
pub(super) struct Ticket(Option<oneshot::Sender<Result<AuditRecord>>>);

impl Ticket {
    pub(super) fn new() -> (Self, Outcome) {
        let (tx, rx) = oneshot::channel();
        (Self(Some(tx)), Outcome(rx))
    }

    fn finish(mut self, result: Result<AuditRecord>) {
        if let Some(tx) = self.0.take() {
            // A caller that stopped waiting does not want the answer.
            let _ = tx.send(result);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Err(Error::storage(
                "the writer stopped before this batch was committed; it was not applied",
            )));
        }
    }
}

/// A queued batch.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) batch: Checked,
    /// A copy of `batch`, made by its caller while the writer thread was
    /// busy, for running it again should its group have to start over (see
    /// [`commit_shared`]); `None` and a group copies it itself.
    pub(super) spare: Option<Checked>,
    pub(super) linker: Arc<dyn AuditLinker>,
    pub(super) ticket: Ticket,
    /// The caller's runtime, which the group's answers are sent from
    /// ([`Relay`]); `None` outside a multi-threaded one.
    pub(super) runtime: Option<Handle>,
}

/// The queue of batches and the writer thread that commits them.
#[derive(Debug)]
pub(super) struct Committer {
    /// `None` only while dropping: closing it ends the thread.
    queue: Option<Sender<Job>>,
    /// Jobs sent that the writer thread has not taken yet.
    queued: Arc<AtomicUsize>,
    /// The size of the writer thread's last group: over 1, writers were
    /// concurrent a moment ago.
    last_group: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Starts the writer thread on `writer`.
    pub(super) fn start(writer: Arc<Mutex<Connection>>) -> Result<Self> {
        let (queue, jobs) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let last_group = Arc::new(AtomicUsize::new(0));
        let jobs = Queue {
            jobs,
            queued: Arc::clone(&queued),
            last_group: Arc::clone(&last_group),
        };
        let thread = std::thread::Builder::new()
            .name("secrets-core-sqlite-writer".into())
            .spawn(move || write_groups(&writer, &jobs))
            .map_err(|e| Error::storage_from("could not start the SQLite writer thread", e))?;
        Ok(Self {
            queue: Some(queue),
            queued,
            last_group,
            thread: Some(thread),
        })
    }

    /// Whether a batch may be committed alone, in place: no batch is
    /// waiting for the writer thread, and its last group was not a group.
    ///
    /// After a group of several, the writers it answered are on their way
    /// back with their next batches; the first of them to arrive would
    /// find the queue empty and, committing alone, make the others queue
    /// behind a commit of its own (measured: one batch in five committed
    /// alone under 8 writers, 3 batches a commit instead of 7). Sent to the
    /// writer thread, it waits for them instead.
    pub(super) fn idle(&self) -> bool {
        self.queued.load(Ordering::Acquire) == 0 && self.last_group.load(Ordering::Acquire) <= 1
    }

    /// Commits `batch` alone, at once, on the calling thread, on `conn`:
    /// the writer connection, locked by a caller that found the committer
    /// [idle](Self::idle) and the writer free. A lone writer then pays no
    /// hop to the writer thread and back.
    pub(super) fn commit_alone(
        conn: &mut Connection,
        batch: Checked,
        linker: Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        let (ticket, mut outcome) = Ticket::new();
        // Alone, it never needs a copy: its transaction is the batch.
        let job = Job {
            batch,
            spare: None,
            linker,
            ticket,
            runtime: None,
        };
        // As on the writer thread, a panic (a bug, or a host's linker)
        // unwinds through the transaction's drop (a rollback) and the
        // ticket (an error), and goes no further.
        let _ = catch_unwind(AssertUnwindSafe(|| commit(conn, vec![job], &mut || None)));
        outcome.try_answer().unwrap_or_else(|| {
            Err(Error::Internal {
                what: "a batch committed alone was left without an answer",
            })
        })
    }

    /// Queues `batch`; the outcome arrives once the group it was committed
    /// in is durable (see the module docs).
    pub(super) fn submit(&self, batch: Checked, linker: Arc<dyn AuditLinker>) -> Result<Outcome> {
        let (ticket, outcome) = Ticket::new();
        // The copy is made here, on the caller's thread, rather than by the
        // writer thread, which every batch waits for.
        let job = Job {
            spare: Some(batch.clone()),
            batch,
            linker,
            ticket,
            // Only a multi-threaded runtime always has a worker to run the
            // answering task: a current-thread one runs tasks only while
            // someone drives it, which a caller blocked in
            // `Handle::block_on` does not.
            runtime: Handle::try_current()
                .ok()
                .filter(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread),
        };
        let queue = self.queue.as_ref().ok_or(Error::Internal {
            what: "the SQLite store was used while it was being dropped",
        })?;
        self.queued.fetch_add(1, Ordering::AcqRel);
        // The thread only ends when the queue closes, or if it panicked
        // outside a commit (a bug): then the job comes back, unapplied.
        queue.send(job).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            Error::storage("the SQLite writer thread has stopped; the batch was not applied")
        })?;
        Ok(outcome)
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // Finishes what was queued; a panic there was already answered.
            let _ = thread.join();
        }
    }
}

/// The writer thread's end of the queue, counting what it takes.
struct Queue {
    jobs: Receiver<Job>,
    queued: Arc<AtomicUsize>,
    /// Where the thread says how big its last group was.
    last_group: Arc<AtomicUsize>,
}

impl Queue {
    fn took(&self, job: Job) -> Job {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        job
    }

    fn recv(&self) -> Option<Job> {
        self.jobs.recv().ok().map(|j| self.took(j))
    }

    fn try_recv(&self) -> Option<Job> {
        self.jobs.try_recv().ok().map(|j| self.took(j))
    }

    fn recv_timeout(&self, timeout: Duration) -> Option<Job> {
        self.jobs.recv_timeout(timeout).ok().map(|j| self.took(j))
    }
}

/// The writer thread: commits the queued jobs group by group until the
/// queue closes.
fn write_groups(writer: &Mutex<Connection>, jobs: &Queue) {
    // How the previous group went: its size and how long it took.
    let mut last = (1_usize, Duration::ZERO);
    while let Some(first) = jobs.recv() {
        let started = Instant::now();
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Some(job) => group.push(job),
                None => break,
            }
        }
        let mut size = group.len();
        // The callers the previous group answered are on their way back
        // with their next batch: wait for them a little (at most half what
        // that group took, and never when it was one batch), since each one
        // that makes it saves a commit of its own.
        let gather = Gather {
            expect: last.0,
            until: started + last.1 / 2,
        };
        // See `Inner::writer` on why a poisoned lock is sound.
        let mut conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut more = || {
            let job = jobs.try_recv().or_else(|| gather.wait(jobs, size))?;
            size += 1;
            Some(job)
        };
        // A panic unwinds through the transaction's drop (a rollback) and
        // the unanswered tickets (an error each); the next group starts on
        // a clean connection.
        let _ = catch_unwind(AssertUnwindSafe(|| commit(&mut conn, group, &mut more)));
        last = (size, started.elapsed());
        jobs.last_group.store(size, Ordering::Release);
    }
}

/// How long a group waits for late batches before it commits.
#[derive(Clone, Copy, Debug)]
struct Gather {
    /// The size of the previous group: with fewer, someone is missing.
    expect: usize,
    /// Wait no later than this.
    until: Instant,
}

impl Gather {
    /// The next job, if one arrives before the group has the size it
    /// expects or the time is up.
    fn wait(self, jobs: &Queue, size: usize) -> Option<Job> {
        if size >= self.expect {
            return None;
        }
        let left = self.until.checked_duration_since(Instant::now())?;
        jobs.recv_timeout(left)
    }
}

/// Applies one batch on `conn`, which is inside a transaction that `memo`
/// has followed so far.
pub(super) fn run(
    conn: &Connection,
    memo: &mut Memo,
    batch: Checked,
    linker: &dyn AuditLinker,
) -> Result<AuditRecord> {
    run_tracked(conn, memo, batch, linker).0
}

/// [`run`], and whether the batch wrote (or tried to write) anything.
fn run_tracked(
    conn: &Connection,
    memo: &mut Memo,
    batch: Checked,
    linker: &dyn AuditLinker,
) -> (Result<AuditRecord>, bool) {
    let mut tx = SqliteTx::new(conn, memo);
    let result = apply::run_now(apply::apply(&mut tx, batch, linker));
    (result, tx.wrote())
}

/// Commits `jobs` in one transaction on `conn` (the locked writer) and
/// answers every job's caller. Once `jobs` are run, the group takes in the
/// jobs `more` still has (those queued while these ran), up to
/// [`MAX_GROUP`] in all, before it commits.
///
/// A group runs its batches one after the other with no savepoint
/// ([`commit_shared`]). Should a batch fail after it wrote something, the
/// group is rolled back and run again from its first batch, each batch in
/// its own savepoint ([`commit_group`]), so that one failing batch fails
/// alone.
pub(super) fn commit(conn: &mut Connection, jobs: Vec<Job>, more: &mut dyn FnMut() -> Option<Job>) {
    let mut jobs = VecDeque::from(jobs);
    let tx = match begin(conn) {
        Ok(tx) => tx,
        Err(e) => return fail_all(jobs, &e),
    };
    if jobs.len() == 1
        && let Some(job) = jobs.pop_front()
    {
        if let Some(next) = more() {
            // Not alone after all.
            jobs.extend([job, next]);
        } else {
            // Alone: no savepoint, the transaction is the batch.
            let result =
                run(&tx, &mut Memo::default(), job.batch, job.linker.as_ref()).and_then(|record| {
                    tx.commit().map_err(db("commit"))?;
                    Ok(record)
                });
            // On error, dropping the transaction rolled it back.
            return job.ticket.finish(result);
        }
    }
    let Some(again) = commit_shared(tx, jobs, more) else {
        return;
    };
    match begin(conn) {
        Ok(tx) => commit_group(tx, again, more),
        Err(e) => fail_all(again, &e),
    }
}

/// Opens the immediate transaction of a group on `conn`, after rolling
/// back one a failed rollback left open.
fn begin(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")
            .map_err(db("roll back an abandoned transaction"))?;
    }
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("begin a transaction"))
}

/// Fails every job of `jobs` with the store error `e`.
fn fail_all(jobs: impl IntoIterator<Item = Job>, e: &Error) {
    for job in jobs {
        job.ticket.finish(Err(Error::storage(store_message(e))));
    }
}

/// The batches of a group one after the other in `tx`, with no savepoint,
/// then one commit; or, if a batch failed after writing, `tx` rolled back
/// and every job of the group returned, to be run again with savepoints.
///
/// A savepoint costs every batch a copy of each page it changes (the
/// statement journal) and two statements, about a sixth of the writer
/// thread's time in a group (measured with `perf`), and is only needed to
/// undo a batch that failed half-way. A batch that fails before its first
/// write (a failed check: a conflict, a missing row, a taken id) changed
/// nothing, so the group goes on without it. One that fails after writing
/// (a later change's check, the linker, a constraint the checks should have
/// made unreachable, the disk) would leave its first writes in the shared
/// transaction: the group starts over. That is why each job carries a copy
/// of its batch (made by its caller): the batches already run were consumed.
/// The records the first run computed are discarded unanswered; the second
/// run computes the same ones, since the batches run in the same order from
/// the same state.
fn commit_shared(
    tx: rusqlite::Transaction<'_>,
    mut jobs: VecDeque<Job>,
    more: &mut dyn FnMut() -> Option<Job>,
) -> Option<VecDeque<Job>> {
    let mut taken = jobs.len();
    let mut memo = Memo::default();
    // What each run job needs to be answered, or to run again.
    let mut done: Vec<(Job, Result<AuditRecord>)> = Vec::with_capacity(jobs.len());
    while let Some(job) = jobs.pop_front().or_else(|| {
        (taken < MAX_GROUP)
            .then(&mut *more)
            .flatten()
            .inspect(|_| taken += 1)
    }) {
        let Job {
            batch,
            spare,
            linker,
            ticket,
            runtime,
        } = job;
        let spare = spare.unwrap_or_else(|| batch.clone());
        let (result, wrote) = run_tracked(&tx, &mut memo, batch, linker.as_ref());
        let job = Job {
            batch: spare,
            spare: None,
            linker,
            ticket,
            runtime,
        };
        if result.is_err() && wrote {
            let again: VecDeque<Job> = done
                .into_iter()
                .map(|(job, _)| job)
                .chain([job])
                .chain(jobs)
                .collect();
            return match tx
                .rollback()
                .map_err(db("roll back a group to run it again"))
            {
                Ok(()) => Some(again),
                Err(e) => {
                    fail_all(again, &e);
                    None
                }
            };
        }
        done.push((job, result));
    }
    let runtime = done.iter().find_map(|(job, _)| job.runtime.clone());
    finish_group(
        tx,
        done.into_iter().map(|(job, result)| (job.ticket, result)),
        runtime.as_ref(),
    );
    None
}

/// Commits `tx` and answers the callers of a group: each with its batch's
/// result (from a task on `runtime`, see [`Relay`]), or all with the
/// commit's error if it failed (a batch that had failed on its own keeps
/// its own error).
fn finish_group(
    tx: rusqlite::Transaction<'_>,
    done: impl IntoIterator<Item = (Ticket, Result<AuditRecord>)>,
    runtime: Option<&Handle>,
) {
    match tx.commit().map_err(db("commit")) {
        Ok(()) => Relay(done.into_iter().collect()).dispatch(runtime),
        Err(e) => {
            for (ticket, result) in done {
                ticket.finish(result.and(Err(Error::storage(store_message(&e)))));
            }
        }
    }
}

/// The batches of a group, each in its savepoint, then one commit: the
/// second run of a group in which a batch failed after writing.
fn commit_group(
    tx: rusqlite::Transaction<'_>,
    mut jobs: VecDeque<Job>,
    more: &mut dyn FnMut() -> Option<Job>,
) {
    let mut taken = jobs.len();
    let mut memo = Memo::default();
    let mut runtime = None;
    let mut done: Vec<(Ticket, Result<AuditRecord>)> = Vec::with_capacity(jobs.len());
    while let Some(job) = jobs.pop_front().or_else(|| {
        (taken < MAX_GROUP)
            .then(&mut *more)
            .flatten()
            .inspect(|_| taken += 1)
    }) {
        runtime = runtime.or(job.runtime);
        match in_savepoint(&tx, &mut memo, job.batch, job.linker.as_ref()) {
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
    finish_group(tx, done, runtime.as_ref());
}

/// Runs one batch between `SAVEPOINT` and `RELEASE`; a batch that fails is
/// rolled back to its savepoint first. The outer error is the savepoint's
/// own failure; the inner result is the batch's.
fn in_savepoint(
    conn: &Connection,
    memo: &mut Memo,
    batch: Checked,
    linker: &dyn AuditLinker,
) -> Result<Result<AuditRecord>> {
    let exec = |sql: &'static str, doing: &'static str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
            .map_err(db(doing))
    };
    #[cfg(test)]
    tests::SAVEPOINTS.with(|n| n.set(n.get() + 1));
    exec("SAVEPOINT batch", "open a savepoint")?;
    let result = run(conn, memo, batch, linker);
    if result.is_err() {
        // What the batch wrote before it failed is undone: so is what the
        // memo learnt from it.
        memo.forget();
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

    use std::cell::Cell;

    use super::*;
    use crate::audit::{Actor, AuditChain, AuditDraft, ChainVerifier};
    use crate::clock::Timestamp;
    use crate::crypto::{KeyRing, MasterKey};
    use crate::id::TenantId;
    use crate::store::sqlite::{schema, sql};
    use crate::store::{AuditQuery, Batch, Change, Kind, Row, Tenant};

    thread_local! {
        /// Savepoints opened on this thread (tests call [`commit`] on
        /// their own thread).
        pub(super) static SAVEPOINTS: Cell<usize> = const { Cell::new(0) };
    }

    /// The savepoints opened on this thread while `f` ran.
    fn savepoints_in(f: impl FnOnce()) -> usize {
        let before = SAVEPOINTS.with(Cell::get);
        f();
        SAVEPOINTS.with(Cell::get) - before
    }

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
        commit(&mut fx.conn, vec![job], &mut || None);
        slot.take().unwrap().unwrap();
        fx
    }

    /// A caller's outcome, read without waiting.
    struct Slot(Mutex<Outcome>);

    impl Outcome {
        /// The answer, waiting for it on this (non-runtime) thread.
        fn blocking_answer(self) -> Result<AuditRecord> {
            Self::open(self.0.blocking_recv())
        }
    }

    impl Slot {
        /// The answer, if one has arrived and was not taken yet.
        fn take(&self) -> Option<Result<AuditRecord>> {
            self.0.lock().unwrap().0.try_recv().ok()
        }
    }

    fn row(id: &str) -> Row {
        Row::new(Kind::SeenWebhook, id, b"{}".to_vec())
    }

    impl Fixture {
        fn job(&self, batch: Batch) -> (Job, Slot) {
            let (ticket, outcome) = Ticket::new();
            let job = Job {
                batch: Checked::new(self.tenant, batch).unwrap(),
                spare: None,
                linker: Arc::clone(&self.chain),
                ticket,
                runtime: None,
            };
            (job, Slot(Mutex::new(outcome)))
        }

        fn insert(&self, id: &str, action: &str) -> (Job, Slot) {
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
        // `d` joins while the group runs: it is run again with the others.
        let mut late = Some(d);
        let opened = savepoints_in(|| commit(&mut fx.conn, vec![a, bad, c], &mut || late.take()));
        // The group ran without savepoints until `bad` failed after
        // writing, then again from `a` with one per batch.
        assert_eq!(opened, 4);

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
    fn a_group_opens_no_savepoint_when_no_batch_fails_after_writing() {
        let mut fx = fixture();
        let tenant = sql::tenant(&fx.conn, fx.tenant).unwrap().unwrap();
        let (a, slot_a) = fx.insert("a", "w");
        // Fails in its checks, before any write: nothing to undo.
        let (taken, slot_taken) = fx.insert("taken", "w");
        // Read the tenant (remembered), then fails its version check.
        let (stale, slot_stale) = fx.job(
            Batch::new(AuditDraft::new(Actor::System, "w", "stale", now())).with(
                Change::UpdateTenant {
                    tenant: Tenant {
                        name: "stale".into(),
                        ..tenant.clone()
                    },
                    expected_version: tenant.version + 7,
                },
            ),
        );
        let (c, slot_c) = fx.insert("c", "w");
        let opened = savepoints_in(|| commit(&mut fx.conn, vec![a, taken, stale, c], &mut || None));
        assert_eq!(opened, 0, "a savepoint was opened");

        assert_eq!(slot_a.take().unwrap().unwrap().seq, 2);
        assert!(matches!(
            slot_taken.take().unwrap(),
            Err(Error::AlreadyExists { .. })
        ));
        assert!(matches!(
            slot_stale.take().unwrap(),
            Err(Error::Conflict { .. })
        ));
        // The failed batches left the audit head where `a` put it.
        assert_eq!(slot_c.take().unwrap().unwrap().seq, 3);
        assert!(fx.stored("a") && fx.stored("c"));
        let stored = sql::tenant(&fx.conn, fx.tenant).unwrap().unwrap();
        assert_eq!(stored.version, tenant.version);
        assert_eq!(fx.verified_log(), 3);
        assert!(fx.conn.is_autocommit());
    }

    #[test]
    fn a_group_answers_its_callers_from_a_task_on_their_runtime() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        // Occupies the runtime's only worker until released.
        let (started, wait_started) = std::sync::mpsc::channel();
        let (release, wait_release) = std::sync::mpsc::channel::<()>();
        let busy = rt.spawn(async move {
            started.send(()).unwrap();
            wait_release.recv().unwrap();
        });
        wait_started.recv().unwrap();

        let mut fx = fixture();
        let (mut a, slot_a) = fx.insert("a", "w");
        let (mut b, slot_b) = fx.insert("b", "w");
        a.runtime = Some(rt.handle().clone());
        b.runtime = Some(rt.handle().clone());
        commit(&mut fx.conn, vec![a, b], &mut || None);
        // Committed, and the answers wait for a worker to run the task the
        // writer spawned.
        assert!(fx.stored("a") && fx.stored("b"));
        std::thread::sleep(Duration::from_millis(50));
        assert!(slot_a.take().is_none() && slot_b.take().is_none());
        release.send(()).unwrap();
        rt.block_on(busy).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut got_a, mut got_b) = (None, None);
        while (got_a.is_none() || got_b.is_none()) && Instant::now() < deadline {
            got_a = got_a.or_else(|| slot_a.take());
            got_b = got_b.or_else(|| slot_b.take());
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(got_a.unwrap().unwrap().seq, 2);
        assert_eq!(got_b.unwrap().unwrap().seq, 3);
    }

    #[test]
    fn a_relay_dropped_unsent_still_answers_with_each_result() {
        let fx = fixture();
        let (a, slot_a) = fx.insert("a", "w");
        let (b, slot_b) = fx.insert("b", "w");
        drop(Relay(vec![
            (
                a.ticket,
                Err(Error::Internal {
                    what: "the batch's own error",
                }),
            ),
            (b.ticket, Err(Error::not_found("user", "u"))),
        ]));
        // Their own results, not the error of a ticket dropped unanswered.
        assert!(matches!(
            slot_a.take(),
            Some(Err(Error::Internal {
                what: "the batch's own error"
            }))
        ));
        assert!(matches!(slot_b.take(), Some(Err(Error::NotFound { .. }))));
    }

    #[test]
    fn a_batch_rolled_back_leaves_no_trace_for_the_next_one_in_its_group() {
        let mut fx = fixture();
        let tenant = sql::tenant(&fx.conn, fx.tenant).unwrap().unwrap();
        let update = |name: &str| Change::UpdateTenant {
            tenant: Tenant {
                name: name.into(),
                ..tenant.clone()
            },
            expected_version: tenant.version,
        };
        // Moves the tenant to the next version, then fails: the update is
        // rolled back, and the tenant stays at its version.
        let (bad, slot_bad) = fx.job(
            Batch::new(AuditDraft::new(Actor::System, "w", "bad", now()))
                .with(update("bad"))
                .with(Change::Insert(row("taken"))),
        );
        // Expects the version the tenant really has.
        let (good, slot_good) = fx.job(
            Batch::new(AuditDraft::new(Actor::System, "w", "good", now())).with(update("good")),
        );
        commit(&mut fx.conn, vec![bad, good], &mut || None);

        assert!(slot_bad.take().unwrap().is_err());
        assert_eq!(slot_good.take().unwrap().unwrap().seq, 2);
        let stored = sql::tenant(&fx.conn, fx.tenant).unwrap().unwrap();
        assert_eq!(
            (stored.name.as_str(), stored.version),
            ("good", tenant.version + 1)
        );
        assert_eq!(fx.verified_log(), 2);
    }

    #[test]
    fn batches_of_a_group_read_what_the_ones_before_them_wrote() {
        let mut fx = fixture();
        let tenant = sql::tenant(&fx.conn, fx.tenant).unwrap().unwrap();
        let mut jobs = Vec::new();
        let mut slots = Vec::new();
        // Each update expects the version the one before it left.
        for i in 0..4 {
            let (job, slot) = fx.job(
                Batch::new(AuditDraft::new(Actor::System, "w", "t", now())).with(
                    Change::UpdateTenant {
                        tenant: Tenant {
                            name: format!("v{i}"),
                            ..tenant.clone()
                        },
                        expected_version: tenant.version + i,
                    },
                ),
            );
            jobs.push(job);
            slots.push(slot);
        }
        commit(&mut fx.conn, jobs, &mut || None);
        let seqs: Vec<u64> = slots
            .iter()
            .map(|s| s.take().unwrap().unwrap().seq)
            .collect();
        assert_eq!(seqs, [2, 3, 4, 5]);
        let stored = sql::tenant(&fx.conn, fx.tenant).unwrap().unwrap();
        assert_eq!(
            (stored.name.as_str(), stored.version),
            ("v3", tenant.version + 4)
        );
        assert_eq!(fx.verified_log(), 5);
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
        commit(&mut fx.conn, vec![a, doomed, bad, c], &mut || None);

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
        commit(&mut fx.conn, vec![e], &mut || None);
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

    /// The writer's hot statements are compiled once, not on every use
    /// from the statement cache (the query planner stability guarantee).
    #[test]
    fn the_audit_head_statement_is_not_compiled_again_on_every_use() {
        let fx = fixture();
        for _ in 0..5 {
            let mut stmt = fx
                .conn
                .prepare_cached(super::super::tx::AUDIT_HEAD)
                .unwrap();
            let seq: i64 = stmt
                .query_row([fx.tenant.as_bytes().as_slice()], |r| r.get(0))
                .unwrap();
            assert_eq!(seq, 1);
            assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
        }
    }

    #[test]
    fn a_panic_while_committing_fails_its_group_and_the_writer_goes_on() {
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
        let committer = Committer::start(Arc::clone(&writer)).unwrap();
        let batch = |id: &str| {
            Checked::new(
                tenant,
                Batch::new(AuditDraft::new(Actor::System, "w", id, now()))
                    .with(Change::Insert(row(id))),
            )
            .unwrap()
        };
        let failed = committer
            .submit(batch("p"), Arc::new(Panicking))
            .unwrap()
            .blocking_answer();
        assert!(matches!(failed, Err(Error::Storage { .. })), "{failed:?}");
        // Not stuck: the next batch commits, on a clean connection.
        let record = committer
            .submit(batch("q"), chain)
            .unwrap()
            .blocking_answer()
            .unwrap();
        assert_eq!(record.seq, 2);
        drop(committer);
        let conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(conn.is_autocommit());
        assert!(
            sql::get(&conn, tenant, Kind::SeenWebhook, "p")
                .unwrap()
                .is_none()
        );
        assert!(
            sql::get(&conn, tenant, Kind::SeenWebhook, "q")
                .unwrap()
                .is_some()
        );
        drop(conn);
        drop(dir);
    }

    #[test]
    fn a_panic_while_committing_alone_fails_that_batch_only() {
        #[derive(Debug)]
        struct Panicking;
        impl AuditLinker for Panicking {
            #[allow(clippy::panic)]
            fn link(&self, _: &AuditRecord) -> Result<[u8; 32]> {
                panic!("a host linker with a bug")
            }
        }
        let mut fx = fixture();
        let batch = |id: &str| {
            Checked::new(
                fx.tenant,
                Batch::new(AuditDraft::new(Actor::System, "w", id, now()))
                    .with(Change::Insert(row(id))),
            )
            .unwrap()
        };
        let (p, q) = (batch("p"), batch("q"));
        let failed = Committer::commit_alone(&mut fx.conn, p, Arc::new(Panicking));
        assert!(matches!(failed, Err(Error::Storage { .. })), "{failed:?}");
        assert!(fx.conn.is_autocommit(), "rolled back");
        let record = Committer::commit_alone(&mut fx.conn, q, Arc::clone(&fx.chain)).unwrap();
        assert_eq!(record.seq, 2);
        assert!(!fx.stored("p"));
    }

    #[test]
    fn concurrent_submissions_share_groups_and_each_gets_its_own_record() {
        let Fixture {
            _dir: dir,
            conn,
            chain,
            tenant,
        } = fixture();
        let writer = Arc::new(Mutex::new(conn));
        let committer = Arc::new(Committer::start(Arc::clone(&writer)).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|w| {
                let (committer, chain) = (Arc::clone(&committer), Arc::clone(&chain));
                std::thread::spawn(move || {
                    (0..25)
                        .map(|i| {
                            let id = format!("w{w}-{i}");
                            let batch = Checked::new(
                                tenant,
                                Batch::new(AuditDraft::new(Actor::System, "w", &id, now()))
                                    .with(Change::Insert(row(&id))),
                            )
                            .unwrap();
                            let outcome = committer.submit(batch, Arc::clone(&chain)).unwrap();
                            let record = outcome.blocking_answer().unwrap();
                            assert_eq!(record.event.target, id, "each caller gets its own record");
                            record.seq
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (2..=201).collect::<Vec<u64>>(), "gapless after setup");
        drop(committer);
        drop(dir);
    }

    #[test]
    fn after_a_group_the_next_batch_joins_the_writer_thread_instead_of_committing_alone() {
        let Fixture {
            _dir: dir,
            conn,
            chain,
            tenant,
        } = fixture();
        let writer = Arc::new(Mutex::new(conn));
        let committer = Committer::start(Arc::clone(&writer)).unwrap();
        let batch = |id: &str| {
            Checked::new(
                tenant,
                Batch::new(AuditDraft::new(Actor::System, "w", id, now()))
                    .with(Change::Insert(row(id))),
            )
            .unwrap()
        };
        assert!(
            committer.idle(),
            "nothing has run: a lone batch may commit in place"
        );
        // Three batches queued while the writer is busy: one group of three.
        let held = writer.lock().unwrap();
        let outcomes: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|id| committer.submit(batch(id), Arc::clone(&chain)).unwrap())
            .collect();
        assert!(!committer.idle(), "batches are queued");
        drop(held);
        for o in outcomes {
            o.blocking_answer().unwrap();
        }
        // The group is answered and the queue empty, but writers were
        // concurrent a moment ago: the next batch goes to the thread.
        // (The thread records the group's size once it has answered it.)
        let deadline = Instant::now() + Duration::from_secs(10);
        while committer.last_group.load(Ordering::Acquire) != 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(committer.queued.load(Ordering::Acquire), 0);
        assert!(!committer.idle(), "a group of 3 just committed");
        // One batch alone on the thread: a lone writer commits in place again.
        let o = committer.submit(batch("d"), Arc::clone(&chain)).unwrap();
        o.blocking_answer().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !committer.idle() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(committer.idle(), "the last group was one batch");
        drop(committer);
        drop(dir);
    }
}
