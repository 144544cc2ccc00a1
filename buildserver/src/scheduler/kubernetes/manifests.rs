//! The Kubernetes objects of an app (DESIGN §3.9), as server-side-apply documents: namespace
//! `paas-<app>`, an immutable Secret of config vars per release, a Deployment per process type, a
//! Service and an Ingress for `web` (and, while a canary runs, its Deployment, Service and
//! ingress-nginx canary Ingress), a Job per release phase, and per add-on a StatefulSet, a
//! headless Service and a Secret. Pure functions of the deployment and the cluster settings, so
//! that what we ask the cluster for is checked field by field without one.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::build::remote::BuildJob;
use crate::scheduler::{
    CANARY_TYPE, Deployment, EdgeCert, EdgeSpec, ServiceReadiness, ServiceSpec,
};

/// Labels every object carries; `managed-by` is how paas recognises its own namespaces.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const NAME: &str = "app.kubernetes.io/name";
pub const PROCESS_TYPE: &str = "paas/process-type";
pub const RELEASE: &str = "paas/release";
/// On a one-off dyno's Job and pod (the release phase): its Job's name.
pub const ONE_OFF: &str = "paas/one-off";
/// On a `paas run` pod: its name.
pub const RUN: &str = "paas/run";
/// The label of a build's Job and pod: the build's id.
pub const BUILD: &str = "paas/build";
/// Set on the pod template (by its own field manager) to restart a process type's pods.
pub const RESTARTED_AT: &str = "paas/restartedAt";
/// The port every dyno listens on inside its pod (`$PORT`).
pub const CONTAINER_PORT: u16 = 5000;
/// The image-pull Secret, present when the registry needs credentials.
pub const PULL_SECRET: &str = "paas-registry";
/// On an add-on's StatefulSet, Service, Secret and pod: the add-on's name.
pub const ADDON: &str = "paas/addon";
/// The annotation on an add-on's pod template with the digest of its environment.
pub const SERVICE_ENV: &str = "paas/service-env";
/// What each add-on's volume claim asks for.
pub const ADDON_STORAGE: &str = "1Gi";

/// How the cluster is used, from the server's configuration.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// Where apps' images are pulled from: `host[:port]/prefix`.
    pub registry: String,
    pub domain: String,
    pub ingress_class: Option<String>,
    pub progress_deadline_seconds: u32,
    /// A stopping pod's time between SIGTERM and SIGKILL (`--stop-grace`, as for local dynos):
    /// its `terminationGracePeriodSeconds`.
    pub termination_grace_seconds: u64,
    /// Whether a pull Secret exists for the registry.
    pub pull_secret: bool,
    /// Whether a failed rollout re-applies the release that ran before.
    pub auto_rollback: bool,
    /// The storage class of add-ons' volume claims; None: the cluster's default.
    pub storage_class: Option<String>,
    /// The cert-manager ClusterIssuer of apps with ACM on (`--k8s-cert-manager-issuer`).
    pub cert_manager_issuer: Option<String>,
}

pub fn namespace(app: &str) -> String {
    format!("paas-{app}")
}

/// `<app>-<type>`; a canary's is `<app>-web-canary`.
/// Why `process_type` of `app` cannot be the name of Kubernetes objects (`<app>-<type>`, an RFC
/// 1123 label: lowercase letters, digits and `-`, at most 63 characters), if it cannot. A
/// Procfile may name types Kubernetes refuses (`my_worker`, `Web`).
pub fn process_type_refused(app: &str, process_type: &str) -> Option<String> {
    let name = deployment_name(app, process_type);
    let valid = name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-');
    (!valid).then(|| {
        format!(
            "process type {process_type:?} cannot name a Kubernetes Deployment ({name:?}): Kubernetes allows lowercase letters, digits and '-' (at most 63 characters with the app's name); rename it in the Procfile"
        )
    })
}

pub fn deployment_name(app: &str, process_type: &str) -> String {
    if process_type == CANARY_TYPE {
        return format!("{app}-web-canary");
    }
    format!("{app}-{process_type}")
}

/// The name of the canary Ingress beside the app's own.
pub fn canary_ingress_name(app: &str) -> String {
    format!("{app}-canary")
}

/// ingress-nginx's canary annotations: the Ingress is a canary of the one for the same hosts, and
/// gets this percent of their requests.
pub const NGINX_CANARY: &str = "nginx.ingress.kubernetes.io/canary";
pub const NGINX_CANARY_WEIGHT: &str = "nginx.ingress.kubernetes.io/canary-weight";

pub fn secret_name(app: &str, release: u32) -> String {
    format!("{app}-env-v{release}")
}

fn labels(app: &str) -> Value {
    json!({ NAME: app, MANAGED_BY: "paas" })
}

pub fn namespace_object(app: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": namespace(app), "labels": labels(app) },
    })
}

