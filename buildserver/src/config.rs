//! Server configuration (DESIGN §3.1): defaults, then a TOML file (`--config`), then `PAAS_*`
//! environment variables, then flags — later sources win. Every value is validated here, so the
//! rest of the server only sees a well-formed [`Config`]; a bad value is an error naming where it
//! came from (the daemon exits 64).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::registry::RegistryRef;
use serde::Deserialize;

/// Where to find the data dir and the config file: shared by every subcommand that opens the store.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDirArgs {
    /// TOML file with any of the `serve` settings, keys spelled like the flags (`api-listen = "…"`)
    #[arg(long, env = "PAAS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite db, bare repos, images, caches and dyno state [default: /var/lib/paas as root, else
    /// $XDG_DATA_HOME/paas]
    #[arg(long, env = "PAAS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataDirArgs,
    /// HTTP API address [default: 127.0.0.1:5500]
    #[arg(long, env = "PAAS_API_LISTEN", value_name = "ADDR")]
    pub api_listen: Option<String>,
    /// git-over-SSH address [default: 0.0.0.0:2222]
    #[arg(long, env = "PAAS_SSH_LISTEN", value_name = "ADDR")]
    pub ssh_listen: Option<String>,
    /// App traffic address [default: 0.0.0.0:8000]
    #[arg(long, env = "PAAS_ROUTER_LISTEN", value_name = "ADDR")]
    pub router_listen: Option<String>,
    /// HTTPS app traffic address (certificates by SNI: `paas certs`), or `off` [default: 0.0.0.0:443]
    #[arg(long, env = "PAAS_ROUTER_TLS_LISTEN", value_name = "ADDR|off")]
    pub router_tls_listen: Option<String>,
    /// Record each app's request and resource figures (`paas metrics`, autoscaling and p95, 5xx
    /// and crash alerts need them) [default: on]
    #[arg(long, env = "PAAS_METRICS", value_name = "on|off")]
    pub metrics: Option<String>,
    /// Serve every app's figures for Prometheus at http://ADDR/metrics (an admin's token), or
    /// `off` [default: off]
    #[arg(long, env = "PAAS_METRICS_LISTEN", value_name = "ADDR|off")]
    pub metrics_listen: Option<String>,
    /// Apps are served at <app>.<domain> [default: localhost]
    #[arg(long, env = "PAAS_DOMAIN")]
    pub domain: Option<String>,
    /// The ACME directory `paas certs:auto:enable` orders certificates from [default: Let's
    /// Encrypt's, https://acme-v02.api.letsencrypt.org/directory]
    #[arg(long, env = "PAAS_ACME_DIRECTORY", value_name = "URL")]
    pub acme_directory: Option<String>,
    /// The contact address of the server's ACME account (expiry warnings go there)
    #[arg(long, env = "PAAS_ACME_EMAIL", value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// A PEM file of CA certificates to trust for the ACME directory, besides the system's (a
    /// private ACME server such as step-ca or pebble)
    #[arg(long, env = "PAAS_ACME_CA_FILE", value_name = "FILE")]
    pub acme_ca_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust for TLS log drains (syslog+tls://, https://),
    /// besides the system's (a private CA's log collector)
    #[arg(long, env = "PAAS_DRAIN_CA_FILE", value_name = "FILE")]
    pub drain_ca_file: Option<PathBuf>,
    /// Let log drains and alert webhooks reach loopback and private addresses (default: public
    /// addresses only)
    #[arg(long, env = "PAAS_ALLOW_PRIVATE_TARGETS", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub allow_private_targets: Option<bool>,
    /// Push images here: host[:port]/prefix (optional with the local scheduler)
    #[arg(long, env = "PAAS_REGISTRY", value_name = "HOST[:PORT]/PREFIX")]
    pub registry: Option<String>,
    /// Talk plain HTTP to the registry
    #[arg(long, env = "PAAS_REGISTRY_INSECURE", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub registry_insecure: Option<bool>,
    /// Registry user name; the password comes from PAAS_REGISTRY_PASSWORD or --registry-password-file
    #[arg(long, env = "PAAS_REGISTRY_USERNAME", value_name = "NAME")]
    pub registry_username: Option<String>,
    /// File holding the registry password
    #[arg(long, env = "PAAS_REGISTRY_PASSWORD_FILE", value_name = "FILE")]
    pub registry_password_file: Option<PathBuf>,
    /// How long the registry may go without reading what is sent or answering before the push
    /// fails, in seconds [default: 60]
    #[arg(long, env = "PAAS_REGISTRY_TIMEOUT", value_name = "SECONDS")]
    pub registry_timeout: Option<String>,
    /// Where dynos run: local (runc on this host) or kubernetes [default: local]
    #[arg(long, env = "PAAS_SCHEDULER", value_name = "local|kubernetes")]
    pub scheduler: Option<String>,
    /// Once every listener is bound, write {"api":ADDR,...} to this file
    #[arg(long, env = "PAAS_READY_FILE", value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// Longest a build may run, in seconds [default: 900]
    #[arg(long, env = "PAAS_BUILD_TIMEOUT", value_name = "SECONDS")]
    pub build_timeout: Option<String>,
    /// Memory limit of a build, in MiB [default: 2048]
    #[arg(long, env = "PAAS_BUILD_MEMORY", value_name = "MIB")]
    pub build_memory: Option<String>,
    /// Largest pack a `git push` may send, in bytes [default: 1073741824 (1 GiB)]
    #[arg(long, env = "PAAS_MAX_PUSH_BYTES", value_name = "BYTES")]
    pub max_push_bytes: Option<String>,
    /// Longest a release phase (the Procfile's `release:` command) may run, in seconds [default: 1800]
    #[arg(long, env = "PAAS_RELEASE_TIMEOUT", value_name = "SECONDS")]
    pub release_timeout: Option<String>,
    /// How long a new web dyno has to answer HTTP on $PORT, in seconds [default: 60]
    #[arg(long, env = "PAAS_BOOT_TIMEOUT", value_name = "SECONDS")]
    pub boot_timeout: Option<String>,
    /// How long the router waits for a dyno's response to begin before answering 504, in
    /// seconds [default: 30, as Heroku's router]
    #[arg(long, env = "PAAS_ROUTER_TIMEOUT", value_name = "SECONDS")]
    pub router_timeout: Option<String>,
    /// How long an API or router client has to send a request's head, from connecting or from
    /// the previous response (idle keep-alive connections close then), in seconds [default: 30]
    #[arg(long, env = "PAAS_HEADER_TIMEOUT", value_name = "SECONDS")]
    pub header_timeout: Option<String>,
    /// How long an SSH session may pass with nothing sent either way before it is closed, in
    /// seconds [default: 3600]
    #[arg(long, env = "PAAS_SSH_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub ssh_idle_timeout: Option<String>,
    /// How often the autoscaler looks at each autoscaled process type, in seconds [default: 5]
    #[arg(long, env = "PAAS_AUTOSCALE_INTERVAL", value_name = "SECONDS")]
    pub autoscale_interval: Option<String>,
    /// How long an autoscaled type must miss a target (p95 or CPU over it) before it gets one
    /// more dyno, in seconds [default: 60]
    #[arg(long, env = "PAAS_AUTOSCALE_UP_AFTER", value_name = "SECONDS")]
    pub autoscale_up_after: Option<String>,
    /// How long an autoscaled type must stay under half of every target before it loses a dyno,
    /// in seconds [default: 300]
    #[arg(long, env = "PAAS_AUTOSCALE_DOWN_AFTER", value_name = "SECONDS")]
    pub autoscale_down_after: Option<String>,
    /// How much recent traffic p95 and 5xx alerts judge, and the least time between two crash
    /// deliveries of one alert, in seconds [default: 300]
    #[arg(long, env = "PAAS_ALERT_WINDOW", value_name = "SECONDS")]
    pub alert_window: Option<String>,
    /// How long a stopping dyno (a pod on Kubernetes) has between SIGTERM and SIGKILL, in
    /// seconds [default: 30]
    #[arg(long, env = "PAAS_STOP_GRACE", value_name = "SECONDS")]
    pub stop_grace: Option<String>,
    /// The most dynos one app may run, all process types together [default: 100]
    #[arg(long, env = "PAAS_MAX_DYNOS_PER_APP", value_name = "N")]
    pub max_dynos_per_app: Option<String>,
    /// One-off dynos (`paas run`) one app may run at once [default: 5]
    #[arg(long, env = "PAAS_MAX_RUN_DYNOS_PER_APP", value_name = "N")]
    pub max_run_dynos_per_app: Option<String>,
    /// One-off dynos the server runs at once, all apps together [default: 20]
    #[arg(long, env = "PAAS_MAX_RUN_DYNOS", value_name = "N")]
    pub max_run_dynos: Option<String>,
    /// The longest a one-off dyno may run (`paas run --timeout`), in seconds [default: 86400]
    #[arg(long, env = "PAAS_RUN_MAX_TIMEOUT", value_name = "SECONDS")]
    pub run_max_timeout: Option<String>,
    /// Login tokens stop working this many seconds after they were made (`90d` is 7776000);
    /// scoped tokens have their own expiry (`paas tokens:create --expires`) [default: never]
    #[arg(long, env = "PAAS_TOKEN_MAX_AGE", value_name = "SECONDS")]
    pub token_max_age: Option<String>,
    /// How many backups of each PostgreSQL add-on are kept (`paas pg:backups:capture`); older
    /// ones are deleted [default: 5]
    #[arg(long, env = "PAAS_ADDON_BACKUPS_KEPT", value_name = "N")]
    pub addon_backups_kept: Option<String>,
    /// Kubernetes: the kubeconfig to use [default: KUBECONFIG, ~/.kube/config, or in-cluster]
    #[arg(long, env = "PAAS_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubernetes: the ingress class of apps' Ingresses [default: the cluster's default]
    #[arg(long, env = "PAAS_INGRESS_CLASS", value_name = "NAME")]
    pub ingress_class: Option<String>,
    /// Kubernetes: what serves apps' traffic. `ingress`: an Ingress per app, for the cluster's
    /// ingress controller; `router`: the paas router, to the ready pod IPs of each app's
    /// EndpointSlices (this host must reach the pod network) [default: ingress]
    #[arg(long, env = "PAAS_K8S_EDGE", value_name = "ingress|router")]
    pub k8s_edge: Option<String>,
    /// Kubernetes: where builds run. `local`: a runc sandbox on this host; `job`: a Job in the
    /// app's namespace, from the stack's build image (pushed to --registry), the source and
    /// build cache sent in and the result sent back through the API server [default: local]
    #[arg(long, env = "PAAS_K8S_BUILDS", value_name = "local|job")]
    pub k8s_builds: Option<String>,
    /// Kubernetes: the storage class of add-ons' volume claims [default: the cluster's default]
    #[arg(long, env = "PAAS_STORAGE_CLASS", value_name = "NAME")]
    pub storage_class: Option<String>,
    /// Kubernetes: the cert-manager (Cluster)Issuer that gets apps' certificates when they turn
    /// ACM on (the Ingress's `cert-manager.io/cluster-issuer` annotation) [default: none, and
    /// `paas certs:auto:enable` is refused]
    #[arg(long, env = "PAAS_K8S_CERT_MANAGER_ISSUER", value_name = "NAME")]
    pub k8s_cert_manager_issuer: Option<String>,
    /// Kubernetes: seconds a rollout may make no progress before it fails [default: 300]
    #[arg(long, env = "PAAS_PROGRESS_DEADLINE", value_name = "SECONDS")]
    pub progress_deadline: Option<String>,
    /// Kubernetes: re-apply the previous release when a rollout fails [default: true]
    #[arg(long, env = "PAAS_AUTO_ROLLBACK", value_name = "BOOL")]
    pub auto_rollback: Option<bool>,
    /// An environment variable for every build step, never for dynos (repeatable): HTTPS_PROXY,
    /// NO_PROXY, PIP_INDEX_URL, npm_config_registry… PAAS_BUILD_ENV holds such pairs separated
    /// by spaces or newlines; the config file a [build-env] table
    #[arg(long = "build-env", value_name = "KEY=VALUE")]
    pub build_env: Vec<String>,
}

