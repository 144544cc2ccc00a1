//! A full data disk: the API says so and changes nothing, a push fails saying so and leaves no
//! build pending, and once space is freed everything works again. The data dir is a small tmpfs
//! mounted for the test (the tests run as root, as the server must).

use std::path::Path;
use std::process::Command;

use nix::sys::signal::Signal;
use paas_tests::{CliEnv, Stack, TestServer, Tmpfs};

use super::server_bin;

fn ok(output: &std::process::Output) -> bool {
    output.status.success()
}

#[test]
fn a_full_data_disk_is_named_and_leaves_nothing_pending() {
    let mut server = TestServer::start(&server_bin());
    // The data dir moves onto a 48 MiB tmpfs: stopped, copied over, started again.
    server.stop(Signal::SIGTERM);
    let data = server.data_dir();
    let saved = server.scratch().join("saved-data");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&data)
            .arg(&saved)
            .status()
            .expect("cp")
            .success()
    );
    std::fs::remove_dir_all(&data).expect("rm");
    std::fs::create_dir(&data).expect("mkdir");
    let _disk = Tmpfs::mount_over(&data, "48m");
    assert!(
        Command::new("sh")
            .arg("-c")
            .arg(r#"cp -a "$1"/. "$2"/"#)
            .arg("sh")
            .arg(&saved)
            .arg(&data)
            .status()
            .expect("cp")
            .success()
    );
    server.restart();
    server.install_stack(Stack::Busybox);
    let cli = CliEnv::pusher(Path::new(env!("CARGO_BIN_EXE_paas")), &server);
    let repo = cli.app_repo("static");
    assert!(ok(&cli
        .command(&["create", "full"])
        .current_dir(&repo)
        .output()
        .expect("create")));
    assert!(ok(&cli
        .git(&repo, &["push", "paas", "main"])
        .output()
        .expect("push")));

    // Fill the disk.
    let filler = data.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=100"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let config = cli
        .command(&["config", "set", "GREETING=hello"])
        .current_dir(&repo)
        .output()
        .expect("config set");
    let said = String::from_utf8_lossy(&config.stderr);
    assert!(!ok(&config));
    assert!(
        said.contains("the server's data disk is full; nothing was changed"),
        "{said}"
    );
    std::fs::write(repo.join("CHANGES.txt"), "a change\n").expect("write");
    cli.commit_all(&repo, "a change");
    let push = cli
        .git(&repo, &["push", "paas", "main"])
        .output()
        .expect("push");
    let said = String::from_utf8_lossy(&push.stderr);
    assert!(!ok(&push), "{said}");
    // git itself may be the first to find no room (receiving the pack), else the build.
    assert!(
        said.contains("data disk is full") || said.contains("No space left on device"),
        "{said}"
    );

    // Space again: the push goes through, and no build was left pending.
    std::fs::remove_file(&filler).expect("rm filler");
    let push = cli
        .git(&repo, &["push", "paas", "main"])
        .output()
        .expect("push");
    assert!(ok(&push), "{}", String::from_utf8_lossy(&push.stderr));
    let builds = cli
        .command(&["builds", "--json"])
        .current_dir(&repo)
        .output()
        .expect("builds");
    let builds: serde_json::Value = serde_json::from_slice(&builds.stdout).expect("JSON");
    assert!(
        builds
            .as_array()
            .expect("a list")
            .iter()
            .all(|b| b["status"] != "pending"),
        "{builds}"
    );
    assert!(ok(&cli
        .command(&["config", "set", "GREETING=hello"])
        .current_dir(&repo)
        .output()
        .expect("config set")));
    #[allow(clippy::print_stdout)]
    {
        println!(
            "disk full: API and push refused with the reason, nothing pending, recovered once freed"
        );
    }
    drop(server);
}
