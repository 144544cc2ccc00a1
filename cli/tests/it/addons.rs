//! Tests for add-ons: real PostgreSQL 15 and Redis 7 (Debian's packages) run as services of the
//! server, attached to apps by config var through releases, used by a Python app with PyPI
//! drivers (pg8000, redis-py), reached with `pg:psql` and `redis:cli`, backed up and restored,
//! and surviving a daemon killed with SIGKILL and a rollback. Bad input and other users get clear
//! errors and change nothing.

use std::path::Path;

use nix::sys::signal::Signal;
use paas_tests::{CliEnv, Stack, TestServer, transcript};
use serde_json::Value;

use super::push::{debian_server, stderr_of};
use super::run::{ok, paas, paas_with_stdin, push, refused};

/// A server with the bookworm stack and the services image.
fn addon_server() -> (TestServer, CliEnv) {
    let (server, cli) = debian_server(&[]);
    server.install_stack(Stack::Services);
    (server, cli)
}

/// `METHOD path` through the router to the app, with `body`: (status, body).
fn call(server: &TestServer, app: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let output = std::process::Command::new("curl")
        .args(["-s", "-X", method, "-w", "\n%{http_code}", "-H"])
        .arg(format!("Host: {app}.localhost"))
        .args(["--data-binary", body])
        .arg(format!("http://{}{path}", server.router))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    (status.parse().expect("status"), body.to_owned())
}