/// The same settings as a config file spells them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    data_dir: Option<PathBuf>,
    api_listen: Option<String>,
    ssh_listen: Option<String>,
    router_listen: Option<String>,
    router_tls_listen: Option<String>,
    metrics: Option<String>,
    metrics_listen: Option<String>,
    domain: Option<String>,
    acme_directory: Option<String>,
    acme_email: Option<String>,
    acme_ca_file: Option<PathBuf>,
    drain_ca_file: Option<PathBuf>,
    allow_private_targets: Option<bool>,
    registry: Option<String>,
    registry_insecure: Option<bool>,
    registry_username: Option<String>,
    registry_password_file: Option<PathBuf>,
    registry_timeout: Option<u64>,
    scheduler: Option<String>,
    ready_file: Option<PathBuf>,
    max_push_bytes: Option<u64>,
    build_timeout: Option<u64>,
    build_memory: Option<u64>,
    release_timeout: Option<u64>,
    boot_timeout: Option<u64>,
    router_timeout: Option<u64>,
    header_timeout: Option<u64>,
    ssh_idle_timeout: Option<u64>,
    stop_grace: Option<u64>,
    alert_window: Option<u64>,
    autoscale_interval: Option<u64>,
    autoscale_up_after: Option<u64>,
    autoscale_down_after: Option<u64>,
    max_dynos_per_app: Option<u64>,
    max_run_dynos_per_app: Option<u64>,
    max_run_dynos: Option<u64>,
    run_max_timeout: Option<u64>,
    token_max_age: Option<u64>,
    addon_backups_kept: Option<u64>,
    kubeconfig: Option<PathBuf>,
    ingress_class: Option<String>,
    k8s_edge: Option<String>,
    k8s_builds: Option<String>,
    storage_class: Option<String>,
    k8s_cert_manager_issuer: Option<String>,
    progress_deadline: Option<u64>,
    auto_rollback: Option<bool>,
    build_env: Option<BTreeMap<String, String>>,
}

