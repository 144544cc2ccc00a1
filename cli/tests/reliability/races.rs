//! Requests racing each other on one app: a rename, a config change or a scale racing the app's
//! destroy ends in a success or a 404, never a 500 (the lookup and the write used to be apart,
//! and the miss between them surfaced as an internal error); renames racing each other have one
//! winner, and a rename during a deploy takes the app's route along.

use std::collections::BTreeMap;
use std::sync::Barrier;

use paas_tests::TestServer;
use serde_json::json;

use super::{agent, call, pushed, server_bin, with_app};

#[test]
fn requests_racing_a_destroy_never_answer_500() {
    let server = TestServer::start(&server_bin());
    let (token, agent) = (server.admin_token(), agent());
    let rounds = 150;
    let mut statuses: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for round in 0..rounds {
        let name = format!("race-{round}");
        let (status, body) = call(
            &agent,
            &server.api,
            &token,
            "POST",
            "/apps",
            Some(&json!({ "name": name })),
        );
        assert_eq!(status, 201, "{body}");
        let requests: [(&str, &str, String, Option<serde_json::Value>); 4] = [
            ("destroy", "DELETE", format!("/apps/{name}"), None),
            (
                "rename",
                "PATCH",
                format!("/apps/{name}"),
                Some(json!({ "name": format!("{name}-renamed") })),
            ),
            (
                "config set",
                "PATCH",
                format!("/apps/{name}/config-vars"),
                Some(json!({ "GREETING": "hi" })),
            ),
            (
                "scale",
                "PATCH",
                format!("/apps/{name}/formation"),
                Some(json!({ "web": 0 })),
            ),
        ];
        let start = Barrier::new(requests.len());
        let answers: Vec<(&str, u16, String)> = std::thread::scope(|scope| {
            let running: Vec<_> = requests
                .iter()
                .map(|(what, method, path, body)| {
                    let (agent, token, api, start) = (&agent, &token, &server.api, &start);
                    scope.spawn(move || {
                        start.wait();
                        let (status, body) = call(agent, api, token, method, path, body.as_ref());
                        (*what, status, body)
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|r| r.join().expect("request thread"))
                .collect()
        });
        for (what, status, body) in answers {
            *statuses.entry((what, status)).or_default() += 1;
            if status >= 500 || status == 0 {
                failures.push(format!("round {round}: {what} answered {status}: {body}"));
            }
        }
        // Whichever name survived goes, so that the next round starts clean.
        for leftover in [name.clone(), format!("{name}-renamed")] {
            call(
                &agent,
                &server.api,
                &token,
                "DELETE",
                &format!("/apps/{leftover}"),
                None,
            );
        }
    }
    #[allow(clippy::print_stdout)]
    {
        println!("races: {rounds} rounds of destroy against rename, config set and scale");
        for ((what, status), count) in &statuses {
            println!("  {what}: {count} × {status}");
        }
        println!("  server errors: {}", failures.len());
    }
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        server.log()
    );
}

/// `GET /` through the router with `Host: <app>.localhost`: the status.
fn router_status(router: &str, app: &str) -> String {
    let output = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10"])
        .args(["-H", &format!("Host: {app}.localhost")])
        .arg(format!("http://{router}/"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn renames_take_the_route_along_and_race_each_other_with_one_winner() {
    let (server, cli, repo) = with_app(&[], "moving");
    // A release phase makes each deploy last two seconds: the rename lands inside one.
    std::fs::write(
        repo.join("Procfile"),
        "web: busybox httpd -f -p $PORT -h /app/public\nrelease: sleep 2\n",
    )
    .expect("Procfile");
    cli.commit_all(&repo, "a slow release phase");
    pushed(&cli, &repo);
    let elsewhere = server.scratch();
    let deploy = std::thread::scope(|scope| {
        let deploy = scope.spawn(|| {
            cli.command(&["config:set", "GREETING=hi", "-a", "moving"])
                .current_dir(elsewhere)
                .output()
                .expect("config:set")
        });
        std::thread::sleep(std::time::Duration::from_millis(700));
        let renamed = cli
            .command(&["apps:rename", "moved", "-a", "moving"])
            .current_dir(elsewhere)
            .output()
            .expect("rename");
        assert!(renamed.status.success(), "{renamed:?}");
        deploy.join().expect("deploy thread")
    });
    assert!(deploy.status.success(), "{deploy:?}");
    // The deploy began under the old name and published its dynos under the new one.
    assert_eq!(
        router_status(&server.router, "moved"),
        "200",
        "{}",
        server.log()
    );
    assert_eq!(router_status(&server.router, "moving"), "404");

    // Four renames of one app at once: one wins, the others find no app by the old name.
    let (token, agent) = (server.admin_token(), agent());
    let start = Barrier::new(4);
    let answers: Vec<(String, u16)> = std::thread::scope(|scope| {
        let running: Vec<_> = ["north", "south", "east", "west"]
            .into_iter()
            .map(|to| {
                let (agent, token, api, start) = (&agent, &token, &server.api, &start);
                scope.spawn(move || {
                    start.wait();
                    let body = json!({ "name": to });
                    let (status, _) = call(agent, api, token, "PATCH", "/apps/moved", Some(&body));
                    (to.to_owned(), status)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|r| r.join().expect("rename thread"))
            .collect()
    });
    let winners: Vec<&str> = answers
        .iter()
        .filter(|(_, status)| *status == 200)
        .map(|(to, _)| to.as_str())
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(_, status)| matches!(status, 200 | 404)),
        "{answers:?}"
    );
    let (status, body) = call(
        &agent,
        &server.api,
        &token,
        "GET",
        &format!("/apps/{}", winners[0]),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(router_status(&server.router, winners[0]), "200");
    for (to, _) in answers.iter().filter(|(to, _)| to != winners[0]) {
        assert_eq!(router_status(&server.router, to), "404", "{to}");
    }
    #[allow(clippy::print_stdout)]
    {
        println!(
            "renames: one during a deploy followed by the route; 4 at once, 1 winner ({})",
            winners[0]
        );
    }
}
