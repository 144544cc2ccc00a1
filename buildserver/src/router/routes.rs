//! The route table: each app's web dynos by app name, as the local scheduler publishes them, and
//! the round-robin pick of the next one that is up. Routes belong to app ids: a rename moves the
//! app's route, and a deploy that began under the old name publishes under the new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::app::AppRef;

/// Each app's web dynos, by app name: what the router serves. Clones share one table.
#[derive(Clone, Default)]
pub struct Routes {
    table: Arc<Mutex<Table>>,
}

#[derive(Default)]
struct Table {
    /// App name → its route.
    by_name: HashMap<String, Route>,
    /// App id → the name its route is under (the app's current name).
    names: HashMap<String, String>,
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
        let route = table.by_name.get(app)?;
        let is_up = |b: &&Backend| b.up.load(Ordering::Acquire);
        let up = route.backends.iter().filter(is_up).count();
        if up == 0 {
            return None;
        }
        let nth = route.next.fetch_add(1, Ordering::Relaxed) % up;
        let backend = route.backends.iter().filter(is_up).nth(nth)?;
        Some((Arc::clone(&route.app_id), backend.port))
    }

    /// As [`Routes::pick`], but the dyno on port `keep` when it is one of the app's and up: a
    /// client connection's requests stay with one dyno while they can.
    pub fn pick_keeping(&self, app: &str, keep: Option<u16>) -> Option<(Arc<str>, u16)> {
        if let Some(port) = keep {
            let table = self.lock();
            let route = table.by_name.get(app)?;
            if route
                .backends
                .iter()
                .any(|b| b.port == port && b.up.load(Ordering::Acquire))
            {
                return Some((Arc::clone(&route.app_id), port));
            }
        }
        self.pick(app)
    }

    /// Points the app's route at `backends`, replacing what it had, under the app's current name:
    /// the one it was last renamed to here, else `app.name`.
    pub fn set(&self, app: &AppRef, backends: Vec<Backend>) {
        let mut table = self.lock();
        let name = table
            .names
            .entry(app.id.clone())
            .or_insert_with(|| app.name().to_owned())
            .clone();
        table.by_name.insert(
            name,
            Route {
                app_id: Arc::from(app.id.as_str()),
                backends,
                next: AtomicUsize::new(0),
            },
        );
    }

    /// Moves the app's route to its new name (`paas apps:rename`); routes it publishes later go
    /// there too.
    pub fn rename(&self, app_id: &str, new: &str) {
        let mut table = self.lock();
        let old = table.names.insert(app_id.to_owned(), new.to_owned());
        if let Some(route) = old.and_then(|old| table.by_name.remove(&old)) {
            table.by_name.insert(new.to_owned(), route);
        }
    }

    /// Removes the app's route: its host answers 404.
    pub fn remove(&self, app_id: &str) {
        let mut table = self.lock();
        if let Some(name) = table.names.remove(app_id) {
            table.by_name.remove(&name);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
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
        routes.rename("id-1", "store");
        assert!(routes.pick("shop").is_none());
        assert_eq!(&*routes.pick("store").expect("renamed").0, "id-1");
        // A deploy that began before the rename publishes under the new name.
        routes.set(&app, vec![backend(4, true)]);
        assert!(routes.pick("shop").is_none());
        assert_eq!(routes.pick("store").expect("up").1, 4);
        routes.set(&app, vec![backend(4, false)]);
        assert!(routes.pick("store").is_none(), "no dyno up");
        routes.remove("id-1");
        assert!(routes.pick("store").is_none());
        // Renamed before its first deploy: the first route is under the new name.
        let other = AppRef {
            id: "id-2".to_owned(),
            name: paas_share::AppName::parse("old").expect("valid"),
        };
        routes.rename("id-2", "new");
        routes.set(&other, vec![backend(5, true)]);
        assert!(routes.pick("old").is_none());
        assert_eq!(routes.pick("new").expect("up").1, 5);
    }
}
