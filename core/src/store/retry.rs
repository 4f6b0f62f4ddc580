//! Retrying a read-check-write that lost a race, written once.
//!
//! Every write of the Vault reads what it changes, checks it, and writes it
//! back with a compare-and-swap on the version it read. When another writer
//! got there first the write fails without effect, and the whole attempt
//! (read, check, write) runs again on what is stored now. [`retry`] is the
//! one loop that does it: a fixed number of attempts, a yield between them
//! so the winner can finish, and one error when it gives up.

use std::future::Future;

use crate::error::{Error, Result};

/// How many times an attempt that lost a race is tried in all.
pub(crate) const MAX_ATTEMPTS: usize = 16;

/// Which errors of an attempt mean "another writer got there first".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Race {
    /// A compare-and-swap lost: [`Error::Conflict`].
    Conflict,
    /// An insert-or-update (an upsert) lost: [`Error::Conflict`], or
    /// [`Error::AlreadyExists`] when a concurrent writer inserted the row
    /// this attempt found absent.
    Upsert,
    /// An update of a row that a concurrent writer may delete:
    /// [`Error::Conflict`], or [`Error::NotFound`] when the row this attempt
    /// read is gone.
    Vanishing,
}

impl Race {
    /// Whether `e` means this attempt lost the race.
    pub(crate) fn lost(self, e: &Error) -> bool {
        match self {
            Self::Conflict => matches!(e, Error::Conflict { .. }),
            Self::Upsert => matches!(e, Error::Conflict { .. } | Error::AlreadyExists { .. }),
            Self::Vanishing => matches!(e, Error::Conflict { .. } | Error::NotFound { .. }),
        }
    }
}

/// Runs `attempt` until it does not lose a `race`, at most [`MAX_ATTEMPTS`]
/// times, yielding to the runtime between attempts. Every attempt must
/// read again everything it checks.
///
/// # Errors
///
/// The first error that is not a lost race, as is; after
/// [`MAX_ATTEMPTS`] lost races, [`gave_up`] naming `what`.
pub(crate) async fn retry<T, F, Fut>(what: &'static str, race: Race, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    for _ in 0..MAX_ATTEMPTS {
        match attempt().await {
            Err(e) if race.lost(&e) => tokio::task::yield_now().await,
            other => return other,
        }
    }
    Err(gave_up(what))
}

/// The one error of a write that kept losing its race: `what` kept
/// changing concurrently ([`Error::Contended`]). Safe to try again later.
pub(crate) fn gave_up(what: &'static str) -> Error {
    Error::Contended { what }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::Cell;

    use super::*;

    fn conflict() -> Error {
        Error::conflict("row", "r", 1, 2)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lost_race_is_tried_again_until_it_is_won() {
        let tries = Cell::new(0);
        let out = retry("the row", Race::Conflict, || {
            tries.set(tries.get() + 1);
            let n = tries.get();
            async move { if n < 3 { Err(conflict()) } else { Ok(n) } }
        })
        .await
        .unwrap();
        assert_eq!(out, 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn other_errors_stop_at_once_and_losing_for_ever_gives_up() {
        let tries = Cell::new(0);
        let err = retry("the row", Race::Conflict, || {
            tries.set(tries.get() + 1);
            async { Err::<(), _>(Error::not_found("row", "r")) }
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert_eq!(tries.get(), 1);

        tries.set(0);
        let err = retry("the row", Race::Conflict, || {
            tries.set(tries.get() + 1);
            async { Err::<(), _>(conflict()) }
        })
        .await
        .unwrap_err();
        assert_eq!(tries.get(), MAX_ATTEMPTS);
        assert!(matches!(err, Error::Contended { what: "the row" }), "{err}");
    }

    #[test]
    fn each_race_names_its_errors() {
        let exists = Error::AlreadyExists {
            what: "row".into(),
            id: "r".into(),
        };
        let gone = Error::not_found("row", "r");
        assert!(Race::Conflict.lost(&conflict()));
        assert!(!Race::Conflict.lost(&exists) && !Race::Conflict.lost(&gone));
        assert!(Race::Upsert.lost(&exists) && !Race::Upsert.lost(&gone));
        assert!(Race::Vanishing.lost(&gone) && !Race::Vanishing.lost(&exists));
        assert!(!Race::Upsert.lost(&Error::Unauthenticated));
    }
}
