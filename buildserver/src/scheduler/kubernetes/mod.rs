//! The Kubernetes scheduler (DESIGN §3.9): each app is a namespace `paas-<app>` with a
//! Deployment per process type, an immutable Secret of config vars per release, and a Service and
//! an Ingress for `web`, all written with server-side apply (field manager `paas`). Replicas
//! always come from the formation. A deploy waits for every Deployment's rollout the way
//! `kubectl rollout status` judges it; a rollout that exceeds its progress deadline fails the
//! release, and (unless `--auto-rollback false`) the previous release's objects are applied again.
//! `ps` reads the pods, `restart` annotates the pod template (or deletes one pod), `logs` follows
//! the pods' logs into the app's log, `destroy` deletes the namespace. A release phase is a Job
//! (`release-N`: the release's image by digest and config Secret, `backoffLimit: 0`,
//! `activeDeadlineSeconds` from `--release-timeout`) awaited before the Deployments are applied;
//! its pod's log is streamed while it runs, and it stays until the next release phase.

mod attach;
mod build;
pub mod edge;
pub mod manifests;
mod service_task;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::{Deployment as KubeDeployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Api, Client};
use paas_share::AppName;
use paas_share::models::AutoscaleRule;
use serde_json::{Value, json};

use self::manifests::{ClusterSettings, MANAGED_BY, ONE_OFF, PROCESS_TYPE, RELEASE, RESTARTED_AT};
use super::{Deployment, Scheduler};
use crate::app::AppRef;
use crate::container::{Exit, Outcome};
use crate::logs::Logs;

/// Per-release Secrets kept besides the ones ReplicaSets still use.
const KEEP_SECRETS: usize = 5;

/// How a Deployment's rollout stands, judged as `kubectl rollout status` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    Complete,
    /// Still going; what it waits for.
    Progressing(String),
    Failed(String),
}

/// kubectl's algorithm: the controller has seen this generation; the deadline has not passed;
/// every replica is updated and available and no old one is left.
pub fn rollout(deployment: &KubeDeployment) -> Rollout {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let Some(status) = &deployment.status else {
        return Rollout::Progressing("waiting for the deployment controller".into());
    };
    if status.observed_generation.unwrap_or(0) < generation {
        return Rollout::Progressing("waiting for the deployment controller".into());
    }
    if let Some(condition) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Progressing")
        && condition.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return Rollout::Failed(format!(
            "progress deadline exceeded: {}",
            condition.message.as_deref().unwrap_or("no message")
        ));
    }
    // The ReplicaSet cannot make the pods at all (a quota, a LimitRange, an admission webhook):
    // the controller would retry until the deadline with the same answer.
    if let Some(condition) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
    {
        return Rollout::Failed(format!(
            "the cluster refused its pods ({}): {}",
            condition.reason.as_deref().unwrap_or("ReplicaFailure"),
            condition.message.as_deref().unwrap_or("no message")
        ));
    }
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        Rollout::Progressing(format!("{updated} of {wanted} new replicas updated"))
    } else if replicas > updated {
        Rollout::Progressing(format!(
            "{} old replicas pending termination",
            replicas - updated
        ))
    } else if available < updated {
        Rollout::Progressing(format!(
            "{available} of {updated} updated replicas available"
        ))
    } else {
        Rollout::Complete
    }
}

pub struct KubernetesScheduler {
    client: Client,
    settings: ClusterSettings,
    /// `(registry host, username, password)` for the image-pull Secret.
    pull_credentials: Option<(String, String, String)>,
    logs: Logs,
    /// The last deployment that rolled out per app id: what a failed rollout goes back to.
    deployed: Mutex<HashMap<String, Deployment>>,
    operations: super::AppLocks,
    destroying: super::Destroying,
    /// Per app id, the task that follows its pods' logs into the app's log.
    log_followers: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// Per app id, the edge it was last given: its Ingress's domains and TLS.
    edges: Mutex<HashMap<String, super::EdgeSpec>>,
    /// Per app id, the weight of its canary while one runs (its Ingress follows edge changes).
    canaries: Mutex<HashMap<String, u8>>,
    /// Per app id, its autoscaling rules: their types' replicas belong to their
    /// HorizontalPodAutoscalers.
    autoscaling: Mutex<HashMap<String, Vec<AutoscaleRule>>>,
    /// The cluster's HorizontalPodAutoscaler API, once looked up.
    autoscaling_api: tokio::sync::OnceCell<ApiResource>,
    /// With `--k8s-edge router`: the paas router serves the apps, from their EndpointSlices,
    /// and no Ingress is made.
    router_edge: Option<edge::RouterEdge>,
}

impl KubernetesScheduler {
    /// Connects with the kubeconfig at `kubeconfig`, else `KUBECONFIG` or `~/.kube/config`, else
    /// the in-cluster service account. With `routes` (`--k8s-edge router`) apps are served by the
    /// router from that route table instead of an Ingress each.
    pub async fn connect(
        kubeconfig: Option<&std::path::Path>,
        settings: ClusterSettings,
        pull_credentials: Option<(String, String, String)>,
        logs: Logs,
        routes: Option<crate::router::Routes>,
    ) -> anyhow::Result<Self> {
        let config = match kubeconfig {
            Some(path) => {
                let file = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                    .await
                    .with_context(|| format!("invalid kubeconfig {}", path.display()))?
            }
            None => kube::Config::infer()
                .await
                .context("no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a cluster")?,
        };
        let client = Client::try_from(config).context("cannot make a Kubernetes client")?;
        Ok(Self {
            client,
            settings,
            pull_credentials,
            logs,
            deployed: Mutex::new(HashMap::new()),
            log_followers: Mutex::new(HashMap::new()),
            edges: Mutex::new(HashMap::new()),
            canaries: Mutex::default(),
            autoscaling: Mutex::new(HashMap::new()),
            autoscaling_api: tokio::sync::OnceCell::new(),
            operations: super::AppLocks::default(),
            destroying: super::Destroying::default(),
            router_edge: routes.map(edge::RouterEdge::new),
        })
    }

