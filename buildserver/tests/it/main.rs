//! Integration tests of `paas-buildserver`: the real binary on port 0 with a temporary data dir,
//! driven over raw HTTP.

mod api;
mod daemon;
mod images;
mod ssh;

use std::path::Path;

use paas_tests::TestServer;
use serde_json::Value;

fn server() -> TestServer {
    TestServer::start(Path::new(env!("CARGO_BIN_EXE_paas-buildserver")))
}

/// A raw HTTP client for one user of a test server.
struct Http {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Http {
    fn new(server: &TestServer, token: Option<&str>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            base: server.api.clone(),
            token: token.map(str::to_owned),
        }
    }

    fn admin(server: &TestServer) -> Self {
        Self::new(server, Some(&server.admin_token()))
    }

    fn finish(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
        let mut response = response.expect("request sent");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => request.header("Authorization", format!("Bearer {t}")),
            None => request,
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        Self::finish(
            self.auth(self.agent.get(format!("{}{path}", self.base)))
                .call(),
        )
    }

    fn delete(&self, path: &str) -> (u16, Value) {
        Self::finish(
            self.auth(self.agent.delete(format!("{}{path}", self.base)))
                .call(),
        )
    }

    fn send(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send_raw(method, path, &body.to_string())
    }

    fn send_raw(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "POST" => self.agent.post(url),
            "PATCH" => self.agent.patch(url),
            "PUT" => self.agent.put(url),
            other => panic!("no body for {other}"),
        };
        Self::finish(
            self.auth(request)
                .header("Content-Type", "application/json")
                .send(body),
        )
    }
}
