//! Tests for the shapes real repositories take (on the busybox stack): Procfiles with a
//! byte-order mark, comments, Latin-1 bytes or no `web` type; submodules; refs that are not
//! commits; symlinks that point out of the pushed tree; and releases that tell the truth about
//! which one runs.

use std::path::Path;

use paas_tests::{CliEnv, TestServer, transcript};
use serde_json::Value;

use super::push::stderr_of;
use super::run::{get, ok, paas, push, serving, serving_with};

/// A repo with these files (path, content) committed on `main`, and an app for it.
fn repo_with(cli: &CliEnv, app: &str, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    let repo = cli.home().join(app);
    std::fs::create_dir_all(&repo).expect("mkdir");
    for (path, content) in files {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    let output = cli
        .git(&repo, &["init", "-q", "-b", "main"])
        .output()
        .expect("git");
    assert!(output.status.success());
    cli.commit_all(&repo, app);
    ok(cli, &repo, &["create", app]);
    repo
}

fn releases(cli: &CliEnv, repo: &Path) -> Vec<Value> {
    serde_json::from_str(&ok(cli, repo, &["releases", "--json"])).expect("JSON")
}

/// The app's bare repository on the server.
fn server_repo(server: &TestServer, cli: &CliEnv, repo: &Path) -> std::path::PathBuf {
    let app: Value =
        serde_json::from_str(&ok(cli, repo, &["apps", "info", "--json"])).expect("JSON");
    server
        .data_dir()
        .join("repos")
        .join(format!("{}.git", app["id"].as_str().expect("id")))
}

const HTTPD: &str = "busybox httpd -f -p $PORT -h /app";

#[test]
fn procfile_quirks_of_real_repositories() {
    let (server, cli) = serving_with(&["--stop-grace", "20"]);
    // A byte-order mark (Windows editors), CRLF line ends, and comments after commands.
    let procfile = format!(
        "\u{feff}# processes\r\nweb: {HTTPD}  # the web server\r\nworker: sh worker.sh # background jobs\r\n"
    );
    let repo = repo_with(
        &cli,
        "quirky",
        &[
            ("Procfile", procfile.as_bytes()),
            ("index.html", b"quirky\n"),
            (
                "worker.sh",
                b"trap 'echo worker got SIGTERM; exit 0' TERM\necho worker started\nwhile :; do sleep 1; done\n",
            ),
        ],
    );
    let output = push(&cli, &repo);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("remote:        Procfile declares types -> web, worker"),
        "{stderr}"
    );
    assert_eq!(get(&server, "quirky"), (200, "quirky\n".to_owned()));
    // The comment does not reach the dyno's wrapper: the worker gets SIGTERM when it stops,
    // instead of being killed after the 20 s grace.
    ok(&cli, &repo, &["scale", "worker=1"]);
    // Stop it once its own trap is set (a SIGTERM before that ends it the default way).
    for _ in 0..100 {
        if ok(&cli, &repo, &["logs", "--ps", "worker"]).contains("worker started") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let started = std::time::Instant::now();
    ok(&cli, &repo, &["scale", "worker=0"]);
    let logs = ok(&cli, &repo, &["logs", "--ps", "worker"]);
    assert!(logs.contains("worker got SIGTERM"), "{logs}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "stopping the worker took the whole grace period"
    );

    // Not UTF-8 (a Latin-1 é): the step and the fix are named, nothing else runs.
    std::fs::write(repo.join("Procfile"), b"web: echo caf\xe9\n").expect("write");
    cli.commit_all(&repo, "latin-1");
    let output = push(&cli, &repo);
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    for line in [
        "Push rejected: the build failed at step `procfile`.",
        "the Procfile is not UTF-8 text (line 1 has a byte that is not UTF-8",
        "Save it as UTF-8",
    ] {
        assert!(stderr.contains(line), "{line:?} in {stderr}");
    }
    // Two lines for one type, and a line that is not `type: command`.
    for (procfile, says) in [
        (
            "web: a\nworker: b\nweb: c\n",
            "Procfile line 3: web is declared twice (lines 1 and 3); keep one",
        ),
        (
            "web: a\nrun the server\n",
            "Procfile line 2: expected `type: command` (such as `web: python app.py`), got \"run the server\"",
        ),
    ] {
        std::fs::write(repo.join("Procfile"), procfile).expect("write");
        cli.commit_all(&repo, "bad procfile");
        let stderr = stderr_of(&push(&cli, &repo));
        assert!(stderr.contains(says), "{says:?} in {stderr}");
    }
    assert_eq!(get(&server, "quirky"), (200, "quirky\n".to_owned()));
}

#[test]
fn an_app_without_a_web_process_gets_no_url_and_only_its_own_types() {
    let (_server, cli) = serving();
    // The static buildpack would add `web`; the app's Procfile says what runs.
    let repo = repo_with(
        &cli,
        "jobs",
        &[
            ("Procfile", b"worker: echo working; exec sleep 3600\n"),
            ("index.html", b"not served\n"),
        ],
    );
    let output = push(&cli, &repo);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("remote:        Procfile declares types -> worker"),
        "{stderr}"
    );
    assert!(
        stderr.contains("remote: -----> v1 is deployed (no web process, so no URL)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("No dynos run yet; start some with: paas scale worker=1"),
        "{stderr}"
    );
    assert!(!stderr.contains("is up: http"), "{stderr}");
    let release = &releases(&cli, &repo)[0];
    assert_eq!(
        release["process_types"],
        serde_json::json!({"worker": "echo working; exec sleep 3600"})
    );
    let output = paas(&cli, &repo, &["ps"]);
    assert!(
        stderr_of(&output).contains("jobs runs no dynos. Start some with `paas scale worker=1`."),
        "{}",
        transcript(&output)
    );
    // Heroku's other spellings of info and open.
    assert!(ok(&cli, &repo, &["info", "jobs"]).contains("=== jobs"));
    assert!(ok(&cli, &repo, &["apps:open", "jobs", "--no-browser"]).starts_with("http://jobs."));
    ok(&cli, &repo, &["scale", "worker=1"]);
    let output = paas(&cli, &repo, &["ps"]);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("worker.1"),
        "{}",
        transcript(&output)
    );
}