    /// Starts following the app's pods' logs, once per app: every pod that runs gets a follower
    /// that writes its lines as `app[web.1]`.
    fn follow_logs(&self, app: &AppRef) {
        let app_id = app.id.as_str();
        let mut followers = self
            .log_followers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if followers.get(app_id).is_some_and(|f| !f.is_finished()) {
            return;
        }
        let pods: Api<Pod> =
            Api::namespaced(self.client.clone(), &manifests::namespace(app.name()));
        let (logs, app_id_owned) = (self.logs.clone(), app_id.to_owned());
        let task = tokio::spawn(async move {
            let mut following: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
            loop {
                following.retain(|_, task| !task.is_finished());
                if let Ok(list) = pods.list(&ListParams::default().labels(&dyno_pods())).await {
                    for (pod, dyno) in dynos_of_pods(list.items) {
                        let Some(name) = dyno.pod.clone() else {
                            continue;
                        };
                        if following.contains_key(&name) || dyno.state != "up" {
                            continue;
                        }
                        let (pods, logs, app_id) =
                            (pods.clone(), logs.clone(), app_id_owned.clone());
                        let follower = tokio::spawn(async move {
                            follow_pod(&pods, &pod, &logs, &app_id, &dyno.name).await;
                        });
                        following.insert(name, follower);
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        followers.insert(app_id.to_owned(), task);
    }

    fn deployments(&self, app: &str) -> Api<KubeDeployment> {
        Api::namespaced(self.client.clone(), &manifests::namespace(app))
    }

    /// Creates the app's namespace, or checks that the one there is ours.
    async fn ensure_namespace(&self, app: &str) -> anyhow::Result<()> {
        let name = manifests::namespace(app);
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        if let Some(existing) = namespaces
            .get_opt(&name)
            .await
            .with_context(|| format!("cannot read namespace {name}"))?
        {
            let ours = existing
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(MANAGED_BY))
                .is_some_and(|v| v == "paas");
            if !ours {
                bail!(
                    "namespace {name} exists but was not created by paas (no {MANAGED_BY}=paas label); \
                     paas will not touch it"
                );
            }
        }
        apply(&namespaces, &name, &manifests::namespace_object(app)).await
    }

    /// The app's namespace (checked to be ours) and the registry's pull Secret: what every pod
    /// of the app needs.
    async fn prepare_namespace(&self, app: &str) -> anyhow::Result<()> {
        self.ensure_namespace(app).await?;
        if let Some((host, username, password)) = &self.pull_credentials {
            let secrets: Api<Secret> =
                Api::namespaced(self.client.clone(), &manifests::namespace(app));
            let secret = manifests::pull_secret(app, host, username, password);
            apply(&secrets, manifests::PULL_SECRET, &secret).await?;
        }
        Ok(())
    }

    /// Applies what every pod of the release needs: the app's namespace, the registry's pull
    /// Secret, and the release's config Secret.
    async fn apply_config(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let app = deployment.app.name();
        self.prepare_namespace(app).await?;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &manifests::namespace(app));
        let name = manifests::secret_name(app, deployment.release);
        // Immutable: applying it again with the same data is a no-op, with other data an error.
        apply(&secrets, &name, &manifests::config_secret(deployment)).await
    }

    /// The app's autoscaling rule for `process_type`, if it has one the cluster follows (a
    /// HorizontalPodAutoscaler's: see [`Scheduler::autoscales`]).
    fn rule(&self, app_id: &str, process_type: &str) -> Option<AutoscaleRule> {
        self.rules(app_id)
            .into_iter()
            .find(|r| r.process_type == process_type)
    }

    /// The app's autoscaling rules as last published that the cluster follows.
    fn rules(&self, app_id: &str) -> Vec<AutoscaleRule> {
        self.autoscaling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(app_id)
            .into_iter()
            .flatten()
            .filter(|r| self.autoscales(&r.settings))
            .cloned()
            .collect()
    }

    /// The cluster's HorizontalPodAutoscaler API: `autoscaling/v2` (Kubernetes 1.23 on), else
    /// `autoscaling/v2beta2` (1.12 to 1.25), which has the same fields; looked up once.
    async fn autoscaling_api(&self) -> anyhow::Result<ApiResource> {
        self.autoscaling_api
            .get_or_try_init(|| {
                served_api(
                    &self.client,
                    ("autoscaling", &["v2", "v2beta2"]),
                    ("HorizontalPodAutoscaler", "horizontalpodautoscalers"),
                    "the cluster serves no autoscaling/v2 or v2beta2 API for HorizontalPodAutoscalers",
                )
            })
            .await
            .cloned()
    }

    /// Applies a HorizontalPodAutoscaler per rule and deletes the app's others. The caller has
    /// made the namespace.
    async fn apply_autoscalers(&self, app: &AppRef, rules: &[AutoscaleRule]) -> anyhow::Result<()> {
        let app = app.name();
        let resource = self.autoscaling_api().await?;
        let autoscalers: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &manifests::namespace(app), &resource);
        for rule in rules {
            let object = manifests::autoscaler_object(
                &resource.api_version,
                app,
                &rule.process_type,
                &rule.settings,
            );
            apply(
                &autoscalers,
                &manifests::deployment_name(app, &rule.process_type),
                &object,
            )
            .await?;
        }
        let existing = autoscalers
            .list(&ListParams::default().labels(&format!("{MANAGED_BY}=paas")))
            .await
            .context("cannot list the app's horizontal pod autoscalers")?;
        for gone in existing.items.iter().filter(|a| {
            let process_type = a.metadata.labels.as_ref().and_then(|l| l.get(PROCESS_TYPE));
            process_type.is_none_or(|t| !rules.iter().any(|r| r.process_type == *t))
        }) {
            if let Some(name) = &gone.metadata.name {
                autoscalers
                    .delete(name, &DeleteParams::default())
                    .await
                    .with_context(|| format!("cannot delete horizontal pod autoscaler {name}"))?;
            }
        }
        Ok(())
    }

    /// Applies every object of `deployment`: replicas from its formation, or for an autoscaled
    /// type what its autoscaler chose (within the range).
    async fn apply_all(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let app = deployment.app.name();
        self.apply_config(deployment).await?;
        let namespace = manifests::namespace(app);
        let deployments = self.deployments(app);
        for process_type in deployment.process_types.keys() {
            let mut replicas = deployment.formation.get(process_type).copied().unwrap_or(0);
            if let Some(rule) = self.rule(&deployment.app.id, process_type) {
                let name = manifests::deployment_name(app, process_type);
                let live = deployments
                    .get_opt(&name)
                    .await
                    .with_context(|| format!("cannot read deployment {name}"))?
                    .and_then(|d| d.spec?.replicas)
                    .and_then(|r| u32::try_from(r).ok());
                replicas = live
                    .unwrap_or(rule.settings.min)
                    .clamp(rule.settings.min, rule.settings.max);
            }
            let object =
                manifests::deployment_object(deployment, &self.settings, process_type, replicas);
            apply(
                &deployments,
                &manifests::deployment_name(app, process_type),
                &object,
            )
            .await?;
        }
        // Process types the release no longer has.
        let existing = deployments
            .list(&ListParams::default().labels(&format!("{MANAGED_BY}=paas")))
            .await
            .context("cannot list the app's deployments")?;
        // A canary's Deployment is the canary's to remove (after a promotion has rolled out).
        for gone in existing.items.iter().filter(|d| {
            let process_type = d.metadata.labels.as_ref().and_then(|l| l.get(PROCESS_TYPE));
            process_type.is_none_or(|t| {
                t != super::CANARY_TYPE && !deployment.process_types.contains_key(t)
            })
        }) {
            if let Some(name) = &gone.metadata.name {
                deployments
                    .delete(name, &DeleteParams::default())
                    .await
                    .with_context(|| format!("cannot delete deployment {name}"))?;
            }
        }
        // Apps without autoscaling never touch HorizontalPodAutoscalers (nor need the grant).
        let rules = self.rules(&deployment.app.id);
        if !rules.is_empty() {
            self.apply_autoscalers(&deployment.app, &rules).await?;
        }
        if deployment.process_types.contains_key("web") {
            let services = Api::<k8s_openapi::api::core::v1::Service>::namespaced(
                self.client.clone(),
                &namespace,
            );
            apply(
                &services,
                &manifests::deployment_name(app, "web"),
                &manifests::service_object(app, "web"),
            )
            .await?;
            if let Some(router) = &self.router_edge {
                router.follow(&self.client, &deployment.app).await?;
                return Ok(());
            }
            let edge = self
                .edges
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&deployment.app.id)
                .cloned()
                .unwrap_or_default();
            self.apply_ingress(&deployment.app, &edge).await?;
        }
        Ok(())
    }

    /// Applies the app's canary Ingress at `weight` percent, for the app's hosts as last published.
    async fn apply_canary_ingress(&self, app: &AppRef, weight: u8) -> anyhow::Result<()> {
        let edge = self
            .edges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&app.id)
            .cloned()
            .unwrap_or_default();
        let ingresses = Api::<k8s_openapi::api::networking::v1::Ingress>::namespaced(
            self.client.clone(),
            &manifests::namespace(app.name()),
        );
        apply(
            &ingresses,
            &manifests::canary_ingress_name(app.name()),
            &manifests::canary_ingress_object(app.name(), &self.settings, &edge, weight),
        )
        .await
    }