/// The longest duration a setting may name, in seconds (10 years).
const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// What serves the traffic of apps on Kubernetes (`--k8s-edge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubernetesEdge {
    /// An Ingress per app, for the cluster's ingress controller.
    Ingress,
    /// The paas router, to the ready pod IPs of each app's EndpointSlices.
    Router,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerKind {
    Local,
    Kubernetes,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub api_listen: SocketAddr,
    pub ssh_listen: SocketAddr,
    pub router_listen: SocketAddr,
    /// `--router-tls-listen`; `None` when `off`.
    pub router_tls_listen: Option<SocketAddr>,
    /// `--metrics`: whether figures are recorded.
    pub metrics: bool,
    /// `--metrics-listen`; `None` by default.
    pub metrics_listen: Option<SocketAddr>,
    pub domain: String,
    /// `--acme-directory`, `--acme-email`, `--acme-ca-file`.
    pub acme: AcmeConfig,
    pub registry: Option<RegistryRef>,
    pub registry_insecure: bool,
    pub registry_credentials: Option<crate::registry::Credentials>,
    /// `--registry-timeout`: how long the registry may go without reading or answering.
    pub registry_timeout: std::time::Duration,
    pub scheduler: SchedulerKind,
    pub ready_file: Option<PathBuf>,
    pub max_push_bytes: u64,
    pub build_timeout: std::time::Duration,
    pub build_memory_bytes: u64,
    /// `--release-timeout`: the longest a release phase may run.
    pub release_timeout: std::time::Duration,
    /// `--router-timeout`: how long the router waits for a dyno's response to begin.
    pub router_timeout: std::time::Duration,
    /// `--header-timeout`: how long an HTTP client has to send a request's head.
    pub header_timeout: std::time::Duration,
    /// `--ssh-idle-timeout`: how long an SSH session may be silent both ways.
    pub ssh_idle_timeout: std::time::Duration,
    pub dynos: crate::scheduler::local::Settings,
    pub max_dynos_per_app: u32,
    /// `--drain-ca-file`.
    pub drain_ca_file: Option<PathBuf>,
    /// `--allow-private-targets`: where drains and webhooks may connect.
    pub targets: crate::outbound::Targets,
    /// `--alert-window`.
    pub alert_window: std::time::Duration,
    /// `--autoscale-interval`, `--autoscale-up-after`, `--autoscale-down-after`.
    pub autoscale: crate::autoscale::Timing,
    /// `--max-run-dynos-per-app`, `--max-run-dynos`, `--run-max-timeout`.
    pub one_offs: crate::one_off::Limits,
    /// `--token-max-age`, in seconds.
    pub token_max_age: Option<u64>,
    /// `--addon-backups-kept`.
    pub addon_backups_kept: u32,
    pub kubernetes: KubernetesConfig,
    /// `--build-env`: variables for build steps only. Values may be secrets (a proxy's password):
    /// never logged or printed.
    pub build_env: BTreeMap<String, String>,
}

