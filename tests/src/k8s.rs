//! A real Kubernetes control plane on loopback for the Kubernetes scheduler's tests
//! (`../shared/k8s-test-cluster.md`): etcd, kube-apiserver and kube-controller-manager v1.20.2,
//! built once from Debian's source by `scripts/k8s-test-cluster-build` and cached outside the
//! repository. [`RealNode`] adds a real node (containerd, CNI, kube-scheduler, the kubelet) on
//! which pods really run; without one, [`FakeKubelet`] marks pods Ready, as kwok does.
//!
//! The apiserver serves TLS with a certificate from a throwaway CA and authorizes with RBAC: the
//! fixture itself (and the controller manager) use a static admin token; the server under test
//! gets the token of a ServiceAccount, bound by `buildserver/kubernetes/rbac.yaml` or by nothing,
//! so the tests also prove that manifest grants enough.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The fixture's own credentials (`system:masters`).
const ADMIN_TOKEN: &str = "paas-test-admin-token";
const ADMIN: &str = "Bearer paas-test-admin-token";

/// A kubeconfig for `api` trusting `ca`, authenticating with `token`.
fn write_kubeconfig(path: &Path, api: &str, ca: &str, token: &str) {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {api}\n    certificate-authority: {ca}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n\
             current-context: test\nusers:\n- name: test\n  user:\n    token: {token}\n"
        ),
    )
    .expect("write a kubeconfig");
}