    /// Deletes the app's canary: its Ingress first (no more requests go to it), then its Service
    /// and Deployment. What is not there is skipped; other failures are logged.
    async fn remove_canary(&self, app: &AppRef) {
        self.canaries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&app.id);
        if let Some(router) = &self.router_edge {
            router.set_canary(app, None);
        }
        let namespace = manifests::namespace(app.name());
        let name = manifests::deployment_name(app.name(), super::CANARY_TYPE);
        let ingresses = Api::<k8s_openapi::api::networking::v1::Ingress>::namespaced(
            self.client.clone(),
            &namespace,
        );
        let services =
            Api::<k8s_openapi::api::core::v1::Service>::namespaced(self.client.clone(), &namespace);
        let deleted = [
            ingresses
                .delete(
                    &manifests::canary_ingress_name(app.name()),
                    &DeleteParams::default(),
                )
                .await
                .map(|_| ()),
            services
                .delete(&name, &DeleteParams::default())
                .await
                .map(|_| ()),
            self.deployments(app.name())
                .delete(&name, &DeleteParams::default())
                .await
                .map(|_| ()),
        ];
        for result in deleted {
            match result {
                Ok(()) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => {
                    tracing::warn!(app = %app.name, error = %e, "cannot delete the canary's objects");
                }
            }
        }
    }

    /// Applies the app's Ingress for `edge`, with the Secrets of its uploaded certificates first.
    async fn apply_ingress(&self, app: &AppRef, edge: &super::EdgeSpec) -> anyhow::Result<()> {
        let namespace = manifests::namespace(app.name());
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        for cert in edge.certs.iter().filter(|c| c.manual) {
            apply(
                &secrets,
                &manifests::tls_secret_name(app.name(), &cert.name),
                &manifests::tls_secret(app.name(), cert),
            )
            .await?;
        }
        let ingresses = Api::<k8s_openapi::api::networking::v1::Ingress>::namespaced(
            self.client.clone(),
            &namespace,
        );
        apply(
            &ingresses,
            app.name(),
            &manifests::ingress_object(app.name(), &self.settings, edge),
        )
        .await
    }

    /// Waits until every Deployment of the app has rolled out, or one fails, watching each and
    /// its pods and writing its progress to the app's log as it changes. A pod made since the
    /// rollout began that cannot start for good ([`PodFaults::judge`]: its image pull fails again
    /// after a back-off, it crashes as it starts) fails the rollout at once, naming the pod and the node's reason; a
    /// rollout past its deadline says what its newest pod was waiting for. `began` is from
    /// [`rollout_began`], taken before the rollout's objects were applied. It fails at once when
    /// the app is being destroyed ([`super::Destroying`]): its namespace goes anyway.
    async fn await_rollouts(
        &self,
        deployment: &Deployment,
        began: k8s_openapi::jiff::Timestamp,
    ) -> anyhow::Result<()> {
        let watched = self.watch_rollouts(deployment, began);
        match self.destroying.unless(&deployment.app.id, watched).await {
            Some(rolled_out) => rolled_out,
            None => bail!("the app is being destroyed"),
        }
    }

    async fn watch_rollouts(
        &self,
        deployment: &Deployment,
        began: k8s_openapi::jiff::Timestamp,
    ) -> anyhow::Result<()> {
        use futures_util::{StreamExt, TryStreamExt};
        use kube::runtime::WatchStreamExt;
        let app = deployment.app.name();
        let deployments = self.deployments(app);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &manifests::namespace(app));
        let pod_events: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.client.clone(), &manifests::namespace(app));
        // The cluster fails a stuck rollout at its deadline; the margin covers its reaction.
        let limit = Duration::from_secs(u64::from(self.settings.progress_deadline_seconds) + 60);
        let deadline = tokio::time::Instant::now() + limit;
        for process_type in deployment.process_types.keys() {
            let name = manifests::deployment_name(app, process_type);
            let events = kube::runtime::watcher::watch_object(deployments.clone(), &name);
            let selector = format!("{}={app},{PROCESS_TYPE}={process_type}", manifests::NAME);
            let pod_changes = kube::runtime::watcher(
                pods.clone(),
                kube::runtime::watcher::Config::default().labels(&selector),
            )
            .applied_objects()
            .fuse();
            futures_util::pin_mut!(events, pod_changes);
            // While a pod backs off a failed pull, its events are read now and then: the pod's
            // own status may never show the next failure (see `PodFaults::pull_failed_again`).
            let mut ask_events = tokio::time::interval(Duration::from_secs(2));
            let mut reported = String::new();
            // What the newest pod of this rollout waits for, for a deadline's message.
            let mut waiting: Option<String> = None;
            let mut faults = PodFaults::default();
            let failed = |why: String, waiting: &Option<String>| match waiting {
                Some(pod) => anyhow::anyhow!("{process_type} did not roll out: {why} ({pod})"),
                None => anyhow::anyhow!("{process_type} did not roll out: {why}"),
            };
            loop {
                let next = tokio::time::timeout_at(deadline, async {
                    tokio::select! {
                        event = events.try_next() => Some(Ok(event)),
                        Some(pod) = pod_changes.next() => Some(Err(pod)),
                        _ = ask_events.tick(), if faults.backing_off() => None,
                    }
                });
                let event = match next.await {
                    Err(_) => {
                        let why = format!("it did not settle within {}s", limit.as_secs());
                        return Err(failed(why, &waiting));
                    }
                    Ok(None) => {
                        if let Some((pod_name, fault)) = faults.pull_failed_again(&pod_events).await
                        {
                            bail!("{process_type} did not roll out: pod {pod_name}: {fault}");
                        }
                        continue;
                    }
                    Ok(Some(Err(Ok(pod)))) => {
                        let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
                        if pod.metadata.deletion_timestamp.is_some()
                            || created.is_none_or(|t| t < began)
                        {
                            continue;
                        }
                        let pod_name = pod.metadata.name.clone().unwrap_or_default();
                        if let Some(fault) = faults.judge(&pod) {
                            let output = last_output(&pods, &pod_name).await;
                            bail!(
                                "{process_type} did not roll out: pod {pod_name}: {fault}{output}"
                            );
                        }
                        if let Some(why) = pod.status.as_ref().and_then(not_ready_reason) {
                            waiting = Some(format!("pod {pod_name}: {why}"));
                        }
                        continue;
                    }
                    // A failed pod watch (say, no right to watch pods): the Deployment's own
                    // status still settles the rollout.
                    Ok(Some(Err(Err(e)))) => {
                        tracing::debug!(error = %e, "cannot watch the rollout's pods");
                        continue;
                    }
                    Ok(Some(Ok(event))) => {
                        event.with_context(|| format!("cannot watch deployment {name}"))?
                    }
                };
                let Some(Some(live)) = event else {
                    bail!("deployment {name} disappeared during its rollout");
                };
                match rollout(&live) {
                    Rollout::Complete => break,
                    Rollout::Failed(why) => return Err(failed(why, &waiting)),
                    Rollout::Progressing(what) => {
                        if what != reported {
                            self.logs.emit(
                                &deployment.app.id,
                                "paas",
                                "scheduler",
                                format!("{name}: {what}"),
                            );
                            reported = what;
                        }
                    }
                }
            }
            self.logs.emit(
                &deployment.app.id,
                "paas",
                "scheduler",
                format!("{name} rolled out v{}", deployment.release),
            );
        }
        Ok(())
    }

    async fn deploy_locked(&self, deployment: &Deployment) -> anyhow::Result<()> {
        if let Some(why) = deployment
            .process_types
            .keys()
            .find_map(|t| manifests::process_type_refused(deployment.app.name(), t))
        {
            bail!(why);
        }
        let rolled_out = async {
            let began = rollout_began();
            self.apply_all(deployment).await?;
            self.await_rollouts(deployment, began).await
        }
        .await;
        let previous = self
            .deployed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&deployment.app.id)
            .cloned();
        match rolled_out {
            Ok(()) => {
                self.deployed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(deployment.app.id.clone(), deployment.clone());
                self.follow_logs(&deployment.app);
                if let Err(e) = self.prune_secrets(deployment.app.name()).await {
                    tracing::warn!(app = %deployment.app.name, error = %e, "cannot prune old config Secrets");
                }
                Ok(())
            }
            Err(e) => {
                // Back to the release that ran (its pods kept serving: maxUnavailable is 0).
                let Some(previous) = previous.filter(|_| self.settings.auto_rollback) else {
                    return Err(e);
                };
                let restored = self.apply_all(&previous).await;
                let how = match restored {
                    Ok(()) => format!("v{} was applied again", previous.release),
                    Err(r) => format!("re-applying v{} failed too: {r:#}", previous.release),
                };
                self.logs.emit(
                    &deployment.app.id,
                    "paas",
                    "scheduler",
                    format!("v{} did not roll out; {how}", deployment.release),
                );
                Err(e.context(format!("rolled back: {how}")))
            }
        }
    }

    /// Deletes per-release Secrets no ReplicaSet uses, beyond the newest few.
    async fn prune_secrets(&self, app: &str) -> anyhow::Result<()> {
        let namespace = manifests::namespace(app);
        let replica_sets: Api<k8s_openapi::api::apps::v1::ReplicaSet> =
            Api::namespaced(self.client.clone(), &namespace);
        let used: std::collections::HashSet<String> = replica_sets
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .flat_map(|rs| {
                rs.spec
                    .iter()
                    .flat_map(|s| s.template.iter())
                    .flat_map(|t| t.spec.iter())
                    .flat_map(|p| p.containers.iter())
                    .flat_map(|c| c.env_from.iter().flatten())
                    .filter_map(|e| e.secret_ref.as_ref().map(|s| s.name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let prefix = format!("{app}-env-v");
        let mut releases: Vec<(u32, String)> = secrets
            .list(&ListParams::default().labels(&format!("{MANAGED_BY}=paas")))
            .await?
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .filter_map(|n| Some((n.strip_prefix(&prefix)?.parse().ok()?, n)))
            .collect();
        releases.sort();
        let removable = releases.len().saturating_sub(KEEP_SECRETS);
        for (_, name) in releases.into_iter().take(removable) {
            if !used.contains(&name) {
                secrets.delete(&name, &DeleteParams::default()).await?;
            }
        }
        Ok(())
    }
}

/// Server-side apply of `object` as field manager `paas`, taking over fields others changed.
async fn apply<K>(api: &Api<K>, name: &str, object: &Value) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply("paas").force(),
        &Patch::Apply(object),
    )
    .await
    .with_context(|| {
        format!(
            "cannot apply {} {name}",
            object["kind"].as_str().unwrap_or("object")
        )
    })?;
    Ok(())
}

#[async_trait::async_trait]
impl Scheduler for KubernetesScheduler {
    async fn deploy(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let _one_at_a_time = self.operations.lock(&deployment.app.id).await;
        self.deploy_locked(deployment).await
    }

    async fn scale(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let _one_at_a_time = self.operations.lock(&deployment.app.id).await;
        let deployments = self.deployments(deployment.app.name());
        let mut changed = false;
        let began = rollout_began();
        for process_type in deployment.process_types.keys() {
            if self.rule(&deployment.app.id, process_type).is_some() {
                continue; // its autoscaler sets its replicas
            }
            let wanted = deployment.formation.get(process_type).copied().unwrap_or(0);
            let name = manifests::deployment_name(deployment.app.name(), process_type);
            let Some(live) = deployments
                .get_opt(&name)
                .await
                .with_context(|| format!("cannot read deployment {name}"))?
            else {
                // Not (or no longer) on the cluster: the whole release goes there.
                return self.deploy_locked(deployment).await;
            };
            let replicas = live.spec.as_ref().and_then(|s| s.replicas);
            if replicas != Some(i32::try_from(wanted).unwrap_or(i32::MAX)) {
                changed = true;
                let object =
                    manifests::deployment_object(deployment, &self.settings, process_type, wanted);
                apply(&deployments, &name, &object).await?;
            }
        }
        if !changed {
            return Ok(());
        }
        self.await_rollouts(deployment, began).await
    }

    async fn restart(&self, deployment: &Deployment, target: Option<&str>) -> anyhow::Result<()> {
        let _one_at_a_time = self.operations.lock(&deployment.app.id).await;
        let app = deployment.app.name();
        if let Some(dyno) = target.filter(|t| t.contains('.')) {
            // One dyno: its pod goes, and its Deployment makes a new one.
            let pod = self
                .status(&deployment.app)
                .await?
                .into_iter()
                .find(|d| d.name == dyno)
                .and_then(|d| d.pod)
                .with_context(|| format!("no running dyno {dyno}"))?;
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), &manifests::namespace(app));
            pods.delete(&pod, &DeleteParams::default())
                .await
                .with_context(|| format!("cannot delete pod {pod}"))?;
            return Ok(());
        }
        let deployments = self.deployments(app);
        let now = crate::logs::rfc3339_micros(std::time::SystemTime::now());
        let patch = json!({ "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT: now } } } } });
        let params = PatchParams {
            field_manager: Some("paas-restart".into()),
            ..PatchParams::default()
        };
        let began = rollout_began();
        for process_type in deployment
            .process_types
            .keys()
            .filter(|t| target.is_none_or(|w| w == *t))
        {
            let name = manifests::deployment_name(app, process_type);
            deployments
                .patch(&name, &params, &Patch::Merge(&patch))
                .await
                .with_context(|| format!("cannot restart deployment {name}"))?;
        }
        self.await_rollouts(deployment, began).await
    }

    async fn status(&self, app: &AppRef) -> anyhow::Result<Vec<paas_share::models::Dyno>> {
        let pods: Api<Pod> =
            Api::namespaced(self.client.clone(), &manifests::namespace(app.name()));
        let pods = pods
            .list(&ListParams::default().labels(&dyno_pods()))
            .await
            .context("cannot list the app's pods")?
            .items;
        Ok(dynos_of_pods(pods).into_iter().map(|(_, d)| d).collect())
    }

    fn can_rename(&self, app: &AppRef) -> anyhow::Result<()> {
        bail!(
            "apps on Kubernetes cannot be renamed: namespace {} cannot change its name",
            manifests::namespace(app.name())
        )
    }

    /// Never asked: [`Scheduler::can_rename`] refuses every rename.
    async fn renamed(&self, _: &AppRef, _: &AppName) {}

    async fn start_one_off(
        &self,
        deployment: &Deployment,
        spec: &crate::scheduler::OneOffSpec,
    ) -> anyhow::Result<crate::scheduler::OneOff> {
        {
            let _one_at_a_time = self.operations.lock(&deployment.app.id).await;
            self.apply_config(deployment).await?;
        }
        let app = deployment.app.name();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &manifests::namespace(app));
        // Unique across the daemon's runs: `run.N` counts from 1 at each start.
        let name = unique_pod_name(&manifests::job_name(&spec.name));
        let object = manifests::one_off_pod_object(deployment, &self.settings, spec, &name);
        let pod = self.create_pod(app, &name, &object, &spec.env).await?;
        self.logs.emit(
            &deployment.app.id,
            "paas",
            "scheduler",
            format!(
                "Starting {} ({}) as pod {name}: {}",
                spec.name,
                deployment.label(),
                spec.command
            ),
        );
        let start_within =
            Duration::from_secs(self.settings.progress_deadline_seconds.into()).min(spec.timeout);
        await_running(&pods, &name, start_within).await?;
        let tty = spec.terminal.is_some();
        let (mut attached, streams) = attach_gated(&pods, &name, "run", tty, start_within).await?;
        let tasks = streams.tasks;
        let missing = || anyhow::anyhow!("the attach to pod {name} has no stream");
        let streams = match attached.terminal_size() {
            Some(sizes) if tty => {
                let sizes = Mutex::new(sizes);
                let resize = move |size: paas_share::models::WindowSize| {
                    let _ = sizes
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .try_send(kube::api::TerminalSize {
                            width: size.columns,
                            height: size.lines,
                        });
                };
                if let Some(size) = spec.terminal {
                    resize(size);
                }
                crate::scheduler::OneOffStreams::Terminal {
                    input: Box::new(streams.stdin),
                    output: Box::new(streams.stdout),
                    resize: Box::new(resize),
                }
            }
            _ => crate::scheduler::OneOffStreams::Pipes {
                stdin: Box::new(streams.stdin),
                stdout: Box::new(streams.stdout),
                stderr: Box::new(streams.stderr.ok_or_else(missing)?),
            },
        };
        let status = attached.take_status().ok_or_else(missing)?;
        let terminate = {
            let (pods, name) = (pods.clone(), name.clone());
            move || {
                let (pods, name) = (pods.clone(), name.clone());
                tokio::spawn(async move {
                    let _ = pods
                        .delete(&name, &DeleteParams::default().grace_period(10))
                        .await;
                });
            }
        };
        let exit = async move {
            // Ended (or dropped: the run was stopped), the run's streams end too.
            let _tasks = tasks;
            // The stream's end (and the attach's status) come before the pod's own status.
            let _ = status.await;
            let _attached = attached;
            let outcome = await_terminated(&pod.api, &pod.name).await;
            drop(pod);
            outcome
        };
        Ok(crate::scheduler::OneOff {
            streams,
            exit: Box::pin(exit),
            terminate: Box::new(terminate),
        })
    }

    async fn run_once(
        &self,
        deployment: &Deployment,
        name: &str,
        command: &str,
        timeout: Duration,
        lines: tokio::sync::mpsc::Sender<String>,
    ) -> anyhow::Result<Outcome> {
        let namespace = manifests::namespace(deployment.app.name());
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), &namespace);
        let job = manifests::job_name(name);
        {
            // Not while the Job runs: a destroy deletes the namespace (and the Job) meanwhile.
            let _one_at_a_time = self.operations.lock(&deployment.app.id).await;
            self.apply_config(deployment).await?;
            // The last one-off Job stays (for `kubectl logs`) until the next one starts; so does
            // one a daemon killed during its release phase left running.
            remove_one_off_jobs(&jobs).await?;
            let object =
                manifests::job_object(deployment, &self.settings, name, command, timeout.as_secs());
            jobs.create(&PostParams::default(), &serde_json::from_value(object)?)
                .await
                .with_context(|| format!("cannot create job {job}"))?;
        }
        self.logs.emit(
            &deployment.app.id,
            "paas",
            "scheduler",
            format!(
                "Running {name} (v{}) as job {job}: {command}",
                deployment.release
            ),
        );
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let follower = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(follow_job_pod(
            pods.clone(),
            job.clone(),
            lines,
        )));
        let outcome = await_job(&jobs, &pods, &job, timeout).await;
        // The log's last lines may trail the Job's end a little.
        if tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .is_err()
        {
            tracing::debug!(job = %job, "the job's log did not end with it");
        }
        outcome
    }

    async fn start_service(
        &self,
        spec: &crate::scheduler::ServiceSpec,
        ready_within: Duration,
    ) -> anyhow::Result<()> {
        let app = spec.app.name();
        self.prepare_namespace(app).await?;
        let namespace = manifests::namespace(app);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let services: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(self.client.clone(), &namespace);
        let sets: Api<StatefulSet> = Api::namespaced(self.client.clone(), &namespace);
        let secret = manifests::addon_secret(spec);
        apply(&secrets, &format!("{}-service", spec.name), &secret).await?;
        apply(&services, &spec.name, &manifests::addon_service(spec)).await?;
        let set = manifests::addon_statefulset(spec, &self.settings);
        apply(&sets, &spec.name, &set).await?;
        self.logs.emit(
            &spec.app.id,
            "paas",
            "scheduler",
            format!("Applied StatefulSet {} in {namespace}", spec.name),
        );
        let deadline = tokio::time::Instant::now() + ready_within;
        loop {
            let set = sets
                .get_opt(&spec.name)
                .await
                .with_context(|| format!("cannot read StatefulSet {}", spec.name))?;
            // Its pod of this template (new passwords start it again) is ready.
            let rolled_out = set.as_ref().is_some_and(|set| {
                let Some(status) = &set.status else {
                    return false;
                };
                status.observed_generation >= set.metadata.generation
                    && status.current_revision == status.update_revision
                    && status.ready_replicas.unwrap_or(0) >= 1
            });
            if rolled_out {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
                let why = match pods.get_opt(&format!("{}-0", spec.name)).await {
                    Ok(Some(pod)) => pod_waiting(&pod),
                    Ok(None) => "its pod was not made".to_owned(),
                    Err(e) => format!("its pod cannot be read: {e}"),
                };
                self.remove_service(spec).await;
                bail!(
                    "add-on {} was not ready within {}s: {why}",
                    spec.name,
                    ready_within.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn remove_service(&self, spec: &crate::scheduler::ServiceSpec) {
        let namespace = manifests::namespace(spec.app.name());
        let client = &self.client;
        let params = DeleteParams::default();
        let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
        let services: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(client.clone(), &namespace);
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
            Api::namespaced(client.clone(), &namespace);
        let deleted = [
            sets.delete(&spec.name, &params).await.map(drop),
            services.delete(&spec.name, &params).await.map(drop),
            secrets
                .delete(&format!("{}-service", spec.name), &params)
                .await
                .map(drop),
            // The data: the StatefulSet leaves its claims behind by design.
            claims
                .delete(&format!("data-{}-0", spec.name), &params)
                .await
                .map(drop),
        ];
        for result in deleted {
            match result {
                Ok(()) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => {
                    tracing::error!(addon = %spec.name, error = %e, "cannot delete an add-on's object");
                }
            }
        }
    }

    async fn service_state(&self, spec: &crate::scheduler::ServiceSpec) -> Option<String> {
        let sets: Api<StatefulSet> =
            Api::namespaced(self.client.clone(), &manifests::namespace(spec.app.name()));
        let set = sets.get_opt(&spec.name).await.ok()??;
        let ready = set.status.and_then(|s| s.ready_replicas).unwrap_or(0);
        Some(if ready >= 1 { "up" } else { "starting" }.to_owned())
    }

    fn service_host(&self, app: &AppRef, name: &str) -> String {
        format!("{name}.{}.svc", manifests::namespace(app.name()))
    }

    async fn run_service_task(
        &self,
        spec: &crate::scheduler::ServiceSpec,
        args: Vec<String>,
        backup: crate::scheduler::BackupFile,
        timeout: Duration,
        lines: tokio::sync::mpsc::Sender<String>,
    ) -> anyhow::Result<crate::container::Outcome> {
        self.run_service_task_now(spec, args, backup, timeout, lines)
            .await
    }

    fn routes_web(&self) -> bool {
        self.router_edge.is_some()
    }

    fn autoscales_cpu(&self) -> bool {
        true
    }

    /// Keeps the rules for the app's deploys and, once its namespace exists, applies its
    /// HorizontalPodAutoscalers (and deletes those of types no longer autoscaled). At start an
    /// app without rules is left alone: deploys of apps that never autoscale need no grant on
    /// HorizontalPodAutoscalers.
    async fn publish_autoscaling(
        &self,
        app: &AppRef,
        rules: &[AutoscaleRule],
    ) -> anyhow::Result<()> {
        let _one_at_a_time = self.operations.lock(&app.id).await;
        let before = self
            .autoscaling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(app.id.clone(), rules.to_vec());
        if rules.is_empty() && before.is_none_or(|b| b.is_empty()) {
            return Ok(());
        }
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let namespace = manifests::namespace(app.name());
        if namespaces
            .get_opt(&namespace)
            .await
            .with_context(|| format!("cannot read namespace {namespace}"))?
            .is_none()
        {
            return Ok(()); // its first deploy applies them
        }
        self.apply_autoscalers(app, &self.rules(&app.id)).await
    }

    /// A Deployment `<app>-web-canary` of the canary's web command (with the release's config
    /// Secret), rolled out, then its Service and a canary Ingress with ingress-nginx's
    /// `canary-weight`: the split is the ingress controller's, per request.
    async fn start_canary(&self, deployment: &Deployment, weight: u8) -> anyhow::Result<()> {
        let app = &deployment.app;
        let _one_at_a_time = self.operations.lock(&app.id).await;
        let canary = super::canary_deployment(deployment, weight)?;
        self.apply_config(deployment).await?;
        let name = manifests::deployment_name(app.name(), super::CANARY_TYPE);
        let replicas = canary
            .formation
            .get(super::CANARY_TYPE)
            .copied()
            .unwrap_or(1);
        let object =
            manifests::deployment_object(&canary, &self.settings, super::CANARY_TYPE, replicas);
        let rolled_out = async {
            let began = rollout_began();
            apply(&self.deployments(app.name()), &name, &object).await?;
            self.await_rollouts(&canary, began).await
        }
        .await;
        if let Err(e) = rolled_out {
            self.remove_canary(app).await;
            return Err(e);
        }
        let services = Api::<k8s_openapi::api::core::v1::Service>::namespaced(
            self.client.clone(),
            &manifests::namespace(app.name()),
        );
        apply(
            &services,
            &name,
            &manifests::service_object(app.name(), super::CANARY_TYPE),
        )
        .await?;
        self.canaries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(app.id.clone(), weight);
        let edge = match &self.router_edge {
            Some(router) => {
                router.set_canary(app, Some((deployment.release, weight)));
                "router"
            }
            None => {
                self.apply_canary_ingress(app, weight).await?;
                "ingress"
            }
        };
        self.logs.emit(
            &app.id,
            "paas",
            "scheduler",
            format!(
                "Canary v{} is up ({replicas} pod{}): the {edge} sends it {weight} % of requests",
                deployment.release,
                if replicas == 1 { "" } else { "s" }
            ),
        );
        Ok(())
    }

    async fn stop_canary(&self, app: &AppRef) {
        let _one_at_a_time = self.operations.lock(&app.id).await;
        self.remove_canary(app).await;
    }

    async fn publish_edge(&self, app: &AppRef, edge: &super::EdgeSpec) -> anyhow::Result<()> {
        if let Some(router) = &self.router_edge {
            router.routes().set_edge(app, super::router_edge(app, edge));
            return Ok(());
        }
        let _one_at_a_time = self.operations.lock(&app.id).await;
        self.edges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(app.id.clone(), edge.clone());
        let ingresses = Api::<k8s_openapi::api::networking::v1::Ingress>::namespaced(
            self.client.clone(),
            &manifests::namespace(app.name()),
        );
        // Before its first web deploy the app has no Ingress: that deploy makes it with this edge.
        if ingresses
            .get_opt(app.name())
            .await
            .with_context(|| format!("cannot read ingress {}", app.name()))?
            .is_none()
        {
            return Ok(());
        }
        self.apply_ingress(app, edge).await?;
        let canary = self
            .canaries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&app.id)
            .copied();
        match canary {
            Some(weight) => self.apply_canary_ingress(app, weight).await,
            None => Ok(()),
        }
    }

    async fn destroy(&self, app: &AppRef) {
        let app_id = app.id.as_str();
        let _one_at_a_time = self.operations.lock(app_id).await;
        self.destroying.end(app_id);
        self.edges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(app_id);
        self.canaries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(app_id);
        self.autoscaling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(app_id);
        self.deployed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(app_id);
        if let Some(follower) = self
            .log_followers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(app_id)
        {
            follower.abort();
        }
        if let Some(router) = &self.router_edge {
            router.forget(app);
        }
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let name = manifests::namespace(app.name());
        let ours = namespaces
            .get_opt(&name)
            .await
            .ok()
            .flatten()
            .is_some_and(|n| {
                n.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(MANAGED_BY))
                    .is_some_and(|v| v == "paas")
            });
        if !ours {
            return;
        }
        if let Err(e) = namespaces.delete(&name, &DeleteParams::default()).await {
            tracing::warn!(namespace = %name, error = %e, "cannot delete the app's namespace");
            return;
        }
        // Its pods are killed at once, as a local destroy kills its dynos (nothing waits on them
        // any more). Left to the namespace's deletion, they go after their owners, through the
        // garbage collector, each with its termination grace: 83 s in the tests' cluster for
        // pods with a 3 s grace. A terminating namespace takes no new pods, so none come back.
        // One second, not zero: zero deletes the pod objects before the kubelet has killed their
        // containers. One by one: the grant has `delete` on pods, not `deletecollection`.
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &name);
        let listed = pods
            .list_metadata(&ListParams::default())
            .await
            .inspect_err(|e| {
                tracing::warn!(namespace = %name, error = %e, "cannot list the app's pods to kill them");
            });
        let kill = DeleteParams::default().grace_period(1);
        let names = listed
            .into_iter()
            .flat_map(|l| l.items)
            .filter_map(|p| p.metadata.name);
        for pod in names {
            if let Err(e) = pods.delete(&pod, &kill).await {
                tracing::warn!(namespace = %name, %pod, error = %e, "cannot kill the app's pod");
            }
        }
        let gone = async {
            while namespaces.get_opt(&name).await.is_ok_and(|n| n.is_some()) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(120), gone)
            .await
            .is_err()
        {
            tracing::warn!(namespace = %name, "the app's namespace is still terminating");
        }
    }

    fn destroying(&self, app_id: &str) {
        self.destroying.begin(app_id);
    }

    async fn shutdown(&self) {
        // Pods belong to the cluster and keep running without this daemon.
    }
}

