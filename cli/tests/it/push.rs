//! Tests for `git push paas main` with the real git and OpenSSH clients: builds on the busybox
//! stack (fast), refusals by the SSH server and the hook, and failing builds.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Output;

use paas_tests::{CliEnv, Stack, TestServer, transcript};
use serde_json::Value;

use super::run::{get, request};
use super::{logged_in, paas_bin, server_bin};

/// A logged-in CLI with its SSH key registered, against a server with the busybox stack.
fn pushable() -> (TestServer, CliEnv) {
    let server = TestServer::start(&server_bin());
    server.install_stack(Stack::Busybox);
    let cli = CliEnv::pusher(paas_bin(), &server);
    (server, cli)
}

fn run_in(cli: &CliEnv, dir: &Path, args: &[&str]) -> String {
    let output = cli
        .command(args)
        .current_dir(dir)
        .output()
        .expect("run paas");
    assert!(
        output.status.success(),
        "paas {args:?}:\n{}",
        transcript(&output)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn push(cli: &CliEnv, repo: &Path, args: &[&str]) -> Output {
    cli.git(repo, &[&["push", "paas"][..], args].concat())
        .output()
        .expect("git push")
}

/// The commit `main` points at on the server, if any.
fn remote_main(cli: &CliEnv, repo: &Path) -> Option<String> {
    let output = cli
        .git(repo, &["ls-remote", "paas", "refs/heads/main"])
        .output()
        .expect("ls-remote");
    assert!(
        output.status.success(),
        "ls-remote: {}",
        transcript(&output)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

fn head(cli: &CliEnv, repo: &Path) -> String {
    let output = cli
        .git(repo, &["rev-parse", "HEAD"])
        .output()
        .expect("rev-parse");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn builds(cli: &CliEnv, repo: &Path) -> Vec<Value> {
    let out = run_in(cli, repo, &["builds", "--json"]);
    serde_json::from_str::<Value>(&out)
        .expect("JSON")
        .as_array()
        .expect("list")
        .clone()
}

#[test]
fn procfile_app_builds_and_main_moves() {
    let (_server, cli) = pushable();
    let repo = cli.app_repo("procfile");
    run_in(&cli, &repo, &["create", "proc-app"]);
    let output = push(&cli, &repo, &["main"]);
    assert!(output.status.success(), "{}", transcript(&output));
    insta::assert_snapshot!("push_procfile", transcript(&output));
    assert_eq!(remote_main(&cli, &repo), Some(head(&cli, &repo)));

    let builds = builds(&cli, &repo);
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0]["status"], "succeeded");
    assert_eq!(builds[0]["buildpack"], "procfile");
    assert_eq!(builds[0]["commit"], head(&cli, &repo).as_str());
    assert_eq!(
        builds[0]["process_types"]["worker"],
        "sh -c \"echo working; sleep 3600\""
    );
    let output = run_in(&cli, &repo, &["builds", "output"]);
    assert!(
        output.contains("-----> Procfile app detected\n"),
        "{output}"
    );
    assert!(
        output.contains(
            "-----> Discovering process types\n       Procfile declares types -> web, worker\n"
        ),
        "{output}"
    );
    let id = builds[0]["id"].as_str().expect("id");
    assert!(run_in(&cli, &repo, &["builds", "info", id]).contains("Buildpack: procfile"));

    // What was pushed clones back.
    let url = String::from_utf8(
        cli.git(&repo, &["remote", "get-url", "paas"])
            .output()
            .expect("url")
            .stdout,
    )
    .expect("utf-8");
    let clone = cli.home().join("clone");
    let output = cli
        .git(
            cli.home(),
            &["clone", "-q", url.trim(), clone.to_str().expect("utf-8")],
        )
        .output()
        .expect("clone");
    assert!(output.status.success(), "{}", transcript(&output));
    assert!(clone.join("Procfile").is_file());
}

#[test]
fn static_app_builds() {
    let (server, cli) = pushable();
    let repo = cli.app_repo("static");
    run_in(&cli, &repo, &["create", "site"]);
    let output = push(&cli, &repo, &["main"]);
    assert!(output.status.success(), "{}", transcript(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("remote: -----> Static site detected"),
        "{stderr}"
    );
    assert!(
        stderr.contains("remote:        Serving public/ (1 files)"),
        "{stderr}"
    );
    assert_eq!(
        builds(&cli, &repo)[0]["process_types"]["web"],
        "busybox httpd -f -v -p $PORT -h /app/.paas-static -c /dev/null"
    );
    assert!(get(&server, "site").1.contains("Hello from a static site"));

    // A site at the top of its repository, with the dotfiles real ones commit: none is served
    // (busybox httpd cannot deny a path), /.well-known/ (RFC 8615) is.
    // Its symlinks: two within the site are served (as their targets are), those that lead to
    // a dotfile or out of the site are not; nor are a CGI script and an httpd.conf, which
    // busybox httpd would run and read.
    let repo = cli.app_repo("static-top");
    for (link, target) in [
        ("latest", "docs"),
        ("start.html", "docs/getting started.html"),
        ("env-link", ".env"),
        (".well-known/env.txt", "../.env"),
        ("passwd-link", "../../../../etc/passwd"),
        ("abs-link", "/etc/hostname"),
    ] {
        std::os::unix::fs::symlink(target, repo.join(link)).expect("symlink");
    }
    std::fs::create_dir(repo.join("cgi-bin")).expect("mkdir");
    std::fs::write(
        repo.join("cgi-bin/hello.sh"),
        "#!/bin/sh\necho; echo CGI ran\n",
    )
    .expect("write");
    std::fs::set_permissions(
        repo.join("cgi-bin/hello.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    std::fs::write(repo.join("httpd.conf"), ".md:text/x-custom\n").expect("write");
    // busybox also reads an httpd.conf in the requested file's folder, and runs what it says.
    std::fs::write(repo.join("docs/httpd.conf"), "*.sh:/bin/sh\n").expect("write");
    std::fs::write(repo.join("docs/hello.sh"), "echo; echo SCRIPT RAN\n").expect("write");
    // A link to a file whose name is an option of ln.
    std::fs::write(repo.join("-f"), "dash file\n").expect("write");
    std::os::unix::fs::symlink("-f", repo.join("dash-link")).expect("symlink");
    cli.commit_all(&repo, "links and scripts");
    run_in(&cli, &repo, &["create", "notes"]);
    let output = push(&cli, &repo, &["main"]);
    assert!(output.status.success(), "{}", transcript(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in [
        "remote:        Serving ./ (11 files) with the stack's busybox httpd",
        "remote:        Not serving dotfiles (.well-known/ is served): .env .gitignore .nojekyll",
        "remote:        Not serving symlinks that lead out of the site, to a dotfile or nowhere: \
         abs-link env-link passwd-link .well-known/env.txt",
        "remote:        Not serving what busybox httpd would run or read as its config: \
         cgi-bin docs/httpd.conf httpd.conf",
    ] {
        assert!(stderr.contains(line), "{line:?} in:\n{stderr}");
    }
    for (path, status, body) in [
        ("/", 200, "Ada's notes"),
        ("/docs/getting%20started.html", 200, "Read the notes."),
        ("/start.html", 200, "Read the notes."),
        ("/latest/getting%20started.html", 200, "Read the notes."),
        ("/.well-known/security.txt", 200, "Contact: mailto:"),
        ("/CNAME", 200, "notes.example.org"),
        ("/.env", 404, ""),
        ("/.gitignore", 404, ""),
        ("/docs/../.env", 404, ""),
        ("/%2eenv", 404, ""),
        ("/.paas-static/index.html", 404, ""),
        ("/env-link", 404, ""),
        ("/.well-known/env.txt", 404, ""),
        ("/passwd-link", 404, ""),
        ("/abs-link", 404, ""),
        ("/cgi-bin/hello.sh", 404, ""),
        ("/docs/hello.sh", 200, "echo; echo SCRIPT RAN"),
        ("/dash-link", 200, "dash file"),
    ] {
        let answer = request(&server.router, "notes", path, "");
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(answer.body.contains(body), "{path}: {}", answer.body);
        assert!(
            !answer.body.contains("s3cr3t") && !answer.body.contains("root:"),
            "{path}: {}",
            answer.body
        );
    }
    // httpd.conf was not read: README.md keeps busybox's own type.
    let readme = request(&server.router, "notes", "/README.md", "");
    assert_ne!(readme.header("content-type"), Some("text/x-custom"));

    // A public/ that leads out of the app is refused, and the running release keeps serving.
    std::os::unix::fs::symlink("/etc", repo.join("public")).expect("symlink");
    cli.commit_all(&repo, "public is /etc");
    let output = push(&cli, &repo, &["main"]);
    assert!(!output.status.success(), "{}", transcript(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "public/ leads out of the app (a symlink): paas serves only the app's own files."
        ),
        "{}",
        transcript(&output)
    );
    assert!(get(&server, "notes").1.contains("Ada's notes"));
}

#[test]
fn failing_detect_rejects_the_push_and_keeps_main() {
    let (_server, cli) = pushable();
    let repo = cli.app_repo("no-buildpack");
    run_in(&cli, &repo, &["create", "nothing"]);
    let output = push(&cli, &repo, &["main"]);
    assert!(!output.status.success());
    insta::assert_snapshot!("push_no_buildpack", transcript(&output));
    assert_eq!(remote_main(&cli, &repo), None, "main did not move");
    // The same commit builds again on the next push.
    assert!(!push(&cli, &repo, &["main"]).status.success());
    let builds = builds(&cli, &repo);
    assert_eq!(builds.len(), 2);
    assert!(builds.iter().all(|b| b["status"] == "failed"));
    assert!(
        builds[0]["failure"]
            .as_str()
            .is_some_and(|f| f.starts_with("detect: ")),
        "{}",
        builds[0]
    );
}

#[test]
fn failing_compile_and_bad_buildpack_names() {
    let (_server, cli) = pushable();
    // The nodejs buildpack on a stack without node fails in compile.
    let repo = cli.app_repo("nodejs");
    run_in(&cli, &repo, &["create", "node-on-busybox"]);
    let output = push(&cli, &repo, &["main"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "remote:  !     The busybox stack has no Node.js (no stack here has Node.js)."
        ) && stderr.contains("(paas-buildserver stack build makes the Debian stacks)"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("remote:  !     Push rejected: the build failed at step `compile (nodejs)`."),
        "{stderr}"
    );
    assert!(
        stderr.contains("! [remote rejected] main -> main (pre-receive hook declined)"),
        "{stderr}"
    );

    run_in(&cli, &repo, &["config", "set", "BUILDPACK=ruby"]);
    let output = push(&cli, &repo, &["main"]);
    insta::assert_snapshot!("push_unknown_buildpack", transcript(&output));
    assert_eq!(remote_main(&cli, &repo), None);
}

#[test]
fn a_bad_procfile_names_its_bad_lines() {
    let (_server, cli) = pushable();
    let repo = cli.app_repo("bad-procfile");
    run_in(&cli, &repo, &["create", "bad-procfile"]);
    let output = push(&cli, &repo, &["main"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("remote:  !     Push rejected: the build failed at step `procfile`."),
        "{stderr}"
    );
    // Every bad line, so that one push finds them all.
    for line in [
        "remote:  !     Procfile line 1: expected `type: command` (such as `web: python app.py`), got \"web python app.py\"",
        "remote:  !     Procfile line 2: invalid process type \"Worker\": a type is 1 to 30 lowercase letters, digits, - and _, starting with a letter",
    ] {
        assert!(stderr.contains(line), "{line:?} in:\n{stderr}");
    }
}

#[test]
fn the_hook_refuses_other_refs() {
    let (_server, cli) = pushable();
    let repo = cli.app_repo("procfile");
    run_in(&cli, &repo, &["create", "refs-app"]);
    insta::assert_snapshot!(
        "push_other_branch",
        transcript(&push(&cli, &repo, &["main:feature"]))
    );
    assert!(
        cli.git(&repo, &["tag", "v1"])
            .status()
            .expect("tag")
            .success()
    );
    insta::assert_snapshot!("push_tag", transcript(&push(&cli, &repo, &["v1"])));
    assert!(push(&cli, &repo, &["main"]).status.success());
    let output = push(&cli, &repo, &[":main"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("deletion prohibited") || stderr.contains("deleting main is not allowed"),
        "{stderr}"
    );
    assert_eq!(remote_main(&cli, &repo), Some(head(&cli, &repo)));
    // master deploys like main.
    assert!(push(&cli, &repo, &["main:master"]).status.success());
}

#[test]
fn push_without_a_stack_names_the_command() {
    let (_server, cli) = logged_in();
    cli.ssh_key();
    cli.ok(&["keys", "add"]);
    let repo = cli.app_repo("procfile");
    run_in(&cli, &repo, &["create", "no-stack"]);
    let output = push(&cli, &repo, &["main"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("remote:  !     this server has no build stack yet."),
        "{stderr}"
    );
    assert!(
        stderr.contains("remote:  !     An operator must run: paas-buildserver stack build"),
        "{stderr}"
    );
}

#[test]
fn access_is_checked_by_key_and_app() {
    let (server, alice) = pushable();
    let repo = alice.app_repo("procfile");
    run_in(&alice, &repo, &["create", "alices-app"]);

    // A key nobody registered.
    let stranger = CliEnv::new(paas_bin(), &server.api);
    let theirs = stranger.app_repo("procfile");
    let url = String::from_utf8(
        alice
            .git(&repo, &["remote", "get-url", "paas"])
            .output()
            .expect("url")
            .stdout,
    )
    .expect("utf-8");
    assert!(
        stranger
            .git(&theirs, &["remote", "add", "paas", url.trim()])
            .status()
            .expect("git")
            .success()
    );
    let output = push(&stranger, &theirs, &["main"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Permission denied (publickey)"),
        "{}",
        transcript(&output)
    );

    // A registered user without access to the app.
    let output = std::process::Command::new(server_bin())
        .args(["user", "create", "bob", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("user create");
    let bob = CliEnv::new(paas_bin(), &server.api);
    bob.login(String::from_utf8(output.stdout).expect("utf-8").trim());
    bob.ssh_key();
    bob.ok(&["keys", "add"]);
    let output = push(&bob, &theirs_with_key(&bob, url.trim()), &["main"]);
    assert!(!output.status.success());
    insta::assert_snapshot!("push_no_access", transcript(&output));
    assert_eq!(remote_main(&alice, &repo), None);
}

fn theirs_with_key(cli: &CliEnv, url: &str) -> std::path::PathBuf {
    let repo = cli.app_repo("procfile");
    assert!(
        cli.git(&repo, &["remote", "add", "paas", url])
            .status()
            .expect("git")
            .success()
    );
    repo
}

#[test]
fn a_push_larger_than_the_limit_is_refused() {
    let server = TestServer::start_with(&server_bin(), &["--max-push-bytes", "200000"], &[]);
    server.install_stack(Stack::Busybox);
    let cli = paas_tests::CliEnv::pusher(paas_bin(), &server);
    let repo = cli.app_repo("procfile");
    let mut noise = vec![0u8; 1024 * 1024];
    getrandom(&mut noise);
    std::fs::write(repo.join("noise.bin"), &noise).expect("write");
    cli.commit_all(&repo, "noise");
    run_in(&cli, &repo, &["create", "big"]);
    let output = push(&cli, &repo, &["main"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pack exceeds maximum allowed size"),
        "{stderr}"
    );
    assert_eq!(remote_main(&cli, &repo), None);
}

/// Incompressible bytes without another dependency: SplitMix64 from the clock.
fn getrandom(buf: &mut [u8]) {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    for chunk in buf.chunks_mut(8) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
}

/// `ssh git@host "git-receive-pack '<app>'"` held open: a push that has started and not finished
/// (receive-pack runs and the app's push lock is held).
fn hold_push(cli: &CliEnv, server: &TestServer, app: &str) -> std::process::Child {
    server.hold_git_session(&[cli.ssh_key()], &format!("git-receive-pack '{app}'"))
}

/// The server's child processes that serve pushes (git, the hook), leaving out running dynos.
fn git_children(server: &TestServer) -> Vec<String> {
    server
        .children()
        .into_iter()
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim() == "git" || comm.trim().starts_with("paas-buildserve")
        })
        .collect()
}

/// Polls `check` for up to 10 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn one_push_per_app_and_a_lost_session_releases_it() {
    let (server, cli) = pushable();
    let repo = cli.app_repo("procfile");
    run_in(&cli, &repo, &["create", "locked"]);
    let mut holder = hold_push(&cli, &server, "locked");

    let output = push(&cli, &repo, &["main"]);
    assert!(!output.status.success());
    insta::assert_snapshot!("push_locked", transcript(&output));

    // Other apps push meanwhile.
    let other = cli.app_repo("static");
    run_in(&cli, &other, &["create", "free"]);
    assert!(push(&cli, &other, &["main"]).status.success());

    // The holder vanishes: its git process group is stopped and the lock released.
    holder.kill().expect("kill ssh");
    holder.wait().expect("wait ssh");
    eventually("the server has no child process left", || {
        git_children(&server).is_empty()
    });
    eventually("the push goes through", || {
        push(&cli, &repo, &["main"]).status.success()
    });
    assert_eq!(remote_main(&cli, &repo), Some(head(&cli, &repo)));
}

// ---- on the Debian stack (built once per machine, then cached) ----

pub fn debian_server(extra: &[&str]) -> (TestServer, CliEnv) {
    let server = TestServer::start_with(&server_bin(), extra, &[]);
    server.install_stack(Stack::Bookworm);
    let cli = paas_tests::CliEnv::pusher(paas_bin(), &server);
    (server, cli)
}

/// Containers runc still knows of for this server.
/// Starts `git push paas main` in a process group of its own and returns once its output shows
/// `text`, so that the test can interrupt it there (the rest of its output is not read).
pub fn push_until(cli: &CliEnv, repo: &Path, text: &str) -> std::process::Child {
    let mut git = cli
        .git(repo, &["push", "paas", "main"])
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("git push");
    let stderr = std::io::BufReader::new(git.stderr.take().expect("stderr"));
    for line in std::io::BufRead::lines(stderr) {
        if line.expect("line").contains(text) {
            break;
        }
    }
    git
}

/// Starts `git push paas main` and returns it with its output's lines as they come, and a thread
/// that returns the whole output once the push has ended.
pub fn push_watched(
    cli: &CliEnv,
    repo: &Path,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<String>,
) {
    let mut git = cli
        .git(repo, &["push", "paas", "main"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("git push");
    let stderr = std::io::BufReader::new(git.stderr.take().expect("stderr"));
    let (seen, said) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = seen.send(line);
        }
        all
    });
    (git, said, reader)
}

pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn python_and_node_apps_build_on_the_debian_stack() {
    let (_server, cli) = debian_server(&[]);
    let python = cli.app_repo("python");
    run_in(&cli, &python, &["create", "py"]);
    let output = push(&cli, &python, &["main"]);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    for line in [
        "remote: -----> Python app detected",
        "remote: -----> Using Python 3.11",
        "remote: -----> Installing requirements with pip",
    ] {
        assert!(stderr.contains(line), "{line:?} in:\n{stderr}");
    }
    assert_eq!(
        builds(&cli, &python)[0]["process_types"]["web"],
        "python app.py"
    );
    // The virtualenv leads PATH once (the image has it; `.profile.d` does not add it again).
    assert_eq!(
        run_in(&cli, &python, &["run", "--", "printenv", "PATH"]).trim_end(),
        "/app/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    // `localhost` resolves in a dyno (apps connect to `localhost:$PORT`, `redis://localhost`).
    assert_eq!(
        run_in(
            &cli,
            &python,
            &[
                "run",
                "--",
                "python3",
                "-c",
                "import socket; print(socket.gethostbyname('localhost'))"
            ]
        )
        .trim_end(),
        "127.0.0.1"
    );

    let node = cli.app_repo("nodejs");
    run_in(&cli, &node, &["create", "node"]);
    let output = push(&cli, &node, &["main"]);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    for line in [
        "remote: -----> Node.js app detected",
        "remote: -----> Using node v18",
        "remote: -----> Installing dependencies with npm install",
    ] {
        assert!(stderr.contains(line), "{line:?} in:\n{stderr}");
    }
    assert_eq!(builds(&cli, &node)[0]["process_types"]["web"], "npm start");
}

#[test]
fn pip_failures_name_the_step_and_apps_without_process_types_release_none() {
    let (_server, cli) = debian_server(&[]);
    let bad = cli.app_repo("python-bad-requirements");
    run_in(&cli, &bad, &["create", "bad-reqs"]);
    let output = push(&cli, &bad, &["main"]);
    let stderr = stderr_of(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains(
            "remote:  !     pip could not install requirements.txt (see the lines above)."
        ) && !stderr.contains("No such file or directory"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("remote:  !     Push rejected: the build failed at step `compile (python)`."),
        "{stderr}"
    );
    assert_eq!(remote_main(&cli, &bad), None);

    let no_start = cli.app_repo("python-no-start");
    run_in(&cli, &no_start, &["create", "no-start"]);
    let output = push(&cli, &no_start, &["main"]);
    let stderr = stderr_of(&output);
    // As on Heroku: it builds and releases, with no dynos and a warning that says what to add.
    assert!(output.status.success(), "{stderr}");
    for line in [
        "remote:  !     warning: the app declares no process types, so no dyno will run.",
        "remote:  !     Add a Procfile with a line such as `web: gunicorn app:app` and push again.",
        "remote: -----> v1 is released; it has no process types, so nothing runs",
    ] {
        assert!(stderr.contains(line), "{line:?} in {stderr}");
    }
    assert_eq!(run_in(&cli, &no_start, &["ps", "--json"]).trim(), "[]");
}

#[test]
fn builds_over_their_time_or_memory_limit_are_stopped() {
    // 20 s: npm must reach the preinstall script first, on a loaded machine too.
    let (server, cli) = debian_server(&["--build-timeout", "20", "--build-memory", "256"]);
    let slow = cli.app_repo("nodejs-slow");
    run_in(&cli, &slow, &["create", "slow"]);
    let pushing = {
        let mut git = cli.git(&slow, &["push", "paas", "main"]);
        std::thread::spawn(move || git.output().expect("git push"))
    };
    // `paas builds output` follows the running build until it ends.
    eventually("the build is recorded", || !builds(&cli, &slow).is_empty());
    let followed = run_in(&cli, &slow, &["builds", "output"]);
    assert!(followed.contains("installing slowly"), "{followed}");
    assert!(
        followed.contains(
            " !     the build exceeded its time limit of 20s and was stopped (--build-timeout)."
        ),
        "{followed}"
    );
    let output = pushing.join().expect("push thread");
    let stderr = stderr_of(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("remote:  !     the build exceeded its time limit of 20s and was stopped (--build-timeout)."), "{stderr}");
    assert_eq!(remote_main(&cli, &slow), None);
    assert_eq!(server.build_containers(), Vec::<String>::new());

    let hungry = cli.app_repo("nodejs-hungry");
    run_in(&cli, &hungry, &["create", "hungry"]);
    let output = push(&cli, &hungry, &["main"]);
    let stderr = stderr_of(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("remote:  !     the build ran out of memory: it exceeded its memory limit of 256 MiB (--build-memory)."), "{stderr}");
    assert_eq!(server.build_containers(), Vec::<String>::new());
}

/// Destroys `app` while `git` pushes to it: what the push said (it must fail).
fn destroyed_during_push(
    cli: &CliEnv,
    repo: &Path,
    app: &str,
    mut git: std::process::Child,
    output: std::thread::JoinHandle<String>,
) -> String {
    run_in(cli, repo, &["destroy", "--confirm", app]);
    assert!(!git.wait().expect("git push").success());
    output.join().expect("output")
}

#[test]
fn destroying_an_app_stops_its_build_and_the_push_says_why() {
    let (server, cli) = debian_server(&[]);
    let slow = cli.app_repo("nodejs-slow");
    run_in(&cli, &slow, &["create", "doomed"]);
    let (git, said, output) = push_watched(&cli, &slow);
    while let Ok(line) = said.recv() {
        if line.contains("installing slowly") {
            break;
        }
    }
    let started = std::time::Instant::now();
    let stderr = destroyed_during_push(&cli, &slow, "doomed", git, output);
    assert!(
        stderr.contains(
            "remote:  !     Push rejected: app doomed was destroyed during the push: nothing was released."
        ),
        "{stderr}"
    );
    // No step failed and there is nothing to push to again; the repository outlived the push,
    // so git says nothing of its own after the push's message.
    assert!(
        !stderr.contains("failed at step")
            && !stderr.contains("push again")
            && !stderr.contains("fatal:"),
        "{stderr}"
    );
    // Stopped, not left to sleep out its 300 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    eventually("the build container is gone", || {
        server.build_containers().is_empty()
    });
}

/// Destroyed while the push is still uploading: its build cannot begin (the app's rows are
/// gone), and the push says why in one line, as for a destroy during the build.
#[test]
fn destroying_an_app_while_its_push_uploads_says_so() {
    let (server, cli) = pushable();
    let repo = cli.app_repo("static");
    // 100 MB that does not compress: an upload that lasts long enough to destroy the app in.
    let mut noise = vec![0u8; 100 << 20];
    getrandom(&mut noise);
    std::fs::write(repo.join("public/noise.bin"), noise).expect("write");
    cli.commit_all(&repo, "noise");
    run_in(&cli, &repo, &["create", "uploading"]);
    let (git, _said, output) = push_watched(&cli, &repo);
    let repos = server.data_dir().join("repos");
    eventually("git's quarantine directory of the upload", || {
        std::fs::read_dir(&repos)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|r| std::fs::read_dir(r.path().join("objects")).ok())
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("incoming-"))
    });
    let stderr = destroyed_during_push(&cli, &repo, "uploading", git, output);
    assert!(
        stderr.contains(
            "remote:  !     Push rejected: app uploading was destroyed during the push: nothing was released."
        ) && !stderr.contains("could not start the build")
            && !stderr.contains("fatal:"),
        "{stderr}"
    );
}

/// A destroy does not wait out the boot of the dynos a push starts (a web dyno that would listen
/// only after 10 minutes, and ignores SIGTERM): they are killed at once (they served nothing),
/// and the push says the release was not deployed.
#[test]
fn destroying_an_app_while_its_dynos_start_is_no_successful_push() {
    let (server, cli) = super::run::serving();
    let slow = app_with_web(
        &cli,
        "doomed",
        "trap '' TERM; sleep 600; exec busybox httpd -f -p $PORT -h /app",
    );
    let (git, said, output) = push_watched(&cli, &slow);
    while let Ok(line) = said.recv() {
        if line.contains("Starting web.1") {
            break;
        }
    }
    let started = std::time::Instant::now();
    let stderr = destroyed_during_push(&cli, &slow, "doomed", git, output);
    assert_gone_within(&server, started, 20);
    assert!(
        stderr.contains(
            "remote:  !     Push rejected: v1 was not deployed: the app was destroyed meanwhile."
        ) && !stderr.contains("-----> v1 is up")
            && !stderr.contains("push again")
            && !stderr.contains("fatal:"),
        "{stderr}"
    );
}

/// Destroying an app does not wait out the stop grace (30 s) of a serving dyno that ignores
/// SIGTERM: nothing waits on a destroyed app's dynos, so they are killed at once.
#[test]
fn destroying_an_app_kills_its_dynos_at_once() {
    let (server, cli) = super::run::serving();
    // The shell stays, ignoring SIGTERM, whatever the server does with it.
    let repo = app_with_web(
        &cli,
        "stubborn",
        "trap '' TERM; busybox httpd -f -p $PORT -h /app; sleep 600",
    );
    let output = push(&cli, &repo, &["main"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(server.dyno_containers().len(), 1, "web.1 serves");
    let started = std::time::Instant::now();
    run_in(&cli, &repo, &["destroy", "--confirm", "stubborn"]);
    assert_gone_within(&server, started, 10);
}

/// A deploy or a restart does not wait out the stop grace (30 s) of the dynos it replaced: they
/// end in the background, as Heroku's do, and a destroy meanwhile kills them at once.
#[test]
fn replaced_dynos_end_in_the_background_and_a_destroy_kills_them() {
    let (server, cli) = super::run::serving();
    let repo = app_with_web(
        &cli,
        "drains",
        "trap '' TERM; busybox httpd -f -p $PORT -h /app; sleep 600",
    );
    let output = push(&cli, &repo, &["main"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    for change in [&["config:set", "A=1"][..], &["restart"]] {
        let started = std::time::Instant::now();
        run_in(&cli, &repo, change);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{change:?} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        server.dyno_containers().len(),
        3,
        "the new web.1 and the two it replaced, still draining"
    );
    let started = std::time::Instant::now();
    run_in(&cli, &repo, &["destroy", "--confirm", "drains"]);
    eventually("the draining dynos are killed", || {
        server.dyno_containers().is_empty()
    });
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "they were killed {:?} after the destroy began",
        started.elapsed()
    );
}

/// A restart that a destroy cuts short while its new dyno boots says the app is gone, not that
/// the dynos that were running keep running.
#[test]
fn a_restart_cut_short_by_a_destroy_says_the_app_is_gone() {
    let (server, cli) = super::run::serving();
    let repo = app_with_web(
        &cli,
        "cut",
        "sleep 5; exec busybox httpd -f -p $PORT -h /app",
    );
    let output = push(&cli, &repo, &["main"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let restart = cli
        .command(&["restart"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("paas");
    eventually("the new web.1 is booting", || {
        server.dyno_containers().len() == 2
    });
    run_in(&cli, &repo, &["destroy", "--confirm", "cut"]);
    let output = restart.wait_with_output().expect("restart");
    let said = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("the app was destroyed meanwhile") && !said.contains("keep running"),
        "{said}"
    );
}

/// App `name`, created, from a repository whose Procfile has only `web: <command>`.
fn app_with_web(cli: &CliEnv, name: &str, command: &str) -> std::path::PathBuf {
    let repo = cli.app_repo("envpage");
    std::fs::write(repo.join("Procfile"), format!("web: {command}\n")).expect("write");
    cli.commit_all(&repo, "its own web command");
    run_in(cli, &repo, &["create", name]);
    repo
}

/// A destroy begun at `started` ended within `seconds`, and left no dyno container.
fn assert_gone_within(server: &TestServer, started: std::time::Instant, seconds: u64) {
    assert!(
        started.elapsed() < std::time::Duration::from_secs(seconds),
        "the destroy took {:?}",
        started.elapsed()
    );
    assert_eq!(
        server.dyno_containers(),
        Vec::<String>::new(),
        "no dyno is left"
    );
}

#[test]
fn a_client_killed_mid_build_leaves_nothing_behind() {
    let (server, cli) = debian_server(&[]);
    let slow = cli.app_repo("nodejs-slow");
    run_in(&cli, &slow, &["create", "slow"]);
    let mut git = push_until(&cli, &slow, "installing slowly");
    assert!(!server.build_containers().is_empty(), "the build runs");
    // Kill git and its ssh, as a closed laptop would.
    let group = nix::unistd::Pid::from_raw(i32::try_from(git.id()).expect("pid"));
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).expect("kill the push");
    git.wait().expect("wait");
    eventually("the build container is gone", || {
        server.build_containers().is_empty()
    });
    eventually("the server has no child process left", || {
        git_children(&server).is_empty()
    });
    let mut holder = hold_push(&cli, &server, "slow");
    holder.kill().expect("kill");
    holder.wait().expect("wait");
    assert_eq!(remote_main(&cli, &slow), None);
    let builds = builds(&cli, &slow);
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0]["status"], "failed");
    assert_eq!(
        builds[0]["failure"],
        "interrupted: the client disconnected before the build finished"
    );
    // What it did before it stopped is kept: the buildpack it was detected as, its output.
    assert_eq!(builds[0]["buildpack"], "nodejs");
    let id = builds[0]["id"].as_str().expect("an id");
    let output = run_in(&cli, &slow, &["builds", "output", id]);
    assert!(
        output.contains("installing slowly")
            && output.ends_with(
                " !     Build failed: interrupted: the client disconnected before the build finished\n"
            ),
        "{output}"
    );
    let json: Value =
        serde_json::from_str(&run_in(&cli, &slow, &["builds", "output", id, "--json"]))
            .expect("JSON");
    assert_eq!(
        (&json["id"], &json["output"]),
        (&builds[0]["id"], &Value::from(output))
    );
}

// ---- images ----

fn layout_ref(server: &TestServer, reference: &str) -> String {
    format!(
        "oci:{}:{reference}",
        server.data_dir().join("oci").display()
    )
}

fn skopeo_inspect(server: &TestServer, reference: &str) -> Value {
    let output = std::process::Command::new("skopeo")
        .args(["inspect", &layout_ref(server, reference)])
        .output()
        .expect("skopeo (apt-get install skopeo)");
    assert!(
        output.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn a_build_becomes_an_image_and_a_release() {
    let (server, cli) = pushable();
    let repo = cli.app_repo("procfile");
    run_in(&cli, &repo, &["create", "imaged"]);
    assert!(push(&cli, &repo, &["main"]).status.success());

    let releases: Vec<Value> =
        serde_json::from_str(&run_in(&cli, &repo, &["releases", "--json"])).expect("JSON");
    assert_eq!(releases.len(), 1);
    let short: String = head(&cli, &repo).chars().take(7).collect();
    assert_eq!(releases[0]["description"], format!("Deploy {short}"));
    assert_eq!(releases[0]["build_id"], builds(&cli, &repo)[0]["id"]);
    let digest = releases[0]["image"]
        .as_str()
        .expect("image digest")
        .to_owned();
    assert!(digest.starts_with("sha256:"));
    let formation: Value =
        serde_json::from_str(&run_in(&cli, &repo, &["apps", "info", "--json"])).expect("JSON");
    assert_eq!(formation["release"], 1);

    let inspected = skopeo_inspect(&server, "imaged-v1");
    assert_eq!(inspected["Digest"], digest.as_str());
    assert_eq!(
        inspected["Layers"].as_array().map(Vec::len),
        Some(2),
        "one stack layer, one app layer"
    );
    assert_eq!(
        inspected["Labels"]["org.opencontainers.image.revision"],
        head(&cli, &repo).as_str()
    );
    assert_eq!(inspected["Labels"]["io.paas.buildpack"], "procfile");
    assert_eq!(inspected["Created"], "1980-01-01T00:00:01Z");

    // umoci checks every digest and diff_id while unpacking.
    let bundle = cli.home().join("bundle");
    let output = std::process::Command::new("umoci")
        .args([
            "unpack",
            "--image",
            &format!("{}:imaged-v1", server.data_dir().join("oci").display()),
        ])
        .arg(&bundle)
        .output()
        .expect("umoci (apt-get install umoci)");
    assert!(
        output.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(bundle.join("rootfs/app/Procfile").is_file());
    assert!(bundle.join("rootfs/bin/busybox").is_file());
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json")).expect("config"))
            .expect("JSON");
    assert_eq!(config["process"]["cwd"], "/app");
    assert_eq!(config["process"]["user"]["uid"], 2000);
    let env = config["process"]["env"].to_string();
    assert!(env.contains("HOME=/app") && !env.contains("PORT"), "{env}");
}

#[test]
fn the_same_commit_gives_the_same_image_for_any_app() {
    let (_server, cli) = pushable();
    let repo = cli.app_repo("static");
    let mut digests = Vec::new();
    for app in ["twin-a", "twin-b"] {
        run_in(&cli, &repo, &["create", app, "--no-remote"]);
        run_in(&cli, &repo, &["git:remote", "-a", app]);
        assert!(push(&cli, &repo, &["main"]).status.success());
        let releases: Vec<Value> =
            serde_json::from_str(&run_in(&cli, &repo, &["releases", "--json", "-a", app]))
                .expect("JSON");
        digests.push(releases[0]["image"].as_str().expect("digest").to_owned());
    }
    assert_eq!(
        digests[0], digests[1],
        "same commit, same stack: same manifest digest"
    );
}

#[test]
fn symlinks_are_kept_and_special_files_skipped() {
    let (server, cli) = pushable();
    let repo = cli.app_repo("tricky");
    std::os::unix::fs::symlink("/etc/shadow", repo.join("shadow")).expect("symlink");
    std::os::unix::fs::symlink("../../../etc", repo.join("escape")).expect("symlink");
    let odd = std::ffi::OsStr::from_bytes(b"odd\nname-\xff.txt");
    std::fs::write(repo.join(odd), "odd").expect("odd name");
    let deep = repo.join("d".repeat(60)).join("e".repeat(60));
    std::fs::create_dir_all(&deep).expect("deep");
    std::fs::write(deep.join("f".repeat(60)), "deep").expect("deep file");
    cli.commit_all(&repo, "tricky");
    run_in(&cli, &repo, &["create", "tricky"]);
    let output = push(&cli, &repo, &["main"]);
    assert!(output.status.success(), "{}", transcript(&output));

    let bundle = cli.home().join("bundle");
    let output = std::process::Command::new("umoci")
        .args([
            "unpack",
            "--image",
            &format!("{}:tricky-v1", server.data_dir().join("oci").display()),
        ])
        .arg(&bundle)
        .output()
        .expect("umoci");
    assert!(
        output.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let app = bundle.join("rootfs/app");
    assert_eq!(
        std::fs::read_link(app.join("shadow")).expect("a symlink"),
        Path::new("/etc/shadow")
    );
    assert_eq!(
        std::fs::read_link(app.join("escape")).expect("a symlink"),
        Path::new("../../../etc")
    );
    assert_eq!(
        std::fs::read_to_string(app.join(odd)).expect("odd name survives"),
        "odd"
    );
    let deep_file = app
        .join("d".repeat(60))
        .join("e".repeat(60))
        .join("f".repeat(60));
    assert_eq!(
        std::fs::read_to_string(deep_file).expect("long path survives"),
        "deep"
    );
}

// ---- registry ----

fn server_with_registry(registry: &str) -> (TestServer, CliEnv) {
    let server = TestServer::start_with(
        &server_bin(),
        &["--registry", registry, "--registry-insecure"],
        &[],
    );
    server.install_stack(Stack::Busybox);
    let cli = paas_tests::CliEnv::pusher(paas_bin(), &server);
    (server, cli)
}

#[test]
fn images_are_pushed_to_the_registry_and_reused() {
    let registry = paas_tests::TestRegistry::start();
    let (_server, cli) = server_with_registry(&format!("{}/paas", registry.addr));
    let repo = cli.app_repo("procfile");
    run_in(&cli, &repo, &["create", "reg-app"]);
    let output = push(&cli, &repo, &["main"]);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "remote: -----> Pushing {}/paas/reg-app",
            registry.addr
        )),
        "{stderr}"
    );
    let releases: Vec<Value> =
        serde_json::from_str(&run_in(&cli, &repo, &["releases", "--json"])).expect("JSON");
    let digest = releases[0]["image"].as_str().expect("digest").to_owned();
    assert!(
        stderr.contains(&format!(
            "remote: -----> Released v1: {}/paas/reg-app@{digest}",
            registry.addr
        )),
        "{stderr}"
    );

    for tag in ["v1", "latest"] {
        let output = std::process::Command::new("skopeo")
            .args([
                "inspect",
                "--tls-verify=false",
                &format!("docker://{}/paas/reg-app:{tag}", registry.addr),
            ])
            .output()
            .expect("skopeo");
        assert!(
            output.status.success(),
            "skopeo inspect: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let inspected: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        assert_eq!(inspected["Digest"], digest.as_str(), "{tag}");
    }

    // A new commit with the same tree: every layer is already there.
    assert!(
        cli.git(&repo, &["commit", "-q", "--allow-empty", "-m", "again"])
            .status()
            .expect("git")
            .success()
    );
    let output = push(&cli, &repo, &["main"]);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("remote:        0.0 MB uploaded"),
        "{stderr}"
    );
}

#[test]
fn a_registry_that_is_down_rejects_the_push_and_records_no_release() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (_server, cli) = server_with_registry(&format!("127.0.0.1:{closed}/paas"));
    let repo = cli.app_repo("procfile");
    run_in(&cli, &repo, &["create", "down"]);
    let output = push(&cli, &repo, &["main"]);
    let stderr = stderr_of(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("remote:  !     Push rejected: the build failed at step `registry`."),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "remote:  !     the registry 127.0.0.1:{closed}/paas is unreachable"
        )),
        "{stderr}"
    );
    assert_eq!(run_in(&cli, &repo, &["releases", "--json"]).trim(), "[]");
    assert_eq!(remote_main(&cli, &repo), None);
}

#[test]
fn gc_keeps_recent_images_and_removes_the_rest() {
    let (server, cli) = pushable();
    let repo = cli.app_repo("static");
    run_in(&cli, &repo, &["create", "collected"]);
    for round in 0..3 {
        std::fs::write(
            repo.join(format!("public/page-{round}.html")),
            format!("page {round}"),
        )
        .expect("write");
        cli.commit_all(&repo, &round.to_string());
        assert!(push(&cli, &repo, &["main"]).status.success());
    }
    let blobs = || {
        std::fs::read_dir(server.data_dir().join("oci/blobs/sha256"))
            .expect("blobs")
            .count()
    };
    let before = blobs();
    let output = std::process::Command::new(server_bin())
        .args(["gc", "--keep", "1", "--grace", "0", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("gc");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // Two older images: each had its own config, app layer and manifest.
    assert!(
        stderr.contains("Kept 1 images; removed 6 blobs"),
        "{stderr}"
    );
    assert!(
        stderr.contains("and 3 finished build directories"),
        "{stderr}"
    );
    assert_eq!(blobs(), before - 6);
    skopeo_inspect(&server, "collected-v3");
    let gone = std::process::Command::new("skopeo")
        .args(["inspect", &layout_ref(&server, "collected-v1")])
        .output()
        .expect("skopeo");
    assert!(!gone.status.success(), "v1's reference left the index");
    // Rolling back to a collected image is refused, saying why.
    let output = cli
        .command(&["rollback", "v1"])
        .current_dir(&repo)
        .output()
        .expect("rollback");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: v1's image (sha256:")
            && stderr.contains(") was removed by garbage collection"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("hint: push that code again to rebuild it, or roll back to a newer release"),
        "{stderr}"
    );
    assert!(
        cli.command(&["rollback", "v3"])
            .current_dir(&repo)
            .output()
            .expect("rollback")
            .status
            .success()
    );
}

#[test]
fn a_daemon_killed_mid_build_cleans_up_on_restart() {
    let (mut server, cli) = debian_server(&[]);
    let slow = cli.app_repo("nodejs-slow");
    run_in(&cli, &slow, &["create", "orphan"]);
    let mut git = push_until(&cli, &slow, "installing slowly");
    assert!(!server.build_containers().is_empty(), "the build runs");
    let app: Value =
        serde_json::from_str(&run_in(&cli, &slow, &["apps", "info", "--json"])).expect("JSON");
    server.stop(nix::sys::signal::Signal::SIGKILL);
    // The push fails for its client, and main does not move.
    let status = git.wait().expect("git");
    assert!(!status.success());
    // What a receive-pack killed with the daemon leaves in the repo: git's quarantine.
    let repo = server
        .data_dir()
        .join(format!("repos/{}.git", app["id"].as_str().expect("id")));
    let quarantine = repo.join("objects/tmp_objdir-incoming-Xk2PqZ");
    std::fs::create_dir_all(quarantine.join("pack")).expect("mkdir");
    std::fs::write(quarantine.join("pack/tmp_pack_x"), "half a pack").expect("write");

    server.restart();
    assert!(!quarantine.exists(), "the quarantine is removed at start");
    assert_eq!(
        server.build_containers(),
        Vec::<String>::new(),
        "the orphaned build container is removed at start"
    );
    let builds = builds(&cli, &slow);
    assert_eq!(builds[0]["status"], "failed");
    assert_eq!(
        builds[0]["failure"],
        "interrupted: the server stopped during the build"
    );
    let id = builds[0]["id"].as_str().expect("id");
    assert!(
        !server.data_dir().join("builds").join(id).exists(),
        "the interrupted build's directory is removed at start"
    );
    assert_eq!(remote_main(&cli, &slow), None);
}

#[test]
fn six_keys_may_be_offered_and_a_silent_session_is_closed() {
    let server = TestServer::start_with(&server_bin(), &["--ssh-idle-timeout", "3"], &[]);
    server.install_stack(Stack::Busybox);
    let cli = CliEnv::pusher(paas_bin(), &server);
    let repo = cli.app_repo("static");
    run_in(&cli, &repo, &["create", "quiet"]);
    // A push whose release phase is silent for longer than the idle timeout: git's keepalives
    // (asked for by the hook) keep its session open. What the release phase prints reaches the
    // pusher's terminal with its colours and without its other escape sequences.
    std::fs::write(
        repo.join("Procfile"),
        "web: busybox httpd -f -p $PORT -h /app/public\nrelease: printf 'REL \\033]0;title\\007 \\033[32mgreen\\033[0m\\n'; sleep 6\n",
    )
    .expect("Procfile");
    cli.commit_all(&repo, "a quiet release phase");
    let pushed = push(&cli, &repo, &["main"]);
    let said = String::from_utf8_lossy(&pushed.stderr);
    assert!(pushed.status.success(), "{said}");
    assert!(
        said.contains("REL \u{fffd}]0;title\u{fffd} \x1b[32mgreen"),
        "{said:?}"
    );
    // Five keys the server does not know, then the registered one (an agent or ~/.ssh with many
    // keys offers them all; OpenSSH's server allows six).
    let mut keys: Vec<std::path::PathBuf> = (0..5)
        .map(|i| {
            let key = cli.home().join(format!("other-{i}"));
            let made = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key)
                .status()
                .expect("ssh-keygen");
            assert!(made.success());
            key
        })
        .collect();
    keys.push(cli.ssh_key());
    let mut session = server.hold_git_session(&keys, "git-upload-pack 'quiet'");
    // Logged in with the sixth key, the session says nothing more: closed at the idle timeout.
    let silent = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(session.stdout.as_mut().expect("stdout"), &mut rest);
    let closed_after = silent.elapsed();
    let _ = session.kill();
    let _ = session.wait();
    assert!(
        (2..15).contains(&closed_after.as_secs()),
        "closed after {closed_after:?}"
    );
}

#[test]
fn the_server_log_names_the_ssh_host_key_a_first_push_asks_about() {
    let server = TestServer::start(&server_bin());
    let port = server.ssh.rsplit(':').next().expect("port");
    let scan = std::process::Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-p", port, "127.0.0.1"])
        .output()
        .expect("ssh-keyscan");
    let mut keygen = std::process::Command::new("ssh-keygen")
        .args(["-l", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ssh-keygen");
    std::io::Write::write_all(&mut keygen.stdin.take().expect("stdin"), &scan.stdout)
        .expect("write");
    let listed = keygen.wait_with_output().expect("ssh-keygen");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let fingerprint = listed
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint in {listed:?}"));
    assert!(
        server
            .log()
            .contains(&format!("ssh_host_key={fingerprint}")),
        "{fingerprint} in:\n{}",
        server.log()
    );
}
