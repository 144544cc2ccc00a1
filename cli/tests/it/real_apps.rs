//! Tests for apps with real dependencies on the Debian stack: pip and npm install from PyPI and
//! the npm registry through the host's network (on this machine and CI, a TLS-inspecting egress
//! whose CA only the host trusts, so these tests prove the CA path), reproducible images,
//! `--build-env`, runtime version checks, and build reports that must not be followed out of the
//! sandbox.

use std::path::Path;

use paas_tests::{CliEnv, Stack, TestServer};
use serde_json::Value;

use super::push::{debian_server, stderr_of};
use super::run::{get, ok, request};
use super::server_bin;

fn pushed(cli: &CliEnv, repo: &Path, args: &[&str]) -> String {
    let output = cli
        .git(repo, &[&["push"][..], args].concat())
        .output()
        .expect("git push");
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "git push {args:?}: {stderr}");
    stderr
}

/// `git push paas main`, which must be refused: its output.
fn refused_push(cli: &CliEnv, repo: &Path) -> String {
    let output = cli
        .git(repo, &["push", "paas", "main"])
        .output()
        .expect("git push");
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    stderr
}

fn image_of(cli: &CliEnv, repo: &Path, app: &str) -> String {
    let release: Value =
        serde_json::from_str(&ok(cli, repo, &["releases", "info", "--json", "-a", app]))
            .expect("JSON");
    release["image"].as_str().expect("image").to_owned()
}