/// The release's config vars, immutable: a new release gets a new Secret, so a rollback finds
/// its own config unchanged.
pub fn config_secret(deployment: &Deployment) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(deployment.app.name(), deployment.release),
            "namespace": namespace(deployment.app.name()),
            "labels": labels(deployment.app.name()),
            "annotations": { RELEASE: format!("v{}", deployment.release) },
        },
        "type": "Opaque",
        "immutable": true,
        "stringData": deployment.config_vars,
    })
}

/// `kubernetes.io/dockerconfigjson` for pulling from the registry with `username:password`.
pub fn pull_secret(app: &str, registry_host: &str, username: &str, password: &str) -> Value {
    let auth = crate::registry::base64(format!("{username}:{password}").as_bytes());
    let config = json!({ "auths": { registry_host: { "username": username, "password": password, "auth": auth } } });
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": PULL_SECRET, "namespace": namespace(app), "labels": labels(app) },
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": { ".dockerconfigjson": config.to_string() },
    })
}

/// A container's `command`, kept as written: Kubernetes expands `$(NAME)` in commands to the
/// container's variables and turns `$$` into `$` (the kubelet's `expansion.Expand`), so every
/// `$` is doubled, and what runs is what the Procfile or `paas run` said (`$$`, `$(date)`).
fn literal_args(args: Vec<String>) -> Value {
    json!(
        args.into_iter()
            .map(|arg| arg.replace('$', "$$"))
            .collect::<Vec<_>>()
    )
}

/// The container of a dyno of `deployment` named `name` (`web`, `release`) running `command`:
/// the image by digest, the dyno wrapper, `$PORT`, and the release's config Secret.
fn container(
    deployment: &Deployment,
    settings: &ClusterSettings,
    name: &str,
    command: &str,
) -> Value {
    let app = deployment.app.name();
    json!({
        "name": name,
        "image": format!(
            "{}/{}@{}",
            settings.registry,
            deployment.repository(),
            deployment.image
        ),
        // As on the local scheduler: the command is an argument of the dyno wrapper, never script.
        "command": literal_args(crate::scheduler::dyno_args(command)),
        "workingDir": "/app",
        "env": [
            { "name": "PORT", "value": CONTAINER_PORT.to_string() },
            { "name": "PS", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
            { "name": "DYNO", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
        ],
        "envFrom": [{ "secretRef": { "name": secret_name(app, deployment.release) } }],
        "securityContext": {
            "runAsUser": crate::build::BUILD_UID,
            "runAsGroup": crate::build::BUILD_UID,
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
        },
    })
}

/// A pod spec of one container, with the pull Secret when there is one.
fn pod_spec(container: Value, settings: &ClusterSettings) -> Value {
    let mut spec = json!({
        "containers": [container],
        "terminationGracePeriodSeconds": settings.termination_grace_seconds,
        "automountServiceAccountToken": false,
    });
    if settings.pull_secret {
        spec["imagePullSecrets"] = json!([{ "name": PULL_SECRET }]);
    }
    spec
}

/// The Deployment running `process_type` with `replicas` pods (from the formation, or for an
/// autoscaled type what its HorizontalPodAutoscaler last chose).
pub fn deployment_object(
    deployment: &Deployment,
    settings: &ClusterSettings,
    process_type: &str,
    replicas: u32,
) -> Value {
    let app = deployment.app.name();
    let command = deployment
        .process_types
        .get(process_type)
        .map_or("", String::as_str);
    let selector = json!({ NAME: app, PROCESS_TYPE: process_type });
    let mut pod_labels = selector.clone();
    pod_labels[MANAGED_BY] = json!("paas");
    let release = format!("v{}", deployment.release);
    let mut container = container(deployment, settings, process_type, command);
    if process_type == "web" || process_type == CANARY_TYPE {
        // `protocol` is part of the list's key: server-side apply needs it spelled out.
        container["ports"] =
            json!([{ "name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP" }]);
        container["readinessProbe"] = match deployment.health_check_path() {
            Some(path) => {
                json!({ "httpGet": { "path": path, "port": CONTAINER_PORT }, "periodSeconds": 2 })
            }
            None => json!({ "tcpSocket": { "port": CONTAINER_PORT }, "periodSeconds": 2 }),
        };
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(app, process_type),
            "namespace": namespace(app),
            "labels": pod_labels,
            "annotations": { RELEASE: release },
        },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": selector },
            "progressDeadlineSeconds": settings.progress_deadline_seconds,
            "revisionHistoryLimit": 10,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": { "maxUnavailable": 0, "maxSurge": 1 },
            },
            "template": {
                "metadata": { "labels": pod_labels, "annotations": { RELEASE: release } },
                "spec": pod_spec(container, settings),
            },
        },
    })
}

