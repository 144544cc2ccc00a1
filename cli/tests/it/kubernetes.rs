//! The Kubernetes scheduler against a real kube-apiserver and controller manager (the fixture
//! cluster; a fake kubelet marks pods Ready): push → rollout → config → scale → rollback → restart
//! → destroy, with the objects read back from the cluster; a release phase as a Job that passes,
//! fails and times out; a rollout that never gets ready; a cluster that cannot be reached; a
//! namespace paas did not make. And on a real node (containerd, CNI, the kubelet): a pushed app
//! pulled with paas's pull Secret, Ready by its real probe, serving from its pod.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use paas_tests::k8s::{FakeKubelet, RealNode, TestCluster};
use paas_tests::{CliEnv, Fault, FaultyProxy, Stack, TestRegistry, TestServer, transcript};
use serde_json::{Value, json};

use super::one_off::{on_terminal, read_until};
use super::push::{push_watched, stderr_of};
use super::run::{ok, paas, paas_with_stdin, push};
use super::{paas_bin, server_bin};

/// The marker that keeps a pod from ever becoming Ready.
const NEVER_READY: &str = "never-ready";

/// What runs the tests' pods.
enum Node {
    /// Pods are marked Ready and nothing runs: for tests that read objects back or need a pod
    /// that can never start.
    Fake { _kubelet: FakeKubelet },
    /// A real node; its sandbox image comes from a registry of its own, without a login.
    Real {
        node: Box<RealNode>,
        _images: TestRegistry,
    },
}

/// A server on a test cluster. Fields drop in order: the node drains its pods through the
/// cluster, which goes last.
struct Kube {
    cli: CliEnv,
    server: TestServer,
    node: Node,
    /// In front of the registry, for both the server and the node, when a test asked for one.
    proxy: Option<FaultyProxy>,
    _registry: TestRegistry,
    registry_prefix: String,
    cluster: TestCluster,
}

impl Kube {
    /// The real node, for its logs and its kubelet.
    fn node(&mut self) -> &mut RealNode {
        match &mut self.node {
            Node::Real { node, .. } => node,
            Node::Fake { .. } => panic!("a test on the fake kubelet"),
        }
    }

    /// The node's logs (a real node's) and the cluster's, for failure messages.
    fn logs(&self) -> String {
        match &self.node {
            Node::Real { node, .. } => format!("{}\n{}", self.server.log(), node.logs()),
            Node::Fake { .. } => format!("{}\n{}", self.server.log(), self.cluster.logs()),
        }
    }
}