/// The label selector of an app's dynos: its pods that belong to a process type (not one-off
/// pods).
fn dyno_pods() -> String {
    format!("{MANAGED_BY}=paas,{PROCESS_TYPE}")
}

/// Deletes the namespace's one-off Jobs and their pods, and waits until they are gone (a Job of
/// the same name can only be created then).
async fn remove_one_off_jobs(jobs: &Api<Job>) -> anyhow::Result<()> {
    let one_off = ListParams::default().labels(ONE_OFF);
    let listed = jobs
        .list(&one_off)
        .await
        .context("cannot list one-off jobs")?;
    for name in listed
        .items
        .iter()
        .filter_map(|j| j.metadata.name.as_deref())
    {
        jobs.delete(name, &DeleteParams::background())
            .await
            .with_context(|| format!("cannot delete job {name}"))?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !jobs
        .list(&one_off)
        .await
        .context("cannot list one-off jobs")?
        .items
        .is_empty()
    {
        if tokio::time::Instant::now() >= deadline {
            bail!("one-off jobs of an earlier release are still being deleted after 60s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// How a Job ended, from its conditions (`Complete` or `Failed`, and why).
#[derive(Debug, PartialEq, Eq)]
enum JobEnd {
    Complete,
    /// `activeDeadlineSeconds` passed.
    DeadlineExceeded,
    /// Its pod failed (`BackoffLimitExceeded` with `backoffLimit: 0`), or another reason.
    Failed(String),
}

fn job_end(job: &Job) -> Option<JobEnd> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let end = conditions.iter().find(|c| c.status == "True")?;
    match (end.type_.as_str(), end.reason.as_deref()) {
        ("Complete", _) => Some(JobEnd::Complete),
        ("Failed", Some("DeadlineExceeded")) => Some(JobEnd::DeadlineExceeded),
        ("Failed", reason) => Some(JobEnd::Failed(format!(
            "{}: {}",
            reason.unwrap_or("Failed"),
            end.message.as_deref().unwrap_or("")
        ))),
        _ => None,
    }
}

/// The API of `kind` (plural `plural`) in API group `group` at the first of `versions` (newest
/// first) the cluster serves, from its discovery document; else an error saying `missing`.
async fn served_api(
    client: &Client,
    (group, versions): (&str, &[&str]),
    (kind, plural): (&str, &str),
    missing: &str,
) -> anyhow::Result<ApiResource> {
    let groups = client
        .list_api_groups()
        .await
        .context("cannot list the cluster's API groups")?;
    let served: Vec<&str> = groups
        .groups
        .iter()
        .filter(|g| g.name == group)
        .flat_map(|g| g.versions.iter().map(|v| v.version.as_str()))
        .collect();
    let version = versions
        .iter()
        .find(|v| served.contains(v))
        .with_context(|| missing.to_owned())?;
    Ok(ApiResource {
        group: group.to_owned(),
        version: (*version).to_owned(),
        api_version: format!("{group}/{version}"),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    })
}

/// Deletes an object when dropped (in the background, its dependents with it): a `paas run`
/// pod or a build's Job, once it ended or its client went away.
struct DeleteOnDrop<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    api: Api<K>,
    name: String,
}

impl<K> DeleteOnDrop<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    /// Leaves the object be: something else deletes it now (its owner, through the garbage
    /// collector).
    fn keep(mut self) {
        self.name.clear();
    }
}

impl<K> Drop for DeleteOnDrop<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    fn drop(&mut self) {
        let (api, name) = (self.api.clone(), std::mem::take(&mut self.name));
        if name.is_empty() {
            return;
        }
        tokio::spawn(async move {
            if let Err(e) = api.delete(&name, &DeleteParams::background()).await {
                tracing::warn!(object = %name, error = %e, "cannot delete a finished run's object");
            }
        });
    }
}

impl KubernetesScheduler {
    /// Creates pod `name` of `app` from `object`, with its own variables `env` (none: no Secret)
    /// in Secret `<name>-env` ([`manifests::one_off_env_secret`]): made first, as the pod needs it
    /// to start, then owned by the pod, so that it goes with it. The returned guard deletes the
    /// pod when dropped.
    async fn create_pod(
        &self,
        app: &str,
        name: &str,
        object: &Value,
        env: &BTreeMap<String, String>,
    ) -> anyhow::Result<DeleteOnDrop<Pod>> {
        let namespace = manifests::namespace(app);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let secret = (!env.is_empty()).then(|| DeleteOnDrop {
            api: secrets.clone(),
            name: manifests::one_off_env_secret_name(name),
        });
        if let Some(secret) = &secret {
            let object = manifests::one_off_env_secret(app, name, env);
            secrets
                .create(&PostParams::default(), &serde_json::from_value(object)?)
                .await
                .with_context(|| format!("cannot create secret {}", secret.name))?;
        }
        let created = pods
            .create(
                &PostParams::default(),
                &serde_json::from_value(object.clone())?,
            )
            .await
            .with_context(|| format!("cannot create pod {name}"))?;
        let pod = DeleteOnDrop {
            api: pods,
            name: name.to_owned(),
        };
        if let Some(secret) = secret {
            let uid = created.metadata.uid.unwrap_or_default();
            let owned = manifests::owned_by_pod(name, &uid);
            secrets
                .patch(&secret.name, &PatchParams::default(), &Patch::Merge(&owned))
                .await
                .with_context(|| format!("cannot give secret {} to pod {name}", secret.name))?;
            secret.keep();
        }
        Ok(pod)
    }
}

/// `<prefix>-<8 hex digits>`, from the clock's nanoseconds: a pod name unique enough across the
/// daemon's runs.
fn unique_pod_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{nanos:08x}")
}

