//! Tests of API logic that needs state no public route can make yet (a build), and of the
//! OpenAPI document against the router. They drive the real router over a real SQLite file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use paas_share::models::ReleaseStatus;
use paas_share::{AppName, UserName};
use tower::ServiceExt;

use crate::app::AppRef;

use super::{AppState, openapi, route_table, router};
use crate::build::live::LiveBuilds;
use crate::data_dir::DataDir;
use crate::store::{BuildEnd, Db, NewRelease, Store, User};
use crate::token;
use crate::urls::PublicUrls;

/// A scheduler that runs nothing and accepts every release: these tests are about the rules of
/// releases and formations, which the end-to-end tests check again with real dynos.
struct Accepting;

#[async_trait::async_trait]
impl crate::scheduler::Scheduler for Accepting {
    async fn deploy(&self, _: &crate::scheduler::Deployment) -> anyhow::Result<()> {
        Ok(())
    }
    async fn scale(&self, _: &crate::scheduler::Deployment) -> anyhow::Result<()> {
        Ok(())
    }
    fn routes_web(&self) -> bool {
        true
    }
    fn autoscales_cpu(&self) -> bool {
        false
    }
    async fn publish_autoscaling(
        &self,
        _: &crate::app::AppRef,
        _: &[paas_share::models::AutoscaleRule],
    ) -> anyhow::Result<()> {
        Ok(())
    }
    async fn start_canary(&self, _: &crate::scheduler::Deployment, _: u8) -> anyhow::Result<()> {
        Ok(())
    }
    async fn stop_canary(&self, _: &crate::app::AppRef) {}
    async fn publish_edge(
        &self,
        _: &crate::app::AppRef,
        _: &crate::scheduler::EdgeSpec,
    ) -> anyhow::Result<()> {
        Ok(())
    }
    async fn restart(
        &self,
        _: &crate::scheduler::Deployment,
        _: Option<&str>,
    ) -> anyhow::Result<()> {
        Ok(())
    }
    async fn status(&self, _: &AppRef) -> anyhow::Result<Vec<paas_share::models::Dyno>> {
        Ok(Vec::new())
    }
    fn can_rename(&self, _: &AppRef) -> anyhow::Result<()> {
        Ok(())
    }
    async fn renamed(&self, _: &AppRef, _: &paas_share::AppName) {}
    async fn start_one_off(
        &self,
        _: &crate::scheduler::Deployment,
        _: &crate::scheduler::OneOffSpec,
    ) -> anyhow::Result<crate::scheduler::OneOff> {
        anyhow::bail!("no one-off dynos here")
    }

    async fn run_once(
        &self,
        _: &crate::scheduler::Deployment,
        _: &str,
        _: &str,
        _: std::time::Duration,
        _: tokio::sync::mpsc::Sender<String>,
    ) -> anyhow::Result<crate::container::Outcome> {
        anyhow::bail!("these tests run no one-off dynos")
    }
    async fn start_service(
        &self,
        _: &crate::scheduler::ServiceSpec,
        _: std::time::Duration,
    ) -> anyhow::Result<()> {
        anyhow::bail!("these tests run no services")
    }
    async fn remove_service(&self, _: &crate::scheduler::ServiceSpec) {}
    async fn service_state(&self, _: &crate::scheduler::ServiceSpec) -> Option<String> {
        None
    }
    fn service_host(&self, _: &AppRef, _: &str) -> String {
        "127.0.0.1".to_owned()
    }
    async fn run_service_task(
        &self,
        _: &crate::scheduler::ServiceSpec,
        _: Vec<String>,
        _: crate::scheduler::BackupFile,
        _: std::time::Duration,
        _: tokio::sync::mpsc::Sender<String>,
    ) -> anyhow::Result<crate::container::Outcome> {
        anyhow::bail!("these tests run no services")
    }
    fn destroying(&self, _: &str) {}
    async fn destroy(&self, _: &AppRef) {}
    async fn shutdown(&self) {}
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
    token: String,
    user: User,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut db = Db::open(&dir.path().join("paas.db")).expect("open db");
    let new = token::generate();
    let user = db
        .create_user(&UserName::parse("alice").expect("valid"), false, &new)
        .expect("user");
    let layout = Arc::new(crate::oci::Layout::open(&dir.path().join("oci")).expect("layout"));
    let store = Store::new(db);
    let scheduler: Arc<dyn crate::scheduler::Scheduler> = Arc::new(Accepting);
    let metrics = crate::metrics::Metrics::default();
    let alerts = crate::alerts::Alerts::new(
        store.clone(),
        metrics.clone(),
        std::time::Duration::from_secs(300),
        crate::outbound::Targets::Any,
    );
    let releases = Arc::new(crate::release::Controller::new(
        store.clone(),
        Arc::clone(&scheduler),
        crate::logs::Logs::new(),
        crate::release::Limits {
            release_timeout: std::time::Duration::from_secs(60),
            max_dynos_per_app: 100,
        },
        Arc::clone(&layout),
        None,
        Arc::new(PublicUrls {
            domain: "localhost".into(),
            ssh_port: 2222,
            router_port: 8000,
        }),
        alerts.clone(),
        metrics.clone(),
    ));
    let data = DataDir::new(dir.path().to_owned());
    let state = AppState {
        addons: Arc::new(crate::addons::Addons::new(
            store.clone(),
            data.clone(),
            Arc::clone(&layout),
            Arc::clone(&scheduler),
            Arc::clone(&releases),
            None,
            crate::logs::Logs::new(),
            crate::addons::Settings {
                ready_within: std::time::Duration::from_secs(60),
                backups_kept: 5,
            },
        )),
        domains: Arc::new(crate::domains::Domains::new(
            store.clone(),
            Arc::clone(&scheduler),
            crate::logs::Logs::new(),
            "localhost".into(),
            crate::domains::CertificateAuthority::None("no ACME in these tests"),
        )),
        metrics,
        alerts,
        drains: Arc::new(
            crate::drains::Drains::new(
                store.clone(),
                crate::logs::Logs::new(),
                None,
                crate::outbound::Targets::Any,
            )
            .expect("drains"),
        ),
        store: store.clone(),
        data,
        builds: LiveBuilds::default(),
        logs: crate::logs::Logs::new(),
        layout: Arc::clone(&layout),
        scheduler: Arc::clone(&scheduler),
        releases,
        urls: Arc::new(PublicUrls {
            domain: "localhost".into(),
            ssh_port: 2222,
            router_port: 8000,
        }),
        renames: Default::default(),
        one_offs: crate::one_off::OneOffs::new(
            Arc::clone(&scheduler),
            crate::logs::Logs::new(),
            crate::one_off::Limits {
                per_app: 5,
                per_server: 20,
                max_timeout: std::time::Duration::from_secs(86_400),
            },
        ),
        pushes: Default::default(),
        token_max_age: None,
    };
    Fixture {
        _dir: dir,
        state,
        token: new.token,
        user,
    }
}