/// A server on the cluster of `kubeconfig`, pushing to `registry`, with the busybox stack, and a
/// CLI that can push to it.
fn kubernetes_server(
    kubeconfig: &Path,
    registry: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (TestServer, CliEnv) {
    let mut args = vec![
        "--scheduler",
        "kubernetes",
        "--registry",
        registry,
        "--registry-insecure",
        "--kubeconfig",
        kubeconfig.to_str().expect("utf-8"),
    ];
    args.extend(extra);
    let server = TestServer::start_with(&server_bin(), &args, env);
    server.install_stack(Stack::Busybox);
    let cli = CliEnv::pusher(paas_bin(), &server);
    (server, cli)
}

fn on_kubernetes() -> Kube {
    on_kubernetes_with(&[])
}

/// On the fake kubelet, with short deadlines (4 s to roll out, 5 s for a release phase).
fn on_kubernetes_with(extra: &[&str]) -> Kube {
    let cluster = TestCluster::start();
    let kubelet = FakeKubelet::start(&cluster, NEVER_READY);
    let flags = ["--progress-deadline", "4", "--release-timeout", "5"];
    start_server(
        cluster,
        Node::Fake { _kubelet: kubelet },
        &[&flags[..], extra].concat(),
    )
}

/// On a real node, with `progress_deadline` seconds to roll out, 10 s for a release phase and 3 s
/// of stop grace.
fn on_a_real_node(progress_deadline: u32) -> Kube {
    real_node(progress_deadline, None, &[])
}

/// [`on_a_real_node`], with the registry behind a [`FaultyProxy`] (no faults yet) that the server
/// pushes through and the node pulls through.
fn on_a_real_node_behind_a_proxy(progress_deadline: u32) -> Kube {
    let registry = TestRegistry::start_with_htpasswd("paas", "s3cret");
    let proxy = FaultyProxy::start(&registry.addr, Vec::new());
    real_node(progress_deadline, Some((registry, proxy)), &[])
}

fn real_node(
    progress_deadline: u32,
    proxied: Option<(TestRegistry, FaultyProxy)>,
    extra: &[&str],
) -> Kube {
    let cluster = TestCluster::start();
    let images = TestRegistry::start();
    let started = Instant::now();
    // The app's registry is known before the node starts: the node trusts it as a mirror.
    let (registry, proxy) = match proxied {
        Some((registry, proxy)) => (registry, Some(proxy)),
        None => (TestRegistry::start_with_htpasswd("paas", "s3cret"), None),
    };
    let app_registry = proxy.as_ref().map_or(&registry.addr, |p| &p.addr);
    let node = RealNode::start(&cluster, &[&images.addr, app_registry]);
    eprintln!(
        "a real node was Ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let deadline = progress_deadline.to_string();
    let flags = [
        "--progress-deadline",
        &deadline,
        "--release-timeout",
        "10",
        "--stop-grace",
        "3",
    ];
    start_server_with(
        cluster,
        Node::Real {
            node: Box::new(node),
            _images: images,
        },
        (registry, proxy),
        &[&flags[..], extra].concat(),
    )
}

fn start_server(cluster: TestCluster, node: Node, extra: &[&str]) -> Kube {
    // A registry with Basic auth: the cluster pulls with a Secret paas makes.
    let registry = TestRegistry::start_with_htpasswd("paas", "s3cret");
    start_server_with(cluster, node, (registry, None), extra)
}

fn start_server_with(
    cluster: TestCluster,
    node: Node,
    (registry, proxy): (TestRegistry, Option<FaultyProxy>),
    extra: &[&str],
) -> Kube {
    let registry_prefix = format!(
        "{}/paas",
        proxy.as_ref().map_or(&registry.addr, |p| &p.addr)
    );
    let (server, cli) = kubernetes_server(
        &cluster.service_account_kubeconfig(true),
        &registry_prefix,
        &[
            &["--registry-username", "paas", "--domain", "apps.test"][..],
            extra,
        ]
        .concat(),
        &[("PAAS_REGISTRY_PASSWORD", "s3cret")],
    );
    Kube {
        cli,
        server,
        node,
        proxy,
        _registry: registry,
        registry_prefix,
        cluster,
    }
}

/// Pushes `repo` and checks that it went live.
fn push_ok(kube: &Kube, repo: &Path) {
    let output = push(&kube.cli, repo);
    assert!(
        output.status.success(),
        "{}\n{}",
        transcript(&output),
        kube.logs()
    );
}

/// The pods of `app` that are Ready and not going, as the cluster has them.
fn ready_pods(kube: &Kube, app: &str) -> Vec<Value> {
    let pods = kube
        .cluster
        .get(&format!("/api/v1/namespaces/paas-{app}/pods"))
        .unwrap_or_default();
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["metadata"]["deletionTimestamp"].is_null()
                && p["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .cloned()
        .collect()
}

/// What each Ready web pod of `app` serves at `/`, fetched from the host at its pod IP.
fn pages(kube: &Kube, app: &str) -> Vec<String> {
    ready_pods(kube, app)
        .iter()
        .filter(|p| p["metadata"]["labels"]["paas/process-type"] == "web")
        .map(|pod| {
            let ip = pod["status"]["podIP"].as_str().expect("a pod IP");
            get_page(&format!("http://{ip}:5000/"))
        })
        .collect()
}

/// The body at `url`, or the error.
fn get_page(url: &str) -> String {
    get_page_with(&[url])
}

/// What `curl -sS --max-time 5 ARGS` prints: the body, or the error.
fn get_page_with(args: &[&str]) -> String {
    let page = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .args(args)
        .output()
        .expect("curl");
    format!(
        "{}{}",
        String::from_utf8_lossy(&page.stdout),
        String::from_utf8_lossy(&page.stderr)
    )
}

fn deployment(kube: &Kube, app: &str, process_type: &str) -> Value {
    kube.cluster
        .get(&format!(
            "/apis/apps/v1/namespaces/paas-{app}/deployments/{app}-{process_type}"
        ))
        .unwrap_or_else(|| panic!("no deployment {app}-{process_type}"))
}

fn release_image(cli: &CliEnv, repo: &Path, version: u32) -> String {
    let release: Value = serde_json::from_str(&ok(
        cli,
        repo,
        &["releases", "info", &format!("v{version}"), "--json"],
    ))
    .expect("JSON");
    release["image"].as_str().expect("an image").to_owned()
}

/// Waits until `check` holds for what the cluster reports (controllers act asynchronously).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The page of the envpage web process (`greeting=$GREETING dyno=$DYNO`), with a worker.
const ENVPAGE: &str = "web: mkdir -p /tmp/www && echo \"greeting=$GREETING dyno=$DYNO\" > /tmp/www/index.html && exec busybox httpd -f -p $PORT -h /tmp/www\nworker: sh -c \"echo working; sleep 3600\"\n";

/// Every page `app`'s web pods serve says `greeting=<greeting>`, and there are `count` of them.
fn assert_pages(kube: &Kube, app: &str, greeting: &str, count: usize) {
    let pages = pages(kube, app);
    assert!(
        pages.len() == count
            && pages
                .iter()
                .all(|p| p.starts_with(&format!("greeting={greeting} dyno={app}-web-"))),
        "{count} pods saying greeting={greeting}: {pages:?}\n{}",
        kube.logs()
    );
}

#[test]
fn push_scale_rollback_restart_and_destroy_on_a_real_node() {
    let kube = on_a_real_node(60);
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("procfile");
    std::fs::write(repo.join("Procfile"), ENVPAGE).expect("write");
    cli.commit_all(&repo, "a page");
    ok(cli, &repo, &["create", "kapp"]);
    let output = push(cli, &repo);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{}", kube.logs());
    assert!(
        stderr.contains("remote: -----> v1 is up: http://kapp.apps.test/"),
        "{stderr}"
    );
    assert_pages(&kube, "kapp", "", 1);

    // The objects, field by field (DESIGN §3.9).
    let namespace = cluster
        .get("/api/v1/namespaces/paas-kapp")
        .expect("namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "paas"
    );
    let web = deployment(&kube, "kapp", "web");
    let image = release_image(cli, &repo, 1);
    assert_eq!(web["spec"]["replicas"], 1);
    assert_eq!(web["metadata"]["annotations"]["paas/release"], "v1");
    assert_eq!(web["metadata"]["labels"]["paas/process-type"], "web");
    assert_eq!(web["metadata"]["labels"]["app.kubernetes.io/name"], "kapp");
    assert_eq!(web["spec"]["progressDeadlineSeconds"], 60);
    assert_eq!(
        web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let template = &web["spec"]["template"];
    assert_eq!(template["metadata"]["annotations"]["paas/release"], "v1");
    let pod = &template["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 3, "--stop-grace");
    assert_eq!(pod["imagePullSecrets"][0]["name"], "paas-registry");
    let pull = cluster
        .get("/api/v1/namespaces/paas-kapp/secrets/paas-registry")
        .expect("the image-pull Secret");
    assert_eq!(pull["type"], "kubernetes.io/dockerconfigjson");
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        format!("{}/kapp@{image}", kube.registry_prefix)
    );
    assert_eq!(container["readinessProbe"]["tcpSocket"]["port"], 5000);
    assert_eq!(container["envFrom"][0]["secretRef"]["name"], "kapp-env-v1");
    assert!(
        container["env"]
            .as_array()
            .expect("env")
            .contains(&json!({ "name": "PORT", "value": "5000" }))
    );
    assert_eq!(deployment(&kube, "kapp", "worker")["spec"]["replicas"], 0);
    let secret = cluster
        .get("/api/v1/namespaces/paas-kapp/secrets/kapp-env-v1")
        .expect("the release's Secret");
    assert_eq!(secret["immutable"], true);
    let service = cluster
        .get("/api/v1/namespaces/paas-kapp/services/kapp-web")
        .expect("service");
    assert_eq!(service["spec"]["selector"]["paas/process-type"], "web");
    let ingress = cluster
        .get("/apis/networking.k8s.io/v1/namespaces/paas-kapp/ingresses/kapp")
        .expect("ingress");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "kapp.apps.test");

    // A custom domain is a rule of the Ingress; an uploaded certificate a TLS Secret in its `tls`
    // section. ACM needs cert-manager, which this server was not given.
    ok(cli, &repo, &["domains:add", "www.kapp.test"]);
    let ca = paas_tests::tls::TestCa::new("paas test CA");
    let (chain, key) = ca.leaf(&["www.kapp.test"]);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("chain.pem"), chain).expect("write");
    std::fs::write(dir.path().join("key.pem"), key).expect("write");
    let cert = ok(
        cli,
        &repo,
        &[
            "certs:add",
            dir.path().join("chain.pem").to_str().expect("utf-8"),
            dir.path().join("key.pem").to_str().expect("utf-8"),
            "--json",
        ],
    );
    let cert: Value = serde_json::from_str(&cert).expect("JSON");
    let secret_name = format!("kapp-{}", cert["name"].as_str().expect("name"));
    let ingress = cluster
        .get("/apis/networking.k8s.io/v1/namespaces/paas-kapp/ingresses/kapp")
        .expect("ingress");
    assert_eq!(ingress["spec"]["rules"][1]["host"], "www.kapp.test");
    assert_eq!(
        ingress["spec"]["tls"],
        json!([{ "hosts": ["www.kapp.test"], "secretName": secret_name }])
    );
    let tls = cluster
        .get(&format!(
            "/api/v1/namespaces/paas-kapp/secrets/{secret_name}"
        ))
        .expect("the certificate's Secret");
    assert_eq!(tls["type"], "kubernetes.io/tls");
    let output = paas(cli, &repo, &["certs:auto:enable"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("--k8s-cert-manager-issuer"),
        "{}",
        transcript(&output)
    );

    let ps: Vec<Value> = serde_json::from_str(&ok(cli, &repo, &["ps", "--json"])).expect("JSON");
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(
        (ps[0]["name"].as_str(), ps[0]["state"].as_str()),
        (Some("web.1"), Some("up"))
    );
    assert!(
        ps[0]["pod"]
            .as_str()
            .is_some_and(|p| p.starts_with("kapp-web-"))
    );
    let table = ok(cli, &repo, &["ps"]);
    assert!(
        table.starts_with("TYPE  DYNO   STATE  SINCE                 RELEASE  RESTARTS  POD")
            && table.contains("  kapp-web-"),
        "{table}"
    );
    // Namespaces cannot be renamed.
    let output = paas(cli, &repo, &["apps", "rename", "kapp2"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "apps on Kubernetes cannot be renamed: namespace paas-kapp cannot change its name"
        ),
        "{}",
        transcript(&output)
    );

    // A config change is a new release: a new Secret and a rollout; the old ReplicaSet empties.
    ok(cli, &repo, &["config", "set", "GREETING=hi"]);
    assert_pages(&kube, "kapp", "hi", 1);
    let web = deployment(&kube, "kapp", "web");
    assert_eq!(web["metadata"]["annotations"]["paas/release"], "v2");
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"],
        "kapp-env-v2"
    );
    let replica_sets = cluster
        .get("/apis/apps/v1/namespaces/paas-kapp/replicasets")
        .expect("replicasets");
    let old: Vec<&Value> = replica_sets["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|rs| rs["spec"]["template"]["metadata"]["annotations"]["paas/release"] == "v1")
        .collect();
    assert!(
        old.iter()
            .filter(|rs| rs["metadata"]["labels"]["paas/process-type"] == "web")
            .all(|rs| rs["spec"]["replicas"] == 0),
        "{old:?}"
    );

    // Scale changes replicas of the named type only.
    let worker_generation = deployment(&kube, "kapp", "worker")["metadata"]["generation"].clone();
    assert_eq!(ok(cli, &repo, &["scale", "web=3"]), "web=3 worker=0\n");
    assert_eq!(deployment(&kube, "kapp", "web")["spec"]["replicas"], 3);
    assert_eq!(
        deployment(&kube, "kapp", "worker")["metadata"]["generation"],
        worker_generation
    );
    let ps: Vec<Value> = serde_json::from_str(&ok(cli, &repo, &["ps", "--json"])).expect("JSON");
    let names: Vec<&str> = ps
        .iter()
        .map(|d| d["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["web.1", "web.2", "web.3"]);
    assert!(ps.iter().all(|d| d["state"] == "up"), "{ps:?}");
    assert_pages(&kube, "kapp", "hi", 3);
    // Replicas changed by hand (kubectl scale) come back to the formation at the next scale.
    cluster.merge_patch(
        "/apis/apps/v1/namespaces/paas-kapp/deployments/kapp-web",
        &json!({ "spec": { "replicas": 1 } }),
    );
    ok(cli, &repo, &["scale", "worker=1"]);
    assert_eq!(deployment(&kube, "kapp", "web")["spec"]["replicas"], 3);
    assert_eq!(deployment(&kube, "kapp", "worker")["spec"]["replicas"], 1);

    // Rollback to v1: v1's image and config in a new release v3.
    ok(cli, &repo, &["rollback", "v1"]);
    let web = deployment(&kube, "kapp", "web");
    assert_eq!(web["metadata"]["annotations"]["paas/release"], "v3");
    let container = &web["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["envFrom"][0]["secretRef"]["name"], "kapp-env-v3");
    assert_eq!(
        container["image"],
        format!("{}/kapp@{image}", kube.registry_prefix)
    );
    let secret = cluster
        .get("/api/v1/namespaces/paas-kapp/secrets/kapp-env-v3")
        .expect("v3's Secret");
    assert!(
        secret["data"].get("GREETING").is_none(),
        "v1's config: {secret}"
    );
    assert_pages(&kube, "kapp", "", 3);

    // Restart: a new pod template annotation, so new pods, rolled one at a time.
    let names = |kube: &Kube| -> Vec<String> {
        ready_pods(kube, "kapp")
            .iter()
            .filter(|p| p["metadata"]["labels"]["paas/process-type"] == "web")
            .map(|p| p["metadata"]["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let before = names(&kube);
    ok(cli, &repo, &["restart", "web"]);
    let web = deployment(&kube, "kapp", "web");
    assert!(
        web["spec"]["template"]["metadata"]["annotations"]["paas/restartedAt"].is_string(),
        "{web}"
    );
    let after = names(&kube);
    assert!(
        after.len() == 3 && after.iter().all(|n| !before.contains(n)),
        "new pods: {before:?} → {after:?}"
    );
    assert_pages(&kube, "kapp", "", 3);

    // Autoscaling is the cluster's: a HorizontalPodAutoscaler on CPU, which owns the replicas.
    super::run::refused(
        cli,
        &repo,
        &[
            "autoscale:enable",
            "web",
            "--min",
            "1",
            "--max",
            "4",
            "--p95",
            "300ms",
        ],
        1,
        "p95 targets need the paas router",
    );
    ok(
        cli,
        &repo,
        &[
            "autoscale:enable",
            "web",
            "--min",
            "2",
            "--max",
            "4",
            "--cpu",
            "70%",
        ],
    );
    // autoscaling/v2 from Kubernetes 1.23 on; v2beta2, with the same fields, before.
    let hpa_path = |version: &str| {
        format!(
            "/apis/autoscaling/{version}/namespaces/paas-kapp/horizontalpodautoscalers/kapp-web"
        )
    };
    let hpa = cluster
        .get(&hpa_path("v2"))
        .or_else(|| cluster.get(&hpa_path("v2beta2")))
        .expect("the web HorizontalPodAutoscaler");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"],
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "name": "kapp-web" })
    );
    assert_eq!(
        (
            hpa["spec"]["minReplicas"].as_u64(),
            hpa["spec"]["maxReplicas"].as_u64()
        ),
        (Some(2), Some(4))
    );
    assert_eq!(
        hpa["spec"]["metrics"],
        json!([{ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "AverageValue", "averageValue": "700m" } } }])
    );
    super::run::refused(
        cli,
        &repo,
        &["scale", "web=1"],
        1,
        "web is autoscaled between 2 and 4",
    );
    // What the autoscaler chose survives a deploy (the formation says 3).
    cluster.merge_patch(
        "/apis/apps/v1/namespaces/paas-kapp/deployments/kapp-web",
        &json!({ "spec": { "replicas": 4 } }),
    );
    ok(cli, &repo, &["config", "set", "GREETING=scaled"]);
    let web = deployment(&kube, "kapp", "web");
    assert_eq!(web["metadata"]["annotations"]["paas/release"], "v4");
    assert_eq!(web["spec"]["replicas"], 4, "{web}");
    ok(cli, &repo, &["autoscale:disable", "web"]);
    eventually("the HorizontalPodAutoscaler is gone", || {
        cluster.get(&hpa_path("v2beta2")).is_none() && cluster.get(&hpa_path("v2")).is_none()
    });
    ok(cli, &repo, &["scale", "web=1"]);
    assert_eq!(deployment(&kube, "kapp", "web")["spec"]["replicas"], 1);
    assert_pages(&kube, "kapp", "scaled", 1);

    // A web process that ignores SIGTERM is killed after the stop grace (3 s here), as a local
    // dyno is: its pod is gone within seconds, not the default 30.
    std::fs::write(
        repo.join("Procfile"),
        ENVPAGE.replace("web: ", "web: trap '' TERM; "),
    )
    .expect("write");
    cli.commit_all(&repo, "ignores SIGTERM");
    push_ok(&kube, &repo);
    let stubborn = names(&kube);
    assert_eq!(stubborn.len(), 1, "{stubborn:?}");
    let started = Instant::now();
    ok(cli, &repo, &["scale", "web=0"]);
    let pod_path = format!("/api/v1/namespaces/paas-kapp/pods/{}", stubborn[0]);
    while cluster.get(&pod_path).is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "the pod outlived its grace:\n{}",
            kube.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2500),
        "it ignored SIGTERM, so it ran out its grace: gone in {took:?}"
    );

    ok(cli, &repo, &["destroy", "--confirm", "kapp"]);
    eventually("the namespace is gone", || {
        cluster.get("/api/v1/namespaces/paas-kapp").is_none()
    });
}

#[test]
fn a_release_that_never_gets_ready_or_crashes_fails_and_the_previous_one_is_applied_again() {
    let kube = on_a_real_node(40);
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("procfile");
    std::fs::write(repo.join("Procfile"), ENVPAGE).expect("write");
    cli.commit_all(&repo, "a page");
    ok(cli, &repo, &["create", "stuck"]);
    push_ok(&kube, &repo);
    let with_web = |command: &str, message: &str| {
        std::fs::write(repo.join("Procfile"), format!("web: {command}\n")).expect("write");
        cli.commit_all(&repo, message);
        push(cli, &repo)
    };
    // Running but never listening on $PORT: the readiness probe never passes, the cluster fails
    // the rollout at its progress deadline (40 s here: below, a crash loop shows only once the
    // kubelet's first 10 s back-off has begun, well before it; at 25 s a busy CI machine's
    // kubelet had not yet reported a failed probe), and v1 is applied again.
    let output = with_web("echo never listening; sleep 600", "never ready");
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("v2 did not start") && stderr.contains("progress deadline exceeded"),
        "{stderr}"
    );
    assert!(stderr.contains("v1 was applied again"), "{stderr}");
    assert!(
        stderr.contains("it runs but is not ready: its readiness probe fails"),
        "says why the pod is not ready: {stderr}"
    );
    let releases: Vec<Value> =
        serde_json::from_str(&ok(cli, &repo, &["releases", "--json"])).expect("JSON");
    assert_eq!(releases[0]["status"], "failed");
    let web = deployment(&kube, "stuck", "web");
    assert_eq!(web["metadata"]["annotations"]["paas/release"], "v1");
    eventually("only v1's pod is left", || {
        ready_pods(&kube, "stuck").len() == 1
            && cluster
                .get("/api/v1/namespaces/paas-stuck/pods")
                .is_some_and(|p| p["items"].as_array().is_some_and(|i| i.len() == 1))
    });
    assert_pages(&kube, "stuck", "", 1);

    // A web process that exits as it starts: the node backs off restarting it, and the push fails
    // at once (not at the deadline) naming the pod and CrashLoopBackOff, with what it printed
    // before it ended; v1 keeps serving.
    let output = with_web("echo crashing: no DATABASE_URL >&2; exit 1", "crashes");
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("v3 did not start")
            && stderr.contains("pod stuck-web-")
            && stderr.contains("CrashLoopBackOff"),
        "{stderr}\n{}",
        kube.logs()
    );
    assert!(stderr.contains("v1 was applied again"), "{stderr}");
    assert!(
        !stderr.contains("progress deadline exceeded"),
        "failed at once, not at the deadline: {stderr}"
    );
    assert!(
        stderr.contains("its last output:") && stderr.contains("| crashing: no DATABASE_URL"),
        "{stderr}"
    );
    assert_pages(&kube, "stuck", "", 1);

    // A Procfile type Kubernetes cannot name: refused before anything is applied, in one line.
    std::fs::write(
        repo.join("Procfile"),
        format!("{ENVPAGE}my_worker: sleep 3600\n"),
    )
    .expect("write");
    cli.commit_all(&repo, "a type with an underscore");
    let output = push(cli, &repo);
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("process type \"my_worker\" cannot name a Kubernetes Deployment")
            && !stderr.contains("StatusCause"),
        "{stderr}"
    );
    assert_pages(&kube, "stuck", "", 1);

    // Destroyed while a release that never gets ready rolls out: the destroy does not wait for
    // the progress deadline, and the push says the release was not deployed (not that it
    // failed to start).
    std::fs::write(
        repo.join("Procfile"),
        "web: echo never listening; sleep 600\n",
    )
    .expect("write");
    cli.commit_all(&repo, "never ready again");
    let (git, said, output) = push_watched(cli, &repo);
    while let Ok(line) = said.recv() {
        if line.contains("stuck-web: ") {
            break;
        }
    }
    // The push ends as the destroy begins, not at the rollout's 40 s deadline (the destroy
    // itself then waits for the namespace to go).
    let started = Instant::now();
    let destroy = cli
        .command(&["destroy", "--confirm", "stuck"])
        .current_dir(&repo)
        .spawn()
        .expect("paas destroy");
    let mut git = git;
    assert!(!git.wait().expect("git push").success());
    let push_ended = started.elapsed();
    let stderr = output.join().expect("output");
    assert!(
        stderr.contains("was not deployed: the app was destroyed meanwhile.")
            && !stderr.contains("progress deadline exceeded"),
        "{stderr}"
    );
    assert!(
        push_ended < Duration::from_secs(20),
        "the push ended {push_ended:?} after the destroy began"
    );
    assert!(
        destroy
            .wait_with_output()
            .expect("destroy")
            .status
            .success()
    );
    // Its pods are killed at once: the destroy took 83 s when they had their termination grace.
    let destroyed = started.elapsed();
    eprintln!("the destroy took {destroyed:?}");
    assert!(
        destroyed < Duration::from_secs(45),
        "the destroy took {destroyed:?}"
    );
    assert!(
        cluster.get("/api/v1/namespaces/paas-stuck").is_none(),
        "the namespace is gone"
    );

    // An app created again under the same name while a destroy waits for its namespace (held
    // here by a finalizer) keeps the repository's `paas` remote: the destroy leaves it alone.
    ok(cli, &repo, &["create", "stuck"]);
    cluster.post(
        "/api/v1/namespaces",
        &json!({ "metadata": { "name": "paas-stuck",
            "labels": { "app.kubernetes.io/managed-by": "paas" } } }),
    );
    let held = "/api/v1/namespaces/paas-stuck/configmaps/held";
    cluster.post(
        "/api/v1/namespaces/paas-stuck/configmaps",
        &json!({ "metadata": { "name": "held", "finalizers": ["paas.test/held"] } }),
    );
    let destroy = cli
        .command(&["destroy", "--confirm", "stuck"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("paas destroy");
    let again = Instant::now();
    while !paas(cli, &repo, &["create", "stuck"]).status.success() {
        assert!(
            again.elapsed() < Duration::from_secs(20),
            "the name stays taken"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(cluster.get(held).is_some(), "the destroy is still waiting");
    cluster.merge_patch(held, &json!({ "metadata": { "finalizers": null } }));
    let destroy = destroy.wait_with_output().expect("destroy");
    let said = transcript(&destroy);
    assert!(destroy.status.success(), "{said}");
    assert!(
        said.contains("kept git remote paas: a new app named stuck was created meanwhile")
            && !said.contains("Removed git remote"),
        "{said}"
    );
    assert_eq!(
        cli.git(&repo, &["remote", "get-url", "paas"])
            .output()
            .expect("git")
            .status
            .code(),
        Some(0),
        "the new app's remote is kept"
    );
}

#[test]
fn the_release_phase_is_a_real_job_that_gates_the_rollout() {
    let kube = on_a_real_node(60);
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("procfile");
    ok(cli, &repo, &["create", "phased"]);
    assert!(push(cli, &repo).status.success(), "{}", kube.logs());
    let serving = pages(&kube, "phased");
    let job = |version: u32| {
        cluster.get(&format!(
            "/apis/batch/v1/namespaces/paas-phased/jobs/release-{version}"
        ))
    };
    let with_release = |repo: &Path, command: &str, message: &str| {
        std::fs::write(
            repo.join("Procfile"),
            format!("web: busybox httpd -f -p $PORT -h /app\nrelease: {command}\n"),
        )
        .expect("write");
        cli.commit_all(repo, message);
        push(cli, repo)
    };

    // A release command that fails: the Job's pod exits 3, the rollout never starts.
    let output = with_release(&repo, "echo migrating; exit 3", "failing migration");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("release phase") && stderr.contains("exited with status 3"),
        "{stderr}"
    );
    assert_eq!(
        deployment(&kube, "phased", "web")["metadata"]["annotations"]["paas/release"],
        "v1"
    );
    assert_eq!(pages(&kube, "phased"), serving, "v1's pod keeps serving");
    let failed = job(2).expect("job release-2");
    assert_eq!(failed["spec"]["backoffLimit"], 0);
    assert_eq!(failed["spec"]["activeDeadlineSeconds"], 10);
    let pod = &failed["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(
        pod["containers"][0]["image"],
        format!(
            "{}/phased@{}",
            kube.registry_prefix,
            release_image(cli, &repo, 2)
        )
    );
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["secretRef"]["name"],
        "phased-env-v2"
    );
    assert_eq!(pod["imagePullSecrets"][0]["name"], "paas-registry");
    let dynos: Vec<Value> = serde_json::from_str(&ok(cli, &repo, &["ps", "--json"])).expect("JSON");
    assert!(
        dynos.iter().all(|d| d["type"] == "web"),
        "the release pod is no dyno: {dynos:?}"
    );

    // One that passes: the Deployments are applied after it, and the last Job replaces the one
    // before.
    let output = with_release(&repo, "echo migrated", "migration");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{}", kube.logs());
    assert!(
        stderr.contains("Running release command: echo migrated"),
        "{stderr}"
    );
    // Its real output is the release's.
    assert!(
        ok(cli, &repo, &["releases:output", "v3"]).contains("migrated"),
        "the release phase's output is kept"
    );
    assert_eq!(
        deployment(&kube, "phased", "web")["metadata"]["annotations"]["paas/release"],
        "v3"
    );
    assert!(job(3).is_some(), "the last release phase's Job stays");
    assert!(job(2).is_none(), "an earlier one goes");

    // One that never ends: the cluster stops it at activeDeadlineSeconds (--release-timeout).
    let output = with_release(&repo, "sleep 600", "slow");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("ran longer than 10s"), "{stderr}");
    let conditions = job(4).expect("job release-4")["status"]["conditions"].clone();
    assert_eq!(conditions[0]["reason"], "DeadlineExceeded", "{conditions}");
    assert_eq!(
        deployment(&kube, "phased", "web")["metadata"]["annotations"]["paas/release"],
        "v3"
    );
}

