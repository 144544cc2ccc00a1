//! The route table: each app's web dynos, as the local scheduler publishes them, and the
//! round-robin pick of the next one that is up; each app's edge (custom domains, certificates,
//! router settings), as the domains manager publishes it. Routes belong to app ids: a rename
//! moves the app's default hostname, and a deploy that began under the old name publishes under
//! the new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use paas_share::models::RouterSettings;
use rustls::sign::CertifiedKey;

use super::flow::Flow;
use crate::app::AppRef;

/// Each app's web dynos and edge, by hostname: what the router serves. Clones share one table.
#[derive(Clone, Default)]
pub struct Routes {
    table: Arc<Mutex<Table>>,
}

#[derive(Default)]
struct Table {
    /// App id → its web dynos.
    routes: HashMap<Arc<str>, Route>,
    /// App id → the name its default hostname is under (the app's current name), and back.
    names: HashMap<Arc<str>, String>,
    ids: HashMap<String, Arc<str>>,
    /// App id → its custom domains, certificates and settings.
    edges: HashMap<Arc<str>, Arc<Edge>>,
    /// Custom hostname (`www.example.com`) → app id.
    domains: HashMap<String, Arc<str>>,
    /// The parent of a wildcard custom domain (`example.com` for `*.example.com`) → app id.
    wildcards: HashMap<String, Arc<str>>,
}

/// A web dyno the router may send requests to: its name, its address (`127.0.0.1:PORT` for a
/// local dyno, `POD_IP:5000` for a pod), whether it is up now (its supervisor, or its pod's
/// readiness, keeps the flag; only dynos that are up get requests) and its health as the router
/// sees it from its responses.
#[derive(Debug)]
pub struct Backend {
    pub dyno: String,
    pub addr: std::net::SocketAddr,
    pub up: Arc<AtomicBool>,
    pub health: Health,
}

/// How many failed responses in a row (5xx, or none: refused, closed or reset) take a dyno out
/// of rotation.
pub const EJECT_AFTER: u32 = 5;
/// How long a dyno stays out of rotation; after it, one more failure takes it out again.
pub const EJECT_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// A dyno's passive health (as nginx's `max_fails`/`fail_timeout` and Envoy's outlier
/// detection): its failed responses in a row, and until when it is out of rotation.
#[derive(Debug, Default)]
pub struct Health {
    failures: AtomicU32,
    /// Milliseconds since the Unix epoch; 0 when in rotation.
    out_until_ms: AtomicU64,
}

/// What a response changed in a dyno's place in the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Taken out for [`EJECT_FOR`]: after [`EJECT_AFTER`] failures in a row, or (`again`) after
    /// one failure once back from a pause.
    Out { again: bool },
    /// A success after having been out: in rotation for good.
    Back,
}

impl Health {
    /// Counts a response of the dyno's: `ok` is false for a 5xx or no answer. A failure while
    /// it is out (tried because every dyno is) counts for nothing: its pause stands. Says when
    /// the response moved it out of the rotation or back.
    pub fn record(&self, ok: bool) -> Option<Turn> {
        if ok {
            if self.failures.load(Ordering::Relaxed) != 0 {
                self.failures.store(0, Ordering::Relaxed);
            }
            let was_out = self.out_until_ms.load(Ordering::Relaxed) != 0
                && self.out_until_ms.swap(0, Ordering::AcqRel) != 0;
            return was_out.then_some(Turn::Back);
        }
        if !self.in_rotation() {
            return None;
        }
        if self.failures.fetch_add(1, Ordering::AcqRel) + 1 < EJECT_AFTER {
            return None;
        }
        let until = now_ms() + EJECT_FOR.as_millis() as u64;
        let again = self.out_until_ms.swap(until, Ordering::AcqRel) != 0;
        // Back in rotation after the pause, one failure away from the next.
        self.failures.store(EJECT_AFTER - 1, Ordering::Release);
        Some(Turn::Out { again })
    }

    fn in_rotation(&self) -> bool {
        let until = self.out_until_ms.load(Ordering::Acquire);
        until == 0 || until <= now_ms()
    }
}