/// Where ACM orders certificates.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The directory URL (RFC 8555 §7.1.1).
    pub directory: String,
    pub email: Option<String>,
    /// CA certificates (PEM) to trust for the directory besides the system's.
    pub ca_file: Option<PathBuf>,
}

/// How the Kubernetes scheduler uses the cluster.
#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    pub kubeconfig: Option<PathBuf>,
    pub ingress_class: Option<String>,
    /// `--k8s-edge`.
    pub edge: KubernetesEdge,
    /// `--k8s-builds job`: builds run as Jobs on the cluster.
    pub build_jobs: bool,
    pub storage_class: Option<String>,
    /// `--k8s-cert-manager-issuer`.
    pub cert_manager_issuer: Option<String>,
    pub progress_deadline_seconds: u32,
    pub auto_rollback: bool,
}

impl DataDirArgs {
    fn read_file(&self) -> anyhow::Result<FileConfig> {
        let Some(path) = &self.config else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// The data dir alone, for subcommands that only open the store.
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        let file = self.read_file()?;
        Ok(self
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(default_data_dir))
    }
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<Config> {
        let file = self.data.read_file()?;
        let pick = |flag: Option<String>, from_file: Option<String>, name: &'static str| {
            Setting::pick(flag, from_file, name, self.data.config.as_deref())
        };
        let addr = |setting: Setting, default: &str| -> anyhow::Result<SocketAddr> {
            setting.parse(default, |s| {
                s.parse::<SocketAddr>().map_err(|e| e.to_string())
            })
        };
        let api_listen = addr(
            pick(self.api_listen, file.api_listen, "api-listen"),
            "127.0.0.1:5500",
        )?;
        let ssh_listen = addr(
            pick(self.ssh_listen, file.ssh_listen, "ssh-listen"),
            "0.0.0.0:2222",
        )?;
        let router_listen = addr(
            pick(self.router_listen, file.router_listen, "router-listen"),
            "0.0.0.0:8000",
        )?;
        let router_tls_listen = pick(
            self.router_tls_listen,
            file.router_tls_listen,
            "router-tls-listen",
        )
        .parse("0.0.0.0:443", |s| match s {
            "off" => Ok(None),
            s => s.parse::<SocketAddr>().map(Some).map_err(|e| e.to_string()),
        })?;
        let metrics_listen = match pick(self.metrics_listen, file.metrics_listen, "metrics-listen")
        {
            setting @ Setting { value: Some(_), .. } => {
                Some(setting.parse("", |s| s.parse::<SocketAddr>().map_err(|e| e.to_string()))?)
            }
            _ => None,
        };
        let metrics = pick(self.metrics, file.metrics, "metrics").parse("on", |s| match s {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err("expected on or off".to_owned()),
        })?;
        let domain = pick(self.domain, file.domain, "domain").parse("localhost", parse_domain)?;
        let acme = AcmeConfig {
            directory: pick(self.acme_directory, file.acme_directory, "acme-directory").parse(
                "https://acme-v02.api.letsencrypt.org/directory",
                |s| match reqwest::Url::parse(s) {
                    Ok(url) if url.scheme() == "https" => Ok(s.to_owned()),
                    _ => Err(
                        "expected an https:// URL (RFC 8555 §6.1: ACME is spoken over HTTPS)"
                            .to_owned(),
                    ),
                },
            )?,
            email: match pick(self.acme_email, file.acme_email, "acme-email") {
                setting @ Setting { value: Some(_), .. } => {
                    Some(setting.parse("", |s| match s.split_once('@') {
                        Some((user, host))
                            if !user.is_empty()
                                && host.contains('.')
                                && !host.contains('@')
                                && !s.contains(|c: char| {
                                    c.is_whitespace() || ",;<>()[]\\\"".contains(c)
                                }) =>
                        {
                            Ok(s.to_owned())
                        }
                        _ => Err("expected an email address (name@example.com)".to_owned()),
                    })?)
                }
                _ => None,
            },
            ca_file: self.acme_ca_file.or(file.acme_ca_file),
        };
        if let Some(path) = &acme.ca_file {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --acme-ca-file {}", path.display()))?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                bail!(
                    "--acme-ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                );
            }
        }
        let registry = match pick(self.registry, file.registry, "registry") {
            setting @ Setting { value: Some(_), .. } => Some(setting.parse("", parse_registry)?),
            _ => None,
        };
        let positive = |s: &str| match s.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err("expected a positive whole number".to_owned()),
        };
        // Durations stay far from what `Instant + Duration` overflows on.
        let seconds = |s: &str| match s.parse::<u64>() {
            Ok(n) if (1..=MAX_SECONDS).contains(&n) => Ok(n),
            _ => Err(format!(
                "expected a whole number of seconds from 1 to {MAX_SECONDS} (10 years)"
            )),
        };
        let number = |flag: Option<String>, file: Option<u64>, name| {
            pick(flag, file.map(|n| n.to_string()), name)
        };
        let max_push_bytes = number(self.max_push_bytes, file.max_push_bytes, "max-push-bytes")
            .parse("1073741824", positive)?;
        let build_timeout = number(self.build_timeout, file.build_timeout, "build-timeout")
            .parse("900", seconds)?;
        let build_memory =
            number(self.build_memory, file.build_memory, "build-memory").parse("2048", |s| {
                match s.parse::<u64>() {
                    Ok(n) if (1..=1 << 20).contains(&n) => Ok(n),
                    _ => Err("expected a whole number of MiB from 1 to 1048576 (1 TiB)".to_owned()),
                }
            })?;
        let release_timeout = number(
            self.release_timeout,
            file.release_timeout,
            "release-timeout",
        )
        .parse("1800", seconds)?;
        let boot_timeout =
            number(self.boot_timeout, file.boot_timeout, "boot-timeout").parse("60", seconds)?;
        let router_timeout = number(self.router_timeout, file.router_timeout, "router-timeout")
            .parse("30", seconds)?;
        let header_timeout = number(self.header_timeout, file.header_timeout, "header-timeout")
            .parse("30", seconds)?;
        let registry_timeout = number(
            self.registry_timeout,
            file.registry_timeout,
            "registry-timeout",
        )
        .parse("60", seconds)?;
        let ssh_idle_timeout = number(
            self.ssh_idle_timeout,
            file.ssh_idle_timeout,
            "ssh-idle-timeout",
        )
        .parse("3600", seconds)?;
        let stop_grace =
            number(self.stop_grace, file.stop_grace, "stop-grace").parse("30", |s| {
                match s.parse::<u64>() {
                    Ok(n) if n <= MAX_SECONDS => Ok(n),
                    _ => Err(format!(
                        "expected a whole number of seconds from 0 to {MAX_SECONDS} (10 years)"
                    )),
                }
            })?;
        let duration = |flag, file, name, default| {
            number(flag, file, name)
                .parse(default, seconds)
                .map(std::time::Duration::from_secs)
        };
        let autoscale = crate::autoscale::Timing {
            interval: duration(
                self.autoscale_interval,
                file.autoscale_interval,
                "autoscale-interval",
                "5",
            )?,
            up_after: duration(
                self.autoscale_up_after,
                file.autoscale_up_after,
                "autoscale-up-after",
                "60",
            )?,
            down_after: duration(
                self.autoscale_down_after,
                file.autoscale_down_after,
                "autoscale-down-after",
                "300",
            )?,
        };
        let alert_window = duration(self.alert_window, file.alert_window, "alert-window", "300")?;
        let max_dynos_per_app = number(
            self.max_dynos_per_app,
            file.max_dynos_per_app,
            "max-dynos-per-app",
        )
        .parse("100", |s| match s.parse::<u32>() {
            Ok(n) if (1..=10_000).contains(&n) => Ok(n),
            _ => Err("expected a whole number from 1 to 10000".to_owned()),
        })?;
        let count = |s: &str| match s.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => Ok(n),
            _ => Err("expected a whole number from 1 to 10000".to_owned()),
        };
        let one_offs = crate::one_off::Limits {
            per_app: number(
                self.max_run_dynos_per_app,
                file.max_run_dynos_per_app,
                "max-run-dynos-per-app",
            )
            .parse("5", count)?,
            per_server: number(self.max_run_dynos, file.max_run_dynos, "max-run-dynos")
                .parse("20", count)?,
            max_timeout: std::time::Duration::from_secs(
                number(
                    self.run_max_timeout,
                    file.run_max_timeout,
                    "run-max-timeout",
                )
                .parse("86400", seconds)?,
            ),
        };
        let token_max_age = match number(self.token_max_age, file.token_max_age, "token-max-age") {
            setting @ Setting { value: Some(_), .. } => Some(setting.parse("", seconds)?),
            _ => None,
        };
        let addon_backups_kept = number(
            self.addon_backups_kept,
            file.addon_backups_kept,
            "addon-backups-kept",
        )
        .parse("5", |s| match s.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err("expected a whole number from 1 to 1000".to_owned()),
        })?;
        let registry_credentials = match self.registry_username.or(file.registry_username) {
            None => None,
            Some(username) => {
                let password = match (
                    std::env::var("PAAS_REGISTRY_PASSWORD").ok(),
                    self.registry_password_file.or(file.registry_password_file),
                ) {
                    (Some(password), _) => password,
                    (None, Some(path)) => std::fs::read_to_string(&path)
                        .with_context(|| {
                            format!("cannot read the registry password file {}", path.display())
                        })?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                    (None, None) => bail!(
                        "--registry-username needs a password: set PAAS_REGISTRY_PASSWORD or --registry-password-file"
                    ),
                };
                Some(crate::registry::Credentials { username, password })
            }
        };
        let scheduler =
            pick(self.scheduler, file.scheduler, "scheduler").parse("local", |s| match s {
                "local" => Ok(SchedulerKind::Local),
                "kubernetes" => Ok(SchedulerKind::Kubernetes),
                _ => Err("expected `local` or `kubernetes`".to_owned()),
            })?;
        if scheduler == SchedulerKind::Kubernetes && registry.is_none() {
            bail!(
                "the kubernetes scheduler needs --registry: cluster nodes pull app images from it"
            );
        }
        let progress_deadline = number(
            self.progress_deadline,
            file.progress_deadline,
            "progress-deadline",
        )
        .parse("300", |s| match s.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err("expected a positive whole number of seconds".to_owned()),
        })?;
        let build_env = build_env(
            file.build_env.unwrap_or_default(),
            std::env::var("PAAS_BUILD_ENV").ok().as_deref(),
            &self.build_env,
            self.data.config.as_deref(),
        )?;
        let edge =
            pick(self.k8s_edge, file.k8s_edge, "k8s-edge").parse("ingress", |s| match s {
                "ingress" => Ok(KubernetesEdge::Ingress),
                "router" => Ok(KubernetesEdge::Router),
                _ => Err("expected `ingress` or `router`".to_owned()),
            })?;
        let build_jobs =
            pick(self.k8s_builds, file.k8s_builds, "k8s-builds").parse("local", |s| match s {
                "local" => Ok(false),
                "job" => Ok(true),
                _ => Err("expected `local` or `job`".to_owned()),
            })?;
        if build_jobs && scheduler != SchedulerKind::Kubernetes {
            bail!(
                "--k8s-builds job needs --scheduler kubernetes: builds run as Jobs on its cluster"
            );
        }
        let kubernetes = KubernetesConfig {
            kubeconfig: self.kubeconfig.or(file.kubeconfig),
            ingress_class: self.ingress_class.or(file.ingress_class),
            edge,
            build_jobs,
            storage_class: self.storage_class.or(file.storage_class),
            cert_manager_issuer: self
                .k8s_cert_manager_issuer
                .or(file.k8s_cert_manager_issuer),
            progress_deadline_seconds: progress_deadline,
            auto_rollback: self.auto_rollback.or(file.auto_rollback).unwrap_or(true),
        };
        Ok(Config {
            data_dir: self
                .data
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(default_data_dir),
            api_listen,
            ssh_listen,
            router_listen,
            router_tls_listen,
            metrics,
            metrics_listen,
            domain,
            acme,
            registry,
            registry_insecure: self
                .registry_insecure
                .or(file.registry_insecure)
                .unwrap_or(false),
            registry_credentials,
            registry_timeout: std::time::Duration::from_secs(registry_timeout),
            scheduler,
            ready_file: self.ready_file.or(file.ready_file),
            max_push_bytes,
            build_timeout: std::time::Duration::from_secs(build_timeout),
            build_memory_bytes: build_memory * 1024 * 1024,
            release_timeout: std::time::Duration::from_secs(release_timeout),
            router_timeout: std::time::Duration::from_secs(router_timeout),
            header_timeout: std::time::Duration::from_secs(header_timeout),
            ssh_idle_timeout: std::time::Duration::from_secs(ssh_idle_timeout),
            dynos: crate::scheduler::local::Settings {
                boot_timeout: std::time::Duration::from_secs(boot_timeout),
                stop_grace: std::time::Duration::from_secs(stop_grace),
            },
            max_dynos_per_app,
            autoscale,
            alert_window,
            drain_ca_file: self.drain_ca_file.or(file.drain_ca_file),
            targets: if self
                .allow_private_targets
                .or(file.allow_private_targets)
                .unwrap_or(false)
            {
                crate::outbound::Targets::Any
            } else {
                crate::outbound::Targets::Public
            },
            one_offs,
            token_max_age,
            addon_backups_kept,
            kubernetes,
            build_env,
        })
    }
}

