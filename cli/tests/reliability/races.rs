//! Requests racing each other on one app: a rename, a config change or a scale racing the app's
//! destroy ends in a success or a 404, never a 500 (the lookup and the write used to be apart,
//! and the miss between them surfaced as an internal error).

use std::collections::BTreeMap;
use std::sync::Barrier;

use paas_tests::TestServer;
use serde_json::json;

use super::{agent, call, server_bin};

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