#[test]
fn submodules_deploy_as_empty_directories() {
    let (server, cli) = serving();
    let repo = repo_with(
        &cli,
        "subs",
        &[
            ("Procfile", format!("web: {HTTPD}\n").as_bytes()),
            ("index.html", b"with submodules\n"),
            (
                ".gitmodules",
                b"[submodule \"vendor/lib\"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n",
            ),
        ],
    );
    // Two gitlinks, one without a .gitmodules entry (as a half-removed submodule leaves it).
    for path in ["vendor/lib", "orphan"] {
        let output = cli
            .git(
                &repo,
                &[
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    &format!("160000,{},{path}", "1".repeat(40)),
                ],
            )
            .output()
            .expect("git");
        assert!(output.status.success(), "{}", transcript(&output));
    }
    // `git add -A` would drop the gitlinks (their paths have no work tree here).
    let output = cli
        .git(&repo, &["commit", "-q", "-m", "submodules"])
        .output()
        .expect("git");
    assert!(output.status.success(), "{}", transcript(&output));
    let output = push(&cli, &repo);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    for path in ["orphan", "vendor/lib"] {
        assert!(
            stderr.contains(&format!(
                "remote: -----> Submodule {path} was not fetched (paas builds what the repository itself holds): it is an empty directory"
            )),
            "{stderr}"
        );
    }
    assert_eq!(get(&server, "subs"), (200, "with submodules\n".to_owned()));
}

#[test]
fn rejected_pushes_leave_the_repository_clean() {
    let (server, cli) = serving();
    let repo = repo_with(&cli, "clean", &[("README.md", b"no buildpack applies\n")]);
    assert!(!push(&cli, &repo).status.success());
    // A tag object pushed as the branch.
    std::fs::write(repo.join("Procfile"), format!("web: {HTTPD}\n")).expect("write");
    cli.commit_all(&repo, "procfile");
    let output = cli
        .git(&repo, &["tag", "-a", "v1", "-m", "first"])
        .output()
        .expect("tag");
    assert!(output.status.success());
    let output = cli
        .git(&repo, &["push", "paas", "v1:refs/heads/main"])
        .output()
        .expect("push");
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("main must point to a commit, and this push points it at a tag object."),
        "{stderr}"
    );
    assert!(
        stderr.contains("git push paas 'TAG^{commit}:main'"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("libgit2") && !stderr.contains("class="),
        "{stderr}"
    );

    let bare = server_repo(&server, &cli, &repo);
    assert!(!bare.join("index").exists(), "the build wrote an index");
    for args in [&["fsck", "--strict"][..], &["gc", "--quiet"]] {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(&bare)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git");
        assert!(
            output.status.success(),
            "git {args:?} after rejected pushes: {}",
            transcript(&output)
        );
    }
    // And the branch itself deploys.
    let output = push(&cli, &repo);
    assert!(output.status.success(), "{}", stderr_of(&output));
}