#[test]
fn an_account_without_the_rbac_grants_fails_the_push_with_the_cluster_error() {
    let cluster = TestCluster::start();
    let registry = TestRegistry::start();
    let prefix = format!("{}/paas", registry.addr);
    // A ServiceAccount without the RBAC manifest's grants.
    let nobody = cluster.service_account_kubeconfig(false);
    let (_server, cli) = kubernetes_server(&nobody, &prefix, &[], &[]);
    let repo = cli.app_repo("procfile");
    ok(&cli, &repo, &["create", "denied"]);
    let output = push(&cli, &repo);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot read namespace paas-denied") && stderr.contains("forbidden"),
        "{stderr}"
    );
    let releases: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["releases", "--json"])).expect("JSON");
    assert!(
        releases.iter().all(|r| r["status"] != "succeeded"),
        "{releases:?}"
    );
}

#[test]
fn an_unreachable_cluster_or_a_foreign_namespace_fails_clearly() {
    let cluster = TestCluster::start();
    let _kubelet = FakeKubelet::start(&cluster, NEVER_READY);
    // A namespace somebody else made.
    cluster.post(
        "/api/v1/namespaces",
        &json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "paas-theirs" } }),
    );
    let registry = TestRegistry::start();
    let prefix = format!("{}/paas", registry.addr);
    let dir = tempfile::tempdir().expect("temp dir");
    let granted = cluster.service_account_kubeconfig(true);
    let nowhere = dir.path().join("kubeconfig");
    // A closed port: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    std::fs::write(
        &nowhere,
        std::fs::read_to_string(&granted)
            .expect("kubeconfig")
            .replace(&cluster.api, &format!("http://127.0.0.1:{closed}")),
    )
    .expect("write");
    for (kubeconfig, app, message, ps_exit) in [
        (
            nowhere.as_path(),
            "lost",
            "cannot read namespace paas-lost",
            1,
        ),
        (
            granted.as_path(),
            "theirs",
            "namespace paas-theirs exists but was not created by paas",
            0,
        ),
    ] {
        let (_server, cli) = kubernetes_server(kubeconfig, &prefix, &[], &[]);
        let repo = cli.app_repo("procfile");
        ok(&cli, &repo, &["create", app]);
        let output = push(&cli, &repo);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        let releases: Vec<Value> =
            serde_json::from_str(&ok(&cli, &repo, &["releases", "--json"])).expect("JSON");
        assert!(
            releases.iter().all(|r| r["status"] != "succeeded"),
            "{releases:?}"
        );
        let output = paas(&cli, &repo, &["ps"]);
        assert_eq!(
            output.status.code(),
            Some(ps_exit),
            "{}",
            transcript(&output)
        );
    }
    assert!(
        cluster
            .get("/api/v1/namespaces/paas-theirs")
            .is_some_and(|n| n["metadata"]["labels"]
                .get("app.kubernetes.io/managed-by")
                .is_none()),
        "their namespace is untouched"
    );
}