fn notes(server: &TestServer, app: &str) -> (u16, String) {
    call(server, app, "GET", "/notes", "")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

#[test]
fn an_app_uses_postgres_and_redis_through_backups_restarts_and_rollbacks() {
    let (mut server, cli) = addon_server();
    let repo = cli.app_repo("python-addons");
    ok(&cli, &repo, &["create", "notes"]);

    // Provisioned and attached by config var (a release) before the first push; the release
    // phase migrates with it.
    let db = ok(&cli, &repo, &["addons:create", "postgresql"]);
    let db = db.trim().to_owned();
    assert!(db.starts_with("postgresql-"), "{db}");
    let url = ok(&cli, &repo, &["config", "get", "DATABASE_URL"]);
    assert!(url.starts_with("postgres://u"), "{url}");
    let output = push(&cli, &repo);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("remote:        schema ready"), "{stderr}");
    // Attached to a running app: a release that runs the release phase and restarts the dynos.
    let cache = json(&ok(
        &cli,
        &repo,
        &["addons:create", "heroku-redis", "--json"],
    ));
    assert_eq!(cache["kind"], "redis");
    assert_eq!(cache["state"], "up");
    assert_eq!(cache["attachments"][0]["config_var"], "REDIS_URL");
    let releases = ok(&cli, &repo, &["releases"]);
    assert!(
        releases.contains(&format!("Attach {db} (DATABASE_URL)")),
        "{releases}"
    );
    let listed = ok(&cli, &repo, &["addons"]);
    assert!(
        listed.contains(&db)
            && listed.contains("postgresql 15")
            && listed.contains("DATABASE_URL (notes)"),
        "{listed}"
    );
    // No credentials in any listing, nor in the server's log.
    let password = url
        .split(':')
        .nth(2)
        .and_then(|s| s.split('@').next())
        .expect("password");
    for args in [&["addons", "--json"][..], &["addons:info", &db, "--json"]] {
        assert!(
            !ok(&cli, &repo, args).contains(password),
            "{args:?} shows the password"
        );
    }
    assert!(
        !server.log().contains(password),
        "the server logged the password"
    );

    for note in ["first", "second"] {
        assert_eq!(call(&server, "notes", "POST", "/notes", note).0, 201);
    }
    assert_eq!(
        notes(&server, "notes"),
        (200, r#"["first", "second"]"#.to_owned())
    );
    assert_eq!(
        call(&server, "notes", "GET", "/stats", "").1,
        r#"{"added": 2}"#
    );

    // psql and redis-cli from the CLI, without a terminal: SQL and commands on stdin.
    let output = paas_with_stdin(
        &cli,
        &repo,
        &["pg:psql"],
        b"SELECT count(*) AS total FROM notes;\n",
    );
    assert!(output.status.success(), "{}", transcript(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("total") && stdout.contains(" 2\n"),
        "{stdout}"
    );
    let output = paas_with_stdin(&cli, &repo, &["redis:cli"], b"GET notes:added\n");
    assert!(output.status.success(), "{}", transcript(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2");
    // An add-on cannot reach a dyno (its service runs as the services' user, which the server's
    // isolation refuses as it refuses other apps): a Redis told to replicate from the web dyno's
    // port gets "Connection refused", never the dyno's answer.
    let dynos = json(&ok(&cli, &repo, &["ps", "--json"]));
    let port = dynos
        .as_array()
        .and_then(|d| d.iter().find(|d| d["type"] == "web"))
        .and_then(|web| web["port"].as_u64())
        .expect("the web dyno's port");
    let replicate = format!("REPLICAOF 127.0.0.1 {port}\n");
    let output = paas_with_stdin(&cli, &repo, &["redis:cli"], replicate.as_bytes());
    assert!(output.status.success(), "{}", transcript(&output));
    let started = std::time::Instant::now();
    let refused = loop {
        let logs = ok(&cli, &repo, &["logs", "-n", "500"]);
        if logs.contains("Connection refused") || started.elapsed().as_secs() > 20 {
            break logs;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    assert!(
        refused.contains("Connection refused") && !refused.contains("Error reply to PING"),
        "{refused}"
    );
    let output = paas_with_stdin(&cli, &repo, &["redis:cli"], b"REPLICAOF NO ONE\n");
    assert!(output.status.success(), "{}", transcript(&output));

    // On a terminal, psql is interactive: its prompt, a query, \q.
    let (mut screen, mut child) = super::one_off::on_terminal(&cli, &repo, &["pg:psql"], 100, 30);
    let mut seen = String::new();
    super::one_off::read_until(&mut screen, &mut seen, "=>");
    // The password is nowhere in a command line on this host (`ps` shows those to everyone).
    let shown: Vec<String> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(password))
        .collect();
    assert!(shown.is_empty(), "{shown:?}");
    // `ps` lists the session with no release (it runs the services image), and so does its log.
    let logs = ok(&cli, &repo, &["logs"]);
    assert!(logs.contains(" (the services image): exec psql"), "{logs}");
    let ps = ok(&cli, &repo, &["ps"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with("run ") && l.contains(" - ") && l.contains("exec psql")),
        "{ps}"
    );
    std::io::Write::write_all(&mut screen, b"SELECT 6 * 7 AS answer;\r").expect("type");
    super::one_off::read_until(&mut screen, &mut seen, "42");
    std::io::Write::write_all(&mut screen, b"\\q\r").expect("type");
    assert!(child.wait().expect("pg:psql").success(), "{seen}");

    // Backup, drop the table, restore: the rows are back.
    let backup = ok(&cli, &repo, &["pg:backups:capture"]);
    assert_eq!(backup.trim(), "b001");
    let info: serde_json::Value =
        serde_json::from_str(&ok(&cli, &repo, &["pg:backups:info", "b001", "--json"]))
            .expect("JSON");
    assert_eq!(info["status"], "succeeded", "{info}");
    assert!(info["size"].as_u64().is_some_and(|b| b > 0), "{info}");
    let output = paas(&cli, &repo, &["pg:backups:info", "b009"]);
    assert!(
        stderr_of(&output).contains("has no backup \"b009\""),
        "{}",
        transcript(&output)
    );
    let output = paas_with_stdin(&cli, &repo, &["pg:psql", &db], b"DROP TABLE notes;\n");
    assert!(output.status.success(), "{}", transcript(&output));
    assert_eq!(notes(&server, "notes").0, 500, "the table is gone");
    let output = paas(&cli, &repo, &["pg:backups:restore", "b001"]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    assert!(stderr_of(&output).contains("pass --confirm notes"));
    ok(
        &cli,
        &repo,
        &["pg:backups:restore", "b001", "--confirm", "notes"],
    );
    assert_eq!(
        notes(&server, "notes"),
        (200, r#"["first", "second"]"#.to_owned())
    );
    // A restore runs to its end when its client goes away (here it waits for a lock that an open
    // transaction holds for 5 s), and says so in the app's log.
    let hold = |seconds: u32| {
        let sql = format!(
            "BEGIN; LOCK TABLE notes IN ACCESS SHARE MODE; SELECT pg_sleep({seconds}); COMMIT;\n"
        );
        paas_with_stdin(&cli, &repo, &["pg:psql", &db], sql.as_bytes())
    };
    // Until the other session holds its lock.
    let locked = || {
        let query = b"SELECT 'held:' || count(*) FROM pg_locks WHERE relation = 'notes'::regclass AND granted AND pid <> pg_backend_pid();\n";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let output = paas_with_stdin(&cli, &repo, &["pg:psql", &db], query);
            if String::from_utf8_lossy(&output.stdout).contains("held:1") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the lock was not taken"
            );
        }
    };
    let restore = || {
        let mut command = cli.command(&["pg:backups:restore", "b001", "--confirm", "notes"]);
        command.current_dir(&repo);
        command
    };
    std::thread::scope(|scope| {
        let holder = scope.spawn(|| hold(5));
        locked();
        let mut client = restore().spawn().expect("paas");
        std::thread::sleep(std::time::Duration::from_millis(500));
        client.kill().expect("kill");
        let _ = client.wait();
        assert!(holder.join().expect("holder").status.success());
    });
    let restored = format!("Add-on {db} restored from backup b001");
    // Its end is in the app's log and in the audit log, with its outcome.
    let audited = || {
        json(&ok(&cli, &repo, &["audit", "--json"]))
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "backup.restore" && e["outcome"] == "success")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ok(&cli, &repo, &["logs"]).contains(&restored) || !audited() {
        assert!(
            std::time::Instant::now() < deadline,
            "the restore did not end, or its audit entry is missing"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        notes(&server, "notes"),
        (200, r#"["first", "second"]"#.to_owned())
    );
    let listed = json(&ok(&cli, &repo, &["pg:backups", "--json"]));
    assert_eq!(listed[0]["id"], "b001");
    assert_eq!(listed[0]["status"], "succeeded");
    let file = server.scratch().join("notes.dump");
    ok(
        &cli,
        &repo,
        &["pg:backups:download", "-o", file.to_str().expect("utf-8")],
    );
    let dump = std::fs::read(&file).expect("the downloaded backup");
    assert!(dump.starts_with(b"PGDMP"), "a pg_dump custom-format file");
    assert_eq!(
        dump.len() as u64,
        listed[0]["size"].as_u64().expect("size"),
        "all of it"
    );

    // The daemon killed outright: the services come back with their data.
    server.stop(Signal::SIGKILL);
    server.restart();
    assert_eq!(
        notes(&server, "notes"),
        (200, r#"["first", "second"]"#.to_owned())
    );
    assert_eq!(
        call(&server, "notes", "GET", "/stats", "").1,
        r#"{"added": 2}"#
    );

    // A service that dies is restarted, with its data.
    let redis_url = ok(&cli, &repo, &["config", "get", "REDIS_URL"]);
    let port = redis_url
        .trim()
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let redis = process_with(&format!("redis-server 127.0.0.1:{port}")).expect("redis runs");
    nix::sys::signal::kill(redis, Signal::SIGKILL).expect("kill redis");
    let mut waited = 0;
    while process_with(&format!("redis-server 127.0.0.1:{port}")).is_none_or(|p| p == redis) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
        assert!(
            waited < 100,
            "redis was not restarted: {}",
            ok(&cli, &repo, &["logs"])
        );
    }
    let logs = ok(&cli, &repo, &["logs", "-n", "500"]);
    assert!(logs.contains("state changed from up to crashed"), "{logs}");
    let mut waited = 0;
    while call(&server, "notes", "GET", "/stats", "").1 != r#"{"added": 2}"# {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
        assert!(waited < 100, "the app did not get its counter back");
    }

    // A rollback to the release before Redis was attached takes REDIS_URL away; the data
    // stays, and rolling forward brings it back.
    let releases = json(&ok(&cli, &repo, &["releases", "--json"]));
    let version_of = |prefix: &str| {
        releases
            .as_array()
            .expect("releases")
            .iter()
            .find(|r| {
                r["description"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(prefix))
            })
            .and_then(|r| r["version"].as_u64())
            .expect("release")
    };
    let (deploy, redis) = (version_of("Deploy"), version_of("Attach redis-"));
    ok(&cli, &repo, &["rollback", &format!("v{deploy}")]);
    let config = ok(&cli, &repo, &["config"]);
    assert!(
        config.contains("DATABASE_URL") && !config.contains("REDIS_URL"),
        "{config}"
    );
    let listed = ok(&cli, &repo, &["addons"]);
    assert!(
        listed.contains("REDIS_URL (notes, not in its config since a rollback)"),
        "{listed}"
    );
    assert_eq!(
        notes(&server, "notes"),
        (200, r#"["first", "second"]"#.to_owned())
    );
    ok(&cli, &repo, &["rollback", &format!("v{redis}")]);
    assert_eq!(
        call(&server, "notes", "GET", "/stats", "").1,
        r#"{"added": 2}"#
    );

    // Rotated credentials: the app gets the new URL, the old password stops working.
    ok(&cli, &repo, &["addons:credentials:rotate", &db]);
    let rotated = ok(&cli, &repo, &["config", "get", "DATABASE_URL"]);
    assert_ne!(rotated, url);
    assert_eq!(
        notes(&server, "notes"),
        (200, r#"["first", "second"]"#.to_owned())
    );

    // Detach, then destroy: the config var goes with a release, then the data.
    let output = paas(&cli, &repo, &["addons:destroy", &db, "--confirm", &db]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(stderr_of(&output).contains("is attached to notes (DATABASE_URL)"));
    // The app's release phase needs the database: the detach's release fails, and the app
    // keeps serving with the add-on attached, as its config says.
    let output = paas(&cli, &repo, &["addons:detach", &db]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains("the release phase failed"),
        "{}",
        transcript(&output)
    );
    assert!(ok(&cli, &repo, &["addons"]).contains("DATABASE_URL (notes)"));
    assert!(ok(&cli, &repo, &["config"]).contains("DATABASE_URL"));
    assert_eq!(notes(&server, "notes").0, 200);
    // Once it copes without one, the detach goes through.
    std::fs::write(
        repo.join("migrate.py"),
        "import os\nif 'DATABASE_URL' in os.environ:\n    import db\n    db.database().run('SELECT 1')\nprint('schema ready')\n",
    )
    .expect("write");
    cli.commit_all(&repo, "migrations cope without a database");
    assert!(push(&cli, &repo).status.success());
    ok(&cli, &repo, &["addons:detach", &db]);
    assert!(!ok(&cli, &repo, &["config"]).contains("DATABASE_URL"));
    ok(&cli, &repo, &["addons:destroy", &db, "--confirm", &db]);
    let output = paas(&cli, &repo, &["addons:info", &db]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("there is no add-on"));
    // Destroying the app takes its Redis with it.
    ok(&cli, &repo, &["destroy", "notes", "--confirm", "notes"]);
    let left: Vec<_> = std::fs::read_dir(server.data_dir().join("addons"))
        .expect("addons dir")
        .collect();
    assert!(left.is_empty(), "every add-on's data is gone: {left:?}");
}

#[test]
fn bad_add_on_requests_are_refused_and_leave_nothing() {
    let (server, cli) = addon_server();
    let repo = cli.app_repo("static");
    ok(&cli, &repo, &["create", "shop"]);
    // The services image is no stack apps choose.
    let stacks = ok(&cli, &repo, &["stack", "--json"]);
    assert!(
        stacks.contains("bookworm") && !stacks.contains("services"),
        "{stacks}"
    );
    let output = paas(&cli, &repo, &["stack:set", "services"]);
    let said = stderr_of(&output);
    assert!(
        said.contains("stack services runs the add-ons' services")
            && said.contains("(installed: bookworm)"),
        "{}",
        transcript(&output)
    );
    // Names the CLI can check itself are usage errors (exit 2); the rest the server refuses.
    for (args, code, message) in [
        (
            &["addons:create", "mysql"][..],
            1,
            "there is no add-on kind \"mysql\"",
        ),
        (
            &["addons:info", "postgresql-nope-1"],
            1,
            "there is no add-on",
        ),
        (&["pg:psql"], 1, "shop has no postgresql add-on"),
        (
            &["addons:create", "redis", "--as", "lower_case"],
            2,
            "invalid attachment name \"lower_case\"",
        ),
        (
            &["addons:create", "redis", "--name", "Bad Name"],
            2,
            "invalid add-on name",
        ),
    ] {
        refused(&cli, &repo, args, code, message);
    }
    ok(
        &cli,
        &repo,
        &["addons:create", "redis", "--name", "shop-cache"],
    );
    let output = paas(
        &cli,
        &repo,
        &["addons:create", "redis", "--name", "shop-cache"],
    );
    assert!(stderr_of(&output).contains("add-on \"shop-cache\" exists already"));
    // A name an add-on's attachment holds: detach it (its var cannot be unset); a var of the
    // user's: unset it.
    let output = paas(&cli, &repo, &["addons:create", "redis", "--as", "REDIS"]);
    let said = stderr_of(&output);
    assert!(
        said.contains("shop has an add-on attached as REDIS already")
            && said.contains("addons:detach"),
        "{}",
        transcript(&output)
    );
    ok(
        &cli,
        &repo,
        &["config", "set", "CACHE_URL=redis://elsewhere"],
    );
    let output = paas(&cli, &repo, &["addons:create", "redis", "--as", "CACHE"]);
    let said = stderr_of(&output);
    assert!(
        said.contains("shop has config var CACHE_URL already") && said.contains("unset"),
        "{}",
        transcript(&output)
    );
    ok(&cli, &repo, &["config", "unset", "CACHE_URL"]);
    let output = paas(&cli, &repo, &["addons:create", "redis"]);
    assert!(output.status.success(), "{}", transcript(&output));
    assert!(
        ok(&cli, &repo, &["config"]).contains("HEROKU_REDIS_AMBER_URL"),
        "a second Redis gets a colour"
    );
    let addons = json(&ok(&cli, &repo, &["addons", "--json"]));
    assert_eq!(
        addons.as_array().expect("list").len(),
        2,
        "nothing half made: {addons}"
    );
    assert_eq!(
        std::fs::read_dir(server.data_dir().join("addons"))
            .expect("dir")
            .count(),
        2
    );

    // Another user sees none of it, and cannot attach it to their app.
    let created = std::process::Command::new(super::server_bin())
        .args(["user", "create", "mallory", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("user create");
    let other = CliEnv::new(super::paas_bin(), &server.api);
    other.login(String::from_utf8(created.stdout).expect("utf-8").trim());
    let mine = other.app_repo("static");
    ok(&other, &mine, &["create", "theirs"]);
    for args in [
        &["addons:info", "shop-cache"][..],
        &["addons:attach", "shop-cache", "-a", "theirs"],
        &["redis:cli", "shop-cache"],
        &["addons:destroy", "shop-cache", "--confirm", "shop-cache"],
    ] {
        let output = paas(&other, &mine, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr_of(&output).contains("there is no add-on shop-cache"),
            "{args:?}: {}",
            transcript(&output)
        );
    }
    let output = paas(&other, &mine, &["addons", "-a", "shop"]);
    assert_eq!(output.status.code(), Some(1));

    // Attached to their app (by an admin): they see it there and may detach it from their app,
    // but reach nothing more of it.
    ok(
        &cli,
        &repo,
        &["addons:attach", "shop-cache", "-a", "theirs"],
    );
    assert!(ok(&other, &mine, &["addons", "-a", "theirs"]).contains("shop-cache"));
    assert!(ok(&other, &mine, &["addons:info", "shop-cache"]).contains("REDIS_URL (theirs)"));
    for args in [
        &["redis:cli", "shop-cache"][..],
        &["addons:credentials:rotate", "shop-cache"],
    ] {
        let output = paas(&other, &mine, args);
        assert!(
            stderr_of(&output).contains("only users of shop, which owns shop-cache, may do that"),
            "{args:?}: {}",
            transcript(&output)
        );
    }
    ok(
        &other,
        &mine,
        &["addons:detach", "shop-cache", "-a", "theirs"],
    );
    assert!(!ok(&other, &mine, &["config", "-a", "theirs"]).contains("REDIS_URL"));
}

/// A services stack of busybox and stub programs instead of PostgreSQL and Redis: a PostgreSQL
/// whose `postgres` is busybox's httpd (it accepts connections, and ignores the SIGINT that
/// stops PostgreSQL: give the server a short `--stop-grace`) and whose `pg_dump` never ends, and
/// a Redis that never listens. Faults on demand, in milliseconds.
fn stub_services(server: &TestServer) {
    let stacks = server.data_dir().join("stacks");
    let output = std::process::Command::new(super::server_bin())
        .args(["stack", "build", "--recipe", "busybox", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("stack build");
    assert!(output.status.success(), "{}", transcript(&output));
    let services = stacks.join("services");
    std::fs::create_dir_all(&services).expect("dir");
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(stacks.join("busybox/rootfs"))
            .arg(&services)
            .status()
            .expect("cp")
            .success()
    );
    let bin = services.join("rootfs/usr/lib/postgresql/15/bin");
    std::fs::create_dir_all(&bin).expect("dir");
    for (path, script) in [
        (
            "usr/lib/postgresql/15/bin/initdb",
            "for a; do case $a in --pgdata=*) mkdir -p \"${a#--pgdata=}\";; esac; done; echo stub initdb",
        ),
        ("usr/lib/postgresql/15/bin/pg_ctl", "true"),
        (
            "usr/lib/postgresql/15/bin/postgres",
            "exec httpd -f -p 127.0.0.1:$PAAS_PORT",
        ),
        ("usr/bin/psql", "cat > /dev/null"),
        ("usr/bin/pg_dump", "echo dumping slowly; exec sleep 600"),
        (
            "usr/bin/redis-server",
            "echo stub redis: never listening; exec sleep 600",
        ),
    ] {
        let file = services.join("rootfs").join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("dir");
        std::fs::write(&file, format!("#!/bin/sh\n{script}\n")).expect("write");
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    std::fs::write(services.join("stack.json"), r#"{"recipe":"busybox"}"#).expect("write");
}

/// Stub services on `server` (see [`stub_services`]), a CLI that can push to it, and app `shop`
/// created from the `static` fixture.
fn stub_shop(server: &TestServer) -> (CliEnv, std::path::PathBuf) {
    stub_services(server);
    let cli = CliEnv::pusher(super::paas_bin(), server);
    let repo = cli.app_repo("static");
    ok(&cli, &repo, &["create", "shop"]);
    (cli, repo)
}

fn addon_folders(server: &TestServer) -> usize {
    std::fs::read_dir(server.data_dir().join("addons")).map_or(0, |d| d.count())
}

#[test]
fn a_service_that_never_comes_up_fails_its_provisioning_and_leaves_nothing() {
    let server = TestServer::start_with(
        &super::server_bin(),
        &["--boot-timeout", "2", "--stop-grace", "1"],
        &[],
    );
    let (cli, repo) = stub_shop(&server);
    let output = paas(&cli, &repo, &["addons:create", "redis"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("did not come up") && stderr.contains("stub redis: never listening"),
        "the reason, with the service's last lines: {stderr}"
    );
    assert!(stderr.contains("nothing was left half made"), "{stderr}");
    assert_eq!(ok(&cli, &repo, &["addons", "--json"]).trim(), "[]");
    assert!(!ok(&cli, &repo, &["config"]).contains("REDIS_URL"));
    assert_eq!(addon_folders(&server), 0);
    assert_eq!(server.dyno_containers(), Vec::<String>::new());
}

/// An add-on busy with a long task (a backup that would take 10 minutes here) refuses other
/// operations at once, saying what runs, rather than queuing them where nothing shows them. A
/// destroy of the add-on, or of its app, does not wait for the task (a restore waiting for a lock
/// the app's own dyno holds would never end): the task is stopped, says why, nothing is left.
#[test]
fn a_busy_add_on_refuses_other_operations_and_a_destroy_stops_its_task() {
    let server = TestServer::start_with(&super::server_bin(), &["--stop-grace", "1"], &[]);
    let (cli, repo) = stub_shop(&server);
    let dumps = || ok(&cli, &repo, &["logs"]).matches("dumping slowly").count();
    let slow_capture = || {
        let before = dumps();
        let capture = cli
            .command(&["pg:backups:capture"])
            .current_dir(&repo)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("paas");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while dumps() == before {
            assert!(
                std::time::Instant::now() < deadline,
                "the backup did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        capture
    };

    // Busy: every other operation on it is refused at once, and nothing of it starts.
    ok(
        &cli,
        &repo,
        &["addons:create", "postgresql", "--name", "first-db"],
    );
    let reports = cli.app_repo_in("static", "reports");
    ok(&cli, &reports, &["create", "reports"]);
    ok(&cli, &repo, &["addons:attach", "first-db", "-a", "reports"]);
    let capture = slow_capture();
    for args in [
        &["pg:backups:capture"][..],
        &["addons:credentials:rotate", "first-db"],
        &["addons:attach", "first-db", "-a", "reports", "--as", "MORE"],
        &["addons:detach", "first-db", "-a", "reports"],
    ] {
        let started = std::time::Instant::now();
        let output = paas(&cli, &repo, args);
        let said = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {said}");
        assert!(
            said.contains("first-db is busy with a backup (running for")
                && said.contains("nothing was started")
                && said.contains("run this again once it has ended"),
            "{args:?}: {said}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    let backups = ok(&cli, &repo, &["pg:backups", "--json"]);
    assert_eq!(
        backups.matches("\"id\"").count(),
        1,
        "one backup: {backups}"
    );
    assert!(ok(&cli, &repo, &["config"]).contains("DATABASE_URL"));
    // The app's destroy is refused (the add-on is attached elsewhere), saying when to detach it.
    let output = paas(&cli, &repo, &["destroy", "shop", "--confirm", "shop"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains(
            "wait for a backup on it to end, then detach it there: paas addons:detach first-db -a reports"
        ),
        "{}",
        transcript(&output)
    );

    // The add-on's own destroy stops its backup, and so does the app's destroy (of a new add-on).
    let mut capture = capture;
    for (destroy, next) in [
        (
            &[
                "addons:destroy",
                "first-db",
                "--force",
                "--confirm",
                "first-db",
            ][..],
            Some("second-db"),
        ),
        (&["destroy", "shop", "--confirm", "shop"], None),
    ] {
        let started = std::time::Instant::now();
        ok(&cli, &repo, destroy);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{destroy:?} took {:?}",
            started.elapsed()
        );
        let said = transcript(&capture.wait_with_output().expect("capture"));
        assert!(
            said.contains("was destroyed while this ran: its task was stopped")
                && !said.contains("paas logs"),
            "{said}"
        );
        assert_eq!(addon_folders(&server), 0);
        let Some(next) = next else { break };
        ok(
            &cli,
            &repo,
            &["addons:create", "postgresql", "--name", next],
        );
        capture = slow_capture();
    }
    assert_eq!(server.dyno_containers(), Vec::<String>::new());
}

#[test]
fn a_daemon_killed_while_provisioning_or_backing_up_leaves_whole_states() {
    // The stubs ignore the SIGINT that stops PostgreSQL: stopped after a short grace.
    let mut server = TestServer::start_with(&super::server_bin(), &["--stop-grace", "1"], &[]);
    let (cli, repo) = stub_shop(&server);

    // Killed while the service is on its way up: after the restart, the add-on is cleanly absent.
    let mut creating = cli
        .command(&["addons:create", "redis"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("paas");
    let mut waited = 0;
    while !server.log().contains("never listening")
        && !server.dyno_containers().iter().any(|c| c.contains("svc"))
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
        assert!(waited < 300, "the service did not start: {}", server.log());
    }
    server.stop(Signal::SIGKILL);
    let _ = creating.wait();
    server.restart();
    assert_eq!(ok(&cli, &repo, &["addons", "--json"]).trim(), "[]");
    assert_eq!(addon_folders(&server), 0);
    assert!(
        !server.dyno_containers().iter().any(|c| c.contains("svc")),
        "{:?}",
        server.dyno_containers()
    );

    // Killed while the attach's release runs (its release phase sleeps): absent too.
    let slow = cli.app_repo_in("static", "slow");
    std::fs::write(
        slow.join("Procfile"),
        "web: busybox httpd -f -p $PORT -h /app/public\nrelease: sleep 1; test -z \"$DATABASE_URL\" || sleep 60\n",
    )
    .expect("write");
    cli.commit_all(&slow, "a slow release phase");
    ok(&cli, &slow, &["create", "slow"]);
    assert!(push(&cli, &slow).status.success());
    let mut creating = cli
        .command(&["addons:create", "postgresql", "--name", "slow-db"])
        .current_dir(&slow)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("paas");
    let mut waited = 0;
    while !server.log().contains("Attach slow-db")
        && !ok(&cli, &slow, &["logs"]).contains("Attach slow-db")
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
        assert!(
            waited < 300,
            "the attach did not start: {}\n{}",
            server.log(),
            ok(&cli, &slow, &["logs"])
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.stop(Signal::SIGKILL);
    let _ = creating.wait();
    server.restart();
    let output = paas(&cli, &slow, &["addons:info", "slow-db"]);
    assert!(
        stderr_of(&output).contains("there is no add-on slow-db"),
        "{}",
        transcript(&output)
    );
    assert_eq!(addon_folders(&server), 0);

    // Killed during a backup: the backup is listed as failed, with no file; the add-on is whole.
    ok(
        &cli,
        &repo,
        &["addons:create", "postgresql", "--name", "shop-db"],
    );
    let mut capturing = cli
        .command(&["pg:backups:capture"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("paas");
    let backups = server.data_dir().join("addons");
    let mut waited = 0;
    while !ok(&cli, &repo, &["pg:backups"]).contains("running") {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
        assert!(waited < 300, "the backup did not start");
    }
    server.stop(Signal::SIGKILL);
    let _ = capturing.wait();
    server.restart();
    let listed = json(&ok(&cli, &repo, &["pg:backups", "--json"]));
    assert_eq!(listed[0]["id"], "b001");
    assert_eq!(listed[0]["status"], "failed");
    assert_eq!(
        listed[0]["failure"],
        "interrupted: the server stopped during the backup"
    );
    let files: Vec<_> = walk(&backups)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("b001"))
        .collect();
    assert!(files.is_empty(), "no half-written backup: {files:?}");
    let addon = json(&ok(&cli, &repo, &["addons:info", "shop-db", "--json"]));
    assert_eq!(addon["state"], "up", "{addon}");
    let output = paas(&cli, &repo, &["pg:backups:download", "b001"]);
    assert!(
        stderr_of(&output).contains("backup b001 failed"),
        "{}",
        transcript(&output)
    );
}

/// The process whose command line starts with `title` (Redis sets its title to its address).
fn process_with(title: &str) -> Option<nix::unistd::Pid> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .starts_with(title)
                .then(|| nix::unistd::Pid::from_raw(pid))
        })
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn rotation_reaches_every_app_and_names_those_whose_release_failed() {
    let (server, cli) = addon_server();
    let shop = cli.app_repo("static");
    ok(&cli, &shop, &["create", "shop"]);
    assert!(push(&cli, &shop).status.success());
    ok(
        &cli,
        &shop,
        &["addons:create", "postgresql", "--name", "shop-db"],
    );
    // Another app whose release phase fails once its database URL changes.
    let reporting = cli.app_repo_in("static", "reporting");
    std::fs::write(
        reporting.join("Procfile"),
        "web: busybox httpd -f -p $PORT -h /app/public\n\
         release: [ -z \"$LOCKED_URL\" ] || [ \"$SHOP_DB_URL\" = \"$LOCKED_URL\" ]\n",
    )
    .expect("write");
    cli.commit_all(&reporting, "locked");
    ok(&cli, &reporting, &["create", "reporting"]);
    assert!(push(&cli, &reporting).status.success());
    ok(
        &cli,
        &reporting,
        &["addons:attach", "shop-db", "--as", "SHOP_DB"],
    );
    let old = ok(&cli, &reporting, &["config", "get", "SHOP_DB_URL"]);
    ok(
        &cli,
        &reporting,
        &["config", "set", &format!("LOCKED_URL={}", old.trim())],
    );

    // Attached twice, and the attachment's var set by hand: refused, saying why.
    let output = paas(
        &cli,
        &reporting,
        &["addons:attach", "shop-db", "--as", "OTHER"],
    );
    assert!(
        stderr_of(&output).contains("shop-db is attached to reporting already, as SHOP_DB_URL"),
        "{}",
        transcript(&output)
    );
    let output = paas(
        &cli,
        &reporting,
        &["config", "set", "SHOP_DB_URL=postgres://elsewhere"],
    );
    assert!(
        stderr_of(&output).contains("SHOP_DB_URL belongs to an add-on attached to reporting"),
        "{}",
        transcript(&output)
    );

    let output = paas(&cli, &shop, &["addons:credentials:rotate", "shop-db"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    let said = stderr_of(&output);
    assert!(
        said.contains("shop-db's credentials were rotated, but the release of the new URL failed for reporting"),
        "{said}"
    );
    assert!(said.contains("paas releases:retry -a reporting"), "{said}");
    // The owning app has the new URL; the other kept the old one, and `addons` says so.
    assert_eq!(
        ok(&cli, &reporting, &["config", "get", "SHOP_DB_URL"]),
        old,
        "the failed release put the old config back"
    );
    let shop_url = ok(&cli, &shop, &["config", "get", "DATABASE_URL"]);
    assert_ne!(shop_url.split('@').next(), old.split('@').next());
    let listed = ok(&cli, &shop, &["addons"]);
    assert!(
        listed.contains("DATABASE_URL (shop)")
            && listed.contains("SHOP_DB_URL (reporting, its config holds another value"),
        "{listed}"
    );
    let output = paas_with_stdin(&cli, &shop, &["pg:psql"], b"SELECT 1 AS ok;\n");
    assert!(
        output.status.success(),
        "the owner works: {}",
        transcript(&output)
    );

    // A kind mismatch is a usage error; a session takes no command or variables but TERM.
    let output = paas(&cli, &shop, &["redis:cli", "shop-db"]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    assert!(stderr_of(&output).contains("shop-db is a postgresql add-on, not a redis one"));
    let token = server.admin_token();
    let session = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .args(["-H", "Content-Type: application/json", "--data"])
        .arg(r#"{"command":"","attach":true,"env":{"PGHOST":"elsewhere"}}"#)
        .arg(format!("{}/addons/shop-db/sessions", server.api))
        .output()
        .expect("curl");
    let answer = String::from_utf8_lossy(&session.stdout);
    assert!(
        answer.ends_with("\n422") && answer.contains("no variables but TERM"),
        "{answer}"
    );

    // Two creates at once on one app: both attached, under different names.
    let race = cli.app_repo_in("static", "race");
    // Its release phase refuses more URLs than MAX_URLS says (no limit at first).
    std::fs::write(
        race.join("Procfile"),
        "web: busybox httpd -f -p $PORT -h /app/public\n\
         release: test \"$(env | grep -c '_URL=')\" -le \"${MAX_URLS:-99}\"\n",
    )
    .expect("write");
    cli.commit_all(&race, "at most MAX_URLS URLs");
    ok(&cli, &race, &["create", "race"]);
    assert!(push(&cli, &race).status.success());
    let both: Vec<std::process::Child> = (0..2)
        .map(|_| {
            cli.command(&["addons:create", "redis"])
                .current_dir(&race)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("paas")
        })
        .collect();
    for child in both {
        let output = child.wait_with_output().expect("paas");
        assert!(output.status.success(), "{}", transcript(&output));
    }
    let config = ok(&cli, &race, &["config"]);
    assert!(
        config.contains("REDIS_URL") && config.contains("HEROKU_REDIS_AMBER_URL"),
        "{config}"
    );

    // An add-on whose attach release fails is not kept.
    let before = addon_folders(&server);
    ok(&cli, &race, &["config", "set", "MAX_URLS=2"]);
    let output = paas(
        &cli,
        &race,
        &["addons:create", "redis", "--name", "not-kept"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(stderr_of(&output).contains("the release phase failed"));
    let output = paas(&cli, &race, &["addons:info", "not-kept"]);
    assert!(stderr_of(&output).contains("there is no add-on not-kept"));
    assert_eq!(addon_folders(&server), before);
}