/// Milliseconds since the Unix epoch: when a dyno is back in rotation, and Heroku's
/// `X-Request-Start: t=<ms>` (APM agents subtract it from their own clock to tell the time a
/// request waited before the app took it).
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Backend {
    pub fn new(dyno: String, addr: std::net::SocketAddr, up: Arc<AtomicBool>) -> Backend {
        Backend {
            dyno,
            addr,
            up,
            health: Health::default(),
        }
    }

    fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }
}

/// Where an app's traffic goes: its web dynos, and a canary's while one runs.
struct Route {
    backends: Vec<Arc<Backend>>,
    next: AtomicUsize,
    canary: Option<CanaryRoute>,
}

/// A canary release's share of an app's requests, as the scheduler gives it to the router.
pub struct Split {
    /// The canary's release version.
    pub release: u32,
    /// The share of clients sent to the canary, in percent (0 to 100).
    pub weight: u8,
    /// The canary's web dynos.
    pub backends: Vec<Backend>,
}

struct CanaryRoute {
    release: u32,
    weight: u8,
    backends: Vec<Arc<Backend>>,
    next: AtomicUsize,
    /// Clients placed so far: the split spreads them evenly by count.
    placed: AtomicUsize,
}

/// The name of the cookie that keeps a client on one side of a canary split: `v5.1` (on canary
/// v5) or `v5.0` (on the baseline while v5 is the canary).
pub const CANARY_COOKIE: &str = "paas-canary";

/// Which side of a canary split a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// The canary's release version.
    pub release: u32,
    pub to_canary: bool,
    /// The client had no valid cookie for this canary: the response sets one.
    pub fresh: bool,
}

impl Placed {
    /// The `Set-Cookie` value that keeps the client on this side.
    pub fn cookie(&self) -> String {
        format!(
            "{CANARY_COOKIE}=v{}.{}; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax",
            self.release,
            u8::from(self.to_canary)
        )
    }
}

/// What the router does for an app beyond picking a dyno: its custom domains, the certificates
/// it serves them with and its settings.
#[derive(Default)]
pub struct Edge {
    pub domains: Vec<String>,
    pub certs: Vec<ServedCert>,
    pub settings: RouterSettings,
    /// Built from `settings` by [`Routes::set_edge`].
    pub flow: Option<Arc<Flow>>,
}

/// A certificate the router serves, with the DNS names it covers and when it is valid.
pub struct ServedCert {
    pub names: Vec<String>,
    pub key: Arc<CertifiedKey>,
    /// Uploaded (`paas certs:add`): served before an ACM one for the same name.
    pub manual: bool,
    /// Validity, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl Edge {
    /// The certificate served for `host` now: of those covering it and valid at `now` (unix
    /// seconds), an uploaded one before an ACM one, and the newest (last in `certs`) of either.
    pub fn certificate(&self, host: &str, now: i64) -> Option<&Arc<CertifiedKey>> {
        let serves = |c: &&ServedCert| {
            c.not_before <= now
                && now < c.not_after
                && c.names.iter().any(|n| name_matches(n, host))
        };
        let newest = |manual: bool| {
            self.certs
                .iter()
                .rev()
                .filter(serves)
                .find(|c| c.manual == manual)
        };
        Some(&newest(true).or_else(|| newest(false))?.key)
    }
}

/// Whether certificate name `pattern` (a DNS name, or `*.` and one) covers `host` (RFC 6125
/// §6.4.3: a wildcard stands for exactly one whole leftmost label).
pub fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == host,
    }
}

/// Where a request for a hostname goes: the app, its edge, the dyno picked (`None` when no web
/// dyno of the app is up), how many of its web and canary dynos are up, and the side of a canary
/// split it went to.
pub struct Routed {
    pub app_id: Arc<str>,
    pub edge: Option<Arc<Edge>>,
    pub backend: Option<Arc<Backend>>,
    pub up: usize,
    pub placed: Option<Placed>,
}