/// Why a pod is not ready, from its status: its phase, and why it waits (see [`waiting_reason`]).
fn pod_waiting(pod: &Pod) -> String {
    let Some(status) = &pod.status else {
        return "its pod has no status yet".to_owned();
    };
    let phase = status.phase.as_deref().unwrap_or("Unknown");
    match waiting_reason(status) {
        Some(why) => format!("its pod is {phase} ({why})"),
        None => format!("its pod is {phase}"),
    }
}

/// What a pod waits for, from its status: the first (init) container's waiting reason
/// (`ImagePullBackOff: …`), else an unscheduled condition's message.
fn waiting_reason(status: &k8s_openapi::api::core::v1::PodStatus) -> Option<String> {
    let waiting = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .find_map(|c| c.state.as_ref()?.waiting.as_ref())
        .map(|w| {
            let reason = w.reason.as_deref().unwrap_or("waiting");
            match w.message.as_deref() {
                Some(message) if !message.is_empty() => format!("{reason}: {message}"),
                _ => reason.to_owned(),
            }
        });
    waiting.or_else(|| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .map(|c| c.message.clone().unwrap_or_default())
    })
}

/// When a rollout begins, for [`KubernetesScheduler::await_rollouts`] to tell its pods from older
/// ones: taken before its objects are applied (applying several can take seconds, and its pods
/// are made meanwhile), a second early (creation times have whole seconds).
fn rollout_began() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(1))
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

