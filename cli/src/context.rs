//! What every command can ask for: the printer, the server and token, and the app to act on.
//! Each is resolved only when a command needs it, so `paas --version` and `paas completions`
//! touch neither the network nor the disk.

use std::io::IsTerminal;

use paas_share::AppName;
use paas_share::models::Dyno;

use crate::api_client::ApiClient;
use crate::credentials::{self, Credentials};
use crate::env_vars;
use crate::error::CliError;
use crate::git_remote;
use crate::printer::Printer;

/// Where the CLI looks for a server when nothing else says.
pub const DEFAULT_HOST: &str = "http://127.0.0.1:5500";

pub struct Ctx {
    pub printer: Printer,
    app_flag: Option<String>,
}

impl Ctx {
    pub fn new(printer: Printer, app_flag: Option<String>) -> Self {
        Self { printer, app_flag }
    }

    /// The server: `PAAS_HOST`, then the stored login, then [`DEFAULT_HOST`].
    pub fn host(&self) -> anyhow::Result<String> {
        host_from(credentials::load()?.as_ref())
    }

    /// An API client with the token from `PAAS_API_TOKEN`, then the stored login.
    pub fn client(&self) -> anyhow::Result<ApiClient> {
        let stored = credentials::load()?;
        let host = host_from(stored.as_ref())?;
        let given = env_vars::set(env_vars::PAAS_API_TOKEN)
            .map(|t| checked_token(&t))
            .transpose()?;
        let token = given.or(stored.map(|c| c.token)).ok_or_else(|| {
            CliError::new("not_logged_in", "not logged in")
                .hint("run `paas login` (or set PAAS_API_TOKEN)")
        })?;
        ApiClient::new(host, Some(token))
    }

    /// Sends a request that makes a release ([`ApiClient::send_release_request`]), with a note on
    /// a terminal while it runs: a release command can take minutes.
    pub fn send_release_request<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        app: &AppName,
        method: &reqwest::Method,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let client = self.client()?;
        let answer = self.showing_dynos(
            &client,
            app,
            "Releasing: the release command runs first, if the app has one (Ctrl-C does not stop it)",
            || client.send_release_request(method, path, body),
        );
        Ok(answer?)
    }

    /// Runs `wait` (a request the server answers once the app's dynos changed) under a spinner
    /// saying `label` and, as they change, the app's dynos by state (`1 up, 1 starting`, polled
    /// every 250 ms); only on a terminal (else nothing is polled or drawn).
    pub fn showing_dynos<T>(
        &self,
        client: &ApiClient,
        app: &AppName,
        label: &str,
        wait: impl FnOnce() -> T,
    ) -> T {
        let spinner = self.printer.spinner(label.to_owned());
        let answer = if spinner.is_hidden() {
            wait()
        } else {
            let (answered, poll) = std::sync::mpsc::channel::<()>();
            let shown = spinner.clone();
            std::thread::scope(|scope| {
                scope.spawn(move || {
                    let path = format!("/apps/{app}/dynos");
                    loop {
                        if let Ok(dynos) = client.get::<Vec<Dyno>>(&path) {
                            shown.set_message(format!("{label} ({})", dyno_states(&dynos)));
                        }
                        let next = poll.recv_timeout(std::time::Duration::from_millis(250));
                        if next != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                            return;
                        }
                    }
                });
                let answer = wait();
                drop(answered);
                answer
            })
        };
        spinner.finish_and_clear();
        answer
    }

    /// The name a new app is given (`paas create`): the argument, else `-a` (never `PAAS_APP`,
    /// which names an app to act on); both only if they agree.
    pub fn new_app_name(&self, positional: Option<AppName>) -> Result<Option<AppName>, CliError> {
        self.given_once(positional.as_ref().map(AppName::as_str))?;
        match (positional, self.app_flag.as_deref()) {
            (Some(name), _) => Ok(Some(name)),
            (None, Some(flag)) => AppName::parse_new(flag)
                .map(Some)
                .map_err(|e| CliError::usage(e.to_string())),
            (None, None) => Ok(None),
        }
    }

    /// Refuses an app given both as an argument and with `-a`, unless they agree: a typo must
    /// not pick one of two apps silently.
    fn given_once(&self, positional: Option<&str>) -> Result<(), CliError> {
        match (positional, self.app_flag.as_deref()) {
            (Some(arg), Some(flag)) if arg != flag => Err(CliError::usage(format!(
                "the app is given twice: -a {flag} and {arg}"
            ))
            .hint("give the app once, either as an argument or with -a")),
            _ => Ok(()),
        }
    }

    /// Whether `-a/--app` was given on the command line.
    pub fn app_flag_given(&self) -> bool {
        self.app_flag.is_some()
    }

    /// The app: `-a/--app`, then `PAAS_APP`, then the `paas` remote of the git repo here.
    pub fn app(&self) -> Result<AppName, CliError> {
        self.app_or(None)
    }

    /// The app of a command that also takes it as an argument, as Heroku's `destroy`, `info` and
    /// `open` do: the argument, then what [`Ctx::app`] finds. The argument and `-a` may both be
    /// given only if they name the same app, so that a typo cannot pick one of two apps silently.
    pub fn app_or(&self, positional: Option<&str>) -> Result<AppName, CliError> {
        self.given_once(positional)?;
        let given = positional
            .map(str::to_owned)
            .or_else(|| self.app_flag.clone())
            .or_else(|| env_vars::get(env_vars::PAAS_APP));
        match given {
            Some(name) => AppName::parse(&name).map_err(|e| CliError::usage(e.to_string())),
            None => git_remote::app_of_remote(git_remote::DEFAULT_REMOTE).ok_or_else(|| {
                CliError::usage("no app given").hint(format!(
                    "pass -a APP, set {}, or run inside a git repo with a `paas` remote (`paas git:remote -a APP`)",
                    env_vars::PAAS_APP
                ))
            }),
        }
    }

    /// Whether the user can answer a prompt.
    pub fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }
}