impl Routes {
    /// The app `host` (lowercase, no port or final dot) belongs to, by custom domain (exact, then
    /// wildcard) or as `<app><suffix>`, with the port of its next `up` web dyno in turn, or of
    /// the dyno on port `keep` when that is one of the app's and up (a client connection's
    /// requests stay with one dyno while they can). `None` if no app the table knows has it.
    pub fn route(
        &self,
        host: &str,
        suffix: &str,
        keep: Option<std::net::SocketAddr>,
        cookie: Option<&str>,
    ) -> Option<Routed> {
        let table = self.lock();
        let app_id = table.app_for(host, suffix)?;
        let route = table.routes.get(app_id);
        // The side this connection's dyno is on: a client without the cookie keeps its side
        // on its connection.
        let kept_side = route.and_then(|r| {
            let addr = keep?;
            let on = |backends: &[Arc<Backend>]| backends.iter().any(|b| b.addr == addr);
            let canary = r.canary.as_ref()?;
            if on(&canary.backends) {
                Some(true)
            } else {
                on(&r.backends).then_some(false)
            }
        });
        let placed = route.and_then(|r| r.place(cookie, kept_side));
        let backend = route.and_then(|route| {
            let (backends, next) = match (&route.canary, placed) {
                (Some(canary), Some(p)) if p.to_canary => (&canary.backends, &canary.next),
                _ => (&route.backends, &route.next),
            };
            keep.and_then(|addr| {
                backends
                    .iter()
                    .find(|b| b.addr == addr && b.is_up() && b.health.in_rotation())
                    .cloned()
            })
            .or_else(|| pick(backends, next))
        });
        Some(Routed {
            app_id: Arc::clone(app_id),
            edge: table.edges.get(app_id).cloned(),
            backend,
            up: route.map_or(0, |r| {
                let canary = r.canary.iter().flat_map(|c| &c.backends);
                r.backends
                    .iter()
                    .chain(canary)
                    .filter(|b| b.is_up())
                    .count()
            }),
            placed,
        })
    }

    /// The app's next web dyno in turn that is up (and in rotation, unless none is).
    pub fn pick(&self, app_id: &str) -> Option<Arc<Backend>> {
        let table = self.lock();
        let route = table.routes.get(app_id)?;
        pick(&route.backends, &route.next)
    }

    /// The certificate for `host`, if the app it belongs to has one covering it.
    pub fn certificate(&self, host: &str, suffix: &str) -> Option<Arc<CertifiedKey>> {
        let table = self.lock();
        let app_id = table.app_for(host, suffix)?;
        table
            .edges
            .get(app_id)?
            .certificate(host, crate::unix_now())
            .cloned()
    }

    /// Points the app's route at `backends`, replacing what it had, under the app's current name:
    /// the one it was last renamed to here, else `app.name`. A dyno it had already (the same
    /// `up` flag) keeps its health.
    pub fn set(&self, app: &AppRef, backends: Vec<Backend>) {
        let mut table = self.lock();
        let id = table.known(app);
        let before = table.routes.remove(&id);
        let backends = kept(backends, before.iter().flat_map(|r| &r.backends));
        table.routes.insert(
            id,
            Route {
                backends,
                next: AtomicUsize::new(0),
                canary: before.and_then(|r| r.canary),
            },
        );
    }

    /// Sends `split`'s share of the app's clients to its canary dynos, or (`None`) none.
    pub fn set_canary(&self, app: &AppRef, split: Option<Split>) {
        let mut table = self.lock();
        let id = table.known(app);
        let route = table.routes.entry(id).or_insert_with(|| Route {
            backends: Vec::new(),
            next: AtomicUsize::new(0),
            canary: None,
        });
        let before = route.canary.take();
        route.canary = split.map(|split| CanaryRoute {
            release: split.release,
            weight: split.weight.min(100),
            backends: kept(split.backends, before.iter().flat_map(|c| &c.backends)),
            next: AtomicUsize::new(0),
            placed: AtomicUsize::new(0),
        });
    }