/// The HorizontalPodAutoscaler (`api_version`: autoscaling/v2, or v2beta2 on clusters before
/// 1.23, with the same fields) of `process_type`'s Deployment: its range, and
/// its CPU target as an average per pod in millicores (`cpu_percent` of one core, as `paas
/// autoscale` means it; an `AverageValue` needs no CPU request on the pods). Named as the
/// Deployment.
pub fn autoscaler_object(
    api_version: &str,
    app: &str,
    process_type: &str,
    settings: &paas_share::models::AutoscaleSettings,
) -> Value {
    let name = deployment_name(app, process_type);
    let mut labels = labels(app);
    labels[PROCESS_TYPE] = json!(process_type);
    let metrics: Vec<Value> = settings
        .cpu_percent
        .map(|percent| {
            json!({
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": { "type": "AverageValue", "averageValue": format!("{}m", percent * 10) },
                },
            })
        })
        .into_iter()
        .collect();
    json!({
        "apiVersion": api_version,
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": name, "namespace": namespace(app), "labels": labels },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
            "minReplicas": settings.min,
            "maxReplicas": settings.max,
            "metrics": metrics,
        },
    })
}

/// The Job of one-off dyno `name` (`release.3` → Job `release-3`).
pub fn job_name(name: &str) -> String {
    name.replace('.', "-")
}

/// The Job running one-off dyno `name` (the release phase, `release.3`) once: one pod, never
/// retried (`backoffLimit: 0`), stopped by the cluster after `deadline_seconds`
/// (`activeDeadlineSeconds`). Its pods carry [`ONE_OFF`], not [`PROCESS_TYPE`]: they are not
/// dynos of the formation.
pub fn job_object(
    deployment: &Deployment,
    settings: &ClusterSettings,
    name: &str,
    command: &str,
    deadline_seconds: u64,
) -> Value {
    let app = deployment.app.name();
    let labels = json!({ NAME: app, MANAGED_BY: "paas", ONE_OFF: job_name(name) });
    let release = format!("v{}", deployment.release);
    let container_name = name.split('.').next().unwrap_or("one-off");
    let mut pod_spec = pod_spec(
        container(deployment, settings, container_name, command),
        settings,
    );
    pod_spec["restartPolicy"] = json!("Never");
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name),
            "namespace": namespace(app),
            "labels": labels,
            "annotations": { RELEASE: release },
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_seconds.max(1),
            "template": {
                "metadata": { "labels": labels, "annotations": { RELEASE: release } },
                "spec": pod_spec,
            },
        },
    })
}

/// The Job of build `job` (`--k8s-builds job`), named `name`: one pod of the stack's build image,
/// as the local build sandbox runs it (the build user, a read-only root, the build's memory
/// limit, the driver's environment), whose directories are empty volumes the gated script
/// ([`crate::build::remote::JOB_SCRIPT`]) fills from its stdin; never retried, stopped by the
/// cluster after the build's time limit.
pub fn build_job_object(job: &BuildJob, settings: &ClusterSettings, name: &str) -> Value {
    let app = job.app.name();
    let labels = json!({ NAME: app, MANAGED_BY: "paas", BUILD: &job.id });
    let env: Vec<Value> = job
        .env
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let volume = |name: &str| json!({ "name": name, "emptyDir": {} });
    let mount = |name: &str, at: &str| json!({ "name": name, "mountPath": format!("/{at}") });
    let container = json!({
        "name": "build",
        "image": job.image,
        "command": literal_args(crate::scheduler::one_off_args(crate::build::remote::JOB_SCRIPT, true)),
        "workingDir": "/",
        "env": env,
        "stdin": true,
        "stdinOnce": true,
        "volumeMounts": [
            mount("tmp", "tmp"),
            mount("app", "app"),
            mount("app", crate::build::remote::SOURCE),
            mount("buildpacks", crate::build::remote::BUILDPACKS),
        ],
        "resources": { "limits": { "memory": job.memory_bytes.to_string() } },
        "securityContext": {
            "runAsUser": job.uid,
            "runAsGroup": job.uid,
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
        },
    });
    let mut pod_spec = pod_spec(container, settings);
    pod_spec["restartPolicy"] = json!("Never");
    pod_spec["volumes"] = json!([volume("tmp"), volume("app"), volume("buildpacks")]);
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name, "namespace": namespace(app), "labels": labels },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": job.timeout.as_secs().max(1),
            "template": { "metadata": { "labels": labels }, "spec": pod_spec },
        },
    })
}

/// The Secret of one-off pod `pod`'s own variables (`paas run --env`, an add-on client's
/// password): in a Secret, not the pod's spec, which anyone who may read pods sees. Owned by the
/// pod once it exists (see [`owned_by_pod`]), so it goes with it.
pub fn one_off_env_secret(app: &str, pod: &str, env: &BTreeMap<String, String>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": one_off_env_secret_name(pod), "namespace": namespace(app), "labels": labels(app) },
        "type": "Opaque",
        "immutable": true,
        "stringData": env,
    })
}