/// Why a rollout's pod is not ready yet, from its status: what it waits for (see
/// [`waiting_reason`]), or, once its container runs, that its readiness probe has not passed.
fn not_ready_reason(status: &k8s_openapi::api::core::v1::PodStatus) -> Option<String> {
    waiting_reason(status).or_else(|| {
        let running = status
            .container_statuses
            .iter()
            .flatten()
            .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()) && !c.ready);
        running.then(|| {
            format!(
                "it runs but is not ready: its readiness probe fails (a web process must answer on $PORT, {})",
                manifests::CONTAINER_PORT
            )
        })
    })
}

/// The last lines a pod's container printed before it last ended (from the kubelet's log of
/// its previous run), as lines to add to an error; empty when there are none.
async fn last_output(pods: &Api<Pod>, pod: &str) -> String {
    let params = kube::api::LogParams {
        previous: true,
        tail_lines: Some(20),
        limit_bytes: Some(8 * 1024),
        ..kube::api::LogParams::default()
    };
    match pods.logs(pod, &params).await {
        Ok(log) if !log.trim().is_empty() => {
            let lines: String = log.lines().map(|l| format!("\n  | {l}")).collect();
            format!("\nits last output:{lines}")
        }
        _ => String::new(),
    }
}

/// What a rollout has seen of its new pods, to tell a pod that can never start as it is from one
/// that failed once: the node may try a pull before it has the namespace's new pull Secret, and
/// back off and succeed.
#[derive(Default)]
struct PodFaults {
    /// The pods seen backing off a failed pull (`ImagePullBackOff`), and whether they still were
    /// when last seen.
    backed_off: std::collections::HashMap<String, bool>,
}

impl PodFaults {
    /// Why `pod` can never start as it is, from its containers' waiting reasons (the kubelet's,
    /// as `kubectl get pods` shows them): it crashes as it starts (`CrashLoopBackOff`: it failed
    /// and is backing off), its image is no image name, or its image pull failed again after
    /// backing off from a failed one. The node would go on retrying, but the same image and config
    /// fail the same way, so a rollout need not wait for its deadline.
    fn judge(&mut self, pod: &Pod) -> Option<String> {
        let status = pod.status.as_ref()?;
        let waiting = status
            .container_statuses
            .iter()
            .flatten()
            .chain(status.init_container_statuses.iter().flatten())
            .find_map(|c| c.state.as_ref()?.waiting.as_ref())?;
        let reason = waiting.reason.as_deref()?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        if let Some(still) = self.backed_off.get_mut(&name) {
            *still = reason == "ImagePullBackOff";
        }
        let fatal = match reason {
            "CrashLoopBackOff" | "InvalidImageName" | "ErrImageNeverPull" => true,
            "ErrImagePull" => self.backed_off.contains_key(&name),
            "ImagePullBackOff" => {
                self.backed_off.insert(name, true);
                false
            }
            _ => false,
        };
        fatal.then(|| match waiting.message.as_deref() {
            Some(message) if !message.is_empty() => format!("{reason}: {message}"),
            _ => reason.to_owned(),
        })
    }
}

impl PodFaults {
    /// Whether a pod is backing off a failed pull now.
    fn backing_off(&self) -> bool {
        self.backed_off.values().any(|still| *still)
    }

    /// A pod backing off a failed pull whose pull failed again since, from its events (the
    /// kubelet's `Failed` ones, counted), and the last failure's message. Its status shows the
    /// new `ErrImagePull` only for as long as the pull took: a registry that fails at once can go
    /// back to `ImagePullBackOff` within one status update, and the watch never sees it. Events
    /// that cannot be read (no right to) leave the rollout to its deadline.
    async fn pull_failed_again(
        &self,
        events: &Api<k8s_openapi::api::core::v1::Event>,
    ) -> Option<(String, String)> {
        let backing_off = self.backed_off.iter().filter(|(_, still)| **still);
        for (pod, _) in backing_off {
            let params = kube::api::ListParams::default()
                .fields(&format!("involvedObject.name={pod},reason=Failed"));
            let Ok(list) = events.list(&params).await else {
                continue;
            };
            let pulls: Vec<_> = list
                .items
                .iter()
                .filter(|e| {
                    e.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("Failed to pull image"))
                })
                .collect();
            let failures: i32 = pulls
                .iter()
                .map(|e| {
                    e.series
                        .as_ref()
                        .and_then(|s| s.count)
                        .or(e.count)
                        .unwrap_or(1)
                })
                .sum();
            let last = pulls
                .iter()
                .max_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0))
                .and_then(|e| e.message.clone());
            if failures >= 2
                && let Some(message) = last
            {
                return Some((pod.clone(), format!("ErrImagePull: {message}")));
            }
        }
        None
    }
}

/// Attaches to the gated one-off script ([`crate::scheduler::one_off_args`] with `gated`) in
/// container `container` of running pod `name` (stdin, stdout, and stderr without a `tty`), lets
/// it through once the attach is live both ways, and returns the attach and its streams (see
/// [`attach`]). The pod's status says Running once the kubelet has started the container, and
/// the kubelet's runtime cache (which serves attaches) can lag behind it a little: "container
/// not found in pod", at once or as the attach's status, for a moment. Until the gate is passed
/// the command waits, so attaching again is safe (for up to 10 s).
async fn attach_gated(
    pods: &Api<Pod>,
    name: &str,
    container: &str,
    tty: bool,
    start_within: Duration,
) -> anyhow::Result<(kube::api::AttachedProcess, attach::Streams)> {
    let params = kube::api::AttachParams::default()
        .container(container)
        .stdin(true)
        .stdout(true)
        .stderr(!tty)
        .tty(tty);
    let attach_by = tokio::time::Instant::now() + Duration::from_secs(10);
    let missing = || anyhow::anyhow!("the attach to pod {name} has no stream");
    let (mut attached, mut stdin, stdout, pending) = loop {
        let retry = tokio::time::Instant::now() < attach_by;
        let mut attached = match pods.attach(name, &params).await {
            Err(kube::Error::Api(e)) if e.message.contains("not found in pod") && retry => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            attached => attached.with_context(|| format!("cannot attach to pod {name}"))?,
        };
        let stdin = attached.stdin().ok_or_else(missing)?;
        let mut stdout = attached.stdout().ok_or_else(missing)?;
        match attach::await_ping(&mut stdout, start_within).await {
            Ok(pending) => break (attached, stdin, stdout, pending),
            Err(_) if retry => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => {
                let status = match attached.take_status() {
                    Some(status) => status.await.and_then(|s| s.message),
                    None => None,
                };
                let e = e.context(format!("cannot start the command of pod {name}"));
                return Err(match status {
                    Some(why) => e.context(why),
                    None => e,
                });
            }
        }
    };
    // Attached both ways: the script may start its command now.
    tokio::io::AsyncWriteExt::write_all(&mut stdin, crate::scheduler::ATTACHED)
        .await
        .with_context(|| format!("cannot write to pod {name}"))?;
    let stderr = if tty {
        None
    } else {
        Some(attached.stderr().ok_or_else(missing)?)
    };
    let streams = attach::Streams::new(stdin, stdout, pending, stderr);
    Ok((attached, streams))
}

