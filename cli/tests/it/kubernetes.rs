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
use super::push::stderr_of;
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