#[test]
fn symlinks_out_of_the_pushed_tree_are_never_followed() {
    let (_server, cli) = serving();
    let secret = cli.home().join("host-secret");
    std::fs::write(&secret, "SECRET-FIRST-LINE\nweb: cat /etc/shadow\n").expect("write");
    let absolute = secret.to_str().expect("utf-8").to_owned();
    let dotdot = format!("../../../../../../../../../..{absolute}");
    for (name, step) in [(".buildpacks", "buildpacks"), ("Procfile", "procfile")] {
        for target in [&absolute, &dotdot] {
            let app = format!("link-{}", name.trim_start_matches('.').to_lowercase());
            let repo = cli.home().join(&app);
            if !repo.exists() {
                std::fs::create_dir_all(&repo).expect("mkdir");
                std::fs::write(repo.join("index.html"), "hi\n").expect("write");
                let output = cli
                    .git(&repo, &["init", "-q", "-b", "main"])
                    .output()
                    .expect("git");
                assert!(output.status.success());
                ok(&cli, &repo, &["create", &app]);
            }
            let _ = std::fs::remove_file(repo.join(name));
            std::os::unix::fs::symlink(target, repo.join(name)).expect("symlink");
            cli.commit_all(&repo, &format!("{name} -> {target}"));
            let output = push(&cli, &repo);
            let stderr = stderr_of(&output);
            assert!(!output.status.success(), "{name} -> {target}: {stderr}");
            assert!(
                stderr.contains(&format!(
                    "Push rejected: the build failed at step `{step}`."
                )),
                "{stderr}"
            );
            assert!(
                stderr.contains(&format!(
                    "{name} is a symbolic link; paas reads only files committed as regular files"
                )),
                "{stderr}"
            );
            assert!(!stderr.contains("SECRET"), "{stderr}");
            let listed = ok(&cli, &repo, &["releases", "--json"]);
            assert!(
                !listed.contains("SECRET") && !listed.contains("shadow"),
                "{listed}"
            );
        }
    }
}

#[test]
fn releases_tell_which_one_runs() {
    let (server, cli) = serving_with(&["--boot-timeout", "3"]);
    let repo = repo_with(
        &cli,
        "truth",
        &[
            ("Procfile", format!("web: {HTTPD}\n").as_bytes()),
            ("index.html", b"v1\n"),
        ],
    );
    assert!(push(&cli, &repo).status.success());
    std::fs::write(repo.join("index.html"), "v2\n").expect("write");
    cli.commit_all(&repo, "v2");
    assert!(push(&cli, &repo).status.success());
    std::fs::write(repo.join("Procfile"), "web: echo crashing; exit 3\n").expect("write");
    cli.commit_all(&repo, "v3 crashes");
    assert!(!push(&cli, &repo).status.success());

    // v3 failed: v2 runs, and every view says so.
    let listed = ok(&cli, &repo, &["releases"]);
    assert!(
        listed.contains("v3  ") && listed.contains("failed"),
        "{listed}"
    );
    let current: Vec<u64> = releases(&cli, &repo)
        .iter()
        .filter(|r| r["current"] == true)
        .filter_map(|r| r["version"].as_u64())
        .collect();
    assert_eq!(current, [2], "{listed}");
    let info: Value =
        serde_json::from_str(&ok(&cli, &repo, &["releases", "info", "--json"])).expect("JSON");
    assert_eq!(info["version"], 2);
    let app: Value =
        serde_json::from_str(&ok(&cli, &repo, &["apps", "info", "--json"])).expect("JSON");
    assert_eq!(app["release"], 2);

    // A config change builds on the running release (v2), not the failed one.
    let v4: Value =
        serde_json::from_str(&ok(&cli, &repo, &["config", "set", "A=1", "--json"])).expect("JSON");
    assert_eq!(v4["version"], 4);
    assert_eq!(
        v4["process_types"]["web"], HTTPD,
        "v4 runs v2's build: {v4}"
    );
    assert_eq!(get(&server, "truth"), (200, "v2\n".to_owned()));

    // A bare rollback goes back one from the running release: v4 runs, the newest release before
    // it that succeeded is v2 (v3 failed).
    let output = paas(&cli, &repo, &["rollback"]);
    assert!(output.status.success(), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains("Rolled back truth to v2, release v5"),
        "{}",
        transcript(&output)
    );
}

#[test]
fn scaling_an_app_that_never_ran_fails_at_once() {
    let (_server, cli) = serving_with(&["--boot-timeout", "2"]);
    let repo = repo_with(
        &cli,
        "never",
        &[("Procfile", b"web: exit 3\nworker: exec sleep 3600\n")],
    );
    assert!(!push(&cli, &repo).status.success());
    let started = std::time::Instant::now();
    let output = paas(&cli, &repo, &["scale", "worker=1"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains("has no running release to scale"),
        "{}",
        transcript(&output)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // `ps` does not suggest the scale that cannot work.
    let output = paas(&cli, &repo, &["ps"]);
    assert!(
        stderr_of(&output).contains(
            "never runs no dynos: no release of it runs yet. Deploy with `git push paas main`"
        ),
        "{}",
        transcript(&output)
    );
}