pub fn one_off_env_secret_name(pod: &str) -> String {
    format!("{pod}-env")
}

/// A merge patch that makes pod `pod` (its `uid`) the owner of an object: the garbage collector
/// deletes the object with the pod.
pub fn owned_by_pod(pod: &str, uid: &str) -> Value {
    json!({ "metadata": { "ownerReferences": [
        { "apiVersion": "v1", "kind": "Pod", "name": pod, "uid": uid },
    ] } })
}

/// The pod of one-off dyno `spec.name` (`paas run`): the release's image by digest and config
/// Secret, then `spec.env` over them from the run's own Secret ([`one_off_env_secret`], when
/// there are any), `DYNO=run.N`, no `PORT`, stdin open for one attach (and a terminal if asked),
/// never restarted, stopped by the cluster after the run's timeout.
pub fn one_off_pod_object(
    deployment: &Deployment,
    settings: &ClusterSettings,
    spec: &crate::scheduler::OneOffSpec,
    pod: &str,
) -> Value {
    let app = deployment.app.name();
    let mut container = container(deployment, settings, "run", &spec.command);
    container["command"] = literal_args(crate::scheduler::one_off_args(&spec.command, true));
    container["env"] = json!([
        { "name": "DYNO", "value": spec.name },
        { "name": "PS", "value": spec.name },
    ]);
    if !spec.env.is_empty() {
        // A later source wins over an earlier one for the same name.
        container["envFrom"]
            .as_array_mut()
            .expect("the release's Secret")
            .push(json!({ "secretRef": { "name": one_off_env_secret_name(pod) } }));
    }
    container["stdin"] = json!(true);
    container["stdinOnce"] = json!(true);
    container["tty"] = json!(spec.terminal.is_some());
    let mut pod_spec = pod_spec(container, settings);
    pod_spec["restartPolicy"] = json!("Never");
    pod_spec["activeDeadlineSeconds"] = json!(spec.timeout.as_secs().max(1));
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod,
            "namespace": namespace(app),
            "labels": { NAME: app, MANAGED_BY: "paas", RUN: pod },
            "annotations": { RELEASE: format!("v{}", deployment.release) },
        },
        "spec": pod_spec,
    })
}

/// The Service of the app's `web` pods, or (`process_type` [`CANARY_TYPE`]) its canary's.
pub fn service_object(app: &str, process_type: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": deployment_name(app, process_type), "namespace": namespace(app), "labels": labels(app) },
        "spec": {
            "selector": { NAME: app, PROCESS_TYPE: process_type },
            "ports": [{ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" }],
        },
    })
}

/// The app's Ingress: `<app>.<domain>` and each custom domain to its web Service. TLS: each
/// uploaded certificate from its Secret ([`tls_secret`]) for the domains it covers; with ACM on
/// and a cert-manager issuer, cert-manager's `cluster-issuer` annotation and one Secret
/// `<app>-acm-tls` it fills for every custom domain.
pub fn ingress_object(app: &str, settings: &ClusterSettings, edge: &EdgeSpec) -> Value {
    let backend = json!({ "paths": [{
        "path": "/",
        "pathType": "Prefix",
        "backend": { "service": { "name": deployment_name(app, "web"), "port": { "name": "http" } } },
    }] });
    let rules: Vec<Value> = std::iter::once(format!("{app}.{}", settings.domain))
        .chain(edge.domains.iter().cloned())
        .map(|host| json!({ "host": host, "http": backend }))
        .collect();
    let mut tls: Vec<Value> = edge
        .certs
        .iter()
        .filter(|cert| cert.manual)
        .filter_map(|cert| {
            let hosts: Vec<&String> = edge
                .domains
                .iter()
                .filter(|d| cert.names.iter().any(|n| crate::router::name_matches(n, d)))
                .collect();
            (!hosts.is_empty())
                .then(|| json!({ "hosts": hosts, "secretName": tls_secret_name(app, &cert.name) }))
        })
        .collect();
    let mut annotations = serde_json::Map::new();
    if let Some(issuer) = settings
        .cert_manager_issuer
        .as_ref()
        .filter(|_| edge.settings.acm && !edge.domains.is_empty())
    {
        annotations.insert(CERT_MANAGER_ISSUER.to_owned(), json!(issuer));
        tls.push(json!({ "hosts": edge.domains, "secretName": format!("{app}-acm-tls") }));
    }
    let mut spec = json!({ "rules": rules });
    if !tls.is_empty() {
        spec["tls"] = json!(tls);
    }
    if let Some(class) = &settings.ingress_class {
        spec["ingressClassName"] = json!(class);
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": app,
            "namespace": namespace(app),
            "labels": labels(app),
            "annotations": annotations,
        },
        "spec": spec,
    })
}