impl Fixture {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        self.send_with(method, uri, body, &[]).await
    }

    async fn send_with(
        &self,
        method: &str,
        uri: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, serde_json::Value) {
        let bearer = format!("Bearer {}", self.token);
        let mut all = headers.to_vec();
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        {
            all.push(("Authorization", bearer.as_str()));
        }
        let (status, _, text) = self.raw(method, uri, &all, body).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Creates app `name` with a release of a build defining `types`.
    async fn built_app(&self, name: &str, types: &[(&str, &str)]) {
        let (status, _) = self
            .send("POST", "/apps", Some(serde_json::json!({ "name": name })))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let user = self.user.clone();
        let name = AppName::parse(name).expect("valid");
        // An image the layout holds (its content does not matter: nothing runs it).
        let image = format!("sha256:{}", "ab".repeat(32));
        std::fs::write(self.state.layout.blob_path(&image), b"{}").expect("blob");
        let process_types: BTreeMap<String, String> = types
            .iter()
            .map(|(t, c)| ((*t).into(), (*c).into()))
            .collect();
        self.state
            .store
            .call(move |db| {
                let app = db.app(&user, &name)?.expect("app exists");
                let build_id = db.create_build(&app.id, &user, &"0".repeat(40))?;
                db.finish_build(
                    &build_id,
                    &BuildEnd {
                        process_types: Some(process_types.clone()),
                        ..BuildEnd::default()
                    },
                )?;
                let release = NewRelease {
                    build_id: Some(build_id),
                    image: Some(image),
                    process_types,
                    description: "Deploy 0000000".into(),
                };
                let release = db.create_release(&app.id, &user, &release)?;
                db.set_release_status(&app.id, release.version, ReleaseStatus::Succeeded)?;
                Ok::<_, crate::store::StoreError>(release)
            })
            .await
            .expect("release");
    }
}