/// The dynos by state, as a spinner shows them: `2 up, 1 starting, 1 stopping` (one-off dynos
/// left out; `down` is a dyno stopping).
fn dyno_states(dynos: &[Dyno]) -> String {
    let states = [
        ("up", "up"),
        ("starting", "starting"),
        ("crashed", "crashed"),
        ("down", "stopping"),
    ];
    let counts: Vec<String> = states
        .iter()
        .filter_map(|(state, said)| {
            let n = dynos
                .iter()
                .filter(|d| d.process_type != "run" && d.state == *state)
                .count();
            (n > 0).then(|| format!("{n} {said}"))
        })
        .collect();
    if counts.is_empty() {
        "no dynos".to_owned()
    } else {
        counts.join(", ")
    }
}

/// The server: `PAAS_HOST` (set but empty is a usage error, as for `PAAS_API_TOKEN`: a CI token
/// must not go to the machine's stored host), then the stored login's, then [`DEFAULT_HOST`].
fn host_from(stored: Option<&Credentials>) -> anyhow::Result<String> {
    match env_vars::set(env_vars::PAAS_HOST) {
        Some(host) => checked_host(&host).map_err(|why| {
            CliError::usage(format!("invalid {} {host:?}: {why}", env_vars::PAAS_HOST))
                .hint(HOST_EXAMPLES)
                .into()
        }),
        None => Ok(stored.map_or_else(|| DEFAULT_HOST.to_owned(), |c| c.host.clone())),
    }
}

/// What a host may look like, for usage errors.
pub const HOST_EXAMPLES: &str =
    "give the server's address, such as http://paas.example.com:5500 or paas.example.com:5500";

