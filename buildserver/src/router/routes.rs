//! The route table: each app's web dynos by app name, as the local scheduler publishes them, and
//! the round-robin pick of the next one that is up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::app::AppRef;

/// Each app's web dynos, by app name: what the router serves. Clones share one table.
#[derive(Clone, Default)]
pub struct Routes {
    table: Arc<Mutex<HashMap<String, Route>>>,
}

/// A web dyno the router may send requests to: its port on 127.0.0.1, and whether it is up now
/// (its supervisor keeps the flag; only dynos that are up get requests).
#[derive(Debug, Clone)]
pub struct Backend {
    pub port: u16,
    pub up: Arc<AtomicBool>,
}

/// Where an app's traffic goes.
struct Route {
    app_id: Arc<str>,
    backends: Vec<Backend>,
    next: AtomicUsize,
}

impl Routes {
    /// The app's id and the port of its next `up` web dyno, in turn; `None` if the app has no
    /// web dyno up.
    pub fn pick(&self, app: &str) -> Option<(Arc<str>, u16)> {
        let table = self.lock();
        let route = table.get(app)?;
        let is_up = |b: &&Backend| b.up.load(Ordering::Acquire);
        let up = route.backends.iter().filter(is_up).count();
        if up == 0 {
            return None;
        }
        let nth = route.next.fetch_add(1, Ordering::Relaxed) % up;
        let backend = route.backends.iter().filter(is_up).nth(nth)?;
        Some((Arc::clone(&route.app_id), backend.port))
    }

    /// Points the app's route at `backends`, replacing what it had.
    pub fn set(&self, app: &AppRef, backends: Vec<Backend>) {
        self.lock().insert(
            app.name().to_owned(),
            Route {
                app_id: Arc::from(app.id.as_str()),
                backends,
                next: AtomicUsize::new(0),
            },
        );
    }

    /// Moves the app's route to its new name (`paas apps:rename`).
    pub fn rename(&self, old: &str, new: &str) {
        let mut table = self.lock();
        if let Some(route) = table.remove(old) {
            table.insert(new.to_owned(), route);
        }
    }

    /// Removes the app's route: its host answers 404.
    pub fn remove(&self, app: &str) {
        self.lock().remove(app);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Route>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_up_backends_in_turn() {
        let routes = Routes::default();
        let app = AppRef {
            id: "id-1".to_owned(),
            name: paas_share::AppName::parse("shop").expect("valid"),
        };
        let backend = |port, up| Backend {
            port,
            up: Arc::new(AtomicBool::new(up)),
        };
        routes.set(
            &app,
            vec![backend(1, true), backend(2, false), backend(3, true)],
        );
        let picks: Vec<u16> = (0..4).map(|_| routes.pick("shop").expect("up").1).collect();
        assert_eq!(picks, [1, 3, 1, 3]);
        routes.rename("shop", "store");
        assert!(routes.pick("shop").is_none());
        assert_eq!(&*routes.pick("store").expect("renamed").0, "id-1");
        routes.set(&app, vec![backend(4, false)]);
        assert!(routes.pick("shop").is_none(), "no dyno up");
        routes.remove("store");
        assert!(routes.pick("store").is_none());
    }
}