#[tokio::test]
async fn a_request_repeated_with_its_idempotency_key_gets_the_release_it_made() {
    let f = fixture().await;
    f.built_app("demo", &[("web", "python app.py")]).await;
    let set = |value: &str| Some(serde_json::json!({ "GREETING": value }));
    let key = [("Idempotency-Key", "\"k-1\"")];
    let (status, first) = f
        .send_with("PATCH", "/apps/demo/config-vars", set("hi"), &key)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = f
        .send_with("PATCH", "/apps/demo/config-vars", set("hi"), &key)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(first["version"], again["version"]);
    let (_, releases) = f.send("GET", "/apps/demo/releases", None).await;
    assert_eq!(releases.as_array().map(Vec::len), Some(2), "{releases}");

    // The same key with another request is refused, and makes nothing.
    let (status, error) = f
        .send_with("PATCH", "/apps/demo/config-vars", set("bye"), &key)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("came with another request before, which made v2")),
        "{error}"
    );
    let (status, error) = f
        .send_with(
            "POST",
            "/apps/demo/releases",
            Some(serde_json::json!({ "rollback_to": 1 })),
            &key,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    // A rollback repeated with its own key is one rollback.
    let rollback = [("Idempotency-Key", "rollback-1")];
    let body = || Some(serde_json::json!({ "rollback_to": 1 }));
    let (status, first) = f
        .send_with("POST", "/apps/demo/releases", body(), &rollback)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (_, again) = f
        .send_with("POST", "/apps/demo/releases", body(), &rollback)
        .await;
    assert_eq!(first["version"], again["version"]);
    let (_, releases) = f.send("GET", "/apps/demo/releases", None).await;
    assert_eq!(releases.as_array().map(Vec::len), Some(3), "{releases}");

    for bad in ["", "\"\"", "two words", &"k".repeat(256)] {
        let (status, _) = f
            .send_with(
                "PATCH",
                "/apps/demo/config-vars",
                set("hi"),
                &[("Idempotency-Key", bad)],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
}

#[tokio::test]
async fn the_dyno_variables_are_not_config() {
    let f = fixture().await;
    f.built_app("demo", &[("web", "python app.py")]).await;
    for key in ["PORT", "DYNO", "PS"] {
        let (status, error) = f
            .send(
                "PATCH",
                "/apps/demo/config-vars",
                Some(serde_json::json!({ key: "1" })),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{key}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("{key} is set by paas in every dyno"))),
            "{error}"
        );
    }
    // Unsetting one (left from before this rule) is fine.
    let (status, _) = f
        .send(
            "PATCH",
            "/apps/demo/config-vars",
            Some(serde_json::json!({ "PORT": null })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn config_the_runtime_cannot_take_is_refused_and_nothing_changes() {
    let f = fixture().await;
    f.built_app("demo", &[("web", "python app.py")]).await;
    // A NUL byte: no environment can hold it (the deploy used to fail on it instead).
    let (status, error) = f
        .send(
            "PATCH",
            "/apps/demo/config-vars",
            Some(serde_json::json!({ "SECRET": "a\0b" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error["message"],
        "the value of SECRET contains a NUL byte, which no process environment can hold"
    );
    // Values under the per-value limit that add up past the app's total.
    let big = "x".repeat(30 * 1024);
    for key in ["A", "B"] {
        let (status, _) = f
            .send(
                "PATCH",
                "/apps/demo/config-vars",
                Some(serde_json::json!({ key: big })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{key}");
    }
    let (status, error) = f
        .send(
            "PATCH",
            "/apps/demo/config-vars",
            Some(serde_json::json!({ "C": big })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("over the limit of 65536 bytes (64 KiB)")),
        "{error}"
    );
    let (_, config) = f.send("GET", "/apps/demo/config-vars", None).await;
    assert_eq!(
        config
            .as_object()
            .map(|c| c.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["A".to_owned(), "B".to_owned()]),
        "the refused change left nothing behind"
    );
    // Lists leave the config out; one release has it.
    let (_, releases) = f.send("GET", "/apps/demo/releases", None).await;
    let releases = releases.as_array().expect("a list");
    assert!(releases.iter().all(|r| r.get("config_vars").is_none()));
    let newest = releases[0]["version"].as_u64().expect("a version");
    let (_, release) = f
        .send("GET", &format!("/apps/demo/releases/{newest}"), None)
        .await;
    assert_eq!(
        release["config_vars"]["A"].as_str().map(str::len),
        Some(30 * 1024)
    );
}

#[tokio::test]
async fn renaming_an_app_to_its_own_name_is_refused_and_changes_nothing() {
    let f = fixture().await;
    f.built_app("demo", &[("web", "python app.py")]).await;
    let (status, error) = f
        .send(
            "PATCH",
            "/apps/demo",
            Some(serde_json::json!({ "name": "demo", "stack": "nope" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["message"], "the app is already named demo");
    let (status, app) = f.send("GET", "/apps/demo", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app["name"], "demo");
}

#[tokio::test]
async fn bodies_are_objects_and_the_bearer_scheme_is_case_insensitive() {
    let f = fixture().await;
    // serde builds a struct from an array of its fields; the API takes objects only.
    for body in [
        serde_json::json!(["demo"]),
        serde_json::json!("demo"),
        serde_json::json!(null),
    ] {
        let (status, error) = f.send("POST", "/apps", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            error["message"],
            "invalid request body: expected a JSON object"
        );
    }
    let (status, apps) = f.send("GET", "/apps", None).await;
    assert_eq!((status, apps), (StatusCode::OK, serde_json::json!([])));
    // RFC 9110 §11.1: "bearer" and "BEARER" are the same scheme.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let auth = format!("{scheme} {}", f.token);
        let (status, _) = f
            .send_with("GET", "/account", None, &[("Authorization", &auth)])
            .await;
        assert_eq!(status, StatusCode::OK, "{scheme}");
    }
    let (status, _) = f
        .send_with(
            "GET",
            "/account",
            None,
            &[("Authorization", "Basic Zm9vOmJhcg==")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn errors_never_echo_a_whole_hostile_input() {
    let f = fixture().await;
    // An unknown algorithm name of 40 KB, as a key line.
    let key = format!("ssh-{} AAAA", "x".repeat(40_000));
    let (status, error) = f
        .send(
            "POST",
            "/account/keys",
            Some(serde_json::json!({ "public_key": key })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error.to_string().len() < 400, "{error}");
    let long = "f".repeat(4000);
    let (status, error) = f
        .send("DELETE", &format!("/account/keys/{long}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error.to_string().len() < 400, "{error}");
}

#[tokio::test]
async fn first_deploy_scales_web_to_one_and_others_to_zero() {
    let f = fixture().await;
    f.built_app(
        "demo",
        &[("web", "python app.py"), ("worker", "python worker.py")],
    )
    .await;
    let (status, formation) = f.send("GET", "/apps/demo/formation", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        formation,
        serde_json::json!([
            {"type": "web", "quantity": 1, "command": "python app.py"},
            {"type": "worker", "quantity": 0, "command": "python worker.py"},
        ])
    );
}

#[tokio::test]
async fn scaling_changes_only_named_types_and_records_no_release() {
    let f = fixture().await;
    f.built_app("demo", &[("web", "a"), ("worker", "b")]).await;
    let (status, formation) = f
        .send(
            "PATCH",
            "/apps/demo/formation",
            Some(serde_json::json!({"worker": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{formation}");
    assert_eq!(formation[0]["quantity"], 1);
    assert_eq!(formation[1]["quantity"], 3);
    let (_, releases) = f.send("GET", "/apps/demo/releases", None).await;
    assert_eq!(releases.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn scaling_refuses_unknown_types_and_huge_counts() {
    let f = fixture().await;
    f.built_app("demo", &[("web", "a")]).await;
    let (status, body) = f
        .send(
            "PATCH",
            "/apps/demo/formation",
            Some(serde_json::json!({"wrker": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "unknown process type \"wrker\"; the current release has: web"
    );
    let (status, body) = f
        .send(
            "PATCH",
            "/apps/demo/formation",
            Some(serde_json::json!({"web": 101})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "cannot run 101 dynos: this server allows at most 100 per app"
    );
    assert_eq!(
        body["hint"],
        "ask the operator to raise --max-dynos-per-app"
    );
    let (status, _) = f
        .send(
            "PATCH",
            "/apps/demo/formation",
            Some(serde_json::json!({"web": -1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // An increase past u32::MAX is too many, not "below 0".
    f.send(
        "PATCH",
        "/apps/demo/formation",
        Some(serde_json::json!({"web": 1})),
    )
    .await;
    let (status, body) = f
        .send(
            "PATCH",
            "/apps/demo/formation",
            Some(serde_json::json!({"web": "+4294967295"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "cannot run 4294967296 dynos: this server allows at most 100 per app"
    );
}

#[tokio::test]
async fn rollback_keeps_the_formation_and_copies_build_and_config() {
    let f = fixture().await;
    f.built_app("demo", &[("web", "a")]).await;
    f.send(
        "PATCH",
        "/apps/demo/config-vars",
        Some(serde_json::json!({"GREETING": "hi"})),
    )
    .await;
    f.send(
        "PATCH",
        "/apps/demo/formation",
        Some(serde_json::json!({"web": 3})),
    )
    .await;
    let (status, release) = f
        .send(
            "POST",
            "/apps/demo/releases",
            Some(serde_json::json!({"rollback_to": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    assert_eq!(release["version"], 3);
    assert_eq!(release["description"], "Rollback to v1");
    assert!(release["build_id"].is_string());
    assert!(
        release.get("config_vars").is_none(),
        "no config vars: left out"
    );
    let (_, config) = f.send("GET", "/apps/demo/config-vars", None).await;
    assert_eq!(config, serde_json::json!({}));
    let (_, formation) = f.send("GET", "/apps/demo/formation", None).await;
    assert_eq!(formation[0]["quantity"], 3);
}

#[tokio::test]
async fn config_change_after_a_build_keeps_the_build() {
    let f = fixture().await;
    f.built_app("demo", &[("web", "a")]).await;
    let (_, release) = f
        .send(
            "PATCH",
            "/apps/demo/config-vars",
            Some(serde_json::json!({"A": "1"})),
        )
        .await;
    assert_eq!(release["version"], 2);
    assert!(release["build_id"].is_string());
    assert_eq!(release["process_types"], serde_json::json!({"web": "a"}));
}

#[test]
fn openapi_document_matches_the_router() {
    let doc: serde_json::Value =
        serde_json::from_str(openapi::DOCUMENT).expect("openapi.json is JSON");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let table = route_table();
    assert_eq!(
        table.len(),
        table.iter().collect::<BTreeSet<_>>().len(),
        "a route is registered twice"
    );
    let routed: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "openapi.json documents routes the router lacks: {unrouted:?}"
    );
}

#[test]
fn openapi_references_resolve() {
    let doc: serde_json::Value =
        serde_json::from_str(openapi::DOCUMENT).expect("openapi.json is JSON");
    let text = openapi::DOCUMENT;
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().expect("name");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref to {name}"
        );
    }
}

#[tokio::test]
async fn router_settings_out_of_range_are_refused_and_nothing_changes() {
    let f = fixture().await;
    let (status, _) = f
        .send("POST", "/apps", Some(serde_json::json!({ "name": "edge" })))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for body in [
        serde_json::json!({ "max_body_bytes": u64::MAX }),
        serde_json::json!({ "max_body_bytes": 0 }),
        serde_json::json!({ "timeout_seconds": 0 }),
        serde_json::json!({ "timeout_seconds": 3601 }),
        serde_json::json!({ "acm": true }),
        serde_json::json!({ "redirect_https": null }),
        serde_json::json!({ "maintenance": "yes" }),
        serde_json::json!({ "rate_per_s": 0 }),
        serde_json::json!({ "concurrency": 1_000_001 }),
        serde_json::json!({ "per_ip_per_s": -1 }),
        serde_json::json!({ "burst": 10 }),
    ] {
        let (status, error) = f
            .send("PATCH", "/apps/edge/router", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
    }
    let (status, settings) = f.send("GET", "/apps/edge/router", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings,
        serde_json::json!({
            "acm": false, "redirect_https": false, "maintenance": false,
            "timeout_seconds": null, "max_body_bytes": null, "rate_per_s": null,
            "burst": null, "concurrency": null, "per_ip_per_s": null
        })
    );
}

/// A user of the fixture's server with a login token.
async fn other_user(f: &Fixture, name: &str) -> String {
    let new = token::generate();
    let name = UserName::parse(name).expect("valid");
    let token = new.token.clone();
    f.state
        .store
        .call(move |db| db.create_user(&name, false, &new))
        .await
        .expect("user");
    token
}

impl Fixture {
    async fn send_as(
        &self,
        token: &str,
        method: &str,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let bearer = format!("Bearer {token}");
        self.send_with(method, uri, body, &[("Authorization", bearer.as_str())])
            .await
    }
}

#[tokio::test]
async fn each_role_may_do_what_its_table_row_says_and_no_more() {
    use paas_share::models::Role;
    let f = fixture().await;
    f.built_app("shared", &[("web", "serve")]).await;
    let mut tokens = Vec::new();
    for (user, role) in [
        ("viewer-v", Some(Role::Viewer)),
        ("deployer-d", Some(Role::Deployer)),
        ("admin-a", Some(Role::Admin)),
        ("stranger", None),
    ] {
        let token = other_user(&f, user).await;
        if let Some(role) = role {
            let (status, body) = f
                .send(
                    "POST",
                    "/apps/shared/collaborators",
                    Some(serde_json::json!({ "user": user, "role": role })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        tokens.push((user, role, token));
    }
    other_user(&f, "newcomer").await;
    let routes: &[(&str, &str, Option<serde_json::Value>, Role)] = &[
        ("GET", "/apps/shared", None, Role::Viewer),
        ("GET", "/apps/shared/releases", None, Role::Viewer),
        ("GET", "/apps/shared/collaborators", None, Role::Viewer),
        ("GET", "/apps/shared/log-drains", None, Role::Deployer),
        (
            "PATCH",
            "/apps/shared/config-vars",
            Some(serde_json::json!({ "SECRET": "s3cret" })),
            Role::Deployer,
        ),
        (
            "PATCH",
            "/apps/shared/formation",
            Some(serde_json::json!({ "web": 1 })),
            Role::Deployer,
        ),
        (
            "POST",
            "/apps/shared/dynos/restart",
            Some(serde_json::json!({})),
            Role::Deployer,
        ),
        (
            "POST",
            "/apps/shared/domains",
            Some(serde_json::json!({ "hostname": "www.example.com" })),
            Role::Admin,
        ),
        ("GET", "/apps/shared/audit", None, Role::Admin),
        (
            "PATCH",
            "/apps/shared/router",
            Some(serde_json::json!({ "maintenance": false })),
            Role::Admin,
        ),
    ];
    for (user, role, token) in &tokens {
        for (method, path, body, need) in routes {
            let (status, answer) = f.send_as(token, method, path, body.clone()).await;
            let expected = match role {
                None => "404",
                Some(role) if role < need => "403",
                Some(_) => "allowed",
            };
            let got = match status.as_u16() {
                404 => "404",
                403 => "403",
                401 => "401",
                _ => "allowed",
            };
            assert_eq!(got, expected, "{user} {method} {path}: {status} {answer}");
            if expected == "403" {
                assert_eq!(answer["id"], "forbidden");
                assert!(
                    answer["hint"]
                        .as_str()
                        .expect("present")
                        .contains("paas access"),
                    "{answer}"
                );
            }
        }
    }
    // Viewers see the keys of the config, never the values.
    let viewer = &tokens[0].2;
    let (_, config) = f
        .send_as(viewer, "GET", "/apps/shared/config-vars", None)
        .await;
    assert_eq!(config["SECRET"], "[redacted]");
    let (_, release) = f
        .send_as(viewer, "GET", "/apps/shared/releases/v2", None)
        .await;
    assert_eq!(release["config_vars"]["SECRET"], "[redacted]", "{release}");
    let (_, config) = f
        .send_as(&tokens[1].2, "GET", "/apps/shared/config-vars", None)
        .await;
    assert_eq!(config["SECRET"], "s3cret");
    // Only admins change who has access; nobody removes the owner or adds an unknown user.
    let admin = &tokens[2].2;
    let (status, _) = f
        .send_as(
            &tokens[1].2,
            "POST",
            "/apps/shared/collaborators",
            Some(serde_json::json!({ "user": "newcomer", "role": "viewer" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = f
        .send_as(admin, "DELETE", "/apps/shared/collaborators/alice", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (status, answer) = f
        .send_as(
            admin,
            "POST",
            "/apps/shared/collaborators",
            Some(serde_json::json!({ "user": "nobody", "role": "viewer" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, _) = f
        .send_as(
            admin,
            "POST",
            "/apps/shared/collaborators",
            Some(serde_json::json!({ "user": "viewer-v", "role": "viewer" })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, answer) = f
        .send_as(
            admin,
            "PATCH",
            "/apps/shared/collaborators/viewer-v",
            Some(serde_json::json!({ "role": "deployer" })),
        )
        .await;
    assert_eq!(
        (status, answer["role"].as_str()),
        (StatusCode::OK, Some("deployer"))
    );
    let (status, _) = f
        .send_as(admin, "DELETE", "/apps/shared/collaborators/viewer-v", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = f.send_as(viewer, "GET", "/apps/shared", None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "removed: the app is gone from their view"
    );
    // The audit log has each change with its actor and outcome, config keys but no values.
    let (status, entries) = f.send("GET", "/apps/shared/audit", None).await;
    assert_eq!(status, StatusCode::OK);
    let entries = entries.as_array().expect("entries");
    let config: Vec<_> = entries
        .iter()
        .filter(|e| e["action"] == "config.update")
        .collect();
    assert!(config.iter().any(|e| e["actor"] == "deployer-d"
        && e["outcome"] == "success"
        && e["detail"]["set"][0] == "SECRET"));
    assert!(
        config
            .iter()
            .any(|e| e["actor"] == "viewer-v" && e["outcome"] == "denied" && e["status"] == 403)
    );
    assert!(
        config
            .iter()
            .any(|e| e["actor"] == "stranger" && e["outcome"] == "denied" && e["status"] == 404)
    );
    assert!(
        !serde_json::to_string(entries)
            .expect("present")
            .contains("s3cret"),
        "a config value reached the audit log"
    );
    for action in [
        "access.add",
        "access.update",
        "access.remove",
        "formation.update",
        "restart",
        "domain.add",
        "router.update",
    ] {
        assert!(
            entries
                .iter()
                .any(|e| e["action"] == action && e["outcome"] == "success"),
            "no {action} entry"
        );
    }
    // The server-wide log is a server admin's only.
    let (status, _) = f.send_as(admin, "GET", "/audit", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn scoped_tokens_stay_in_their_app_and_role_and_expire() {
    let f = fixture().await;
    f.built_app("first", &[("web", "serve")]).await;
    f.built_app("second", &[("web", "serve")]).await;
    let (status, created) = f
        .send(
            "POST",
            "/account/tokens",
            Some(serde_json::json!({ "description": "CI", "app": "first", "role": "deployer" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let scoped = created["token"].as_str().expect("token").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, _) = f
        .send_as(
            &scoped,
            "PATCH",
            "/apps/first/config-vars",
            Some(serde_json::json!({ "A": "1" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = f.send_as(&scoped, "GET", "/apps/second", None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a token for app A used on app B"
    );
    let (status, apps) = f.send_as(&scoped, "GET", "/apps", None).await;
    assert_eq!(
        (status, apps.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    for (method, path, body) in [
        (
            "POST",
            "/apps/first/collaborators",
            Some(serde_json::json!({ "user": "alice", "role": "viewer" })),
        ),
        ("GET", "/account/tokens", None),
        (
            "POST",
            "/account/tokens",
            Some(serde_json::json!({ "description": "more", "role": "viewer" })),
        ),
        (
            "POST",
            "/account/keys",
            Some(serde_json::json!({ "public_key": "ssh-ed25519 AAAA" })),
        ),
        (
            "POST",
            "/apps",
            Some(serde_json::json!({ "name": "third" })),
        ),
    ] {
        let (status, answer) = f.send_as(&scoped, method, path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
    }
    // Listed with its scope and use, never its secret; revoked, it answers 401 with a hint.
    let (_, listed) = f.send("GET", "/account/tokens", None).await;
    let row = listed
        .as_array()
        .expect("present")
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(
        (row["app"].as_str(), row["role"].as_str()),
        (Some("first"), Some("deployer"))
    );
    assert!(row["last_used_at"].is_string(), "{row}");
    assert!(!listed.to_string().contains(&scoped));
    let (status, _) = f
        .send("DELETE", &format!("/account/tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = f.send_as(&scoped, "GET", "/apps/first", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(answer["hint"].is_string());
    // More than the user has, and bad expiries, are refused.
    let bob = other_user(&f, "bob").await;
    let (status, _) = f
        .send(
            "POST",
            "/apps/first/collaborators",
            Some(serde_json::json!({ "user": "bob", "role": "viewer" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for body in [
        serde_json::json!({ "description": "x", "app": "first", "role": "deployer" }),
        serde_json::json!({ "description": "", "role": "viewer" }),
        serde_json::json!({ "description": "x", "role": "viewer", "expires_in": 0 }),
        serde_json::json!({ "description": "x", "role": "owner" }),
    ] {
        let (status, answer) = f
            .send_as(&bob, "POST", "/account/tokens", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    // An expired token: 401 saying so.
    let (status, created) = f
        .send_as(
            &bob,
            "POST",
            "/account/tokens",
            Some(serde_json::json!({ "description": "short", "role": "viewer", "expires_in": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, answer) = f
        .send_as(
            created["token"].as_str().expect("present"),
            "GET",
            "/apps",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        answer["message"]
            .as_str()
            .expect("present")
            .contains("expired"),
        "{answer}"
    );
}

impl Fixture {
    /// A request with these headers only (no bearer token): status, headers, body text.
    async fn raw(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("Content-Type", "application/json");
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("request");
        let response = router(self.state.clone())
            .oneshot(request)
            .await
            .expect("response");
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }
}

#[tokio::test]
async fn the_dashboard_signs_in_with_a_cookie_and_refuses_cross_site_changes() {
    let f = fixture().await;
    f.built_app("web", &[("web", "serve")]).await;
    let (status, headers, page) = f.raw("GET", "/", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/dashboard.js"), "{page}");
    let csp = headers["content-security-policy"].to_str().expect("text");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    let (status, headers, _) = f.raw("GET", "/dashboard.js", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .expect("text")
            .starts_with("text/javascript")
    );

    let (status, _, _) = f
        .raw(
            "POST",
            "/session",
            &[],
            Some(serde_json::json!({ "token": "paas_nope" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, body) = f
        .raw(
            "POST",
            "/session",
            &[],
            Some(serde_json::json!({ "token": f.token })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let set = headers["set-cookie"].to_str().expect("text").to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().expect("pair").to_owned();
    let csrf = serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["csrf"]
        .as_str()
        .expect("csrf")
        .to_owned();
    let host = ("Host", "paas.example.com");
    let (status, _, _) = f.raw("GET", "/apps", &[("Cookie", &cookie)], None).await;
    assert_eq!(status, StatusCode::OK, "a session reads");
    let change = Some(serde_json::json!({ "A": "1" }));
    for headers in [
        vec![("Cookie", cookie.as_str()), host],
        vec![("Cookie", cookie.as_str()), host, ("X-CSRF-Token", "wrong")],
        vec![
            ("Cookie", cookie.as_str()),
            host,
            ("X-CSRF-Token", csrf.as_str()),
            ("Origin", "https://evil.example.com"),
        ],
    ] {
        let (status, _, body) = f
            .raw("PATCH", "/apps/web/config-vars", &headers, change.clone())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}: {body}");
    }
    let (status, _, body) = f
        .raw(
            "PATCH",
            "/apps/web/config-vars",
            &[
                ("Cookie", &cookie),
                host,
                ("X-CSRF-Token", &csrf),
                ("Origin", "http://paas.example.com"),
            ],
            change.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = f
        .raw(
            "DELETE",
            "/session",
            &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = f.raw("GET", "/apps", &[("Cookie", &cookie)], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed out: {body}");
}

#[tokio::test]
async fn trial_findings_head_foreign_sign_in_token_wording_and_token_audit() {
    let f = fixture().await;
    f.built_app("first", &[("web", "serve")]).await;
    // HEAD is GET without a body, under GET's rule (it used to find no rule: 500).
    let bearer = format!("Bearer {}", f.token);
    let (status, _, _) = f
        .raw("HEAD", "/apps", &[("Authorization", &bearer)], None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = f.raw("HEAD", "/apps", &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // No sign-in from another site's page (login CSRF).
    let (status, _, _) = f
        .raw(
            "POST",
            "/session",
            &[
                ("Host", "paas.example.com"),
                ("Origin", "https://evil.example.com"),
            ],
            Some(serde_json::json!({ "token": f.token })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A scoped token's refusal names the token's limit, not its owner's role.
    let (_, created) = f
        .send(
            "POST",
            "/account/tokens",
            Some(serde_json::json!({ "description": "CI", "app": "first", "role": "deployer" })),
        )
        .await;
    let (scoped, id) = (
        created["token"].as_str().expect("token").to_owned(),
        created["id"].as_str().expect("id").to_owned(),
    );
    let (status, answer) = f
        .send_as(
            &scoped,
            "PATCH",
            "/apps/first/router",
            Some(serde_json::json!({ "maintenance": false })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .starts_with("this token may do at most what a deployer may"),
        "{answer}"
    );
    let (_, account) = f.send_as(&scoped, "GET", "/account", None).await;
    assert_eq!(account["token"]["app"], "first", "{account}");
    // The app's admins see its tokens made and revoked in its log.
    let (status, _) = f
        .send("DELETE", &format!("/account/tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, entries) = f.send("GET", "/apps/first/audit", None).await;
    let entries = entries.as_array().expect("entries");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "token.create" && e["detail"]["token"] == id.as_str()),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "token.revoke" && e["detail"]["id"] == id.as_str()),
        "{entries:?}"
    );
}

#[tokio::test]
async fn every_kind_of_change_is_in_the_audit_log() {
    let f = fixture().await;
    f.built_app("kinds", &[("web", "serve")]).await;
    other_user(&f, "pat").await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEqHYOq6wMGuGwLQZ3sDmq2ytJ3N1Xy4cWjbpZkz0vNo audit@test";
    let changes: &[(&str, &str, Option<serde_json::Value>)] = &[
        (
            "PATCH",
            "/apps/kinds/config-vars",
            Some(serde_json::json!({ "A": "1" })),
        ),
        (
            "PATCH",
            "/apps/kinds/formation",
            Some(serde_json::json!({ "web": 2 })),
        ),
        (
            "POST",
            "/apps/kinds/releases",
            Some(serde_json::json!({ "rollback_to": 1 })),
        ),
        (
            "POST",
            "/apps/kinds/collaborators",
            Some(serde_json::json!({ "user": "pat", "role": "viewer" })),
        ),
        (
            "POST",
            "/apps/kinds/domains",
            Some(serde_json::json!({ "hostname": "www.example.org" })),
        ),
        ("DELETE", "/apps/kinds/domains/www.example.org", None),
        (
            "POST",
            "/apps/kinds/addons",
            Some(serde_json::json!({ "kind": "no-such-kind" })),
        ),
        (
            "POST",
            "/account/keys",
            Some(serde_json::json!({ "public_key": key })),
        ),
        (
            "POST",
            "/account/tokens",
            Some(serde_json::json!({ "description": "x", "role": "viewer" })),
        ),
        (
            "PATCH",
            "/apps/kinds",
            Some(serde_json::json!({ "name": "renamed" })),
        ),
        ("DELETE", "/apps/renamed", None),
    ];
    for (method, path, body) in changes {
        f.send(method, path, body.clone()).await;
    }
    let new = token::generate();
    let operator = new.token.clone();
    f.state
        .store
        .call(move |db| db.create_user(&UserName::parse("root").expect("valid"), true, &new))
        .await
        .expect("admin");
    let (status, entries) = f.send_as(&operator, "GET", "/audit", None).await;
    assert_eq!(status, StatusCode::OK);
    let entries = entries.as_array().expect("entries");
    for action in [
        "app.create",
        "config.update",
        "formation.update",
        "release.rollback",
        "access.add",
        "domain.add",
        "domain.remove",
        "addon.create",
        "key.add",
        "token.create",
        "app.update",
        "app.destroy",
    ] {
        let entry = entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} entry in {entries:?}"));
        assert_eq!(entry["actor"], "alice", "{entry}");
        assert!(
            entry["at"].is_string() && entry["source"].is_string(),
            "{entry}"
        );
        assert!(
            matches!(entry["outcome"].as_str(), Some("success" | "failure")),
            "{entry}"
        );
    }
    let key_added = entries
        .iter()
        .find(|e| e["action"] == "key.add")
        .expect("key.add");
    assert!(
        key_added["detail"]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("SHA256:")),
        "{key_added}"
    );
    // Renamed and destroyed, the app's entries keep their app: its log outlives it.
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "app.destroy" && e["app"] == "renamed")
    );
}
