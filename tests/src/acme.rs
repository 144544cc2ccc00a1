//! A real ACME server on loopback for the certificate tests: Debian's `pebble` (2.4.0) with
//! `pebble-challtestsrv` as its DNS server, so that a test points the server's ACME client at
//! [`TestAcme::directory`] and pebble validates HTTP-01 against the router's HTTP listener.
//!
//! Every name resolves to 127.0.0.1 (no AAAA answers, so pebble's VA never tries `::1`); the VA
//! connects to `127.0.0.1:http_port` with `Host: NAME:http_port` (the port is in the Host header).
//! Validations run at once (no random sleeps), good nonces are never rejected and authorizations
//! are never reused, so every order goes through HTTP-01 again.
//!
//! Pebble issues under a fresh random root each run, with one intermediate: the certificate URL
//! serves leaf + intermediate, [`TestAcme::issuer_roots`] is the root alone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::free_port;

/// `pebble-challtestsrv` (DNS) and `pebble` (ACME), killed by their own pids on drop.
pub struct TestAcme {
    /// pebble-challtestsrv, then pebble, by program name.
    children: Vec<(&'static str, Child)>,
    dir: TempDir,
    /// `https://127.0.0.1:PORT/dir`
    directory: String,
    /// `https://127.0.0.1:PORT`, pebble's management interface.
    management: String,
    /// The CA of pebble's own HTTPS listeners (`ca.pem` in `dir`).
    ca_file: PathBuf,
    /// Trusts `ca_file`, no proxy.
    agent: ureq::Agent,
}

/// A port free for both UDP and TCP on 127.0.0.1 (the DNS server listens on both).
fn free_dns_port() -> u16 {
    for _ in 0..100 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// Runs `openssl ARGS` in `dir`, which must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA (`ca.pem`) and, signed by it, a certificate for `localhost` and 127.0.0.1 (`cert.pem`,
/// key `key.pem`) for pebble's own listeners. P-256 keys, valid for 7 days.
fn write_listener_certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        dir,
        &[
            &["req", "-x509", "-nodes", "-days", "7"][..],
            &ec,
            &["-subj", "/CN=paas-test pebble listener CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req", "-nodes"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "key.pem",
                "-out",
                "cert.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("cert.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write cert.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "cert.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "7",
            "-extfile",
            "cert.ext",
            "-out",
            "cert.pem",
        ],
    );
}

impl TestAcme {
    /// Starts pebble-challtestsrv as the DNS server (answers every A query with 127.0.0.1, no
    /// AAAA) and pebble whose HTTP-01 validation connects to port `http_port` (the router's HTTP
    /// listener). Certificates are valid for pebble's default, 157766400 s (about 5 years).
    pub fn start(http_port: u16) -> Self {
        Self::launch(http_port, None)
    }

    /// As [`TestAcme::start`], but issued certificates are valid for `validity` (whole seconds,
    /// at least 1; pebble's `certificateValidityPeriod`, new in 2.4.0): notBefore is the time of
    /// issuance (not backdated), notAfter = notBefore + `validity` − 1 s. Panics if the installed
    /// pebble does not support the option.
    pub fn start_with_validity(http_port: u16, validity: Duration) -> Self {
        let seconds = validity.as_secs();
        assert!(
            seconds >= 1,
            "pebble's certificate validity is whole seconds, at least 1"
        );
        Self::launch(http_port, Some(seconds))
    }