/// The canary Ingress of a canary at `weight` percent: the app's Ingress for the same hosts,
/// sending that share of requests to the canary's Service (ingress-nginx's weight-based canary,
/// chosen per request: the ingress sets no cookie). TLS stays with the app's own Ingress.
pub fn canary_ingress_object(
    app: &str,
    settings: &ClusterSettings,
    edge: &EdgeSpec,
    weight: u8,
) -> Value {
    let mut ingress = ingress_object(app, settings, edge);
    ingress["metadata"]["name"] = json!(canary_ingress_name(app));
    ingress["metadata"]["annotations"] =
        json!({ NGINX_CANARY: "true", NGINX_CANARY_WEIGHT: weight.to_string() });
    if let Some(spec) = ingress["spec"].as_object_mut() {
        spec.remove("tls");
    }
    for rule in ingress["spec"]["rules"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        for path in rule["http"]["paths"].as_array_mut().into_iter().flatten() {
            path["backend"]["service"]["name"] = json!(deployment_name(app, CANARY_TYPE));
        }
    }
    ingress
}

/// The annotation that has cert-manager's ingress-shim get a certificate for an Ingress's `tls`
/// hosts from a ClusterIssuer.
pub const CERT_MANAGER_ISSUER: &str = "cert-manager.io/cluster-issuer";

pub fn tls_secret_name(app: &str, cert: &str) -> String {
    format!("{app}-{cert}")
}

/// The `kubernetes.io/tls` Secret of an uploaded certificate, for the Ingress controller.
pub fn tls_secret(app: &str, cert: &EdgeCert) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": tls_secret_name(app, &cert.name),
            "namespace": namespace(app),
            "labels": labels(app),
        },
        "type": "kubernetes.io/tls",
        "stringData": { "tls.crt": cert.chain, "tls.key": cert.private_key },
    })
}

/// The Secret `<addon>-service` an add-on's pod takes its environment from: its port, secrets and
/// listening address (every address of the pod).
pub fn addon_secret(spec: &ServiceSpec) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": format!("{}-service", spec.name),
            "namespace": namespace(spec.app.name()),
            "labels": addon_labels(spec),
        },
        "type": "Opaque",
        "stringData": addon_env(spec),
    })
}

/// The environment of an add-on's service: its port, its secrets, and its listening address
/// (every address of the pod).
fn addon_env(spec: &ServiceSpec) -> BTreeMap<String, String> {
    let mut env = spec.env.clone();
    env.insert("PAAS_LISTEN".to_owned(), "0.0.0.0".to_owned());
    env
}

/// The SHA-256 of an environment, in hex: what changes a template when the environment changes,
/// without saying anything of its secrets.
fn env_digest(env: &BTreeMap<String, String>) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for (name, value) in env {
        // Lengths first: no two environments hash the same bytes.
        hash.update((name.len() as u64).to_be_bytes());
        hash.update(name);
        hash.update((value.len() as u64).to_be_bytes());
        hash.update(value);
    }
    format!("{:x}", hash.finalize())
}

/// A container of the services image as the services user, running `args`, its environment from
/// Secret `secret`.
fn services_container(
    spec: &ServiceSpec,
    settings: &ClusterSettings,
    name: &str,
    args: Vec<String>,
    secret: &str,
) -> Value {
    let uid = crate::build::stack::SERVICE_UID;
    json!({
        "name": name,
        "image": format!(
            "{}/{}@{}",
            settings.registry,
            crate::scheduler::SERVICES_REPOSITORY,
            spec.image
        ),
        "command": literal_args(args),
        "env": crate::scheduler::SERVICES_ENV
            .map(|(name, value)| json!({ "name": name, "value": value })),
        "envFrom": [{ "secretRef": { "name": secret } }],
        "securityContext": {
            "runAsUser": uid,
            "runAsGroup": uid,
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
        },
    })
}

/// The pod `pod` of a task of add-on `spec` (a backup, a restore, a password change): the
/// services image running `command` behind the attach gate (as a one-off does), its environment
/// from its own Secret ([`one_off_env_secret`]), an empty `SERVICE_BACKUPS` folder for the file
/// it writes or reads, stdin open for one attach, never restarted, stopped by the cluster after
/// `timeout`.
pub fn service_task_pod(
    spec: &ServiceSpec,
    settings: &ClusterSettings,
    pod: &str,
    command: &str,
    timeout: std::time::Duration,
) -> Value {
    let args = crate::scheduler::one_off_args(command, true);
    let mut container =
        services_container(spec, settings, "task", args, &one_off_env_secret_name(pod));
    container["volumeMounts"] =
        json!([{ "name": "backups", "mountPath": crate::scheduler::SERVICE_BACKUPS }]);
    container["stdin"] = json!(true);
    container["stdinOnce"] = json!(true);
    let mut pod_spec = pod_spec(container, settings);
    pod_spec["restartPolicy"] = json!("Never");
    pod_spec["activeDeadlineSeconds"] = json!(timeout.as_secs().max(1));
    pod_spec["volumes"] = json!([{ "name": "backups", "emptyDir": {} }]);
    let mut labels = addon_labels(spec);
    labels[RUN] = json!(pod);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": pod, "namespace": namespace(spec.app.name()), "labels": labels },
        "spec": pod_spec,
    })
}

