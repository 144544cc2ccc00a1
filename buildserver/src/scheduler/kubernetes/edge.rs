//! The paas router as the edge of apps on the cluster (`--k8s-edge router`, DESIGN §3.9): each
//! app's web Service `<app>-web` (and a canary's `<app>-web-canary`) is followed through its
//! EndpointSlices (`discovery.k8s.io/v1`, or `v1beta1` before Kubernetes 1.21; watched, as
//! kube-proxy and ingress controllers follow them), and their endpoints become the app's route in
//! the router: one backend per pod at `POD_IP:5000`, in rotation while the slice says the
//! endpoint is ready (an unknown readiness counts as ready, as the API asks of consumers). The
//! router then does for pods what it does for local dynos: TLS with the app's certificates,
//! limits and shedding, canary weights, passive health checks and metrics. No Ingress is made.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use super::manifests;
use crate::app::AppRef;
use crate::router::{Backend, Routes, Split};
use crate::scheduler::CANARY_TYPE;

/// The label EndpointSlices carry with the name of their Service.
const SERVICE_NAME: &str = "kubernetes.io/service-name";

/// The task following an app's EndpointSlices, and how to make it publish again.
type Follower = (tokio::task::JoinHandle<()>, Arc<tokio::sync::Notify>);

/// Follows apps' EndpointSlices into the router's route table.
pub struct RouterEdge {
    routes: Routes,
    /// Per app id: the task following its EndpointSlices, and how to make it publish again.
    followers: Mutex<HashMap<String, Follower>>,
    /// Per app id: the release and weight of its canary while one runs.
    canaries: Arc<Mutex<HashMap<String, (u32, u8)>>>,
    /// The EndpointSlice API the cluster serves, once looked up.
    api: tokio::sync::OnceCell<ApiResource>,
}

impl RouterEdge {
    pub fn new(routes: Routes) -> Self {
        Self {
            routes,
            followers: Mutex::default(),
            canaries: Arc::default(),
            api: tokio::sync::OnceCell::new(),
        }
    }

    /// The route table the router serves.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// `discovery.k8s.io/v1` (Kubernetes 1.21 on), else `v1beta1` (1.17 to 1.24), whose
    /// endpoints have the same `addresses`, `conditions.ready` and `targetRef`.
    async fn api(&self, client: &Client) -> anyhow::Result<ApiResource> {
        self.api
            .get_or_try_init(|| {
                super::served_api(
                    client,
                    ("discovery.k8s.io", &["v1", "v1beta1"]),
                    ("EndpointSlice", "endpointslices"),
                    "the cluster serves no discovery.k8s.io EndpointSlice API (Kubernetes 1.17 or later is needed for --k8s-edge router)",
                )
            })
            .await
            .cloned()
    }

    /// Starts following the app's EndpointSlices into its route, once per app.
    pub async fn follow(&self, client: &Client, app: &AppRef) -> anyhow::Result<()> {
        let resource = self.api(client).await?;
        let mut followers = self
            .followers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if followers
            .get(&app.id)
            .is_some_and(|(f, _)| !f.is_finished())
        {
            return Ok(());
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &manifests::namespace(app.name()), &resource);
        let nudge = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn(follow_slices(
            api,
            self.routes.clone(),
            app.clone(),
            Arc::clone(&self.canaries),
            Arc::clone(&nudge),
        ));
        followers.insert(app.id.clone(), (task, nudge));
        Ok(())
    }

    /// Sends `weight` percent of the app's clients to the canary of `release` (its Service's
    /// endpoints), or none when `None`.
    pub fn set_canary(&self, app: &AppRef, canary: Option<(u32, u8)>) {
        {
            let mut canaries = self.canaries.lock().unwrap_or_else(PoisonError::into_inner);
            match canary {
                Some(canary) => canaries.insert(app.id.clone(), canary),
                None => canaries.remove(&app.id),
            };
        }
        if let Some((_, nudge)) = self
            .followers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&app.id)
        {
            nudge.notify_one();
        }
    }

    /// Stops following the app and removes its route and edge.
    pub fn forget(&self, app: &AppRef) {
        if let Some((task, _)) = self
            .followers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&app.id)
        {
            task.abort();
        }
        self.canaries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&app.id);
        self.routes.remove(&app.id);
    }
}