/// `host` ([`normalize_host`]) as the API's base URL, or why it cannot be one: an `http` or
/// `https` URL with a host, no credentials (the token authenticates), no query or fragment,
/// and a port other than 0 (or none, not an empty one);
/// `http:/host` and `http:host` are refused rather than read as a host named `http`.
pub fn checked_host(host: &str) -> Result<String, String> {
    let lower = host.trim().to_ascii_lowercase();
    if ["http:", "https:"]
        .iter()
        .any(|s| lower.starts_with(s) && !lower[s.len()..].starts_with("//"))
    {
        return Err("a URL's scheme is followed by `//`".to_owned());
    }
    let url = normalize_host(host);
    let authority = url.split_once("://").map_or("", |(_, rest)| rest);
    // `https:///x` is `https://x/` to a WHATWG parser: a typo, not a host.
    if authority.is_empty() || authority.starts_with(['/', '\\']) {
        return Err("empty host".to_owned());
    }
    let parsed = reqwest::Url::parse(&url).map_err(|e| e.to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err("not an http(s) URL".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "a user or password does not go in the address (the token says who you are)".to_owned(),
        );
    }
    if parsed.port() == Some(0) {
        return Err("port 0 cannot be connected to".to_owned());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(
            "the address has a query or fragment (`?`, `#`): give scheme, host and port".to_owned(),
        );
    }
    if authority
        .split('/')
        .next()
        .is_some_and(|a| a.ends_with(':'))
    {
        return Err("a `:` with no port after it".to_owned());
    }
    Ok(url)
}

/// `PAAS_API_TOKEN`'s value, if it can be a token: one set but empty, or with a character no
/// token has (a space, a newline from `echo` into a secret), is a usage error, never a fall back
/// to the stored login (a CI job whose secret did not arrive must not act as whoever is logged in
/// on its machine) nor a request the HTTP client refuses as a "network" failure.
fn checked_token(token: &str) -> Result<String, CliError> {
    let hint =
        "set it to a token (`paas authorizations:create`), or unset it to use your `paas login`";
    if token.is_empty() {
        return Err(CliError::usage("PAAS_API_TOKEN is set but empty").hint(hint));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CliError::usage(
            "PAAS_API_TOKEN has a character no token has (a space or a line break?)",
        )
        .hint(hint));
    }
    Ok(token.to_owned())
}

/// `example.com:5500` → `http://example.com:5500`; no trailing slash (but `http://` stays as
/// it is: a URL without a host, not a host named `http`).
pub fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let url = if host.contains("://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    };
    let trimmed = url.trim_end_matches('/');
    if trimmed.ends_with(':') {
        url
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_checked() {
        assert_eq!(
            checked_host("example.com:5500").as_deref(),
            Ok("http://example.com:5500")
        );
        for bad in [
            "http://",
            "http:/127.0.0.1:5500",
            "http:127.0.0.1:5500",
            "HTTPS:/example.com",
            "ftp://example.com",
            "http://u:p@127.0.0.1:5500",
            "http://127.0.0.1:0",
            "http://127.0.0.1:5500#frag",
            "http://127.0.0.1:5500?x",
            "http://127.0.0.1:",
            "http://127.0.0.1:/",
            "https:///example.com",
            "http://\\example.com",
            "",
        ] {
            assert!(checked_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_checked() {
        assert_eq!(
            checked_token("paas_0123abcd").map_err(|e| e.to_string()),
            Ok("paas_0123abcd".to_owned())
        );
        for bad in ["", "a\nb", "abc ", "\tabc"] {
            assert!(checked_token(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_become_urls() {
        for (given, url) in [
            ("example.com:5500", "http://example.com:5500"),
            (" https://example.com/ ", "https://example.com"),
            ("http://example.com:5500//", "http://example.com:5500"),
            ("http://", "http://"),
            ("https:///", "https:///"),
        ] {
            assert_eq!(normalize_host(given), url, "{given}");
        }
    }

    fn dyno(process_type: &str, state: &str) -> Dyno {
        Dyno {
            name: format!("{process_type}.1"),
            process_type: process_type.to_owned(),
            state: state.to_owned(),
            release: 1,
            restarts: 0,
            command: "node server.js".to_owned(),
            port: 5000,
            since: "2026-12-04T18:00:00Z".to_owned(),
            pod: None,
            attach_url: None,
        }
    }

    #[test]
    fn dyno_states_count_the_formation_by_state() {
        let dynos = [
            dyno("web", "down"),
            dyno("web", "up"),
            dyno("worker", "up"),
            dyno("web", "starting"),
            dyno("run", "up"),
        ];
        assert_eq!(dyno_states(&dynos), "2 up, 1 starting, 1 stopping");
        assert_eq!(dyno_states(&[dyno("run", "up")]), "no dynos");
    }
}