/// Waits (watching it) until pod `name` runs or has already ended, for up to `within`; else
/// says why not, from its status.
async fn await_running(pods: &Api<Pod>, name: &str, within: Duration) -> anyhow::Result<()> {
    let started = |pod: Option<&Pod>| {
        pod.and_then(|p| p.status.as_ref()?.phase.as_deref())
            .is_some_and(|phase| matches!(phase, "Running" | "Succeeded" | "Failed"))
    };
    let waited = tokio::time::timeout(
        within,
        kube::runtime::wait::await_condition(pods.clone(), name, started),
    )
    .await;
    match waited {
        Ok(Ok(Some(_))) => return Ok(()),
        Ok(Ok(None)) => bail!("pod {name} was deleted before it started"),
        Ok(Err(e)) => return Err(anyhow::Error::new(e).context(format!("cannot watch pod {name}"))),
        Err(_) => {}
    }
    let status = pods
        .get(name)
        .await
        .with_context(|| format!("cannot read pod {name}"))?
        .status
        .unwrap_or_default();
    let why = waiting_reason(&status).unwrap_or_else(|| "no node has started it".to_owned());
    bail!(
        "pod {name} did not start within {} s ({why})",
        within.as_secs()
    )
}

/// How pod `name`'s container ended, once it has (watching it).
async fn await_terminated(pods: &Api<Pod>, name: &str) -> anyhow::Result<Outcome> {
    let ended = |pod: Option<&Pod>| pod.is_some_and(|p| pod_end(p).is_some());
    let pod = kube::runtime::wait::await_condition(pods.clone(), name, ended)
        .await
        .with_context(|| format!("cannot watch pod {name}"))?
        .with_context(|| format!("pod {name} was deleted before it ended"))?;
    Ok(pod_end(&pod).expect("the condition held"))
}

/// How a run's pod ended, if it has: its deadline, or its container's exit.
fn pod_end(pod: &Pod) -> Option<Outcome> {
    let status = pod.status.as_ref()?;
    if status.reason.as_deref() == Some("DeadlineExceeded") {
        return Some(Outcome {
            exit: Exit::TimedOut,
            oom_killed: false,
        });
    }
    let terminated = status
        .container_statuses
        .iter()
        .flatten()
        .find_map(|c| c.state.as_ref()?.terminated.as_ref())?;
    Some(Outcome {
        exit: Exit::Code(terminated.exit_code),
        oom_killed: terminated.reason.as_deref() == Some("OOMKilled"),
    })
}

/// Waits for Job `name` to end; its container's exit status is the outcome. The cluster stops it
/// at its deadline; if the cluster does not say so within a minute of it, it is deleted here.
async fn await_job(
    jobs: &Api<Job>,
    pods: &Api<Pod>,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
    use futures_util::TryStreamExt;
    let deadline = tokio::time::Instant::now() + timeout + Duration::from_secs(60);
    let events = kube::runtime::watcher::watch_object(jobs.clone(), name);
    futures_util::pin_mut!(events);
    let end = loop {
        let Ok(event) = tokio::time::timeout_at(deadline, events.try_next()).await else {
            let _ = jobs.delete(name, &DeleteParams::background()).await;
            break JobEnd::DeadlineExceeded;
        };
        match event.with_context(|| format!("cannot watch job {name}"))? {
            Some(Some(job)) => {
                if let Some(end) = job_end(&job) {
                    break end;
                }
            }
            Some(None) => bail!("job {name} was deleted before it ended"),
            None => bail!("the watch of job {name} ended"),
        }
    };
    let exit = |exit| {
        Ok(Outcome {
            exit,
            oom_killed: false,
        })
    };
    match end {
        JobEnd::Complete => exit(Exit::Code(0)),
        JobEnd::DeadlineExceeded => exit(Exit::TimedOut),
        JobEnd::Failed(why) => {
            let listed = pods
                .list(&ListParams::default().labels(&format!("{ONE_OFF}={name}")))
                .await
                .context("cannot list the job's pod")?;
            let terminated = listed.items.iter().find_map(|pod| {
                let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
                statuses.first()?.state.as_ref()?.terminated.clone()
            });
            match terminated {
                Some(t) => Ok(Outcome {
                    exit: Exit::Code(t.exit_code),
                    oom_killed: t.reason.as_deref() == Some("OOMKilled"),
                }),
                None => bail!("job {name} failed: {why}"),
            }
        }
    }
}