/// Watches the EndpointSlices of the app's web and canary Services and publishes their endpoints
/// after each change (once the first listing is whole), and when nudged.
async fn follow_slices(
    api: Api<DynamicObject>,
    routes: Routes,
    app: AppRef,
    canaries: Arc<Mutex<HashMap<String, (u32, u8)>>>,
    nudge: Arc<tokio::sync::Notify>,
) {
    let web = manifests::deployment_name(app.name(), "web");
    let canary = manifests::deployment_name(app.name(), CANARY_TYPE);
    let selector = format!("{SERVICE_NAME} in ({web},{canary})");
    let events =
        watcher::watcher(api, watcher::Config::default().labels(&selector)).default_backoff();
    futures_util::pin_mut!(events);
    let mut slices: HashMap<String, DynamicObject> = HashMap::new();
    let mut listing: Option<HashMap<String, DynamicObject>> = None;
    // Each pod's rotation flag, kept while its address stays, so that the router keeps its
    // connections and its passive health across changes.
    let mut flags: HashMap<SocketAddr, Arc<AtomicBool>> = HashMap::new();
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => return,
                Some(Err(e)) => {
                    tracing::warn!(app = %app.name, error = %e, "cannot watch the app's EndpointSlices");
                    continue;
                }
                Some(Ok(Event::Init)) => {
                    listing = Some(HashMap::new());
                    continue;
                }
                Some(Ok(Event::InitApply(slice))) => {
                    listing.get_or_insert_with(HashMap::new).insert(slice.name_any(), slice);
                    continue;
                }
                Some(Ok(Event::InitDone)) => slices = listing.take().unwrap_or_default(),
                Some(Ok(Event::Apply(slice))) => {
                    slices.insert(slice.name_any(), slice);
                }
                Some(Ok(Event::Delete(slice))) => {
                    slices.remove(&slice.name_any());
                }
            },
            () = nudge.notified() => {}
        }
        let backends = |service: &str, flags: &mut HashMap<SocketAddr, Arc<AtomicBool>>| {
            slices
                .values()
                .filter(|s| label(s, SERVICE_NAME) == Some(service))
                .flat_map(|s| endpoints(&s.data))
                .map(|(pod, addr, ready)| {
                    let flag = flags
                        .entry(addr)
                        .or_insert_with(|| Arc::new(AtomicBool::new(ready)));
                    flag.store(ready, Ordering::Release);
                    Backend::new(pod, addr, Arc::clone(flag))
                })
                .collect::<Vec<_>>()
        };
        let mut kept = HashMap::new();
        let web_backends = backends(&web, &mut flags);
        let canary_backends = backends(&canary, &mut flags);
        for backend in web_backends.iter().chain(&canary_backends) {
            kept.insert(backend.addr, Arc::clone(&backend.up));
        }
        flags = kept;
        routes.set(&app, web_backends);
        let split = canaries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&app.id)
            .copied();
        routes.set_canary(
            &app,
            split.map(|(release, weight)| Split {
                release,
                weight,
                backends: canary_backends,
            }),
        );
    }
}

fn label<'a>(object: &'a DynamicObject, key: &str) -> Option<&'a str> {
    object
        .metadata
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The endpoints of an EndpointSlice (its `data`: `ports`, `endpoints`) as (pod name, address,
/// ready): each endpoint's first address at the slice's `http` port (else its only port, else
/// the container port paas gives web pods).
fn endpoints(slice: &Value) -> Vec<(String, SocketAddr, bool)> {
    let ports = slice["ports"].as_array();
    let port = ports
        .and_then(|p| {
            p.iter()
                .find(|p| p["name"] == "http")
                .or_else(|| (p.len() == 1).then(|| &p[0]))
        })
        .and_then(|p| p["port"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(manifests::CONTAINER_PORT);
    slice["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|endpoint| {
            let ip: IpAddr = endpoint["addresses"][0].as_str()?.parse().ok()?;
            let ready = endpoint["conditions"]["ready"].as_bool().unwrap_or(true);
            let pod = endpoint["targetRef"]["name"]
                .as_str()
                .map_or_else(|| ip.to_string(), str::to_owned);
            Some((pod, SocketAddr::new(ip, port), ready))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_endpoint_slice_becomes_pod_addresses_with_their_readiness() {
        let slice = json!({
            "addressType": "IPv4",
            "ports": [{ "name": "http", "port": 5000, "protocol": "TCP" }],
            "endpoints": [
                { "addresses": ["10.244.20.5"], "conditions": { "ready": true },
                  "targetRef": { "kind": "Pod", "name": "shop-web-abc" } },
                { "addresses": ["10.244.20.6"], "conditions": { "ready": false },
                  "targetRef": { "kind": "Pod", "name": "shop-web-def" } },
                { "addresses": ["10.244.20.7"], "conditions": {} },
                { "addresses": ["not an address"] },
            ],
        });
        assert_eq!(
            endpoints(&slice),
            [
                (
                    "shop-web-abc".to_owned(),
                    "10.244.20.5:5000".parse().expect("addr"),
                    true
                ),
                (
                    "shop-web-def".to_owned(),
                    "10.244.20.6:5000".parse().expect("addr"),
                    false
                ),
                (
                    "10.244.20.7".to_owned(),
                    "10.244.20.7:5000".parse().expect("addr"),
                    true
                ),
            ]
        );
        assert!(endpoints(&json!({ "endpoints": null })).is_empty());
    }
}
