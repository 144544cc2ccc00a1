//! Pushes in flight: one per app at a time (DESIGN §3.5), each with a random token that the
//! pre-receive hook presents to the daemon to say which push it belongs to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::build::Push;

#[derive(Default)]
struct Table {
    /// app id → token of its push in flight.
    locked: HashMap<String, String>,
    /// token → push, and what cancels its build when the app is destroyed.
    by_token: HashMap<String, (Push, CancellationToken)>,
}

#[derive(Clone, Default)]
pub struct Pushes {
    table: Arc<Mutex<Table>>,
    /// Woken whenever a push ends.
    ended: Arc<Notify>,
}

/// Held while a push runs (until its `git-receive-pack` exits); dropping it releases the app's
/// lock and retires the token.
pub struct PushGuard {
    table: Arc<Mutex<Table>>,
    ended: Arc<Notify>,
    pub token: String,
    app_id: String,
}

impl Pushes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a push to `push.app.id`, or `None` if one is already running.
    pub fn begin(&self, push: Push) -> Option<PushGuard> {
        let mut table = self.lock();
        if table.locked.contains_key(&push.app.id) {
            return None;
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        table.locked.insert(push.app.id.clone(), token.clone());
        let app_id = push.app.id.clone();
        table
            .by_token
            .insert(token.clone(), (push, CancellationToken::new()));
        Some(PushGuard {
            table: Arc::clone(&self.table),
            ended: Arc::clone(&self.ended),
            token,
            app_id,
        })
    }

    /// The push a hook's token belongs to, and what is cancelled if its app is destroyed.
    pub fn find(&self, token: &str) -> Option<(Push, CancellationToken)> {
        self.lock().by_token.get(token).cloned()
    }

    /// The app was destroyed: its push in flight (if any) stops building.
    pub fn app_destroyed(&self, app_id: &str) {
        let table = self.lock();
        if let Some((_, destroyed)) = table
            .locked
            .get(app_id)
            .and_then(|token| table.by_token.get(token))
        {
            destroyed.cancel();
        }
    }

    /// Waits until app `app_id` has no push in flight, for at most `limit`; whether it has none.
    /// Destroying an app waits so for its cancelled push before removing the repository that
    /// push's `git-receive-pack` runs in (git would end the push with "Unable to read current
    /// working directory" instead of the push's own message).
    pub async fn ended(&self, app_id: &str, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before the check: a push ending in between still wakes it.
            ended.as_mut().enable();
            if !self.lock().locked.contains_key(app_id) {
                return true;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return false;
            }
        }
    }
}

impl Drop for PushGuard {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.locked.remove(&self.app_id);
        table.by_token.remove(&self.token);
        self.ended.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::User;
    use paas_share::{AppName, UserName};

    fn push(app_id: &str) -> Push {
        Push {
            app: crate::app::AppRef {
                id: app_id.into(),
                name: AppName::parse("demo").expect("valid"),
            },
            user: User {
                id: "u".into(),
                name: UserName::parse("alice").expect("valid"),
                admin: false,
                token: None,
            },
            canary: None,
            source: "ssh 127.0.0.1".into(),
        }
    }

    #[tokio::test]
    async fn ended_waits_for_the_apps_push() {
        let pushes = Pushes::default();
        assert!(pushes.ended("a", Duration::ZERO).await);
        let guard = pushes.begin(push("a")).expect("free");
        let _other = pushes.begin(push("b")).expect("free");
        assert!(!pushes.ended("a", Duration::from_millis(50)).await);
        let waiting = tokio::spawn({
            let pushes = pushes.clone();
            async move { pushes.ended("a", Duration::from_secs(30)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(guard);
        assert!(waiting.await.expect("joined"), "woken by the push's end");
    }

    #[test]
    fn one_push_per_app_and_tokens_retire() {
        let pushes = Pushes::default();
        let first = pushes.begin(push("a")).expect("free");
        assert!(
            pushes.begin(push("a")).is_none(),
            "second push to the same app"
        );
        let other = pushes
            .begin(push("b"))
            .expect("other apps push in parallel");
        assert_eq!(
            pushes.find(&first.token).map(|(p, _)| p.app.id),
            Some("a".to_owned())
        );
        // Destroying an app cancels its push's build, and no other's.
        pushes.app_destroyed("a");
        let cancelled = |token: &str| pushes.find(token).map(|(_, c)| c.is_cancelled());
        assert_eq!(cancelled(&first.token), Some(true));
        assert_eq!(cancelled(&other.token), Some(false));
        let token = first.token.clone();
        drop(first);
        assert!(pushes.find(&token).is_none());
        assert!(pushes.begin(push("a")).is_some());
        drop(other);
    }
}