    fn launch(http_port: u16, validity: Option<u64>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_listener_certificates(dir.path());
        let ca_file = dir.path().join("ca.pem");
        let dns_port = free_dns_port();
        let challtestsrv_port = free_port();
        let acme_port = free_port();
        let management_port = free_port();
        // tlsPort: an unused port, for tls-alpn-01 (which the tests do not use).
        let mut pebble = serde_json::json!({
            "listenAddress": format!("127.0.0.1:{acme_port}"),
            "managementListenAddress": format!("127.0.0.1:{management_port}"),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(seconds) = validity {
            pebble["certificateValidityPeriod"] = seconds.into();
        }
        let config = dir.path().join("pebble-config.json");
        std::fs::write(
            &config,
            serde_json::to_vec_pretty(&serde_json::json!({ "pebble": pebble })).expect("serialize"),
        )
        .expect("write pebble-config.json");

        let ca = std::fs::read(&ca_file).expect("ca.pem");
        let agent = crate::agent_trusting(&ca, Duration::from_secs(5));
        // The fixture owns each child as soon as it runs: a panic below drops it, which kills them.
        let mut acme = Self {
            children: Vec::new(),
            dir,
            directory: format!("https://127.0.0.1:{acme_port}/dir"),
            management: format!("https://127.0.0.1:{management_port}"),
            ca_file,
            agent,
        };

        // An empty address disables a listener; only the DNS server and its management
        // interface (which cannot be disabled) listen.
        let dns = format!("127.0.0.1:{dns_port}");
        let challtestsrv_management = format!("127.0.0.1:{challtestsrv_port}");
        acme.spawn(
            "pebble-challtestsrv",
            &[
                "-dns01",
                &dns,
                "-management",
                &challtestsrv_management,
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ],
            &[],
            "challtestsrv.log",
        );
        acme.wait_until("pebble-challtestsrv", |_| {
            std::net::TcpStream::connect(&dns).is_ok()
                && std::net::TcpStream::connect(&challtestsrv_management).is_ok()
        });

        let config = config.to_str().expect("a UTF-8 temp dir");
        acme.spawn(
            "pebble",
            &["-config", config, "-dnsserver", &dns],
            &[
                // Validate at once, not after a random 0-5 s.
                ("PEBBLE_VA_NOSLEEP", "1"),
                // No "badNonce" for 5 % of good nonces.
                ("PEBBLE_WFE_NONCEREJECT", "0"),
                // No reuse of valid authorizations (50 % by default): every order validates.
                ("PEBBLE_AUTHZREUSE", "0"),
            ],
            "pebble.log",
        );
        acme.wait_until("pebble", |acme| {
            acme.agent.get(&acme.directory).call().is_ok()
                && acme
                    .agent
                    .get(format!("{}/roots/0", acme.management))
                    .call()
                    .is_ok()
        });

        if let Some(seconds) = validity {
            let line = format!("Using certificate validity period of {seconds} seconds");
            assert!(
                acme.log().contains(&line),
                "this pebble does not support certificateValidityPeriod (pebble >= 2.4.0 does): \
                 no {line:?} in its log:\n{}",
                acme.log()
            );
        }
        acme
    }

    /// Starts `program ARGS` with only PATH and `env` in its environment, stdout and stderr to
    /// `log` in the temp dir, as the next child.
    fn spawn(&mut self, program: &'static str, args: &[&str], env: &[(&str, &str)], log: &str) {
        let log = std::fs::File::create(self.dir.path().join(log)).expect("log file");
        let child = Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program} (apt-get install pebble): {e}"));
        self.children.push((program, child));
    }

    /// Waits up to 20 s for `ready`; panics with the logs if it is not, or a child exited.
    fn wait_until(&mut self, name: &str, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ready(self) {
                return;
            }
            let exited = self
                .children
                .iter_mut()
                .find_map(|(program, child)| Some((*program, child.try_wait().expect("wait")?)));
            if let Some((program, status)) = exited {
                panic!(
                    "{program} exited with {status} while starting {name}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name} not ready after 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `https://127.0.0.1:PORT/dir`: the ACME directory URL (our server's `--acme-directory`).
    pub fn directory(&self) -> String {
        self.directory.clone()
    }

    /// A PEM file with the CA that signed pebble's own HTTPS listener certificate (our server's
    /// `--acme-ca-file`). It is not the CA of the certificates pebble issues: see
    /// [`TestAcme::issuer_roots`].
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A PEM file with the root pebble issues certificates under, fetched from pebble's management
    /// interface (`/roots/0`) — what `curl --cacert` trusts to fetch an app over HTTPS. The root
    /// alone: pebble's certificate chain is leaf + one intermediate, so this verifies a server
    /// that serves the whole chain, and fails one that serves only its leaf.
    pub fn issuer_roots(&self) -> PathBuf {
        let pem = self
            .agent
            .get(format!("{}/roots/0", self.management))
            .call()
            .unwrap_or_else(|e| panic!("fetch pebble's root: {e}\n{}", self.log()))
            .body_mut()
            .read_to_string()
            .expect("pebble's root");
        assert!(
            pem.contains("-----BEGIN CERTIFICATE-----"),
            "not PEM: {pem}"
        );
        let path = self.dir.path().join("issuer-roots.pem");
        std::fs::write(&path, pem).expect("write issuer-roots.pem");
        path
    }

    /// Both logs so far (pebble's tells each validation attempt and its outcome), for failure
    /// messages.
    pub fn log(&self) -> String {
        let mut text = String::new();
        for name in ["challtestsrv.log", "pebble.log"] {
            let log = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            text.push_str(&format!("--- {name}\n{log}"));
        }
        text
    }
}

impl Drop for TestAcme {
    fn drop(&mut self) {
        for (_, child) in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