    /// Replaces the app's edge: its custom domains route to it from now on, the ones it no
    /// longer has do not. Its flow control is built from its settings (the same limits keep
    /// their state).
    pub fn set_edge(&self, app: &AppRef, mut edge: Edge) {
        let mut table = self.lock();
        let id = table.known(app);
        let before = table.edges.get(&id).and_then(|e| e.flow.as_ref());
        edge.flow = Flow::new(&edge.settings, before);
        table.domains.retain(|_, owner| *owner != id);
        table.wildcards.retain(|_, owner| *owner != id);
        for domain in &edge.domains {
            match domain.strip_prefix("*.") {
                Some(parent) => table.wildcards.insert(parent.to_owned(), Arc::clone(&id)),
                None => table.domains.insert(domain.clone(), Arc::clone(&id)),
            };
        }
        table.edges.insert(id, Arc::new(edge));
    }

    /// Moves the app's default hostname to its new name (`paas apps:rename`, once the store has
    /// given the app that name); routes it publishes later go there too.
    pub fn rename(&self, app_id: &str, new: &str) {
        let mut table = self.lock();
        let id: Arc<str> = Arc::from(app_id);
        if let Some(old) = table.names.insert(Arc::clone(&id), new.to_owned()) {
            table.release(&old, &id);
        }
        table.ids.insert(new.to_owned(), id);
    }