/// Waits up to 10 s for `text` in the app's log.
fn log_shows(cli: &CliEnv, repo: &Path, text: &str) -> bool {
    for _ in 0..100 {
        if ok(cli, repo, &["logs", "-n", "500"]).contains(text) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

#[test]
fn apps_with_real_dependencies_install_them_and_serve() {
    let (server, cli) = debian_server(&[]);
    let python = cli.app_repo("python-deps");
    ok(&cli, &python, &["create", "py-deps"]);
    let stderr = pushed(&cli, &python, &["paas", "main"]);
    for line in [
        "remote: -----> Using Python 3.11.2 (.python-version asks for 3.11)",
        "remote:        Successfully installed MarkupSafe-2.1.5",
        "remote:        Procfile declares types -> web",
        "remote: -----> v1 is up: http://py-deps.localhost:",
    ] {
        assert!(stderr.contains(line), "{line:?} in:\n{stderr}");
    }
    assert_eq!(
        get(&server, "py-deps"),
        (200, "hello &lt;paas&gt;\n".to_owned())
    );
    // print() without flush reaches the log while the dyno runs (PYTHONUNBUFFERED).
    assert!(log_shows(&cli, &python, "app[web.1]: booting on port"));

    let node = cli.app_repo("node-deps");
    ok(&cli, &node, &["create", "node-deps"]);
    let stderr = pushed(&cli, &node, &["paas", "main"]);
    for line in [
        "remote: -----> Using node v18.",
        "(package.json engines.node: >=18)",
        "remote: -----> Installing dependencies with npm ci",
        "remote: -----> v1 is up: http://node-deps.localhost:",
    ] {
        assert!(stderr.contains(line), "{line:?} in:\n{stderr}");
    }
    assert_eq!(
        get(&server, "node-deps"),
        (200, "one day is 86400000 ms\n".to_owned())
    );
    // A restart stops the old dyno with SIGTERM, which reaches node under `npm start` (dash
    // runs it as a child, not by exec).
    ok(&cli, &node, &["restart"]);
    assert!(log_shows(
        &cli,
        &node,
        "app[web.1]: SIGTERM: closing the server"
    ));
    assert_eq!(get(&server, "node-deps").0, 200);
}

#[test]
fn the_same_commit_gives_the_same_image_for_any_app_and_any_cache() {
    let (_server, cli) = debian_server(&[]);
    for fixture in ["python-deps", "node-deps"] {
        let repo = cli.app_repo(fixture);
        // A second commit on a branch of its own, to warm one app's build cache first.
        assert!(
            cli.git(&repo, &["checkout", "-q", "-b", "warm"])
                .status()
                .expect("git")
                .success()
        );
        std::fs::write(repo.join("NOTES.md"), "warming the cache\n").expect("write");
        cli.commit_all(&repo, "notes");
        assert!(
            cli.git(&repo, &["checkout", "-q", "main"])
                .status()
                .expect("git")
                .success()
        );
        let (cold, warm) = (format!("{fixture}-cold"), format!("{fixture}-warm"));
        for app in [&cold, &warm] {
            ok(&cli, &repo, &["create", app, "--no-remote"]);
        }
        let remote = |app: &str| {
            let url = ok(&cli, &repo, &["apps", "info", "--json", "-a", app]);
            let url: Value = serde_json::from_str(&url).expect("JSON");
            url["git_url"].as_str().expect("git url").to_owned()
        };
        let (cold_url, warm_url) = (remote(&cold), remote(&warm));
        let cold_push = pushed(&cli, &repo, &[&cold_url, "main:main"]);
        pushed(&cli, &repo, &[&warm_url, "warm:main"]);
        let warm_push = pushed(&cli, &repo, &["--force", &warm_url, "main:main"]);
        // The dependency folder is reused from the build cache, and its layer from the layout.
        let folder = if fixture.starts_with("python") {
            ".venv"
        } else {
            "node_modules"
        };
        assert!(
            cold_push.contains(&format!("-----> {folder}: cache miss (nothing cached yet)")),
            "{cold_push}"
        );
        assert!(
            warm_push.contains(&format!("-----> {folder}: cache hit (")),
            "{warm_push}"
        );
        assert!(
            warm_push.contains(&format!("{folder} layer ")) && warm_push.contains(", unchanged;"),
            "{warm_push}"
        );
        assert_eq!(
            image_of(&cli, &repo, &cold),
            image_of(&cli, &repo, &warm),
            "{fixture}: one commit, two apps, a cold and a warm cache: one image"
        );
        // A changed input is named, and installs anew.
        let lockfile = if folder == ".venv" {
            "requirements.txt"
        } else {
            "package-lock.json"
        };
        let mut text = std::fs::read_to_string(repo.join(lockfile)).expect("read");
        text.push_str(if folder == ".venv" {
            "# pinned\n"
        } else {
            "\n"
        });
        std::fs::write(repo.join(lockfile), text).expect("write");
        // Every changed input is named (npm changes both files).
        let why = if folder == ".venv" {
            "requirements.txt changed".to_owned()
        } else {
            let mut manifest = std::fs::read_to_string(repo.join("package.json")).expect("read");
            manifest.push('\n');
            std::fs::write(repo.join("package.json"), manifest).expect("write");
            format!("{lockfile} changed, package.json changed")
        };
        cli.commit_all(&repo, "touch the lockfile");
        let changed = pushed(&cli, &repo, &[&warm_url, "main:main"]);
        assert!(
            changed.contains(&format!("-----> {folder}: cache miss ({why}): installing")),
            "{changed}"
        );
        if folder == ".venv" {
            // Files included at any depth (`-r`, relative to the file naming them) are inputs,
            // read through a symlink as pip reads them.
            std::fs::create_dir_all(repo.join("reqs")).expect("mkdir");
            std::fs::rename(repo.join("requirements.txt"), repo.join("reqs/common.txt"))
                .expect("move");
            std::fs::write(repo.join("reqs/base.in"), "-r common.txt\n").expect("write");
            std::os::unix::fs::symlink("base.in", repo.join("reqs/base.txt")).expect("symlink");
            std::fs::write(repo.join("requirements.txt"), "-r reqs/base.txt\n").expect("write");
            cli.commit_all(&repo, "nested requirements");
            pushed(&cli, &repo, &[&warm_url, "main:main"]);
            let mut text = std::fs::read_to_string(repo.join("reqs/common.txt")).expect("read");
            text.push_str("# deeper\n");
            std::fs::write(repo.join("reqs/common.txt"), text).expect("write");
            cli.commit_all(&repo, "touch the nested file");
            let nested = pushed(&cli, &repo, &[&warm_url, "main:main"]);
            assert!(
                nested.contains("-----> .venv: cache miss (reqs/common.txt changed): installing"),
                "{nested}"
            );
        }
    }
}

#[test]
fn a_gunicorn_app_that_cannot_load_never_replaces_the_running_release() {
    // gunicorn's master listens before its workers import the app; a worker that exits at
    // import is started again and again, and the port accepts connections all along.
    let (server, cli) = debian_server(&["--boot-timeout", "10"]);
    let repo = cli.app_repo("python-django");
    ok(&cli, &repo, &["create", "dj"]);
    pushed(&cli, &repo, &["paas", "main"]);
    let (status, page) = get(&server, "dj");
    assert_eq!(status, 200, "{page}");
    // Python finds the dyno's user by its uid.
    let user = ok(
        &cli,
        &repo,
        &[
            "run",
            "--",
            "python",
            "-c",
            "import getpass; print(getpass.getuser())",
        ],
    );
    assert_eq!(user, "dyno\n");
    // Two dynos that fail alike: the error shows one's lines, not both interleaved.
    ok(&cli, &repo, &["scale", "web=2"]);
    let wsgi = repo.join("mysite/wsgi.py");
    let mut text = std::fs::read_to_string(&wsgi).expect("read");
    text.push_str("\nraise SystemExit(\"boom at import\")\n");
    std::fs::write(&wsgi, text).expect("write");
    cli.commit_all(&repo, "breaks at import");
    let stderr = refused_push(&cli, &repo);
    assert!(
        stderr.contains(
            "web.1 did not come up: a web dyno must answer HTTP requests (GET /, any status) on $PORT within 10s"
        ) && stderr.contains("keeps serving."),
        "{stderr}"
    );
    assert!(
        stderr.contains("Last log lines of web.1:")
            && stderr.contains("app[web.1]: ")
            && !stderr.contains("app[web.2]: "),
        "{stderr}"
    );
    assert_eq!(get(&server, "dj"), (status, page));
}

#[test]
fn build_env_reaches_every_build_and_no_dyno() {
    // An index on a port nothing listens on, with a password that must never be printed.
    let index = "http://paas:s3cret-index-pass@127.0.0.1:9/simple/";
    let (server, cli) = debian_server(&[
        "--build-env",
        &format!("PIP_INDEX_URL={index}"),
        "--build-env",
        "PIP_RETRIES=0",
    ]);
    let repo = cli.app_repo("envpage-python");
    ok(&cli, &repo, &["create", "build-env"]);
    pushed(&cli, &repo, &["paas", "main"]);
    assert_eq!(
        get(&server, "build-env"),
        (200, "PIP_INDEX_URL=unset\n".to_owned())
    );

    std::fs::write(repo.join("requirements.txt"), "MarkupSafe==2.1.5\n").expect("write");
    cli.commit_all(&repo, "a dependency");
    let stderr = refused_push(&cli, &repo);
    assert!(
        stderr.contains("127.0.0.1:9"),
        "pip used the index: {stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(!server.log().contains("s3cret"), "the server logged it");
    let output = ok(&cli, &repo, &["builds", "output"]);
    assert!(!output.contains("s3cret"), "{output}");
}

#[test]
fn apps_move_between_stacks() {
    let (server, cli) = debian_server(&[]);
    server.install_stack(Stack::Trixie);
    let repo = cli.app_repo("python-native");
    ok(&cli, &repo, &["create", "py-stacks"]);
    // New apps get the default; `paas stack` shows every stack with its runtimes.
    let shown = ok(&cli, &repo, &["stack"]);
    for line in [
        "=== py-stacks Available Stacks",
        "* bookworm  Python 3.11.",
        "  trixie    Python 3.13.",
        "Node.js 18.",
        "(default)",
    ] {
        assert!(shown.contains(line), "{line:?} in {shown}");
    }
    let json: Value = serde_json::from_str(&ok(&cli, &repo, &["stack", "--json"])).expect("JSON");
    assert_eq!(json["stack"], "bookworm");
    assert_eq!(json["stacks"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["stacks"][1]["name"], "trixie");
    assert!(
        json["stacks"][1]["python"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.13."))
    );

    // A Python only the other stack has: the build says which stack and how to move.
    std::fs::write(repo.join(".python-version"), "3.13\n").expect("write");
    cli.commit_all(&repo, "Python 3.13");
    let stderr = refused_push(&cli, &repo);
    for line in [
        "remote: -----> Building py-stacks (",
        ") on the bookworm stack",
        "remote:  !     .python-version asks for Python 3.13; the bookworm stack this app builds on has Python 3.11.",
        "remote:  !       paas stack:set trixie",
    ] {
        assert!(stderr.contains(line), "{line:?} in {stderr}");
    }

    // Names that are no stack are refused with the ones there are; nothing changes.
    let refused = cli
        .command(&["stack:set", "bullseye"])
        .current_dir(&repo)
        .output()
        .expect("paas");
    assert!(!refused.status.success());
    let message = stderr_of(&refused);
    assert!(
        message.contains(
            "there is no stack \"bullseye\" on this server (installed: bookworm, trixie)"
        ),
        "{message}"
    );
    assert!(message.contains("paas stack"), "{message}");
    let moved = cli
        .command(&["stack:set", "trixie"])
        .current_dir(&repo)
        .output()
        .expect("paas");
    assert!(moved.status.success(), "{moved:?}");
    let said = stderr_of(&moved);
    assert!(
        said.contains("Moved py-stacks to the trixie stack, from its next build")
            && said.contains("git push paas main"),
        "{said}"
    );
    assert!(
        stderr_of(
            &cli.command(&["stack:set", "trixie"])
                .current_dir(&repo)
                .output()
                .expect("paas")
        )
        .contains("py-stacks is already on the trixie stack")
    );
    let stderr = pushed(&cli, &repo, &["paas", "main"]);
    assert!(stderr.contains(") on the trixie stack"), "{stderr}");
    let (status, body) = get(&server, "py-stacks");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("Python 3.13."), "{body}");

    // Back to bookworm: the cache of packages built for Python 3.13 is not reused.
    std::fs::remove_file(repo.join(".python-version")).expect("rm");
    cli.commit_all(&repo, "any Python");
    ok(&cli, &repo, &["stack:set", "bookworm"]);
    let stderr = pushed(&cli, &repo, &["paas", "main"]);
    assert!(
        stderr.contains(
            "remote: -----> The app moved from the trixie stack to bookworm: its build cache starts empty"
        ),
        "{stderr}"
    );
    let (_, body) = get(&server, "py-stacks");
    assert!(body.starts_with("Python 3.11."), "{body}");
}

#[test]
fn build_reports_linked_out_of_the_sandbox_are_not_read() {
    let (_server, cli) = debian_server(&[]);
    let secret = cli.home().join("host-secret");
    std::fs::write(&secret, "SECRET-ON-THE-HOST\n").expect("write");
    let secret = secret.to_str().expect("utf-8");
    let repo = cli.app_repo("node-deps");
    // An install script (any dependency may have one) swaps the driver's reports for links to
    // a file of the host, then fails the build.
    let text = std::fs::read_to_string(repo.join("package.json")).expect("read");
    let mut package: Value = serde_json::from_str(&text).expect("JSON");
    package["scripts"]["preinstall"] = Value::from(format!(
        "ln -sf {secret} /tmp/paas-out/failed && ln -sf ../../../../../..{secret} /tmp/paas-out/buildpack && exit 1"
    ));
    std::fs::write(
        repo.join("package.json"),
        serde_json::to_string_pretty(&package).expect("JSON"),
    )
    .expect("write");
    cli.commit_all(&repo, "hostile install script");
    ok(&cli, &repo, &["create", "hostile"]);
    let stderr = refused_push(&cli, &repo);
    assert!(
        stderr.contains("Push rejected: the build failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRET"), "{stderr}");
    let builds = ok(&cli, &repo, &["builds", "--json"]);
    assert!(!builds.contains("SECRET"), "{builds}");
}

#[test]
fn stack_update_ca_carries_the_hosts_cas_into_a_new_layer() {
    let (server, _cli) = debian_server(&[]);
    // The server's stack: a copy (hard links; update-ca-certificates replaces files, never
    // writes into them) of the cached one, so that this test changes no other test's stack.
    let linked = server.data_dir().join("stacks/bookworm");
    let cached = std::fs::canonicalize(&linked).expect("the cached stack");
    std::fs::remove_file(&linked).expect("unlink");
    let status = std::process::Command::new("cp")
        .arg("-al")
        .arg(&cached)
        .arg(&linked)
        .status()
        .expect("cp");
    assert!(status.success());
    let list = |server: &TestServer| {
        let output = std::process::Command::new(server_bin())
            .args(["stack", "list", "--data-dir"])
            .arg(server.data_dir())
            .output()
            .expect("stack list");
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let before = list(&server);

    // A CA of the operator's own, as a TLS-inspecting proxy has.
    let cas = server.scratch().join("cas");
    std::fs::create_dir_all(&cas).expect("mkdir");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=paas test proxy CA",
            "-keyout",
        ])
        .arg(cas.join("proxy.key"))
        .arg("-out")
        .arg(cas.join("proxy-ca.crt"))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let update = |server: &TestServer| {
        let output = std::process::Command::new(server_bin())
            .args(["stack", "update-ca", "--ca-dir"])
            .arg(&cas)
            .arg("--data-dir")
            .arg(server.data_dir())
            .output()
            .expect("stack update-ca");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let said = update(&server);
    assert!(
        said.contains("-----> Stack bookworm: trusting 1 CA certificates added on the host"),
        "{said}"
    );
    let after = list(&server);
    let (before, after): (Vec<&str>, Vec<&str>) =
        (before.lines().collect(), after.lines().collect());
    assert_eq!(before[..2], after[..2], "the stack's own layer stays");
    assert_eq!(after.len(), 3, "{after:?}");
    assert_ne!(before.get(2), after.get(2), "the CA layer changes");
    let pem = std::fs::read_to_string(cas.join("proxy-ca.crt")).expect("pem");
    let body = pem.lines().nth(1).expect("a PEM line");
    let bundle = |root: &Path| {
        std::fs::read_to_string(root.join("rootfs/etc/ssl/certs/ca-certificates.crt"))
            .expect("bundle")
    };
    assert!(
        bundle(&linked).contains(body),
        "the run image trusts the CA"
    );
    assert!(
        bundle(&linked.join("build")).contains(body),
        "the build image trusts the CA"
    );
    assert!(
        !bundle(&cached).contains(body),
        "the cached stack is untouched"
    );
    // Nothing changed on the host: nothing to do.
    let said = update(&server);
    assert!(!said.contains("trusting"), "{said}");
    assert_eq!(list(&server).lines().collect::<Vec<_>>(), after);
}

/// A static file edited to the same size is not served stale after a deploy: the code layer's
/// files carry their commit's time, so busybox httpd's `Last-Modified` and `ETag` change with
/// the commit (with every file dated 1980 they never changed, and a browser revalidating its
/// copy was told 304 Not Modified).
#[test]
fn a_file_edited_to_the_same_size_is_not_served_stale_after_a_deploy() {
    let (server, cli) = debian_server(&[]);
    let repo = cli.app_repo("static");
    ok(&cli, &repo, &["create", "site"]);
    let commit = |text: &str, date: &str| {
        std::fs::write(repo.join("public/page.txt"), text).expect("write");
        cli.commit_all_at(&repo, text, date);
        pushed(&cli, &repo, &["paas", "main"]);
    };
    commit("version one\n", "2026-03-01T10:00:00Z");
    let first = request(&server.router, "site", "/page.txt", "");
    assert_eq!((first.status, first.body.as_str()), (200, "version one"));
    let etag = first.header("etag").expect("an ETag").to_owned();
    let modified = first
        .header("last-modified")
        .expect("Last-Modified")
        .to_owned();
    assert!(modified.contains("01 Mar 2026 10:00:00"), "{modified}");

    commit("version two\n", "2026-03-01T10:05:00Z");
    let revalidated = request(
        &server.router,
        "site",
        "/page.txt",
        &format!("If-None-Match: {etag}\r\nIf-Modified-Since: {modified}\r\n"),
    );
    assert_eq!(
        (revalidated.status, revalidated.body.as_str()),
        (200, "version two"),
        "{:?}",
        revalidated.headers
    );
    assert_ne!(revalidated.header("etag"), Some(etag.as_str()));
}