/// Sends the log lines of Job `job`'s pod to `lines` once it runs, until its log ends. Without a
/// kubelet to serve the log (or while the pod cannot start) there is nothing to send.
async fn follow_job_pod(pods: Api<Pod>, job: String, lines: tokio::sync::mpsc::Sender<String>) {
    use futures_util::{AsyncBufReadExt, TryStreamExt};
    let selector = ListParams::default().labels(&format!("{ONE_OFF}={job}"));
    let pod = loop {
        if lines.is_closed() {
            return;
        }
        let started = pods.list(&selector).await.ok().and_then(|list| {
            list.items.into_iter().find(|p| {
                let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                matches!(phase, Some("Running" | "Succeeded" | "Failed"))
            })
        });
        if let Some(name) = started.and_then(|p| p.metadata.name) {
            break name;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let params = kube::api::LogParams {
        follow: true,
        ..kube::api::LogParams::default()
    };
    let Ok(stream) = pods.log_stream(&pod, &params).await else {
        return;
    };
    let mut log = stream.lines();
    while let Ok(Some(line)) = log.try_next().await {
        if !kubelet_log_error(&line) && lines.send(crate::container::cut_line(line)).await.is_err()
        {
            return;
        }
    }
}

/// The app's pods as dynos, `web.1`, `web.2`… by process type and age.
fn dynos_of_pods(mut pods: Vec<Pod>) -> Vec<(String, paas_share::models::Dyno)> {
    let key = |p: &Pod| {
        (
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(PROCESS_TYPE))
                .cloned()
                .unwrap_or_default(),
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.metadata.name.clone().unwrap_or_default(),
        )
    };
    pods.sort_by_key(key);
    let mut ordinals: BTreeMap<String, u32> = BTreeMap::new();
    pods.iter()
        .map(|pod| {
            let (process_type, _, name) = key(pod);
            let ordinal = ordinals.entry(process_type.clone()).or_default();
            *ordinal += 1;
            (name.clone(), dyno(pod, &process_type, *ordinal, name))
        })
        .collect()
}

/// Copies one pod's log lines into the app's log until the pod's log ends.
async fn follow_pod(pods: &Api<Pod>, pod: &str, logs: &Logs, app_id: &str, dyno: &str) {
    use futures_util::{AsyncBufReadExt, TryStreamExt};
    let params = kube::api::LogParams {
        follow: true,
        since_seconds: Some(10),
        ..kube::api::LogParams::default()
    };
    let Ok(stream) = pods.log_stream(pod, &params).await else {
        return;
    };
    let mut lines = stream.lines();
    while let Ok(Some(line)) = lines.try_next().await {
        if !kubelet_log_error(&line) {
            logs.emit(app_id, "app", dyno, &line);
        }
    }
}

/// Whether a line of a followed pod log is the kubelet's, not the app's: a log stream that ends
/// as its container goes (a restart, a pod deleted) can end with the kubelet's error as text
/// (`rpc error: code = NotFound desc = an error occurred when try to find container "…"`,
/// `unable to retrieve container logs for containerd://…`).
fn kubelet_log_error(line: &str) -> bool {
    line.starts_with("unable to retrieve container logs for ")
        || (line.starts_with("rpc error: code = ")
            && line.contains("an error occurred when try to find container"))
}

/// A pod as `paas ps` shows it: `web.N` by its place among the type's pods, its state from its
/// phase, conditions and container statuses.
fn dyno(pod: &Pod, process_type: &str, ordinal: u32, pod_name: String) -> paas_share::models::Dyno {
    let status = pod.status.as_ref();
    let containers = status.and_then(|s| s.container_statuses.as_ref());
    let restarts = containers
        .iter()
        .flat_map(|c| c.iter())
        .map(|c| u32::try_from(c.restart_count).unwrap_or(0))
        .sum();
    let crashed = containers.iter().flat_map(|c| c.iter()).any(|c| {
        c.state.as_ref().is_some_and(|s| {
            s.terminated.is_some()
                || s.waiting
                    .as_ref()
                    .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
        })
    });
    let condition = |type_: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == type_ && c.status == "True")
    };
    let ready = condition("Ready");
    let state = if pod.metadata.deletion_timestamp.is_some() {
        "down"
    } else if crashed {
        "crashed"
    } else if ready {
        "up"
    } else if condition("ContainersReady") {
        // The kubelet said its containers were ready, and the node controller has since marked
        // the pod not Ready: its node stopped reporting (NotReady), so no one knows.
        "unknown"
    } else {
        "starting"
    };
    let annotation = |key: &str| {
        pod.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
    };
    let command = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.command.as_ref())
        .and_then(|c| c.last())
        // The Procfile command is the dyno wrapper's last argument, its `$` doubled (see
        // `manifests::literal_args`).
        .map(|command| command.replace("$$", "$"))
        .unwrap_or_default();
    let since = status
        .and_then(|s| s.start_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    paas_share::models::Dyno {
        name: format!("{process_type}.{ordinal}"),
        process_type: process_type.to_owned(),
        state: state.to_owned(),
        release: annotation(RELEASE)
            .and_then(|r| paas_share::models::parse_release_version(&r))
            .unwrap_or(0),
        restarts,
        command,
        port: manifests::CONTAINER_PORT,
        since,
        pod: Some(pod_name),
        attach_url: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(generation: i64, spec_replicas: i32, status: Value) -> KubeDeployment {
        serde_json::from_value(json!({
            "metadata": { "name": "shop-web", "generation": generation },
            "spec": {
                "replicas": spec_replicas,
                "selector": {},
                "template": {},
            },
            "status": status,
        }))
        .expect("a Deployment")
    }

    #[test]
    fn pods_become_dynos_with_their_states() {
        let pod = |name: &str, created: &str, status: Value| -> Pod {
            serde_json::from_value(json!({
                "metadata": {
                    "name": name,
                    "creationTimestamp": created,
                    "labels": { PROCESS_TYPE: "web" },
                    "annotations": { RELEASE: "v4" },
                },
                "spec": { "containers": [{
                    "name": "web",
                    "command": ["/bin/sh", "-c", "the dyno script", "paas-dyno", "busybox httpd -f -p $$PORT"],
                }] },
                "status": status,
            }))
            .expect("a Pod")
        };
        let ready = json!({ "conditions": [{ "type": "Ready", "status": "True" }] });
        let crashing = json!({ "containerStatuses": [{
            "name": "web", "ready": false, "restartCount": 3, "image": "i", "imageID": "",
            "state": { "waiting": { "reason": "CrashLoopBackOff" } },
        }] });
        let dynos = dynos_of_pods(vec![
            pod("shop-web-b", "2026-01-01T00:00:02Z", crashing),
            pod("shop-web-a", "2026-01-01T00:00:01Z", ready),
            pod(
                "shop-web-c",
                "2026-01-01T00:00:03Z",
                json!({ "phase": "Pending" }),
            ),
        ]);
        let summary: Vec<(String, String, u32, Option<String>)> = dynos
            .into_iter()
            .map(|(_, d)| (d.name, d.state, d.restarts, d.pod))
            .collect();
        assert_eq!(
            summary,
            [
                ("web.1".into(), "up".into(), 0, Some("shop-web-a".into())),
                (
                    "web.2".into(),
                    "crashed".into(),
                    3,
                    Some("shop-web-b".into())
                ),
                (
                    "web.3".into(),
                    "starting".into(),
                    0,
                    Some("shop-web-c".into())
                ),
            ]
        );
        let one = dynos_of_pods(vec![pod("shop-web-a", "2026-01-01T00:00:01Z", json!({}))]);
        assert_eq!(one[0].1.command, "busybox httpd -f -p $PORT");
        assert_eq!(one[0].1.release, 4);
        // Its node stopped reporting: the node controller took Ready away, the containers' last
        // word stands.
        let lost = json!({ "conditions": [
            { "type": "Ready", "status": "False" },
            { "type": "ContainersReady", "status": "True" },
        ] });
        let lost = dynos_of_pods(vec![pod("shop-web-a", "2026-01-01T00:00:01Z", lost)]);
        assert_eq!(lost[0].1.state, "unknown");
    }

    #[test]
    fn the_kubelet_s_errors_at_a_log_s_end_are_not_app_output() {
        assert!(kubelet_log_error(
            "rpc error: code = NotFound desc = an error occurred when try to find container \"0d1f\": not found"
        ));
        assert!(kubelet_log_error(
            "unable to retrieve container logs for containerd://0d1f"
        ));
        assert!(!kubelet_log_error(
            "rpc error: code = Unavailable desc = upstream down"
        ));
        assert!(!kubelet_log_error("GET / 200"));
    }

    #[test]
    fn a_pod_not_ready_says_what_it_waits_for_or_that_its_probe_fails() {
        let status = |containers: Value| -> k8s_openapi::api::core::v1::PodStatus {
            serde_json::from_value(json!({ "containerStatuses": containers })).expect("status")
        };
        let container = |state: Value, ready: bool| {
            json!([{ "name": "web", "image": "i", "imageID": "", "ready": ready,
                     "restartCount": 0, "state": state }])
        };
        assert_eq!(
            not_ready_reason(&status(container(
                json!({ "waiting": { "reason": "ContainerCreating" } }),
                false
            ))),
            Some("ContainerCreating".to_owned())
        );
        let running = not_ready_reason(&status(container(
            json!({ "running": { "startedAt": "2026-12-03T00:00:00Z" } }),
            false,
        )))
        .expect("a reason");
        assert!(
            running.contains("readiness probe fails") && running.contains("5000"),
            "{running}"
        );
        assert_eq!(
            not_ready_reason(&status(container(
                json!({ "running": { "startedAt": "2026-12-03T00:00:00Z" } }),
                true
            ))),
            None
        );
    }

    #[test]
    fn a_pod_that_can_never_start_is_a_fault_and_one_that_waits_or_failed_once_is_not() {
        let pod = |name: &str, waiting: Value| -> Pod {
            serde_json::from_value(json!({
                "metadata": { "name": name },
                "status": { "containerStatuses": [{
                    "name": "web", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                    "state": { "waiting": waiting },
                }] },
            }))
            .expect("a Pod")
        };
        let failed = json!({
            "reason": "ErrImagePull",
            "message": "unexpected status: 503 Service Unavailable",
        });
        let mut faults = PodFaults::default();
        assert_eq!(faults.judge(&pod("a", failed.clone())), None, "once");
        let backing_off =
            json!({ "reason": "ImagePullBackOff", "message": "Back-off pulling image" });
        assert!(!faults.backing_off());
        assert_eq!(faults.judge(&pod("a", backing_off)), None);
        assert!(faults.backing_off(), "its events are read from now on");
        assert_eq!(faults.judge(&pod("b", failed.clone())), None, "another pod");
        assert_eq!(
            faults.judge(&pod("a", failed)),
            Some("ErrImagePull: unexpected status: 503 Service Unavailable".into()),
            "again, after backing off"
        );
        assert_eq!(
            faults.judge(&pod("c", json!({ "reason": "CrashLoopBackOff" }))),
            Some("CrashLoopBackOff".into())
        );
        assert_eq!(
            faults.judge(&pod("c", json!({ "reason": "ContainerCreating" }))),
            None
        );
        assert_eq!(faults.judge(&pod("c", json!({}))), None);
    }

    #[test]
    fn rollout_status_follows_kubectl() {
        let waiting = |d: &KubeDeployment| matches!(rollout(d), Rollout::Progressing(_));
        assert!(waiting(&with(2, 2, json!({ "observedGeneration": 1 }))));
        assert!(waiting(&with(
            2,
            2,
            json!({ "observedGeneration": 2, "updatedReplicas": 1, "replicas": 2, "availableReplicas": 2 })
        )));
        assert_eq!(
            rollout(&with(
                2,
                2,
                json!({ "observedGeneration": 2, "updatedReplicas": 2, "replicas": 3, "availableReplicas": 2 })
            )),
            Rollout::Progressing("1 old replicas pending termination".into())
        );
        assert!(waiting(&with(
            2,
            2,
            json!({ "observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 1 })
        )));
        assert_eq!(
            rollout(&with(
                2,
                2,
                json!({ "observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2 })
            )),
            Rollout::Complete
        );
        assert_eq!(
            rollout(&with(0, 0, json!({ "observedGeneration": 1 }))),
            Rollout::Complete,
            "scaled to zero"
        );
        let failed = with(
            3,
            1,
            json!({
                "observedGeneration": 3, "updatedReplicas": 1, "replicas": 2, "availableReplicas": 1,
                "conditions": [{ "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                 "message": "ReplicaSet \"shop-web-1\" has timed out progressing." }],
            }),
        );
        assert!(
            matches!(rollout(&failed), Rollout::Failed(m) if m.contains("timed out progressing"))
        );
        let refused = with(
            3,
            2,
            json!({
                "observedGeneration": 3, "updatedReplicas": 0, "replicas": 1, "availableReplicas": 1,
                "conditions": [{ "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                 "message": "pods \"shop-web-2\" is forbidden: exceeded quota: one-pod" }],
            }),
        );
        assert!(
            matches!(rollout(&refused), Rollout::Failed(m) if m == "the cluster refused its pods (FailedCreate): pods \"shop-web-2\" is forbidden: exceeded quota: one-pod")
        );
    }

    #[test]
    fn a_job_ends_by_its_conditions() {
        let job = |conditions: Value| -> Job {
            serde_json::from_value(json!({ "status": { "conditions": conditions } }))
                .expect("a Job")
        };
        assert_eq!(job_end(&job(json!([]))), None);
        assert_eq!(
            job_end(&job(json!([{ "type": "Complete", "status": "True" }]))),
            Some(JobEnd::Complete)
        );
        assert_eq!(
            job_end(&job(
                json!([{ "type": "Failed", "status": "True", "reason": "DeadlineExceeded" }])
            )),
            Some(JobEnd::DeadlineExceeded)
        );
        assert_eq!(
            job_end(&job(
                json!([{ "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit" }])
            )),
            Some(JobEnd::Failed(
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into()
            ))
        );
        assert_eq!(
            job_end(&job(json!([{ "type": "Failed", "status": "False" }]))),
            None
        );
    }
}