fn addon_labels(spec: &ServiceSpec) -> Value {
    json!({ NAME: spec.app.name(), MANAGED_BY: "paas", ADDON: spec.name })
}

/// The headless Service `<addon>` that names the add-on's pod in the cluster's DNS
/// (`<addon>.paas-<app>.svc`).
pub fn addon_service(spec: &ServiceSpec) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": spec.name,
            "namespace": namespace(spec.app.name()),
            "labels": addon_labels(spec),
        },
        "spec": {
            "clusterIP": "None",
            "selector": { ADDON: spec.name },
            "ports": [{ "name": "service", "port": spec.port, "targetPort": spec.port, "protocol": "TCP" }],
        },
    })
}

/// The StatefulSet `<addon>`: one pod of the services image (by digest) running the provider's
/// service as the services user, ready when it accepts TCP on its port, with the provider's init
/// as an init container, its environment from [`addon_secret`], and its data on a volume claim
/// of its own (`data-<addon>-0`, [`ADDON_STORAGE`], the configured storage class).
pub fn addon_statefulset(spec: &ServiceSpec, settings: &ClusterSettings) -> Value {
    let uid = crate::build::stack::SERVICE_UID;
    let container = |name: &str, args: &[String]| {
        let secret = format!("{}-service", spec.name);
        let mut container = services_container(spec, settings, name, args.to_vec(), &secret);
        container["volumeMounts"] =
            json!([{ "name": "data", "mountPath": crate::scheduler::SERVICE_VOLUME }]);
        container
    };
    let mut service = container("service", &spec.args);
    service["ports"] = json!([{ "name": "service", "containerPort": spec.port }]);
    service["readinessProbe"] = match spec.readiness {
        ServiceReadiness::Tcp => json!({ "tcpSocket": { "port": spec.port }, "periodSeconds": 2 }),
        ServiceReadiness::Postgres => json!({
            "exec": { "command": ["pg_isready", "--quiet", "--host=127.0.0.1", format!("--port={}", spec.port)] },
            "periodSeconds": 2,
        }),
    };
    let mut pod = pod_spec(service, settings);
    pod["securityContext"] = json!({ "fsGroup": uid });
    // A new environment (rotated passwords) is a new template: the pod starts again with it.
    let mut template = json!({ "metadata": { "labels": addon_labels(spec) } });
    template["metadata"]["annotations"] = json!({ SERVICE_ENV: env_digest(&addon_env(spec)) });
    if let Some(init) = &spec.init {
        pod["initContainers"] = json!([container("init", init)]);
    }
    let mut claim = json!({
        "metadata": { "name": "data" },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": { "requests": { "storage": ADDON_STORAGE } },
        },
    });
    if let Some(class) = &settings.storage_class {
        claim["spec"]["storageClassName"] = json!(class);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": spec.name,
            "namespace": namespace(spec.app.name()),
            "labels": addon_labels(spec),
        },
        "spec": {
            "serviceName": spec.name,
            "replicas": 1,
            "selector": { "matchLabels": { ADDON: spec.name } },
            "template": { "metadata": template["metadata"], "spec": pod },
            "volumeClaimTemplates": [claim],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn deployment() -> Deployment {
        Deployment {
            image_repository: None,
            app: crate::app::AppRef {
                id: "0123456789abcdef".into(),
                name: paas_share::AppName::parse("shop").expect("valid"),
            },
            release: 7,
            image: "sha256:abc".into(),
            process_types: BTreeMap::from([
                ("web".into(), "busybox httpd -f -p $PORT".into()),
                ("worker".into(), "sh worker.sh".into()),
            ]),
            release_command: None,
            formation: BTreeMap::from([("web".into(), 2), ("worker".into(), 0)]),
            config_vars: BTreeMap::from([("GREETING".into(), "hi".into())]),
        }
    }

    fn settings() -> ClusterSettings {
        ClusterSettings {
            registry: "registry.example.com/paas".into(),
            domain: "apps.example.com".into(),
            ingress_class: Some("nginx".into()),
            progress_deadline_seconds: 120,
            termination_grace_seconds: 30,
            pull_secret: true,
            auto_rollback: true,
            storage_class: Some("fast".into()),
            cert_manager_issuer: None,
        }
    }

    #[test]
    fn custom_domains_become_ingress_rules_with_tls() {
        let cert = EdgeCert {
            name: "cert-1a2b3c4d".into(),
            names: vec!["*.example.org".into()],
            chain: "CHAIN".into(),
            private_key: "KEY".into(),
            manual: true,
            not_before: 0,
            not_after: i64::MAX,
        };
        let mut edge = EdgeSpec {
            domains: vec!["www.example.com".into(), "a.example.org".into()],
            certs: vec![cert.clone()],
            ..EdgeSpec::default()
        };
        let ingress = ingress_object("shop", &settings(), &edge);
        let hosts: Vec<&str> = ingress["spec"]["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .map(|r| r["host"].as_str().expect("host"))
            .collect();
        assert_eq!(
            hosts,
            ["shop.apps.example.com", "www.example.com", "a.example.org"]
        );
        assert_eq!(
            ingress["spec"]["tls"],
            json!([{ "hosts": ["a.example.org"], "secretName": "shop-cert-1a2b3c4d" }])
        );
        assert!(ingress["metadata"]["annotations"][CERT_MANAGER_ISSUER].is_null());
        let secret = tls_secret("shop", &cert);
        assert_eq!(secret["type"], "kubernetes.io/tls");
        assert_eq!(secret["metadata"]["name"], "shop-cert-1a2b3c4d");
        assert_eq!(secret["stringData"]["tls.key"], "KEY");

        // ACM through cert-manager: the annotation, and one Secret for every custom domain.
        edge.settings.acm = true;
        edge.certs.clear();
        let with_issuer = ClusterSettings {
            cert_manager_issuer: Some("letsencrypt".into()),
            ..settings()
        };
        let ingress = ingress_object("shop", &with_issuer, &edge);
        assert_eq!(
            ingress["metadata"]["annotations"][CERT_MANAGER_ISSUER],
            "letsencrypt"
        );
        assert_eq!(
            ingress["spec"]["tls"],
            json!([{ "hosts": ["www.example.com", "a.example.org"], "secretName": "shop-acm-tls" }])
        );
        // Without an issuer, ACM on Kubernetes adds nothing (the API refuses to turn it on).
        let ingress = ingress_object("shop", &settings(), &edge);
        assert!(ingress["spec"]["tls"].is_null());

        // A canary's Ingress: the same hosts to the canary's Service, ingress-nginx's canary
        // annotations and nothing else (TLS stays with the app's Ingress).
        let canary = canary_ingress_object("shop", &with_issuer, &edge, 20);
        assert_eq!(canary["metadata"]["name"], "shop-canary");
        assert_eq!(
            canary["metadata"]["annotations"],
            json!({ NGINX_CANARY: "true", NGINX_CANARY_WEIGHT: "20" })
        );
        assert!(canary["spec"]["tls"].is_null());
        assert_eq!(canary["spec"]["ingressClassName"], "nginx");
        for rule in canary["spec"]["rules"].as_array().expect("rules") {
            assert_eq!(
                rule["http"]["paths"][0]["backend"]["service"]["name"],
                "shop-web-canary"
            );
        }
        assert_eq!(canary["spec"]["rules"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn process_types_kubernetes_refuses_are_named() {
        assert_eq!(process_type_refused("shop", "worker"), None);
        assert_eq!(process_type_refused("shop", "clock-2"), None);
        for refused in ["my_worker", "Web", &"w".repeat(60)] {
            let said = process_type_refused("shop", refused).expect(refused);
            assert!(said.contains("rename it in the Procfile"), "{said}");
        }
    }

    #[test]
    fn web_deployment_fields() {
        let d = deployment_object(&deployment(), &settings(), "web", 2);
        assert_eq!(d["metadata"]["name"], "shop-web");
        assert_eq!(d["metadata"]["namespace"], "paas-shop");
        assert_eq!(d["metadata"]["annotations"][RELEASE], "v7");
        assert_eq!(d["metadata"]["labels"][PROCESS_TYPE], "web");
        assert_eq!(d["metadata"]["labels"][MANAGED_BY], "paas");
        assert_eq!(d["spec"]["replicas"], 2);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 120);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
        let template = &d["spec"]["template"];
        assert_eq!(template["metadata"]["annotations"][RELEASE], "v7");
        assert_eq!(
            d["spec"]["selector"]["matchLabels"],
            json!({ NAME: "shop", PROCESS_TYPE: "web" })
        );
        let pod = &template["spec"];
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["imagePullSecrets"][0]["name"], PULL_SECRET);
        let container = &pod["containers"][0];
        assert_eq!(
            container["image"],
            "registry.example.com/paas/shop@sha256:abc"
        );
        assert_eq!(container["command"][0], "/bin/sh");
        // Doubled: Kubernetes would expand `$(NAME)` and turn `$$` into `$`.
        assert_eq!(container["command"][4], "busybox httpd -f -p $$PORT");
        assert_eq!(
            container["env"][0],
            json!({ "name": "PORT", "value": "5000" })
        );
        assert_eq!(container["envFrom"][0]["secretRef"]["name"], "shop-env-v7");
        assert_eq!(container["readinessProbe"]["tcpSocket"]["port"], 5000);
        assert_eq!(container["ports"][0]["containerPort"], 5000);
    }

    #[test]
    fn other_types_have_no_probe_and_a_health_path_makes_an_http_probe() {
        let worker = deployment_object(&deployment(), &settings(), "worker", 0);
        let container = &worker["spec"]["template"]["spec"]["containers"][0];
        assert!(container.get("readinessProbe").is_none());
        assert!(container.get("ports").is_none());
        let mut checked = deployment();
        checked
            .config_vars
            .insert(crate::scheduler::HEALTH_CHECK_PATH_VAR.into(), "/up".into());
        let web = deployment_object(&checked, &settings(), "web", 1);
        assert_eq!(
            web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"],
            "/up"
        );
    }

    #[test]
    fn secret_service_ingress() {
        let secret = config_secret(&deployment());
        assert_eq!(secret["metadata"]["name"], "shop-env-v7");
        assert_eq!(secret["immutable"], true);
        assert_eq!(secret["stringData"]["GREETING"], "hi");
        let service = service_object("shop", "web");
        assert_eq!(service["spec"]["selector"][PROCESS_TYPE], "web");
        let ingress = ingress_object("shop", &settings(), &EdgeSpec::default());
        assert_eq!(ingress["spec"]["rules"][0]["host"], "shop.apps.example.com");
        assert!(
            ingress["spec"]["tls"].is_null(),
            "no certificate, no tls section"
        );
        assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
        assert_eq!(
            ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
            "shop-web"
        );
        let pull = pull_secret("shop", "registry.example.com", "u", "p");
        let config: Value = serde_json::from_str(
            pull["stringData"][".dockerconfigjson"]
                .as_str()
                .expect("a string"),
        )
        .expect("JSON");
        assert_eq!(config["auths"]["registry.example.com"]["auth"], "dTpw");
        assert_eq!(
            namespace_object("shop")["metadata"]["labels"][MANAGED_BY],
            "paas"
        );
    }

    #[test]
    fn a_release_phase_is_a_job_run_once_with_a_deadline() {
        let job = job_object(
            &deployment(),
            &settings(),
            "release.7",
            "rake db:migrate",
            1800,
        );
        assert_eq!(job["metadata"]["name"], "release-7");
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(job["spec"]["activeDeadlineSeconds"], 1800);
        let pod = &job["spec"]["template"];
        assert_eq!(pod["metadata"]["labels"][ONE_OFF], "release-7");
        assert!(pod["metadata"]["labels"].get(PROCESS_TYPE).is_none());
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["name"], "release");
        assert_eq!(
            container["image"],
            "registry.example.com/paas/shop@sha256:abc"
        );
        assert_eq!(container["command"][4], "rake db:migrate");
        assert_eq!(container["envFrom"][0]["secretRef"]["name"], "shop-env-v7");
    }

    #[test]
    fn a_run_is_a_pod_with_stdin_and_a_deadline() {
        let spec = crate::scheduler::OneOffSpec {
            name: "run.2".to_owned(),
            command: "python manage.py shell".to_owned(),
            env: [("DEBUG".to_owned(), "1".to_owned())].into(),
            terminal: Some(paas_share::models::WindowSize {
                columns: 80,
                lines: 24,
            }),
            timeout: std::time::Duration::from_secs(600),
        };
        let pod = one_off_pod_object(&deployment(), &settings(), &spec, "run-2-abc");
        assert_eq!(pod["metadata"]["name"], "run-2-abc");
        assert_eq!(pod["metadata"]["labels"][RUN], "run-2-abc");
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(pod["spec"]["activeDeadlineSeconds"], 600);
        let container = &pod["spec"]["containers"][0];
        assert_eq!(
            (
                container["stdin"].clone(),
                container["stdinOnce"].clone(),
                container["tty"].clone()
            ),
            (json!(true), json!(true), json!(true))
        );
        assert_eq!(container["command"][4], "python manage.py shell");
        // `DEBUG` is in the run's own Secret, after the release's: not in the pod's spec.
        assert_eq!(
            container["env"],
            json!([
                { "name": "DYNO", "value": "run.2" },
                { "name": "PS", "value": "run.2" },
            ])
        );
        assert_eq!(container["envFrom"][0]["secretRef"]["name"], "shop-env-v7");
        assert_eq!(
            container["envFrom"][1]["secretRef"]["name"],
            "run-2-abc-env"
        );
        let secret = one_off_env_secret("shop", "run-2-abc", &spec.env);
        assert_eq!(secret["metadata"]["name"], "run-2-abc-env");
        assert_eq!(secret["stringData"]["DEBUG"], "1");
    }
}
