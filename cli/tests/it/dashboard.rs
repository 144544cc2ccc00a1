//! The web dashboard in a real headless browser (Debian's `chromium`, driven over WebDriver by
//! `chromedriver` from the `fantoccini` client): sign in, see an app, scale it, roll it back,
//! watch a log line arrive, read build output; and app data that holds HTML (a config value, a
//! dyno's log line, a build's output) shows as text and runs nothing. A failure saves a
//! screenshot next to the test binaries (`dashboard-failure.png`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use paas_tests::{CliEnv, TestServer, free_port, stop_child, wait_for_port};
use serde_json::{Value, json};

use super::run::{fixture_with, ok, push, serving};

const XSS_CONFIG: &str = "<script>window.__xss = 'config'</script>";
const XSS_BUILD: &str = "<img src=x onerror=window.__xss=2>";
const XSS_LOG: &str = "<img src=x onerror=\"window.__xss=1\">";

/// `chromedriver` on a free port of 127.0.0.1, stopped on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/prerequisites installs it)");
        assert!(wait_for_port(port), "chromedriver did not listen");
        Self { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(5));
    }
}

type Step<T> = Result<T, String>;

/// The text of the first element `css` matches, once one does and `ready` holds for it (10 s).
async fn text_when(client: &Client, css: &str, ready: impl Fn(&str) -> bool) -> Step<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if ready(&last) {
                return Ok(last);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{css}: never ready; last text {last:?}"))
}

async fn click(client: &Client, css: &str) -> Step<()> {
    text_when(client, css, |_| true).await?;
    client
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .click()
        .await
        .map_err(|e| format!("click {css}: {e}"))
}

fn check(holds: bool, what: &str) -> Step<()> {
    if holds { Ok(()) } else { Err(what.to_owned()) }
}

/// The user's path through the dashboard; `Err` says which step went wrong.
async fn walk(
    client: &Client,
    server: &TestServer,
    cli: &CliEnv,
    repo: &std::path::Path,
) -> Step<()> {
    client
        .goto(&format!("{}/", server.api))
        .await
        .map_err(|e| e.to_string())?;
    text_when(client, "#token", |_| true).await?;
    let token = client
        .find(Locator::Css("#token"))
        .await
        .map_err(|e| e.to_string())?;
    token
        .send_keys(&server.admin_token())
        .await
        .map_err(|e| e.to_string())?;
    click(client, "#sign-in-button").await?;
    text_when(client, "#who", |t| t.contains("admin")).await?;

    // The apps list, then the app.
    text_when(client, "a.app-link", |t| t == "dash").await?;
    click(client, "a.app-link").await?;
    text_when(client, "#app-name", |t| t == "dash").await?;
    text_when(client, "#current-release", |t| t == "Running v2").await?;

    // Config: the value that holds HTML is text.
    let shown = text_when(client, "#config", |t| t.contains("XSS")).await?;
    check(
        shown.contains(XSS_CONFIG),
        &format!("the config value is shown as text: {shown}"),
    )?;

    // Scale web to 2 from the formation's controls.
    text_when(client, "#scale-web", |_| true).await?;
    let input = client
        .find(Locator::Css("#scale-web"))
        .await
        .map_err(|e| e.to_string())?;
    input.clear().await.map_err(|e| e.to_string())?;
    input.send_keys("2").await.map_err(|e| e.to_string())?;
    click(client, "#scale-web-button").await?;
    text_when(client, "#dynos", |t| t.contains("web.2")).await?;
    let ps: Value =
        serde_json::from_str(&ok(cli, repo, &["ps", "--json"])).map_err(|e| e.to_string())?;
    let web = ps
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["type"] == "web")
        .count();
    check(web == 2, &format!("2 web dynos after scaling: {ps}"))?;

    // Live logs: a config change's line arrives; the worker's line with HTML is text.
    click(client, "#tail-button").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    ok(cli, repo, &["config:set", "MARK=seen"]);
    text_when(client, "#log", |t| t.contains("Set MARK config vars")).await?;
    text_when(client, "#log", |t| t.contains(XSS_LOG)).await?;
    click(client, "#tail-button").await?; // stop it

    // Roll back to v2 (before MARK) from the releases list, through the confirm dialog.
    text_when(client, "#rollback-2", |_| true).await?;
    click(client, "#rollback-2").await?;
    client
        .accept_alert()
        .await
        .map_err(|e| format!("confirm: {e}"))?;
    text_when(client, "#current-release", |t| t == "Running v4").await?;
    let releases: Value =
        serde_json::from_str(&ok(cli, repo, &["releases", "--json"])).map_err(|e| e.to_string())?;
    check(
        releases[0]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Rollback to v2")),
        &format!("the rollback is the newest release: {}", releases[0]),
    )?;

    // Build output.
    click(client, "#build-output-button").await?;
    text_when(client, "#build-output", |t| !t.is_empty()).await?;

    // A build that fails quoting the app's HTML: its output is text too.
    let procfile = std::fs::read_to_string(repo.join("Procfile")).map_err(|e| e.to_string())?;
    std::fs::write(repo.join("Procfile"), format!("{procfile}{XSS_BUILD}\n"))
        .map_err(|e| e.to_string())?;
    cli.commit_all(repo, "a Procfile line that is HTML");
    check(
        !push(cli, repo).status.success(),
        "the bad Procfile is refused",
    )?;
    client
        .goto(&format!("{}/#/apps/dash", server.api))
        .await
        .map_err(|e| e.to_string())?;
    client.refresh().await.map_err(|e| e.to_string())?;
    text_when(client, "#build", |t| t.contains("failed")).await?;
    click(client, "#build-output-button").await?;
    text_when(client, "#build-output", |t| t.contains(XSS_BUILD)).await?;

    // Nothing that came from data ran, and nothing from it became an element.
    let ran = client
        .execute("return [window.__xss === undefined, document.querySelectorAll('#main img, #main script').length]", vec![])
        .await
        .map_err(|e| e.to_string())?;
    check(
        ran == json!([true, 0]),
        &format!("HTML in data ran or became elements: {ran}"),
    )?;

    // Signed out, the page asks for a token again and the cookie no longer works.
    click(client, "#sign-out").await?;
    text_when(client, "#token", |_| true).await?;
    Ok(())
}

#[test]
fn a_person_runs_their_app_from_the_dashboard_in_a_real_browser() {
    let (server, cli) = serving();
    let repo = fixture_with(
        &cli,
        "procfile",
        &format!(
            "logger: sh -c 'while true; do echo \"{}\"; sleep 1; done'",
            XSS_LOG.replace('"', "\\\"")
        ),
        "a process that logs HTML",
    );
    ok(&cli, &repo, &["create", "dash"]);
    assert!(push(&cli, &repo).status.success(), "{}", server.log());
    ok(&cli, &repo, &["config:set", &format!("XSS={XSS_CONFIG}")]);
    ok(&cli, &repo, &["scale", "logger=1"]);

    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                // Root in a container has no user namespaces for Chromium's sandbox.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,2400"],
            }),
        );
        // chromedriver speaks plain HTTP on 127.0.0.1: no TLS connector.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a WebDriver session with chromium");
        let walked = walk(&client, &server, &cli, &repo).await;
        if let Err(step) = walked {
            let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-failure.png");
            if let Ok(png) = client.screenshot().await {
                let _ = std::fs::write(&shot, png);
            }
            let page = client.source().await.unwrap_or_default();
            let _ = client.close().await;
            panic!("{step}\nscreenshot: {}\npage:\n{page}\nserver log:\n{}", shot.display(), server.log());
        }
        client.close().await.expect("close the browser");
    });
}