/// One string setting and where its value came from, for error messages.
struct Setting<'a> {
    value: Option<String>,
    name: &'static str,
    from_file: Option<&'a Path>,
}

impl<'a> Setting<'a> {
    fn pick(
        flag: Option<String>,
        file: Option<String>,
        name: &'static str,
        path: Option<&'a Path>,
    ) -> Self {
        match flag {
            Some(value) => Self {
                value: Some(value),
                name,
                from_file: None,
            },
            None => Self {
                from_file: file.as_ref().and(path),
                value: file,
                name,
            },
        }
    }

    fn parse<T>(
        self,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> anyhow::Result<T> {
        let value = self.value.as_deref().unwrap_or(default);
        parse(value).map_err(|reason| {
            let value = paas_share::names::excerpt(value);
            match self.from_file {
                Some(path) => anyhow::anyhow!(
                    "invalid {} {value:?} in {}: {reason}",
                    self.name,
                    path.display()
                ),
                None => anyhow::anyhow!(
                    "invalid value {value:?} for --{} (or PAAS_{}): {reason}",
                    self.name,
                    self.name.to_uppercase().replace('-', "_")
                ),
            }
        })
    }
}

/// Names a build sets itself: `--build-env` may not replace them.
const RESERVED_BUILD_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "STACK",
    "SOURCE_VERSION",
    "PAAS_BUILDPACKS",
];