    /// Removes the app's route and edge: its hostnames answer 404.
    pub fn remove(&self, app_id: &str) {
        let mut table = self.lock();
        if let Some(name) = table.names.remove(app_id) {
            table.release(&name, app_id);
        }
        table.routes.remove(app_id);
        table.edges.remove(app_id);
        table.domains.retain(|_, owner| &**owner != app_id);
        table.wildcards.retain(|_, owner| &**owner != app_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Table {
    /// The app's id as the table keys it, recording its name if the table did not know it. A
    /// name another app's route holds stays with it (an `AppRef` taken before a rename may carry
    /// a name that is another app's now); the app's own name, if it was let go, is taken back.
    fn known(&mut self, app: &AppRef) -> Arc<str> {
        if let Some((id, name)) = self.names.get_key_value(app.id.as_str()) {
            let id = Arc::clone(id);
            if !self.ids.contains_key(name) {
                self.ids.insert(name.clone(), Arc::clone(&id));
            }
            return id;
        }
        let id: Arc<str> = Arc::from(app.id.as_str());
        self.names.insert(Arc::clone(&id), app.name().to_owned());
        self.ids
            .entry(app.name().to_owned())
            .or_insert_with(|| Arc::clone(&id));
        id
    }

    /// Lets go of `name` as `id`'s hostname, if it is `id`'s.
    fn release(&mut self, name: &str, id: &str) {
        if self.ids.get(name).is_some_and(|holder| &**holder == id) {
            self.ids.remove(name);
        }
    }

    fn app_for(&self, host: &str, suffix: &str) -> Option<&Arc<str>> {
        if let Some(id) = self.domains.get(host) {
            return Some(id);
        }
        if let Some(id) = host
            .split_once('.')
            .and_then(|(_, parent)| self.wildcards.get(parent))
        {
            return Some(id);
        }
        self.ids.get(host.strip_suffix(suffix)?)
    }
}

/// `backends`, each as it was in `before` when it was there (the same `up` flag): a dyno keeps
/// its health across republishing.
fn kept<'a>(
    backends: Vec<Backend>,
    before: impl Iterator<Item = &'a Arc<Backend>> + Clone,
) -> Vec<Arc<Backend>> {
    backends
        .into_iter()
        .map(|backend| {
            before
                .clone()
                .find(|b| Arc::ptr_eq(&b.up, &backend.up))
                .cloned()
                .unwrap_or_else(|| Arc::new(backend))
        })
        .collect()
}

/// The next dyno in turn of those up and in rotation; of those up when none is in rotation
/// (a dyno that may answer beats none).
fn pick(backends: &[Arc<Backend>], next: &AtomicUsize) -> Option<Arc<Backend>> {
    let turn = next.fetch_add(1, Ordering::Relaxed);
    let nth = |usable: &dyn Fn(&Backend) -> bool| {
        let count = backends.iter().filter(|b| usable(b)).count();
        (count > 0)
            .then(|| backends.iter().filter(|b| usable(b)).nth(turn % count))
            .flatten()
    };
    nth(&|b| b.is_up() && b.health.in_rotation())
        .or_else(|| nth(&|b| b.is_up()))
        .cloned()
}

impl Route {
    /// The side of the canary split a client goes to, while a canary runs: the one its cookie
    /// (`v5.1`) names for this canary, else the one its connection's dyno is on (`kept_side`:
    /// a keep-alive client that ignores the cookie is still one client), else one by the
    /// weight, spread evenly over clients (the n-th goes to the canary when ⌊n·w/100⌋ grows).
    /// A canary with no dyno up gets none.
    fn place(&self, cookie: Option<&str>, kept_side: Option<bool>) -> Option<Placed> {
        let canary = self.canary.as_ref()?;
        let known = cookie
            .and_then(|c| c.strip_prefix('v')?.split_once('.'))
            .filter(|(release, _)| release.parse() == Ok(canary.release))
            .and_then(|(_, side)| match side {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            });
        let to_canary = known.or(kept_side).unwrap_or_else(|| {
            let n = canary.placed.fetch_add(1, Ordering::Relaxed);
            let weight = usize::from(canary.weight);
            (n + 1) * weight / 100 > n * weight / 100
        });
        let up = canary.backends.iter().any(|b| b.is_up());
        Some(Placed {
            release: canary.release,
            to_canary: to_canary && up,
            fresh: known.is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUFFIX: &str = ".apps.test";

    fn local(port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn port(routes: &Routes, host: &str) -> Option<u16> {
        Some(routes.route(host, SUFFIX, None, None)?.backend?.addr.port())
    }

    #[test]
    fn picks_up_backends_in_turn() {
        let routes = Routes::default();
        let app = AppRef {
            id: "id-1".to_owned(),
            name: paas_share::AppName::parse("shop").expect("valid"),
        };
        let backend = |port, up| {
            Backend::new(
                format!("web.{port}"),
                local(port),
                Arc::new(AtomicBool::new(up)),
            )
        };
        routes.set(
            &app,
            vec![backend(1, true), backend(2, false), backend(3, true)],
        );
        let picks: Vec<u16> = (0..4)
            .map(|_| port(&routes, "shop.apps.test").expect("up"))
            .collect();
        assert_eq!(picks, [1, 3, 1, 3]);
        assert_eq!(
            routes
                .route("shop.apps.test", SUFFIX, Some(local(3)), None)
                .and_then(|r| r.backend)
                .map(|b| b.addr.port()),
            Some(3),
            "a kept dyno that is up"
        );
        routes.rename("id-1", "store");
        assert!(routes.route("shop.apps.test", SUFFIX, None, None).is_none());
        assert_eq!(
            &*routes
                .route("store.apps.test", SUFFIX, None, None)
                .expect("renamed")
                .app_id,
            "id-1"
        );
        // A deploy that began before the rename publishes under the new name.
        routes.set(&app, vec![backend(4, true)]);
        assert!(routes.route("shop.apps.test", SUFFIX, None, None).is_none());
        assert_eq!(port(&routes, "store.apps.test"), Some(4));
        routes.set(&app, vec![backend(4, false)]);
        assert_eq!(port(&routes, "store.apps.test"), None, "no dyno up");
        routes.remove("id-1");
        assert!(
            routes
                .route("store.apps.test", SUFFIX, None, None)
                .is_none()
        );
        // Renamed before its first deploy: the first route is under the new name.
        let other = AppRef {
            id: "id-2".to_owned(),
            name: paas_share::AppName::parse("old").expect("valid"),
        };
        routes.rename("id-2", "new");
        routes.set(&other, vec![backend(5, true)]);
        assert!(routes.route("old.apps.test", SUFFIX, None, None).is_none());
        assert_eq!(port(&routes, "new.apps.test"), Some(5));
    }

    #[test]
    fn failing_dynos_leave_the_rotation_for_a_while() {
        let routes = Routes::default();
        let app = AppRef {
            id: "id-1".to_owned(),
            name: paas_share::AppName::parse("shop").expect("valid"),
        };
        let up = || Arc::new(AtomicBool::new(true));
        let (one, two) = (up(), up());
        routes.set(
            &app,
            vec![
                Backend::new("web.1".to_owned(), local(1), Arc::clone(&one)),
                Backend::new("web.2".to_owned(), local(2), Arc::clone(&two)),
            ],
        );
        let bad = routes.pick("id-1").expect("up");
        let turns: Vec<Option<Turn>> = (0..EJECT_AFTER).map(|_| bad.health.record(false)).collect();
        assert_eq!(turns.iter().flatten().count(), 1);
        assert_eq!(
            turns[EJECT_AFTER as usize - 1],
            Some(Turn::Out { again: false }),
            "on the last failure in a row"
        );
        // Tried while out: nothing more to say.
        assert_eq!(bad.health.record(false), None);
        for _ in 0..4 {
            assert_ne!(port(&routes, "shop.apps.test"), Some(bad.addr.port()));
        }
        // Republished (a scale): the same dyno keeps its health.
        routes.set(
            &app,
            vec![
                Backend::new("web.1".to_owned(), local(1), one),
                Backend::new("web.2".to_owned(), local(2), two),
            ],
        );
        assert_ne!(port(&routes, "shop.apps.test"), Some(bad.addr.port()));
        // When every dyno is out, they are all tried.
        let good = routes.pick("id-1").expect("up");
        for _ in 0..EJECT_AFTER {
            good.health.record(false);
        }
        assert!(port(&routes, "shop.apps.test").is_some());
        // A success in between starts the count again; one after a pause puts it back.
        let health = Health::default();
        for _ in 0..EJECT_AFTER - 1 {
            assert_eq!(health.record(false), None);
        }
        assert_eq!(health.record(true), None);
        assert_eq!(health.record(false), None);
        assert_eq!(bad.health.record(true), Some(Turn::Back));
        assert_eq!(bad.health.record(true), None);
    }

    #[test]
    fn a_canary_gets_its_share_and_clients_stay_on_their_side() {
        let routes = Routes::default();
        let app = AppRef {
            id: "id-1".to_owned(),
            name: paas_share::AppName::parse("shop").expect("valid"),
        };
        let up = || Arc::new(AtomicBool::new(true));
        routes.set(&app, vec![Backend::new("web.1".to_owned(), local(1), up())]);
        let canary_up = up();
        routes.set_canary(
            &app,
            Some(Split {
                release: 5,
                weight: 20,
                backends: vec![Backend::new(
                    "canary.1".to_owned(),
                    local(9),
                    Arc::clone(&canary_up),
                )],
            }),
        );
        let routed: Vec<Routed> = (0..100)
            .map(|_| {
                routes
                    .route("shop.apps.test", SUFFIX, None, None)
                    .expect("routed")
            })
            .collect();
        let to_canary = routed
            .iter()
            .filter(|r| r.placed.is_some_and(|p| p.to_canary && p.fresh))
            .count();
        assert_eq!(to_canary, 20, "exactly the weight, spread over clients");
        assert!(routed.iter().all(|r| {
            let port = r.backend.as_ref().expect("a dyno").addr.port();
            port == if r.placed.expect("placed").to_canary {
                9
            } else {
                1
            }
        }));
        // A cookie for this canary keeps its side; one for another canary is placed afresh.
        let on = routes
            .route("shop.apps.test", SUFFIX, None, Some("v5.1"))
            .expect("routed");
        assert_eq!(
            on.placed.map(|p| (p.to_canary, p.fresh)),
            Some((true, false))
        );
        assert_eq!(on.backend.map(|b| b.addr.port()), Some(9));
        let old = routes
            .route("shop.apps.test", SUFFIX, None, Some("v4.1"))
            .expect("routed");
        assert!(old.placed.is_some_and(|p| p.fresh));
        // A client without the cookie stays on the side of its connection's dyno (and is told
        // its side again), without taking a turn of the split: 101 were placed (the 100 new
        // clients and the one with another canary's cookie).
        for (kept, port) in [(9, 9), (1, 1)] {
            for _ in 0..10 {
                let again = routes
                    .route("shop.apps.test", SUFFIX, Some(local(kept)), None)
                    .expect("routed");
                assert_eq!(
                    again.placed.map(|p| (p.to_canary, p.fresh)),
                    Some((port == 9, true))
                );
                assert_eq!(again.backend.map(|b| b.addr.port()), Some(port));
            }
        }
        let placed = routes.lock().routes["id-1"]
            .canary
            .as_ref()
            .expect("a canary")
            .placed
            .load(Ordering::Relaxed);
        assert_eq!(placed, 101);
        // A republished baseline keeps the canary; a canary with no dyno up gets nothing.
        routes.set(&app, vec![Backend::new("web.1".to_owned(), local(1), up())]);
        canary_up.store(false, Ordering::Release);
        let down = routes
            .route("shop.apps.test", SUFFIX, None, Some("v5.1"))
            .expect("routed");
        assert_eq!(down.placed.map(|p| p.to_canary), Some(false));
        assert_eq!(down.backend.map(|b| b.addr.port()), Some(1));
        routes.set_canary(&app, None);
        assert!(
            routes
                .route("shop.apps.test", SUFFIX, None, None)
                .expect("routed")
                .placed
                .is_none()
        );
    }

    #[test]
    fn another_apps_stale_name_neither_takes_nor_removes_a_hostname() {
        let routes = Routes::default();
        let shop = AppRef {
            id: "id-1".to_owned(),
            name: paas_share::AppName::parse("shop").expect("valid"),
        };
        let up = || Arc::new(AtomicBool::new(true));
        routes.set(&shop, vec![Backend::new("web.1".into(), local(1), up())]);
        // Another app's route published under a name that is not its own (an `AppRef` taken
        // before a rename), then removed: `shop` stays where it is.
        let stale = AppRef {
            id: "id-3".to_owned(),
            name: paas_share::AppName::parse("shop").expect("valid"),
        };
        routes.set(&stale, vec![Backend::new("web.1".into(), local(3), up())]);
        assert_eq!(port(&routes, "shop.apps.test"), Some(1), "not taken");
        routes.remove("id-3");
        assert_eq!(port(&routes, "shop.apps.test"), Some(1), "not removed");
        // A rename away and back (a scheduler that refused it) leaves the name with its app.
        routes.rename("id-1", "store");
        routes.rename("id-1", "shop");
        assert_eq!(port(&routes, "shop.apps.test"), Some(1));
        assert!(
            routes
                .route("store.apps.test", SUFFIX, None, None)
                .is_none()
        );
    }

    #[test]
    fn custom_domains_route_to_their_app() {
        let routes = Routes::default();
        let app = AppRef {
            id: "id-1".to_owned(),
            name: paas_share::AppName::parse("shop").expect("valid"),
        };
        routes.set_edge(
            &app,
            Edge {
                domains: vec!["www.example.com".to_owned(), "*.example.org".to_owned()],
                ..Edge::default()
            },
        );
        for host in ["www.example.com", "a.example.org", "shop.apps.test"] {
            let routed = routes.route(host, SUFFIX, None, None).expect(host);
            assert_eq!(&*routed.app_id, "id-1");
            assert!(routed.backend.is_none(), "no dyno yet");
        }
        for host in [
            "example.com",
            "example.org",
            "a.b.example.org",
            "www.example.net",
        ] {
            assert!(routes.route(host, SUFFIX, None, None).is_none(), "{host}");
        }
        routes.set_edge(&app, Edge::default());
        assert!(
            routes
                .route("www.example.com", SUFFIX, None, None)
                .is_none()
        );
    }

    #[test]
    fn wildcards_match_one_label() {
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(name_matches("www.example.com", "www.example.com"));
        assert!(!name_matches("www.example.com", "example.com"));
    }
}