/// etcd, kube-apiserver and kube-controller-manager, stopped (SIGTERM, then SIGKILL) on drop.
pub struct TestCluster {
    children: Vec<Child>,
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT`
    pub api: String,
    /// Trusts the cluster's CA; answers every status.
    agent: ureq::Agent,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The cached binaries, built on first use (about 9 minutes) under the build script's lock.
fn binaries() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/k8s-test-cluster-build");
    let output = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/k8s-test-cluster-build");
    assert!(
        output.status.success(),
        "building the test cluster's binaries failed (needs deb.debian.org)"
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    PathBuf::from(text.lines().last().expect("the bin dir").trim())
}

impl TestCluster {
    pub fn start() -> Self {
        let bin = binaries();
        let dir = tempfile::tempdir().expect("temp dir");
        let run = |program: &str, args: Vec<String>, log: &str| -> Child {
            let log = std::fs::File::create(dir.path().join(log)).expect("log file");
            Command::new(bin.join(program))
                .args(args)
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {program}: {e}"))
        };
        let mut children = Vec::new();
        let (etcd_port, peer_port) = (free_port(), free_port());
        children.push(run(
            "etcd",
            vec![
                format!("--data-dir={}", dir.path().join("etcd").display()),
                format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
                "--unsafe-no-fsync".into(),
            ],
            "etcd.log",
        ));
        let file = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write");
        for args in [
            "genrsa -out sa.key 2048",
            "rsa -in sa.key -pubout -out sa.pub",
            "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=paas-test-ca -keyout ca.key -out ca.crt",
            "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout tls.key -out tls.csr",
            "x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out tls.crt",
        ] {
            let status = Command::new("openssl")
                .args(args.split(' '))
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl (apt-get install openssl)");
            assert!(status.success(), "openssl {args}");
        }
        std::fs::write(
            dir.path().join("tokens.csv"),
            format!(
                "{ADMIN_TOKEN},admin,admin,system:masters\n\
                 {KUBELET_TOKEN},system:node:127.0.0.1,kubelet,system:nodes\n"
            ),
        )
        .expect("write the token file");
        let api_port = free_port();
        children.push(run(
            "kube-apiserver",
            vec![
                format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={api_port}"),
                format!("--tls-cert-file={}", file("tls.crt")),
                format!("--tls-private-key-file={}", file("tls.key")),
                "--anonymous-auth=false".into(),
                format!("--token-auth-file={}", file("tokens.csv")),
                // As on a real cluster: a kubelet ([`RealNode`]) is a node, not an admin.
                "--authorization-mode=Node,RBAC".into(),
                "--enable-admission-plugins=NodeRestriction".into(),
                // No node lifecycle controller here to take a new node's taints away.
                "--disable-admission-plugins=TaintNodesByCondition".into(),
                "--endpoint-reconciler-type=none".into(),
                "--service-account-issuer=https://kubernetes.default.svc".into(),
                format!("--service-account-key-file={}", file("sa.pub")),
                format!("--service-account-signing-key-file={}", file("sa.key")),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--advertise-address=127.0.0.1".into(),
            ],
            "kube-apiserver.log",
        ));
        let api = format!("https://127.0.0.1:{api_port}");
        write_kubeconfig(
            &dir.path().join("admin.kubeconfig"),
            &api,
            &file("ca.crt"),
            ADMIN_TOKEN,
        );
        let ca = std::fs::read(dir.path().join("ca.crt")).expect("the CA");
        let agent = crate::agent_trusting(&ca, Duration::from_secs(10));
        let mut cluster = Self {
            children,
            dir,
            api,
            agent,
        };
        cluster.wait_ready();
        let controllers = cluster.run_controller_manager(&bin);
        cluster.children.push(controllers);
        cluster
    }

    fn run_controller_manager(&self, bin: &Path) -> Child {
        let log = std::fs::File::create(self.dir.path().join("kube-controller-manager.log"))
            .expect("log file");
        Command::new(bin.join("kube-controller-manager"))
            .args([
                format!(
                    "--kubeconfig={}",
                    self.dir.path().join("admin.kubeconfig").display()
                ),
                "--leader-elect=false".into(),
                "--bind-address=127.0.0.1".into(),
                "--secure-port=0".into(),
                "--port=0".into(),
                format!(
                    "--service-account-private-key-file={}",
                    self.dir.path().join("sa.key").display()
                ),
                format!(
                    "--root-ca-file={}",
                    self.dir.path().join("ca.crt").display()
                ),
                "--controllers=*,-nodeipam,-route,-service,-cloud-node-lifecycle".into(),
                // A real node's lost kubelet shows within seconds (NotReady, its pods not
                // Ready), not the default 40 s.
                "--node-monitor-period=1s".into(),
                "--node-monitor-grace-period=10s".into(),
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start kube-controller-manager")
    }

    /// A kubeconfig for the ServiceAccount `paas-system/paas-buildserver`, with the permissions
    /// `buildserver/kubernetes/rbac.yaml` grants (applied here), or with none at all.
    pub fn service_account_kubeconfig(&self, granted: bool) -> PathBuf {
        let manifest =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../buildserver/kubernetes/rbac.yaml");
        let text = std::fs::read_to_string(&manifest).expect("read rbac.yaml");
        let documents: Vec<Value> = serde_saphyr::from_multiple(&text).expect("YAML");
        for document in documents {
            let kind = document["kind"].as_str().unwrap_or_default();
            if !granted && kind.starts_with("ClusterRole") {
                continue;
            }
            let path = match kind {
                "Namespace" => "/api/v1/namespaces".to_owned(),
                "ServiceAccount" => format!(
                    "/api/v1/namespaces/{}/serviceaccounts",
                    document["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                ),
                "ClusterRole" => "/apis/rbac.authorization.k8s.io/v1/clusterroles".to_owned(),
                "ClusterRoleBinding" => {
                    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings".to_owned()
                }
                other => panic!("rbac.yaml has a {other}, which this fixture cannot apply"),
            };
            self.post(&path, &document);
        }
        // The token controller gives the account a token Secret.
        let deadline = Instant::now() + Duration::from_secs(30);
        let secret = loop {
            let account = self
                .get("/api/v1/namespaces/paas-system/serviceaccounts/paas-buildserver")
                .expect("the ServiceAccount");
            if let Some(name) = account["secrets"][0]["name"].as_str() {
                break name.to_owned();
            }
            assert!(Instant::now() < deadline, "no token for the ServiceAccount");
            std::thread::sleep(Duration::from_millis(100));
        };
        let secret = self
            .get(&format!("/api/v1/namespaces/paas-system/secrets/{secret}"))
            .expect("the token Secret");
        let token = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            secret["data"]["token"].as_str().expect("a token"),
        )
        .expect("base64");
        let path = self.dir.path().join(if granted {
            "paas.kubeconfig"
        } else {
            "nobody.kubeconfig"
        });
        write_kubeconfig(
            &path,
            &self.api,
            &self.dir.path().join("ca.crt").display().to_string(),
            &String::from_utf8(token).expect("utf-8"),
        );
        path
    }

    /// The apiserver's and the controller manager's logs, for failure messages.
    pub fn logs(&self) -> String {
        ["kube-apiserver.log", "kube-controller-manager.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self
                .agent
                .get(format!("{}/readyz", self.api))
                .header("Authorization", ADMIN)
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready after 60 s:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `GET path` on the apiserver as JSON; `None` for 404.
    pub fn get(&self, path: &str) -> Option<Value> {
        let response = self
            .agent
            .get(format!("{}{path}", self.api))
            .header("Authorization", ADMIN)
            .call()
            .expect("the apiserver answers");
        match response.status().as_u16() {
            404 => None,
            200 => Some(response.into_body().read_json().expect("a JSON answer")),
            status => panic!("GET {path}: {status}"),
        }
    }

    /// A JSON merge patch (`kubectl patch --type merge`), as a person editing objects would.
    pub fn merge_patch(&self, path: &str, patch: &Value) {
        let response = self
            .agent
            .patch(format!("{}{path}", self.api))
            .header("Authorization", ADMIN)
            .header("Content-Type", "application/merge-patch+json")
            .send_json(patch)
            .unwrap_or_else(|e| panic!("PATCH {path}: {e}"));
        assert_eq!(response.status().as_u16(), 200, "PATCH {path}");
    }

    /// `POST path` (to create objects by hand).
    pub fn post(&self, path: &str, object: &Value) {
        let response = self
            .agent
            .post(format!("{}{path}", self.api))
            .header("Authorization", ADMIN)
            .send_json(object)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        // 409: it exists already (a second ServiceAccount kubeconfig from the same cluster).
        assert!(matches!(status, 201 | 409), "POST {path}: {status}");
    }

    /// `DELETE path` (an object, by hand); a missing one is no error.
    pub fn delete(&self, path: &str) {
        let response = self
            .agent
            .delete(format!("{}{path}", self.api))
            .header("Authorization", ADMIN)
            .call()
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"));
        let status = response.status().as_u16();
        assert!(matches!(status, 200 | 202 | 404), "DELETE {path}: {status}");
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Controller manager first, etcd last.
        for child in self.children.iter_mut().rev() {
            crate::stop_child(child, Duration::from_secs(10));
        }
    }
}

/// Plays the kubelet: every pod paas creates is marked running and Ready, except those whose
/// container command contains a marker the test chose (they stay Pending, never Ready). A one-off
/// pod (a release phase's Job) ends at once instead: with status N if its Procfile command says
/// `exit N`,
/// else 0 (it stays Pending too when its command has the marker).
pub struct FakeKubelet {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeKubelet {
    pub fn start(cluster: &TestCluster, never_ready_marker: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, api, marker, agent) = (
            stop.clone(),
            cluster.api.clone(),
            never_ready_marker.to_owned(),
            cluster.agent.clone(),
        );
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                mark_pods_ready(&agent, &api, &marker);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn mark_pods_ready(agent: &ureq::Agent, api: &str, marker: &str) {
    let Ok(response) = agent
        .get(format!(
            "{api}/api/v1/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dpaas"
        ))
        .header("Authorization", ADMIN)
        .call()
    else {
        return;
    };
    let Ok(pods) = response.into_body().read_json::<Value>() else {
        return;
    };
    for pod in pods["items"].as_array().into_iter().flatten() {
        let ready = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        let command = pod["spec"]["containers"][0]["command"].to_string();
        if ready || pod["metadata"]["deletionTimestamp"].is_string() || command.contains(marker) {
            continue;
        }
        let (namespace, name) = (
            pod["metadata"]["namespace"].as_str().unwrap_or_default(),
            pod["metadata"]["name"].as_str().unwrap_or_default(),
        );
        let container = pod["spec"]["containers"][0]["name"].clone();
        let now = "2026-01-01T00:00:00Z";
        let status = if pod["metadata"]["labels"]["paas/one-off"].is_string() {
            if pod["status"]["phase"] != "Pending" {
                continue;
            }
            // The Procfile command is the dyno wrapper's last argument.
            let procfile_command = pod["spec"]["containers"][0]["command"]
                .as_array()
                .and_then(|args| args.last())
                .and_then(Value::as_str)
                .unwrap_or_default();
            let code: i64 = procfile_command
                .split("exit ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|digits| digits.parse().ok())
                .unwrap_or(0);
            json!({ "status": {
                "phase": if code == 0 { "Succeeded" } else { "Failed" },
                "startTime": now,
                "containerStatuses": [{
                    "name": container, "ready": false, "restartCount": 0,
                    "image": pod["spec"]["containers"][0]["image"], "imageID": "",
                    "state": { "terminated": {
                        "exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" },
                        "startedAt": now, "finishedAt": now,
                    } },
                }],
            }})
        } else {
            json!({ "status": {
            "phase": "Running",
            "startTime": now,
            "conditions": [
                { "type": "PodScheduled", "status": "True", "lastTransitionTime": now },
                { "type": "Initialized", "status": "True", "lastTransitionTime": now },
                { "type": "ContainersReady", "status": "True", "lastTransitionTime": now },
                { "type": "Ready", "status": "True", "lastTransitionTime": now },
            ],
            "containerStatuses": [{
                "name": container, "ready": true, "restartCount": 0, "started": true,
                "image": pod["spec"]["containers"][0]["image"], "imageID": "",
                "state": { "running": { "startedAt": now } },
            }],
            }})
        };
        let _ = agent
            .patch(format!(
                "{api}/api/v1/namespaces/{namespace}/pods/{name}/status"
            ))
            .header("Authorization", ADMIN)
            .header("Content-Type", "application/merge-patch+json")
            .send_json(&status);
    }
}

/// The kubelet's own credentials: a node identity (`system:node:127.0.0.1`, group
/// `system:nodes`), authorized by the Node authorizer and NodeRestriction as on a real cluster.
const KUBELET_TOKEN: &str = "paas-test-kubelet-token";

/// Where the nodes of every test process on this machine register (`<name>` holds the owner's
/// pid), under `.lock`: nextest runs each test in a process of its own, and the kernel settings
/// and fixed paths the kubelet changes are the machine's, so the last node down anywhere restores
/// them (from `sysctls.before` and `paths.new`, written when the first one came up).
const NODES_DIR: &str = "/run/paas-test-nodes";

/// Fixed paths the kubelet and containerd 1.6 create whatever their flags: removed when the last
/// node is down, if they were not there before the first one started.
const FIXED_PATHS: &[&str] = &["/var/lib/kubelet", "/run/containerd", "/var/lib/cni"];

const KUBELET_SYSCTLS: &[&str] = &[
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
];

/// The cgroup v1 controllers the kubelet makes its pod cgroups in.
const CGROUP_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
];

/// A real node for a [`TestCluster`] (`../shared/k8s-test-cluster.md`, appendix): Debian's
/// containerd with its own root, state, socket and runc root; Debian's CNI plugins on a bridge and
/// a /24 of its own; kube-scheduler; and the kubelet, with its own ports and cgroup root. Pods
/// really run: images are pulled (the sandbox's `pause` from `registry`), probes probe, logs are
/// logs. Everything it starts is stopped by pid on drop, in the order the appendix gives, and what
/// the kubelet leaves on the host (mounts, bridge, cgroups, pod log directories, kernel settings)
/// is removed or restored.
pub struct RealNode {
    children: Vec<(&'static str, Child)>,
    /// The kubelet's program and arguments, to start it again.
    kubelet: (PathBuf, Vec<String>),
    dir: tempfile::TempDir,
    /// `pt<N>`: the bridge's name and the cgroup root's.
    name: String,
    api: String,
    agent: ureq::Agent,
}

impl RealNode {
    /// Starts a node for `cluster` that pulls from `registries` (`127.0.0.1:PORT`, plain HTTP;
    /// its sandbox image is pushed to the first, which must need no login), and waits until it is
    /// Ready (about 20 s).
    pub fn start(cluster: &TestCluster, registries: &[&str]) -> Self {
        let bin = binaries();
        let dir = tempfile::tempdir().expect("temp dir");
        let n = register_node();
        let name = format!("pt{n}");
        let path = |p: &str| dir.path().join(p).display().to_string();
        let pause = push_pause_image(&bin, dir.path(), registries[0]);
        let mirrors: String = registries
            .iter()
            .map(|r| {
                format!(
                    "    [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"{r}\"]\n      endpoint = [\"http://{r}\"]\n"
                )
            })
            .collect();
        for sub in ["containerd", "cni/net.d", "cni/ipam", "kubelet", "logs"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(
            dir.path().join("containerd/config.toml"),
            format!(
                r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{opt}"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{pause}"
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    disable_apparmor = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "/usr/sbin/runc"
          Root = "{runc}"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{cni}"
{mirrors}"#,
                root = path("containerd/root"),
                state = path("containerd/state"),
                sock = path("containerd/containerd.sock"),
                opt = path("containerd/opt"),
                runc = path("containerd/runc"),
                cni = path("cni/net.d"),
            ),
        )
        .expect("write containerd's config");
        std::fs::write(
            dir.path().join("cni/net.d/10-paas-test.conflist"),
            json!({
                "cniVersion": "0.4.0", "name": name, "plugins": [{
                    "type": "bridge", "bridge": name, "isGateway": true, "ipMasq": false,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local", "dataDir": path("cni/ipam"),
                        "ranges": [[{ "subnet": format!("10.244.{n}.0/24") }]],
                        "routes": [{ "dst": "0.0.0.0/0" }],
                    },
                }],
            })
            .to_string(),
        )
        .expect("write the CNI config");
        for controller in CGROUP_CONTROLLERS {
            let _ = std::fs::create_dir_all(format!("/sys/fs/cgroup/{controller}/{name}"));
        }
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let parent = std::fs::read_to_string(format!("/sys/fs/cgroup/cpuset/{file}"))
                .expect("cgroup v1 cpuset");
            std::fs::write(
                format!("/sys/fs/cgroup/cpuset/{name}/{file}"),
                parent.trim(),
            )
            .expect("the node's cpuset");
        }
        let log =
            |file: &str| std::fs::File::create(dir.path().join("logs").join(file)).expect("log");
        let spawn = |program: &Path, args: Vec<String>, file: &str| -> Child {
            let out = log(file);
            Command::new(program)
                .args(args)
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", program.display()))
        };
        let mut children = Vec::new();
        children.push((
            "containerd",
            spawn(
                Path::new("/usr/bin/containerd"),
                vec!["--config".into(), path("containerd/config.toml")],
                "containerd.log",
            ),
        ));
        children.push((
            "kube-scheduler",
            spawn(
                &bin.join("kube-scheduler"),
                vec![
                    format!(
                        "--kubeconfig={}",
                        cluster.dir.path().join("admin.kubeconfig").display()
                    ),
                    "--leader-elect=false".into(),
                    "--bind-address=127.0.0.1".into(),
                    "--secure-port=0".into(),
                    "--port=0".into(),
                ],
                "kube-scheduler.log",
            ),
        ));
        let kubeconfig = dir.path().join("kubelet.kubeconfig");
        write_kubeconfig(
            &kubeconfig,
            &cluster.api,
            &cluster.dir.path().join("ca.crt").display().to_string(),
            KUBELET_TOKEN,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !dir.path().join("containerd/containerd.sock").exists() {
            assert!(Instant::now() < deadline, "containerd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let kubelet_args: Vec<String> = vec![
                    format!("--kubeconfig={}", kubeconfig.display()),
                    "--hostname-override=127.0.0.1".into(),
                    "--address=127.0.0.1".into(),
                    format!("--port={}", free_port()),
                    "--read-only-port=0".into(),
                    "--healthz-bind-address=127.0.0.1".into(),
                    format!("--healthz-port={}", free_port()),
                    "--container-runtime=remote".into(),
                    format!(
                        "--container-runtime-endpoint=unix://{}",
                        path("containerd/containerd.sock")
                    ),
                    "--cgroup-driver=cgroupfs".into(),
                    format!("--cgroup-root=/{name}"),
                    "--fail-swap-on=false".into(),
                    format!("--root-dir={}", path("kubelet")),
                    format!("--cert-dir={}", path("kubelet/pki")),
                    format!("--volume-plugin-dir={}", path("kubelet/volume-plugins")),
                    "--make-iptables-util-chains=false".into(),
                    // The test machines' disks are shared and can be 85 % full: the default
                    // thresholds (15 % free for images) refuse every pod for DiskPressure and
                    // collect the sandbox image, and even 1 % thresholds once tainted the node
                    // mid-run in CI (a StatefulSet's pod evicted, then Pending on the taint).
                    // A test node has no disk thresholds at all ("0%" disables a signal, as the
                    // kubelet's eviction parser documents) and collects no image.
                    "--eviction-hard=memory.available<1Mi,nodefs.available<0%,nodefs.inodesFree<0%,imagefs.available<0%,imagefs.inodesFree<0%".into(),
                    "--image-gc-high-threshold=100".into(),
                    "--image-gc-low-threshold=99".into(),
                    "--node-status-update-frequency=1s".into(),
                    "--v=2".into(),
                ];
        children.push((
            "kubelet",
            spawn(&bin.join("kubelet"), kubelet_args.clone(), "kubelet.log"),
        ));
        let node = Self {
            children,
            kubelet: (bin.join("kubelet"), kubelet_args),
            dir,
            name,
            api: cluster.api.clone(),
            agent: cluster.agent.clone(),
        };
        node.wait_ready();
        node
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !self.is_ready() {
            assert!(
                Instant::now() < deadline,
                "the node is not Ready after 90 s:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Kills the kubelet (SIGKILL, as a crash would): the pods' containers keep running under
    /// containerd, and the cluster sees the node go NotReady after the controller manager's grace.
    pub fn kill_kubelet(&mut self) {
        let (_, kubelet) = self
            .children
            .iter_mut()
            .find(|(name, _)| *name == "kubelet")
            .expect("a kubelet");
        let _ = kubelet.kill();
        let _ = kubelet.wait();
    }

    /// Starts the kubelet again (after [`Self::kill_kubelet`]), its log appended to the old one,
    /// and waits until the node is Ready.
    pub fn start_kubelet(&mut self) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("logs/kubelet.log"))
            .expect("the kubelet's log");
        let child = Command::new(&self.kubelet.0)
            .args(&self.kubelet.1)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the kubelet again");
        let slot = self
            .children
            .iter_mut()
            .find(|(name, _)| *name == "kubelet")
            .expect("a kubelet");
        slot.1 = child;
        self.wait_ready();
    }

    /// Whether the cluster has the node Ready now.
    pub fn is_ready(&self) -> bool {
        self.agent
            .get(format!("{}/api/v1/nodes/127.0.0.1", self.api))
            .header("Authorization", ADMIN)
            .call()
            .ok()
            .filter(|r| r.status() == 200)
            .and_then(|r| r.into_body().read_json::<Value>().ok())
            .is_some_and(|node| {
                node["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    }

    /// The tails of containerd's, the scheduler's and the kubelet's logs, for failure messages.
    pub fn logs(&self) -> String {
        let read = |f: &str| {
            std::fs::read_to_string(self.dir.path().join("logs").join(f)).unwrap_or_default()
        };
        let mut logs: Vec<String> = ["containerd.log", "kube-scheduler.log", "kubelet.log"]
            .iter()
            .map(|f| {
                let text = read(f);
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect();
        // What the eviction manager saw is what explains a pod evicted or a node tainted, and it
        // is rarely in the last lines.
        let kubelet = read("kubelet.log");
        let evictions: Vec<&str> = kubelet
            .lines()
            .filter(|l| l.contains("eviction"))
            .take(20)
            .collect();
        if !evictions.is_empty() {
            logs.push(format!(
                "--- kubelet.log (eviction)\n{}",
                evictions.join("\n")
            ));
        }
        logs.join("\n")
    }

    /// The UIDs of the pods the node has (their log directories are named after them).
    fn pod_uids(&self) -> Vec<String> {
        self.agent
            .get(format!("{}/api/v1/pods", self.api))
            .header("Authorization", ADMIN)
            .call()
            .ok()
            .and_then(|r| r.into_body().read_json::<Value>().ok())
            .map(|pods| {
                pods["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Deletes every workload (so that no controller makes pods again), force-deletes every pod and
    /// waits (up to 20 s) until containerd runs no task, so that the kubelet has torn their
    /// sandboxes down (CNI DEL, netns, volume mounts).
    fn drain(&self) {
        let namespaces = self
            .agent
            .get(format!("{}/api/v1/namespaces", self.api))
            .header("Authorization", ADMIN)
            .call()
            .ok()
            .and_then(|r| r.into_body().read_json::<Value>().ok())
            .unwrap_or_default();
        for ns in namespaces["items"].as_array().into_iter().flatten() {
            let ns = ns["metadata"]["name"].as_str().unwrap_or_default();
            for collection in [
                "apis/apps/v1/namespaces/{ns}/deployments",
                "apis/apps/v1/namespaces/{ns}/replicasets",
                "apis/apps/v1/namespaces/{ns}/statefulsets",
                "apis/batch/v1/namespaces/{ns}/jobs",
                "api/v1/namespaces/{ns}/pods",
            ] {
                let _ = self
                    .agent
                    .delete(format!(
                        "{}/{}?gracePeriodSeconds=0&propagationPolicy=Background",
                        self.api,
                        collection.replace("{ns}", ns)
                    ))
                    .header("Authorization", ADMIN)
                    .call();
            }
        }
        let socket = self.dir.path().join("containerd/containerd.sock");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let tasks = Command::new("ctr")
                .arg("-a")
                .arg(&socket)
                .args(["-n", "k8s.io", "tasks", "ls", "-q"])
                .output();
            match tasks {
                Ok(out)
                    if out.status.success() && out.stdout.iter().all(u8::is_ascii_whitespace) =>
                {
                    return;
                }
                Err(_) => return,
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        let mut pods = self.pod_uids();
        self.drain();
        // A controller may have made a pod between the listing and the deletions.
        pods.extend(self.pod_uids());
        // The kubelet first, then the scheduler, then containerd.
        for (_, child) in self.children.iter_mut().rev() {
            crate::stop_child(child, Duration::from_secs(10));
        }
        kill_shims(&self.dir.path().join("containerd/containerd.sock"));
        unmount_under(self.dir.path());
        sweep(&self.name);
        for uid in pods {
            remove_pod_logs(&uid);
        }
        unregister_node(&self.name);
    }
}

/// Holds [`NODES_DIR`]'s lock while alive.
fn lock_nodes() -> std::fs::File {
    std::fs::create_dir_all(NODES_DIR).expect("mkdir /run/paas-test-nodes");
    let lock = std::fs::File::create(Path::new(NODES_DIR).join(".lock")).expect("the nodes' lock");
    lock.lock().expect("lock the nodes' registry");
    lock
}

/// The registered nodes (`pt<N>` → its owner's pid); those of dead processes (a crashed or killed
/// run) are swept and unregistered on the way.
fn live_nodes() -> Vec<String> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir(NODES_DIR).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("pt") {
            continue;
        }
        let pid: i32 = std::fs::read_to_string(entry.path())
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        if pid > 0 && Path::new(&format!("/proc/{pid}")).exists() {
            live.push(name);
        } else {
            sweep(&name);
            let _ = std::fs::remove_file(entry.path());
        }
    }
    live
}

/// Registers a node of this process and returns its number N (bridge `ptN`, subnet
/// 10.244.N.0/24), one no live node uses. The first node on the machine records the kernel
/// settings and which fixed paths are new; an earlier record (a crashed run's) is kept, since it
/// holds the settings from before that run.
fn register_node() -> u32 {
    let _lock = lock_nodes();
    let live = live_nodes();
    let dir = Path::new(NODES_DIR);
    if live.is_empty() && !dir.join("sysctls.before").exists() {
        let sysctls: String = KUBELET_SYSCTLS
            .iter()
            .map(|k| {
                let v = std::fs::read_to_string(format!("/proc/sys/{k}")).unwrap_or_default();
                format!("{k} {}\n", v.trim())
            })
            .collect();
        let new: String = FIXED_PATHS
            .iter()
            .filter(|p| !Path::new(p).exists())
            .map(|p| format!("{p}\n"))
            .collect();
        std::fs::write(dir.join("paths.new"), new).expect("write paths.new");
        std::fs::write(dir.join("sysctls.before"), sysctls).expect("write sysctls.before");
    }
    let n = (20..250)
        .find(|n| !live.contains(&format!("pt{n}")))
        .expect("a free node number");
    sweep(&format!("pt{n}"));
    std::fs::write(dir.join(format!("pt{n}")), std::process::id().to_string())
        .expect("register the node");
    n
}

/// Unregisters node `name`; when no node is left on the machine, restores the kernel settings and
/// removes the fixed paths that were new.
fn unregister_node(name: &str) {
    let _lock = lock_nodes();
    let dir = Path::new(NODES_DIR);
    let _ = std::fs::remove_file(dir.join(name));
    if !live_nodes().is_empty() {
        return;
    }
    let sysctls = std::fs::read_to_string(dir.join("sysctls.before")).unwrap_or_default();
    for line in sysctls.lines() {
        if let Some((key, value)) = line.split_once(' ') {
            let _ = std::fs::write(format!("/proc/sys/{key}"), value);
        }
    }
    let paths = std::fs::read_to_string(dir.join("paths.new")).unwrap_or_default();
    for path in paths.lines() {
        let _ = std::fs::remove_dir_all(path);
    }
    let _ = std::fs::remove_file(dir.join("sysctls.before"));
    let _ = std::fs::remove_file(dir.join("paths.new"));
}

/// Builds the sandbox image (the cached static `pause`, as the node's `pause:1`) into an OCI
/// layout with umoci and pushes it to `registry` with skopeo; returns its reference.
fn push_pause_image(bin: &Path, dir: &Path, registry: &str) -> String {
    let run = |program: &str, args: &[&str]| {
        let output = Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run("umoci", &["init", "--layout", "pause-oci"]);
    run("umoci", &["new", "--image", "pause-oci:pause"]);
    run(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            "pause-oci:pause",
            "pause-bundle",
        ],
    );
    std::fs::copy(bin.join("pause"), dir.join("pause-bundle/rootfs/pause")).expect("copy pause");
    run(
        "umoci",
        &["repack", "--image", "pause-oci:pause", "pause-bundle"],
    );
    run(
        "umoci",
        &[
            "config",
            "--image",
            "pause-oci:pause",
            "--config.entrypoint",
            "/pause",
            "--config.user",
            "65535:65535",
        ],
    );
    let reference = format!("{registry}/paas-test/pause:1");
    run(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "oci:pause-oci:pause",
            &format!("docker://{reference}"),
        ],
    );
    reference
}

/// Unmounts (lazily, deepest first) what is mounted under `dir`: the kubelet's root and pod
/// volumes, and containerd's sandbox network namespaces and `/dev/shm` mounts, which outlive the
/// processes (each left behind kept a network namespace alive and the temp dir undeletable).
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // Field 5 is the mount point (`\040` stands for a space; temp dirs have none).
    let mut points: Vec<&Path> = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(Path::new)
        .filter(|point| point.starts_with(dir))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    for point in points {
        let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Kills the containerd shims of the containerd at `socket` (they outlive it), found by their
/// command lines.
fn kill_shims(socket: &Path) {
    let socket = socket.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("containerd-shim-runc-v2") && cmdline.contains(&socket) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Removes what a node named `name` leaves on the host: its bridge and its cgroup tree (also a
/// crashed earlier run's, before a node of that name starts).
fn sweep(name: &str) {
    let _ = Command::new("ip")
        .args(["link", "del", name])
        .stderr(Stdio::null())
        .status();
    for controller in CGROUP_CONTROLLERS {
        remove_cgroup_tree(&PathBuf::from(format!(
            "/sys/fs/cgroup/{controller}/{name}"
        )));
    }
}

/// `rmdir` of a cgroup directory and everything under it, deepest first.
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// The kubelet 1.20 writes pod logs under the fixed `/var/log/pods/<ns>_<pod>_<uid>`, with links
/// in `/var/log/containers`: remove those of pod `uid`.
fn remove_pod_logs(uid: &str) {
    let suffix = format!("_{uid}");
    if let Ok(entries) = std::fs::read_dir("/var/log/pods") {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(&suffix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/var/log/containers") {
        for entry in entries.flatten() {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            if target.to_string_lossy().contains(&suffix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