/// `--build-env` from its three sources, merged per key: the config file's `[build-env]` table,
/// then `PAAS_BUILD_ENV` (`KEY=VALUE` pairs separated by whitespace), then each flag. Errors name
/// the source and the key, never the value (it may be a secret).
fn build_env(
    file: BTreeMap<String, String>,
    env: Option<&str>,
    flags: &[String],
    path: Option<&Path>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let check = |key: &str, value: &str, source: &str| -> anyhow::Result<()> {
        let valid = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            // The name is not shown: a mistyped pair may have put a secret there.
            bail!(
                "invalid build-env name in {source}: expected KEY=VALUE with a KEY of letters, digits and _, not starting with a digit"
            );
        }
        if RESERVED_BUILD_ENV.contains(&key) {
            bail!("build-env {key} in {source} is set by paas itself and cannot be replaced");
        }
        if value.contains('\0') {
            bail!("build-env {key} in {source} holds a NUL byte");
        }
        Ok(())
    };
    let pair = |text: &str, source: &str| -> anyhow::Result<(String, String)> {
        let (key, value) = text.split_once('=').with_context(|| {
            format!("invalid build-env in {source}: expected KEY=VALUE, got a value without `=`")
        })?;
        check(key, value, source)?;
        Ok((key.to_owned(), value.to_owned()))
    };
    let file_source =
        path.map_or_else(|| "the config file".to_owned(), |p| p.display().to_string());
    let mut merged = BTreeMap::new();
    for (key, value) in file {
        check(&key, &value, &file_source)?;
        merged.insert(key, value);
    }
    for text in env.unwrap_or_default().split_whitespace() {
        let (key, value) = pair(text, "PAAS_BUILD_ENV")?;
        merged.insert(key, value);
    }
    for text in flags {
        let (key, value) = pair(text, "--build-env")?;
        merged.insert(key, value);
    }
    Ok(merged)
}

