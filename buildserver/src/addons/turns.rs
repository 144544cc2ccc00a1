//! One operation at a time per add-on. A long one (a backup, a restore, a rotation) can hold an
//! add-on for minutes: another operation asked for meanwhile is refused at once, told what runs
//! and for how long, rather than queued behind it where nothing shows it (and carried out after
//! its client gave up). Short ones (attach, detach) wait for each other. A destroy waits for
//! whatever runs, having stopped its task first (`Addons::destroy`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedMutexGuard};

use crate::scheduler::AppLocks;

/// How an operation takes its turn.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// Waits behind other short ones; refused while a long one runs.
    Short,
    /// Refused while another long one runs; `what` it is ("a backup") is what others are told.
    Long(&'static str),
    /// Waits for whatever runs (a destroy, which stopped the running task first).
    Last,
}

/// Another operation holds the add-on: what it is and for how long it has run.
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    pub what: &'static str,
    pub running_for: Duration,
}

type Running = Arc<Mutex<HashMap<String, (&'static str, Instant)>>>;

#[derive(Default)]
pub(super) struct Turns {
    locks: AppLocks,
    /// Each add-on's long operation, by id: what it is and since when.
    running: Running,
    /// Woken when a long operation claims an add-on: the short ones waiting give up.
    claimed: Notify,
}

/// An add-on's turn; it ends (and its long operation with it) when dropped.
pub(super) struct Turn {
    _lock: OwnedMutexGuard<()>,
    _claim: Option<Claim>,
}

/// A long operation's mark on its add-on, removed when dropped (also when the operation is
/// dropped while it waits for its turn).
struct Claim {
    running: Running,
    id: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.running).remove(&self.id);
    }
}

fn lock(running: &Running) -> std::sync::MutexGuard<'_, HashMap<String, (&'static str, Instant)>> {
    running.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Turns {
    /// The long operation add-on `id` has now, if any.
    pub(super) fn busy(&self, id: &str) -> Option<Busy> {
        busy(&lock(&self.running), id)
    }

    /// Add-on `id`'s turn for an operation of `kind`; `Err` when a long one runs and `kind` may
    /// not wait for it.
    pub(super) async fn take(&self, id: &str, kind: Kind) -> Result<Turn, Busy> {
        match kind {
            Kind::Last => Ok(Turn {
                _lock: self.locks.lock(id).await,
                _claim: None,
            }),
            Kind::Long(what) => {
                let claim = {
                    let mut running = lock(&self.running);
                    if let Some(busy) = busy(&running, id) {
                        return Err(busy);
                    }
                    running.insert(id.to_owned(), (what, Instant::now()));
                    Claim {
                        running: Arc::clone(&self.running),
                        id: id.to_owned(),
                    }
                };
                self.claimed.notify_waiters();
                Ok(Turn {
                    _lock: self.locks.lock(id).await,
                    _claim: Some(claim),
                })
            }
            Kind::Short => loop {
                let claimed = self.claimed.notified();
                tokio::pin!(claimed);
                // Registered before the check: a claim made after it wakes this wait.
                claimed.as_mut().enable();
                if let Some(busy) = self.busy(id) {
                    return Err(busy);
                }
                tokio::select! {
                    turn = self.locks.lock(id) => return Ok(Turn { _lock: turn, _claim: None }),
                    () = &mut claimed => {}
                }
            },
        }
    }
}

fn busy(running: &HashMap<String, (&'static str, Instant)>, id: &str) -> Option<Busy> {
    running.get(id).map(|&(what, since)| Busy {
        what,
        running_for: since.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_long_operation_refuses_others_and_a_destroy_waits_for_it() {
        let turns = Turns::default();
        let backup = turns.take("a", Kind::Long("a backup")).await.expect("free");
        let refused = turns.take("a", Kind::Long("a restore")).await.err();
        assert_eq!(refused.map(|b| b.what), Some("a backup"));
        let refused = turns.take("a", Kind::Short).await.err();
        assert_eq!(refused.map(|b| b.what), Some("a backup"));
        // Another add-on is free.
        drop(turns.take("b", Kind::Long("a backup")).await.expect("free"));
        // A destroy waits for the backup, then has the add-on.
        let destroy = turns.take("a", Kind::Last);
        tokio::pin!(destroy);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut destroy)
                .await
                .is_err()
        );
        drop(backup);
        let _destroy = destroy.await.expect("a destroy always gets its turn");
    }

    #[tokio::test]
    async fn short_operations_wait_for_each_other_and_give_up_when_a_long_one_claims() {
        let turns = Arc::new(Turns::default());
        let attach = turns.take("a", Kind::Short).await.expect("free");
        let waiting = tokio::spawn({
            let turns = Arc::clone(&turns);
            async move { turns.take("a", Kind::Short).await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a short one waits for another");
        // A long one claims the add-on: the waiting short one is refused, the long one waits for
        // the attach that has the turn.
        let rotation = tokio::spawn({
            let turns = Arc::clone(&turns);
            async move { turns.take("a", Kind::Long("a rotation")).await.map(drop) }
        });
        let refused = waiting.await.expect("joined").err();
        assert_eq!(refused.map(|b| b.what), Some("a rotation"));
        assert!(!rotation.is_finished());
        drop(attach);
        rotation.await.expect("joined").expect("its turn");
        // Its claim ended with its turn.
        drop(turns.take("a", Kind::Short).await.expect("free again"));
    }
}