#[test]
fn config_secrets_no_replica_set_uses_are_pruned() {
    let kube = on_kubernetes();
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("procfile");
    ok(cli, &repo, &["create", "churn"]);
    assert!(push(cli, &repo).status.success(), "{}", cluster.logs());
    // Deployments keep 10 old ReplicaSets; their Secrets stay while they exist.
    for n in 2..=14 {
        ok(cli, &repo, &["config", "set", &format!("N={n}")]);
    }
    let secret = |v: u32| {
        cluster.get(&format!(
            "/api/v1/namespaces/paas-churn/secrets/churn-env-v{v}"
        ))
    };
    eventually("v1's Secret is pruned", || {
        ok(cli, &repo, &["config", "set", "TOUCH=1"]);
        secret(1).is_none()
    });
    assert!(secret(14).is_some(), "a Secret in use stays");
}

#[test]
fn a_run_is_a_pod_attached_through_the_api_server() {
    let kube = on_kubernetes();
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("procfile");
    ok(cli, &repo, &["create", "runner"]);
    assert!(push(cli, &repo).status.success(), "{}", cluster.logs());
    let run_pods = || {
        cluster
            .get("/api/v1/namespaces/paas-runner/pods?labelSelector=paas%2Frun")
            .and_then(|list| list["items"].as_array().cloned())
            .unwrap_or_default()
    };
    // A pod no node starts (the fake kubelet leaves it Pending): read back while paas waits, then
    // refused at the start deadline (--progress-deadline 4) with the reason, and deleted.
    let waiting = std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            paas(
                cli,
                &repo,
                &["run", "--env", "DEBUG=1", "--", "echo", NEVER_READY],
            )
        });
        let mut pod = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while pod.is_none() && Instant::now() < deadline {
            pod = run_pods().into_iter().next();
            std::thread::sleep(Duration::from_millis(100));
        }
        (pod, run.join().expect("run thread"))
    });
    let (pod, run) = waiting;
    let pod = pod.expect("the run's pod");
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["spec"]["activeDeadlineSeconds"], 3600);
    let container = &pod["spec"]["containers"][0];
    assert!(
        container["image"]
            .as_str()
            .is_some_and(|i| i.starts_with(&format!("{}/runner@sha256:", kube.registry_prefix))),
        "{container}"
    );
    // No terminal: `tty` is false, which the API server leaves out.
    assert_eq!(container["stdin"], true);
    assert!(
        container["tty"].is_null() || container["tty"] == false,
        "{container}"
    );
    assert_eq!(container["command"][4], format!("echo {NEVER_READY}"));
    assert_eq!(
        container["env"],
        json!([
            { "name": "DYNO", "value": "run.1" },
            { "name": "PS", "value": "run.1" },
        ])
    );
    // `--env` values are in the run's own Secret, after the release's (they win), never in the
    // pod's spec.
    let pod_name = pod["metadata"]["name"].as_str().expect("name");
    let own = format!("/api/v1/namespaces/paas-runner/secrets/{pod_name}-env");
    assert_eq!(
        container["envFrom"],
        json!([
            { "secretRef": { "name": "runner-env-v1" } },
            { "secretRef": { "name": format!("{pod_name}-env") } },
        ])
    );
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        said.contains("did not start within 4 s (no node has started it)"),
        "{said}"
    );
    eventually("the pod is deleted", || run_pods().is_empty());
    eventually("its Secret goes with it", || cluster.get(&own).is_none());

    // A pod the fake kubelet marks running: attaching needs a real kubelet (the API server
    // proxies the stream to the node's), which the fixture cluster has not, so the attach is
    // refused and said; the pod goes.
    let run = paas(cli, &repo, &["run", "--", "true"]);
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(said.contains("cannot attach to pod run-2-"), "{said}");
    eventually("the pod is deleted", || run_pods().is_empty());
}

