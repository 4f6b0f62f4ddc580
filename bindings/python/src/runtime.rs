//! The one process-wide tokio runtime, keyed by process id, and the bridges
//! from a core future to Python: [`block`] for the sync `Vault` (the GIL
//! released while it waits) and [`awaitable`] for `AsyncVault`.
//!
//! After `fork` only the forking thread exists in the child: the parent's
//! runtime has no worker threads left there, and a future handed to it would
//! wait forever. So the runtime is stored with the pid that built it, and a
//! process that finds another pid's runtime builds its own (the old one is
//! leaked, never dropped: dropping it would wait for threads that do not
//! exist). Objects made before the fork still hold resources of the parent
//! (SQLite connections, a PostgreSQL pool, its runtime's timers): they
//! refuse every call with `ForkError` (see `vault.rs`) instead of hanging.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;
use pyo3_async_runtimes::generic::{ContextExt, JoinError, Runtime as GenericRuntime};
use tokio::runtime::Runtime;

use crate::errors::{CoreError, internal};

/// The runtime of the process that built it.
struct Shared {
    pid: u32,
    runtime: Arc<Runtime>,
}

static RUNTIME: Mutex<Option<Shared>> = Mutex::new(None);

/// The current process's runtime, built on first use (and again, once, in
/// a forked child).
pub(crate) fn runtime() -> PyResult<Arc<Runtime>> {
    let pid = std::process::id();
    // A poisoned lock only means a thread panicked while building a
    // runtime; the slot is still either empty or whole.
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(shared) = slot.as_ref()
        && shared.pid == pid
    {
        return Ok(Arc::clone(&shared.runtime));
    }
    // Two workers: the machine's bcrypt and SQLite work runs on the calling
    // thread (sync) or a blocking thread; the workers only drive futures.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("secrets-core")
        .enable_all()
        .build()
        .map_err(|_| internal("could not start the async runtime"))?;
    let runtime = Arc::new(runtime);
    if let Some(stale) = slot.replace(Shared {
        pid,
        runtime: Arc::clone(&runtime),
    }) {
        // Another process's runtime: its threads are not in this process.
        std::mem::forget(stale);
    }
    Ok(runtime)
}

/// Called in a forked child by the `os.register_at_fork` hook: forgets the
/// parent's runtime now, so the child's first call builds its own.
pub(crate) fn after_fork_in_child() {
    // The hook runs in the child's only thread, right after fork: if the
    // lock was held by a parent thread at that moment it stays locked in
    // the child forever, so only try it; `runtime()` compares pids anyway.
    if let Ok(mut slot) = RUNTIME.try_lock()
        && let Some(stale) = slot.take()
        && stale.pid != std::process::id()
    {
        std::mem::forget(stale);
    }
}

/// A future a Vault operation returns: the core's result and, on success, a
/// conversion to run with the GIL held.
pub(crate) type Op = Pin<Box<dyn Future<Output = Result<Out, CoreError>> + Send + 'static>>;

/// Turns a core result into a Python object, once the GIL is held.
pub(crate) type Out = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send + 'static>;

/// Runs `op` to completion on the process runtime, the GIL released while
/// it runs (on this thread: no hand-off to a worker for a short call).
pub(crate) fn block(py: Python<'_>, op: Op) -> PyResult<Py<PyAny>> {
    let runtime = runtime()?;
    let result = py.detach(move || runtime.block_on(op));
    match result {
        Ok(out) => out(py),
        Err(e) => Err(e.into_py_err(py)),
    }
}

/// Runs `op` on the process runtime and returns an asyncio awaitable of its
/// result.
pub(crate) fn awaitable(py: Python<'_>, op: Op) -> PyResult<Bound<'_, PyAny>> {
    // Built here so that a failure to start it is raised at the call.
    runtime()?;
    pyo3_async_runtimes::generic::future_into_py::<ProcessRuntime, _, _>(py, async move {
        let result = op.await;
        Python::attach(|py| match result {
            Ok(out) => out(py),
            Err(e) => Err(e.into_py_err(py)),
        })
    })
}

/// [`runtime`] as pyo3-async-runtimes sees it: its own tokio runtime is a
/// `OnceLock` that cannot be replaced after fork, ours can.
struct ProcessRuntime;

/// A spawned task's handle: the runtime may be gone (it failed to start),
/// in which case the task never ran.
struct Task(Option<tokio::task::JoinHandle<()>>);

/// Why a [`Task`] did not complete.
struct TaskError(Option<tokio::task::JoinError>);

impl JoinError for TaskError {
    fn is_panic(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(tokio::task::JoinError::is_panic)
    }

    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        match self.0 {
            Some(e) if e.is_panic() => e.into_panic(),
            _ => Box::new("the task did not run"),
        }
    }
}

impl Future for Task {
    type Output = Result<(), TaskError>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.0.as_mut() {
            None => std::task::Poll::Ready(Err(TaskError(None))),
            Some(handle) => Pin::new(handle)
                .poll(cx)
                .map(|r| r.map_err(|e| TaskError(Some(e)))),
        }
    }
}

impl GenericRuntime for ProcessRuntime {
    type JoinError = TaskError;
    type JoinHandle = Task;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Task(runtime().ok().map(|rt| rt.spawn(fut)))
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        Task(runtime().ok().map(|rt| rt.spawn_blocking(f)))
    }
}

tokio::task_local! {
    static TASK_LOCALS: std::cell::OnceCell<TaskLocals>;
}

impl ContextExt for ProcessRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = std::cell::OnceCell::new();
        // A fresh cell: setting it cannot fail.
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
}