fn default_data_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/lib/paas");
    }
    match std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("paas"),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share/paas")
        }
    }
}

/// Whether this process runs as root: `/proc/self` is owned by the process's uid.
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn parse_domain(s: &str) -> Result<String, String> {
    if is_hostname(s) {
        Ok(s.to_owned())
    } else {
        Err("expected a lowercase DNS name such as apps.example.com".to_owned())
    }
}

fn parse_registry(s: &str) -> Result<RegistryRef, String> {
    let expected =
        || "expected host[:port]/prefix, such as registry.example.com:5000/paas".to_owned();
    let (host, prefix) = s.split_once('/').unwrap_or((s, ""));
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if !is_hostname(name) || port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err(expected());
    }
    let prefix = prefix.trim_end_matches('/');
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    };
    if !prefix.is_empty() && !prefix.split('/').all(component_ok) {
        return Err(expected());
    }
    Ok(RegistryRef {
        host: host.to_owned(),
        prefix: prefix.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_refs() {
        assert_eq!(
            parse_registry("127.0.0.1:5000/paas/apps"),
            Ok(RegistryRef {
                host: "127.0.0.1:5000".into(),
                prefix: "paas/apps".into()
            })
        );
        assert_eq!(
            parse_registry("ghcr.io"),
            Ok(RegistryRef {
                host: "ghcr.io".into(),
                prefix: String::new()
            })
        );
        for bad in [
            "",
            "http://x",
            "host:0",
            "host:99999/p",
            "Host/p",
            "host/P",
            "host//p",
            "a b",
        ] {
            assert!(parse_registry(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn build_env_merges_sources_and_hides_values() {
        let file = BTreeMap::from([
            ("HTTPS_PROXY".to_owned(), "http://file:3128".to_owned()),
            (
                "PIP_INDEX_URL".to_owned(),
                "https://pypi.example/simple".to_owned(),
            ),
        ]);
        let merged = build_env(
            file,
            Some("HTTPS_PROXY=http://env:3128\nNO_PROXY=localhost,127.0.0.1"),
            &[
                "npm_config_registry=https://npm.example/".to_owned(),
                "NO_PROXY=".to_owned(),
            ],
            None,
        )
        .expect("valid");
        assert_eq!(merged["HTTPS_PROXY"], "http://env:3128");
        assert_eq!(merged["PIP_INDEX_URL"], "https://pypi.example/simple");
        assert_eq!(merged["NO_PROXY"], "");
        assert_eq!(merged["npm_config_registry"], "https://npm.example/");
        for (bad, says) in [
            ("HTTPS_PROXY", "expected KEY=VALUE"),
            ("1X=y", "invalid build-env name in --build-env"),
            ("A-B=y", "invalid build-env name"),
            (
                "PATH=/evil",
                "build-env PATH in --build-env is set by paas itself",
            ),
        ] {
            let error = build_env(BTreeMap::new(), None, &[bad.to_owned()], None)
                .expect_err(bad)
                .to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        for mistyped in [
            "HOME=http://user:s3cret@proxy",
            "http://user:s3cret@proxy/?a=b",
        ] {
            let error = build_env(BTreeMap::new(), Some(mistyped), &[], None)
                .expect_err("refused")
                .to_string();
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn domains() {
        assert!(parse_domain("apps.example.com").is_ok());
        for bad in ["", "-a.com", "a..b", "A.com", "a_b.com", "a.com:80"] {
            assert!(parse_domain(bad).is_err(), "{bad:?}");
        }
    }
}