#[test]
fn an_add_on_is_a_stateful_set_with_its_own_claim_and_its_url_lands_in_the_release_secret() {
    let kube = on_kubernetes_with(&["--storage-class", "fast"]);
    kube.server.install_stack(Stack::Services);
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("procfile");
    ok(cli, &repo, &["create", "kdb"]);
    let output = paas(
        cli,
        &repo,
        &["addons:create", "postgresql", "--name", "kdb-db"],
    );
    assert!(
        output.status.success(),
        "{}\n{}",
        transcript(&output),
        cluster.logs()
    );

    // The objects, field by field.
    let set = cluster
        .get("/apis/apps/v1/namespaces/paas-kdb/statefulsets/kdb-db")
        .expect("the StatefulSet");
    assert_eq!(set["spec"]["replicas"], 1);
    assert_eq!(set["spec"]["serviceName"], "kdb-db");
    assert_eq!(set["metadata"]["labels"]["paas/addon"], "kdb-db");
    let pod = &set["spec"]["template"]["spec"];
    let image = pod["containers"][0]["image"].as_str().expect("image");
    assert!(
        image.starts_with(&format!("{}/paas-services@sha256:", kube.registry_prefix)),
        "{image}"
    );
    assert_eq!(pod["initContainers"][0]["image"], image, "initdb first");
    assert_eq!(pod["containers"][0]["securityContext"]["runAsUser"], 2100);
    assert_eq!(pod["securityContext"]["fsGroup"], 2100);
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["secretRef"]["name"],
        "kdb-db-service"
    );
    assert_eq!(
        pod["containers"][0]["volumeMounts"][0]["mountPath"],
        "/var/lib/paas-service"
    );
    assert_eq!(pod["imagePullSecrets"][0]["name"], "paas-registry");
    let claim = &set["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "data");
    assert_eq!(claim["spec"]["storageClassName"], "fast");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    let service = cluster
        .get("/api/v1/namespaces/paas-kdb/services/kdb-db")
        .expect("the headless Service");
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert_eq!(service["spec"]["selector"]["paas/addon"], "kdb-db");
    let secret = cluster
        .get("/api/v1/namespaces/paas-kdb/secrets/kdb-db-service")
        .expect("the add-on's Secret");
    for key in [
        "PAAS_PASSWORD",
        "PAAS_ADMIN_PASSWORD",
        "PAAS_PORT",
        "PAAS_LISTEN",
    ] {
        assert!(secret["data"][key].is_string(), "{key} in {secret}");
    }

    // The app reaches it by the Service's name, through its release Secret.
    let url = ok(cli, &repo, &["config", "get", "DATABASE_URL"]);
    assert!(url.contains("@kdb-db.paas-kdb.svc:"), "{url}");
    let output = push(cli, &repo);
    assert!(output.status.success(), "{}", transcript(&output));
    let releases: Value =
        serde_json::from_str(&ok(cli, &repo, &["releases", "--json"])).expect("JSON");
    let version = releases[0]["version"].as_u64().expect("version");
    let release_secret = cluster
        .get(&format!(
            "/api/v1/namespaces/paas-kdb/secrets/kdb-env-v{version}"
        ))
        .expect("the release Secret");
    assert!(release_secret["data"]["DATABASE_URL"].is_string());
    let info: Value =
        serde_json::from_str(&ok(cli, &repo, &["addons:info", "kdb-db", "--json"])).expect("JSON");
    assert_eq!(info["state"], "up");

    // A psql session is a pod of the services image with the add-on's URL (attaching needs a
    // real kubelet, which the fixture cluster has not: refused and said).
    let sessions = || {
        cluster
            .get("/api/v1/namespaces/paas-kdb/pods?labelSelector=paas%2Frun")
            .and_then(|list| list["items"].as_array().cloned())
            .unwrap_or_default()
    };
    let (pod, session) = std::thread::scope(|scope| {
        let session = scope.spawn(|| paas(cli, &repo, &["pg:psql"]));
        let mut pod = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        // It lives from its making to the failed attach: look often.
        while pod.is_none() && Instant::now() < deadline {
            pod = sessions().into_iter().next();
            std::thread::sleep(Duration::from_millis(10));
        }
        (pod, session.join().expect("session thread"))
    });
    let pod = pod.unwrap_or_else(|| panic!("the session's pod: {}", transcript(&session)));
    assert_eq!(pod["spec"]["containers"][0]["image"], image);
    assert_eq!(
        pod["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"],
        "kdb-env-v0"
    );
    assert!(
        transcript(&session).contains("cannot attach to pod"),
        "{}",
        transcript(&session)
    );
    // Its password is in a Secret of its own, owned by the pod (gone with it), never in the
    // pod's spec, which anyone who may read pods sees.
    let env = pod["spec"]["containers"][0]["env"].to_string();
    assert!(!env.contains("PGPASSWORD") && !env.contains("svc"), "{env}");
    let pod_name = pod["metadata"]["name"].as_str().expect("name");
    let own = format!("{pod_name}-env");
    assert_eq!(
        pod["spec"]["containers"][0]["envFrom"][1]["secretRef"]["name"],
        own.as_str()
    );
    eventually("the session's Secret goes with its pod", || {
        cluster
            .get(&format!("/api/v1/namespaces/paas-kdb/secrets/{own}"))
            .is_none()
    });

    // A backup is a task pod next to the add-on's, which it reaches by its pod's address: the
    // fixture's pods have none, which the failed backup says (the real node runs one:
    // `an_add_on_on_a_real_node_is_backed_up_restored_and_rotated`).
    let output = paas(cli, &repo, &["pg:backups:capture"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        transcript(&output).contains("add-on kdb-db is not running (pod kdb-db-0 has no address)"),
        "{}",
        transcript(&output)
    );

    // A Redis add-on's new password is a new pod template (the digest of its environment), so
    // its pod starts again with it before the apps get the new URL.
    ok(
        cli,
        &repo,
        &["addons:create", "redis", "--name", "kdb-cache"],
    );
    let path = "/apis/apps/v1/namespaces/paas-kdb/statefulsets/kdb-cache";
    let digest = || {
        cluster.get(path).expect("the StatefulSet")["spec"]["template"]["metadata"]["annotations"]
            ["paas/service-env"]
            .as_str()
            .expect("the digest")
            .to_owned()
    };
    let before = digest();
    let url = ok(cli, &repo, &["config", "get", "REDIS_URL"]);
    ok(cli, &repo, &["addons:credentials:rotate", "kdb-cache"]);
    assert_ne!(digest(), before, "a new template");
    let set = cluster.get(path).expect("the StatefulSet");
    assert_eq!(
        set["status"]["currentRevision"], set["status"]["updateRevision"],
        "rolled out before the apps got the URL: {set}"
    );
    assert_ne!(ok(cli, &repo, &["config", "get", "REDIS_URL"]), url);
    ok(
        cli,
        &repo,
        &[
            "addons:destroy",
            "kdb-cache",
            "--confirm",
            "kdb-cache",
            "--force",
        ],
    );

    // Destroyed: its objects go, and its claim (its data) with them.
    ok(
        cli,
        &repo,
        &["addons:destroy", "kdb-db", "--confirm", "kdb-db", "--force"],
    );
    assert!(!ok(cli, &repo, &["config"]).contains("DATABASE_URL"));
    for path in [
        "/apis/apps/v1/namespaces/paas-kdb/statefulsets/kdb-db",
        "/api/v1/namespaces/paas-kdb/services/kdb-db",
        "/api/v1/namespaces/paas-kdb/secrets/kdb-db-service",
    ] {
        assert!(cluster.get(path).is_none(), "{path} is gone");
    }
    eventually("the claim is deleted", || {
        cluster
            .get("/api/v1/namespaces/paas-kdb/persistentvolumeclaims/data-kdb-db-0")
            .is_none_or(|claim| claim["metadata"]["deletionTimestamp"].is_string())
    });
}

/// On a real node: a PostgreSQL add-on (its data on a volume the test provides, as a cluster's
/// storage class would) is backed up by a task pod that reaches it by its pod's address, the dump
/// coming back to the server through the attach; the backup is restored, and the passwords are
/// rotated (the next backup uses the new ones). Prints how long each took.
#[test]
#[allow(clippy::print_stdout)]
fn an_add_on_on_a_real_node_is_backed_up_restored_and_rotated() {
    // A volume of the storage class for the add-on's claim, on the node's disk, the services
    // user's (a hostPath volume takes no fsGroup); made first, so removed once the node is gone.
    let volume = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::chown(volume.path(), Some(2100), Some(2100)).expect("chown");
    let kube = real_node(90, None, &["--storage-class", "paas-test-local"]);
    kube.server.install_stack(Stack::Services);
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    cluster.post(
        "/api/v1/persistentvolumes",
        &json!({
            "metadata": { "name": "paas-test-pg" },
            "spec": {
                "storageClassName": "paas-test-local",
                "capacity": { "storage": "1Gi" },
                "accessModes": ["ReadWriteOnce"],
                "hostPath": { "path": volume.path(), "type": "Directory" },
            },
        }),
    );
    let repo = cli.app_repo("procfile");
    ok(cli, &repo, &["create", "kpg"]);
    let started = Instant::now();
    let output = paas(
        cli,
        &repo,
        &["addons:create", "postgresql", "--name", "kpg-db"],
    );
    assert!(
        output.status.success(),
        "{}\n{}\n{}",
        transcript(&output),
        ok(cli, &repo, &["logs", "-n", "100"]),
        kube.logs()
    );
    println!(
        "PostgreSQL add-on up on the real node in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let timed = |what: &str, args: &[&str]| {
        let started = Instant::now();
        let output = paas(cli, &repo, args);
        assert!(
            output.status.success(),
            "{what}: {}\n{}",
            transcript(&output),
            kube.logs()
        );
        println!("{what} in {:.1} s", started.elapsed().as_secs_f64());
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let backup_file = |id: &str| {
        let file = volume.path().join(format!("{id}.download"));
        timed(
            "download",
            &[
                "pg:backups:download",
                id,
                "-o",
                file.to_str().expect("utf-8"),
            ],
        );
        std::fs::read(&file).expect("the downloaded backup")
    };
    timed("backup", &["pg:backups:capture"]);
    let dump = backup_file("b001");
    assert!(dump.starts_with(b"PGDMP"), "a pg_dump custom-format file");
    timed(
        "restore",
        &["pg:backups:restore", "b001", "--confirm", "kpg"],
    );
    let url = ok(cli, &repo, &["config", "get", "DATABASE_URL"]);
    timed("rotation", &["addons:credentials:rotate", "kpg-db"]);
    assert_ne!(ok(cli, &repo, &["config", "get", "DATABASE_URL"]), url);
    // The server's new admin password is the one the next task uses.
    timed("backup after the rotation", &["pg:backups:capture"]);
    assert!(backup_file("b002").starts_with(b"PGDMP"));
    let listed: Vec<Value> =
        serde_json::from_str(&ok(cli, &repo, &["pg:backups", "--json"])).expect("JSON");
    assert!(
        listed.iter().all(|b| b["status"] == "succeeded"),
        "{listed:?}"
    );
    // The tasks' pods and Secrets went.
    eventually("no task pod or Secret is left", || {
        let names = |kind: &str| {
            cluster
                .get(&format!("/api/v1/namespaces/paas-kpg/{kind}"))
                .and_then(|l| l["items"].as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
                .filter(|n| n.contains("-task-"))
                .count()
        };
        names("pods") == 0 && names("secrets") == 0
    });
}

#[test]
fn a_canary_is_a_second_deployment_behind_an_ingress_nginx_canary_ingress() {
    let kube = on_kubernetes();
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("procfile");
    ok(cli, &repo, &["create", "kcan"]);
    assert!(push(cli, &repo).status.success(), "{}", cluster.logs());
    ok(cli, &repo, &["scale", "worker=1"]);
    let canary_push = |weight: &str| {
        cli.commit_all(&repo, "a canary");
        let option = format!("canary={weight}");
        let output = cli
            .git(&repo, &["push", "-o", &option, "paas", "main"])
            .output()
            .expect("git push");
        assert!(
            output.status.success(),
            "{}\n{}",
            transcript(&output),
            cluster.logs()
        );
        stderr_of(&output)
    };
    let ingress = |name: &str| {
        cluster.get(&format!(
            "/apis/networking.k8s.io/v1/namespaces/paas-kcan/ingresses/{name}"
        ))
    };
    let service = || cluster.get("/api/v1/namespaces/paas-kcan/services/kcan-web-canary");
    let canary_deployment =
        || cluster.get("/apis/apps/v1/namespaces/paas-kcan/deployments/kcan-web-canary");

    let said = canary_push("20");
    assert!(
        said.contains("v2 is a canary: 20 % of clients go to it, the rest to v1"),
        "{said}"
    );
    let canary = canary_deployment().expect("the canary's Deployment");
    assert_eq!(canary["spec"]["replicas"], 1, "{canary}");
    assert_eq!(canary["metadata"]["annotations"]["paas/release"], "v2");
    assert_eq!(
        canary["spec"]["template"]["metadata"]["labels"]["paas/process-type"],
        "canary"
    );
    assert_eq!(
        canary["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        5000
    );
    assert_eq!(
        service().expect("the canary's Service")["spec"]["selector"]["paas/process-type"],
        "canary"
    );
    let split = ingress("kcan-canary").expect("the canary Ingress");
    assert_eq!(
        split["metadata"]["annotations"],
        json!({
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": "20"
        })
    );
    assert_eq!(split["spec"]["rules"][0]["host"], "kcan.apps.test");
    assert_eq!(
        split["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "kcan-web-canary"
    );
    // Its workers wait for the promotion; the app's own objects still run v1.
    assert_eq!(
        deployment(&kube, "kcan", "worker")["metadata"]["annotations"]["paas/release"],
        "v1"
    );
    assert_eq!(
        deployment(&kube, "kcan", "web")["metadata"]["annotations"]["paas/release"],
        "v1"
    );
    let ps = ok(cli, &repo, &["ps"]);
    assert!(ps.contains("canary."), "{ps}");

    // Promoted: the release rolls out to the app's Deployments, then the canary's objects go.
    ok(cli, &repo, &["canary:promote"]);
    for process_type in ["web", "worker"] {
        assert_eq!(
            deployment(&kube, "kcan", process_type)["metadata"]["annotations"]["paas/release"],
            "v2"
        );
    }
    assert!(ingress("kcan-canary").is_none() && service().is_none());
    eventually("the canary's Deployment is gone", || {
        canary_deployment().is_none()
    });
    assert!(ingress("kcan").is_some(), "the app's own Ingress stays");

    // Aborted: the canary's objects go, its release is failed, the app's stay on v2.
    canary_push("30");
    assert_eq!(
        ingress("kcan-canary").expect("the canary Ingress")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "30"
    );
    ok(cli, &repo, &["canary:abort"]);
    assert!(ingress("kcan-canary").is_none() && service().is_none());
    assert_eq!(
        deployment(&kube, "kcan", "web")["metadata"]["annotations"]["paas/release"],
        "v2"
    );
    let releases: Value =
        serde_json::from_str(&ok(cli, &repo, &["releases", "--json"])).expect("JSON");
    assert_eq!(releases[0]["status"], "failed", "{releases}");
    assert!(
        releases[0]["failure"]
            .as_str()
            .is_some_and(|f| f.starts_with("canary aborted: by ")),
        "{releases}"
    );
}

/// On a real node (containerd, CNI, kube-scheduler, the kubelet; no fake): a pushed app's image
/// is pulled by digest from the registry with paas's pull Secret, its pod passes the real
/// readiness probe and serves at its pod IP from the host, its output reaches `paas logs`, and
/// `paas run` attaches to a real pod (its output, its exit status), and the release phase runs as
/// a real Job that gates the rollout. Prints how long the node took to be Ready and the push to
/// roll out.
#[test]
#[allow(clippy::print_stdout)]
fn a_pushed_app_runs_and_serves_on_a_real_node() {
    let kube = on_a_real_node(90);
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("static");
    ok(cli, &repo, &["create", "onnode"]);
    let started = Instant::now();
    push_ok(&kube, &repo);
    println!(
        "push → rolled out on the real node in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let pods = cluster
        .get("/api/v1/namespaces/paas-onnode/pods")
        .expect("the app's namespace");
    let pod = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .unwrap_or_else(|| panic!("no Ready pod: {pods}\n{}", kube.logs()))
        .clone();
    let container = &pod["spec"]["containers"][0];
    assert!(
        container["image"]
            .as_str()
            .is_some_and(|i| i.contains("@sha256:")),
        "pulled by digest: {container}"
    );
    assert!(
        pod["spec"]["imagePullSecrets"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{pod}"
    );
    assert!(
        pod["status"]["containerStatuses"][0]["imageID"]
            .as_str()
            .is_some_and(|id| id.contains("sha256:")),
        "the node pulled it: {pod}"
    );
    let ip = pod["status"]["podIP"].as_str().expect("a pod IP");
    let port = container["ports"][0]["containerPort"]
        .as_u64()
        .expect("a container port");
    let page = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "5", &format!("http://{ip}:{port}/")])
        .output()
        .expect("curl");
    let body = String::from_utf8_lossy(&page.stdout);
    assert!(
        page.status.success() && body.contains("<"),
        "the pod serves at {ip}:{port}: {body} {}",
        String::from_utf8_lossy(&page.stderr)
    );
    // The pod's own output (busybox httpd -v logs each request) reaches `paas logs`.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = ok(cli, &repo, &["logs", "--ps", "web"]);
        if logs.contains("response:200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no request line from the pod in `paas logs`:\n{logs}\n{}",
            kube.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // `paas run` attaches to a real pod before its command starts: a quick command's output and
    // exit status arrive whole. `--env` reaches it from the run's own Secret.
    let ran = paas(
        cli,
        &repo,
        &[
            "run",
            "--env",
            "GREETING=from-the-run",
            "--",
            "sh",
            "-c",
            "echo from-the-pod $GREETING; exit 3",
        ],
    );
    assert_eq!(
        ran.status.code(),
        Some(3),
        "{}\n{}",
        transcript(&ran),
        kube.logs()
    );
    assert!(
        String::from_utf8_lossy(&ran.stdout).contains("from-the-pod from-the-run"),
        "{}",
        transcript(&ran)
    );
    // Without a terminal: piped input and its end reach the command, every line of its output
    // arrives (stdout and stderr apart), and `$` reaches the shell as typed (Kubernetes would
    // expand `$(NAME)` in a container's args).
    let ran = paas_with_stdin(
        cli,
        &repo,
        &[
            "run",
            "--",
            "sh",
            "-c",
            "tr a-z A-Z; seq 1 300; echo '$(HOME) $$' >&2",
        ],
        b"piped\ninput\n",
    );
    let expected: String = std::iter::once("PIPED\nINPUT\n".to_owned())
        .chain((1..=300).map(|n| format!("{n}\n")))
        .collect();
    assert_eq!(
        (ran.status.code(), String::from_utf8_lossy(&ran.stdout)),
        (Some(0), expected.into()),
        "{}",
        transcript(&ran)
    );
    assert!(
        stderr_of(&ran).contains("$(HOME) $$"),
        "{}",
        transcript(&ran)
    );
    // With a terminal: the pod's shell has one, of the client's size, and its exit status is the
    // run's.
    let (mut screen, mut child) = on_terminal(cli, &repo, &["run", "sh"], 100, 30);
    let mut seen = String::new();
    read_until(&mut screen, &mut seen, "up, run.");
    screen
        .write_all(b"echo tty=$(tty) size=$(stty size)\r")
        .expect("type");
    read_until(&mut screen, &mut seen, "size=30 100");
    assert!(seen.contains("tty=/dev/pts/"), "{seen:?}");
    screen.write_all(b"exit 7\r").expect("type");
    let status = child.wait().expect("paas run");
    assert_eq!(status.code(), Some(7), "{seen:?}\n{}", kube.logs());
    // Stopped runs end: a detached one leaves `ps` (and its slot), an attached one's client
    // returns, though the pod's attach may outlive its pod.
    let detached = ok(cli, &repo, &["run", "--detached", "--", "sleep", "60"]);
    let detached = detached.trim();
    let attached = cli
        .command(&["run", "--", "sleep", "60"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("paas run");
    let listed = || {
        let dynos: Vec<Value> =
            serde_json::from_str(&ok(cli, &repo, &["ps", "--json"])).expect("JSON");
        dynos
            .iter()
            .filter(|d| d["type"] == "run" && d["state"] == "up")
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    eventually("both runs are up", || listed().len() == 2);
    let attached_name = listed()
        .into_iter()
        .find(|n| n != detached)
        .expect("the attached run");
    ok(cli, &repo, &["stop", detached]);
    ok(cli, &repo, &["stop", &attached_name]);
    let mut attached = attached;
    let mut ended = None;
    eventually("the stopped run's client returns", || {
        ended = attached.try_wait().expect("paas run");
        ended.is_some()
    });
    assert!(ended.is_some_and(|s| !s.success()), "a stopped run fails");
    eventually("stopped runs leave ps", || {
        let ps = ok(cli, &repo, &["ps"]);
        !ps.contains(detached) && !ps.contains(&attached_name)
    });
}

/// Faults on a real node, each with a clear error and the running release serving on: a namespace
/// quota that forbids the new pods, an image the node cannot pull, and a kubelet that dies mid-way
/// (the node goes NotReady: `paas ps` says so, a rollout fails by its deadline and is rolled back;
/// the kubelet back, the pods are up again).
#[test]
fn quotas_pull_errors_and_a_lost_kubelet_fail_clearly_and_the_old_release_serves() {
    let mut kube = on_a_real_node_behind_a_proxy(30);
    let repo = kube.cli.app_repo("procfile");
    std::fs::write(repo.join("Procfile"), ENVPAGE).expect("write");
    kube.cli.commit_all(&repo, "a page");
    ok(&kube.cli, &repo, &["create", "faulty"]);
    push_ok(&kube, &repo);
    assert_pages(&kube, "faulty", "", 1);

    // A quota of one pod: the rollout's surge pod is forbidden. The push fails at once with the
    // cluster's reason; v1 was never stopped.
    let quota = "/api/v1/namespaces/paas-faulty/resourcequotas";
    kube.cluster.post(
        quota,
        &json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": { "name": "one-pod", "namespace": "paas-faulty" },
            "spec": { "hard": { "pods": "1" } },
        }),
    );
    let output = paas(&kube.cli, &repo, &["config:set", "GREETING=quota"]);
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{}", transcript(&output));
    assert!(
        stderr.contains("the cluster refused its pods (FailedCreate)")
            && stderr.contains("exceeded quota"),
        "{stderr}\n{}",
        kube.logs()
    );
    assert!(stderr.contains("v1 was applied again"), "{stderr}");
    assert_pages(&kube, "faulty", "", 1);
    kube.cluster.delete(&format!("{quota}/one-pod"));

    // The registry fails the node's pulls (every blob download answers 503, as a registry that
    // is down behind its load balancer does): a new image cannot be pulled, and the push fails
    // at once, naming the pod and the node's pull error. v1 keeps serving.
    let proxy = kube.proxy.as_ref().expect("a proxy");
    proxy.set_faults(vec![Fault {
        method: "GET",
        path_contains: "/blobs/sha256:",
        times: 10_000,
        response:
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .into(),
    }]);
    std::fs::write(repo.join("CHANGES"), "a new image\n").expect("write");
    kube.cli.commit_all(&repo, "a change");
    let output = push(&kube.cli, &repo);
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("pod faulty-web-")
            && (stderr.contains("ErrImagePull") || stderr.contains("ImagePullBackOff"))
            && stderr.contains("503")
            && !stderr.contains("progress deadline exceeded"),
        "{stderr}\n{}",
        kube.logs()
    );
    assert!(stderr.contains("v1 was applied again"), "{stderr}");
    assert_pages(&kube, "faulty", "", 1);
    proxy.set_faults(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = kube
            .cluster
            .get("/api/v1/namespaces/paas-faulty/pods?labelSelector=paas%2Fprocess-type%3Dweb")
            .unwrap_or_default();
        if pods["items"].as_array().is_some_and(|i| i.len() == 1) {
            break;
        }
        let summary: Vec<String> = pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{} deleting={} {} {}",
                    p["metadata"]["name"],
                    p["metadata"]["deletionTimestamp"],
                    p["status"]["phase"],
                    p["status"]["containerStatuses"]
                )
            })
            .collect();
        assert!(
            Instant::now() < deadline,
            "the unpulled pod is gone: {summary:#?}\n{}",
            kube.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The kubelet dies: the containers run on, but the cluster cannot know. Once the node is
    // NotReady, `paas ps` says the dyno's state is unknown rather than up.
    kube.node().kill_kubelet();
    eventually("the node is NotReady", || !kube.node().is_ready());
    eventually("ps no longer says up", || {
        let ps: Vec<Value> =
            serde_json::from_str(&ok(&kube.cli, &repo, &["ps", "--json"])).expect("JSON");
        ps.iter().any(|d| d["state"] == "unknown")
    });
    // A release now cannot roll out: it fails by its deadline, and v1 is applied again.
    let output = paas(&kube.cli, &repo, &["config:set", "GREETING=lost"]);
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{}", transcript(&output));
    assert!(
        stderr.contains("progress deadline exceeded") && stderr.contains("v1 was applied again"),
        "{stderr}\n{}",
        kube.logs()
    );
    // The kubelet back: the same pod is Ready again, and the next release rolls out.
    kube.node().start_kubelet();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = ok(&kube.cli, &repo, &["ps", "--json"]);
        let dynos: Vec<Value> = serde_json::from_str(&ps).expect("JSON");
        if dynos.len() == 1 && dynos[0]["state"] == "up" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ps says up again: {ps}\n{}\n{}",
            kube.cluster
                .get("/api/v1/namespaces/paas-faulty/pods")
                .unwrap_or_default(),
            kube.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_pages(&kube, "faulty", "", 1);
    ok(&kube.cli, &repo, &["config:set", "GREETING=back"]);
    assert_pages(&kube, "faulty", "back", 1);
}

/// With `--k8s-edge router` the paas router is the edge of apps on the cluster: requests for
/// `<app>.<domain>` reach the ready pods of the app's EndpointSlices, in turn; a rollout moves
/// traffic to the new pods; a custom domain's certificate is served over TLS; a canary's weight
/// splits clients between its pods and the release's; a destroyed app answers 404. No Ingress is
/// made.
#[test]
fn the_paas_router_serves_apps_on_a_real_node_from_their_endpoint_slices() {
    let kube = real_node(60, None, &["--k8s-edge", "router"]);
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("procfile");
    std::fs::write(repo.join("Procfile"), ENVPAGE).expect("write");
    cli.commit_all(&repo, "a page");
    ok(cli, &repo, &["create", "edged"]);
    let output = push(cli, &repo);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}\n{}", kube.logs());
    let router_port = kube.server.router.rsplit(':').next().expect("a port");
    assert!(
        stderr.contains(&format!("v1 is up: http://edged.apps.test:{router_port}/")),
        "the app's URL is the router's: {stderr}"
    );
    let via_router = |host: &str| {
        get_page_with(&[
            "-H",
            &format!("Host: {host}"),
            &format!("http://{}/", kube.server.router),
        ])
    };
    let pages =
        |n: usize| -> Vec<String> { (0..n).map(|_| via_router("edged.apps.test")).collect() };
    eventually("the router serves the pod", || {
        via_router("edged.apps.test").starts_with("greeting= dyno=edged-web-")
    });
    assert!(
        cluster
            .get("/apis/networking.k8s.io/v1/namespaces/paas-edged/ingresses/edged")
            .is_none(),
        "no Ingress with the router as the edge"
    );

    // Two pods: requests go to both, in turn.
    ok(cli, &repo, &["scale", "web=2"]);
    eventually("both pods get requests", || {
        let dynos: std::collections::BTreeSet<String> = pages(6)
            .iter()
            .filter_map(|p| p.split("dyno=").nth(1).map(|d| d.trim().to_owned()))
            .collect();
        dynos.len() == 2
    });

    // A new release: once its rollout is done, every request reaches its pods.
    ok(cli, &repo, &["config:set", "GREETING=hello"]);
    eventually("the new pods answer", || {
        pages(6).iter().all(|p| p.starts_with("greeting=hello "))
    });

    // A custom domain with an uploaded certificate: the router's TLS listener serves it.
    ok(cli, &repo, &["domains:add", "www.edged.test"]);
    let ca = paas_tests::tls::TestCa::new("paas test CA");
    let (chain, key) = ca.leaf(&["www.edged.test"]);
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in [
        ("chain.pem", &chain),
        ("key.pem", &key),
        ("ca.pem", &ca.root_pem),
    ] {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(
        cli,
        &repo,
        &["certs:add", &path("chain.pem"), &path("key.pem")],
    );
    let tls_port = kube.server.router_tls.rsplit(':').next().expect("a port");
    eventually("the custom domain is served over TLS", || {
        get_page_with(&[
            "--cacert",
            &path("ca.pem"),
            "--resolve",
            &format!("www.edged.test:{tls_port}:127.0.0.1"),
            &format!("https://www.edged.test:{tls_port}/"),
        ])
        .starts_with("greeting=hello ")
    });

    // A canary at 50 %: new clients are split between its pod and the release's.
    std::fs::write(
        repo.join("Procfile"),
        ENVPAGE.replace("greeting=$GREETING", "canary greeting=$GREETING"),
    )
    .expect("write");
    cli.commit_all(&repo, "a canary");
    let output = super::canary::push_with(cli, &repo, &["canary=50"]);
    assert!(
        output.status.success(),
        "{}\n{}",
        transcript(&output),
        kube.logs()
    );
    eventually("both releases get clients", || {
        let pages = pages(10);
        pages
            .iter()
            .any(|p| p.starts_with("canary greeting=hello "))
            && pages.iter().any(|p| p.starts_with("greeting=hello "))
    });
    ok(cli, &repo, &["canary:abort"]);
    eventually("the canary gets no more clients", || {
        pages(6).iter().all(|p| p.starts_with("greeting=hello "))
    });

    // Destroyed: the router no longer knows the app.
    ok(cli, &repo, &["destroy", "--confirm", "edged"]);
    let answer = get_page_with(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Host: edged.apps.test",
        &format!("http://{}/", kube.server.router),
    ]);
    assert_eq!(answer, "404", "a destroyed app");
}

/// `--k8s-builds job`: a push builds in a Job on the real node (the stack's build image from the
/// registry, the source sent in and the built app sent back through the attach), its output
/// streams into the push, the Job goes once the build ends, and a build that fails in its Job
/// fails the push with the buildpack's own words while the running release serves on.
#[test]
fn builds_run_as_jobs_on_a_real_node() {
    let kube = real_node(60, None, &["--k8s-builds", "job"]);
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("static");
    ok(cli, &repo, &["create", "built"]);
    let output = push(cli, &repo);
    let pushed = transcript(&output);
    assert!(output.status.success(), "{pushed}\n{}", kube.logs());
    assert!(
        pushed.contains("Building in job build-") && pushed.contains("Static site detected"),
        "{pushed}"
    );
    // The static buildpack's report came back from the pod: the image serves the site.
    let served = pages(&kube, "built");
    assert!(
        served.len() == 1 && served[0].contains("Hello from a static site"),
        "{served:?}\n{}",
        kube.logs()
    );
    let build_jobs = || {
        cluster
            .get("/apis/batch/v1/namespaces/paas-built/jobs?labelSelector=paas%2Fbuild")
            .and_then(|jobs| jobs["items"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    eventually("the build's job is deleted", || build_jobs() == 0);

    // Python on the busybox stack: the buildpack fails in the Job, and says why.
    std::fs::write(repo.join("requirements.txt"), "flask==3.0.3\n").expect("write");
    cli.commit_all(&repo, "now with Python");
    let output = push(cli, &repo);
    let failed = transcript(&output);
    assert!(!output.status.success(), "{failed}");
    assert!(
        failed.contains("Building in job build-")
            && failed.contains("Push rejected: the build failed"),
        "{failed}\n{}",
        kube.logs()
    );
    assert_eq!(pages(&kube, "built").len(), 1, "v1 serves on");
    eventually("the failed build's job is deleted", || build_jobs() == 0);

    // The app destroyed while its build runs (a big site still going in): the push ends soon,
    // not at the build's time limit.
    std::fs::remove_file(repo.join("requirements.txt")).expect("remove");
    let noise: Vec<u8> = (0..12_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(repo.join("public/big.bin"), noise).expect("write");
    cli.commit_all(&repo, "a big site");
    let (mut git, said, reader) = push_watched(cli, &repo);
    while !said
        .recv_timeout(Duration::from_secs(60))
        .expect("the build started")
        .contains("Building in job build-")
    {}
    ok(cli, &repo, &["destroy", "--confirm", "built"]);
    // Well within the build's 900 s time limit, which it waited for before; the namespace's
    // deletion takes its time on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(120);
    while git.try_wait().expect("git push").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let ended = git.try_wait().expect("git push").is_some();
    if !ended {
        let _ = git.kill();
    }
    let pushed = git.wait().expect("git push");
    assert!(
        ended,
        "the push did not end once the app was gone\n{}",
        kube.logs()
    );
    assert!(!pushed.success());
    // Ended by the app's deletion, not by its pod's end after its grace period.
    let said = reader.join().expect("the push's output");
    assert!(
        said.contains("app built was destroyed during the push: nothing was released."),
        "{said}"
    );
}

/// With the paas router as the edge, p95 targets work on Kubernetes as on the local scheduler:
/// the router measures the pods' responses, the platform's autoscaler scales the Deployment (no
/// HorizontalPodAutoscaler), and a rule with both a p95 and a CPU target is refused.
#[test]
fn p95_autoscaling_scales_web_pods_behind_the_router() {
    let kube = real_node(
        60,
        None,
        &[
            "--k8s-edge",
            "router",
            "--autoscale-interval",
            "1",
            "--autoscale-up-after",
            "3",
            "--autoscale-down-after",
            "600",
            "--max-dynos-per-app",
            "5",
        ],
    );
    let (cli, cluster) = (&kube.cli, &kube.cluster);
    let repo = cli.app_repo("one-at-a-time");
    ok(cli, &repo, &["create", "queue"]);
    push_ok(&kube, &repo);
    let p95 = [
        "autoscale:enable",
        "web",
        "--min",
        "1",
        "--max",
        "2",
        "--p95",
        "200ms",
    ];
    super::run::refused(
        cli,
        &repo,
        &[&p95[..], &["--cpu", "70%"]].concat(),
        1,
        "on Kubernetes a type autoscales on p95",
    );
    ok(cli, &repo, &p95);
    // Eight clients at once against one-request-at-a-time pods, through the router.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (stop, url) = (
                std::sync::Arc::clone(&stop),
                format!("http://{}/cgi-bin/work", kube.server.router),
            );
            std::thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(std::sync::atomic::Ordering::SeqCst)
                    && started.elapsed() < Duration::from_secs(90)
                {
                    get_page_with(&["-H", "Host: queue.apps.test", &url]);
                }
            })
        })
        .collect();
    super::autoscale::await_web_dynos(&kube.server, cli, &repo, 2, Duration::from_secs(80));
    eventually("two web pods are ready", || {
        ready_pods(&kube, "queue").len() == 2
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for thread in load {
        thread.join().expect("load");
    }
    let shown = ok(cli, &repo, &["autoscale"]);
    assert!(shown.contains("over 3s: web 1 → 2"), "{shown}");
    let autoscalers = cluster
        .get("/apis/autoscaling/v2beta2/namespaces/paas-queue/horizontalpodautoscalers")
        .expect("the autoscaling API");
    assert_eq!(
        autoscalers["items"],
        json!([]),
        "no HorizontalPodAutoscaler"
    );
}
