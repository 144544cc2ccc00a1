//! What the add-on commands share: how an add-on's attachments read, and which add-on a
//! `pg:`/`redis:` command acts on when none is named.

use paas_share::AppName;
use paas_share::models::Addon;

use crate::api_client::{ApiClient, path_segment};
use crate::error::CliError;

/// `DATABASE_URL (my-app), REPORTS_DB_URL (reporting)`, or `not attached`.
pub fn attached_as(addon: &Addon) -> String {
    if addon.attachments.is_empty() {
        return "not attached".to_owned();
    }
    addon
        .attachments
        .iter()
        .map(|a| {
            let state = match a.config.as_str() {
                "missing" => ", not in its config since a rollback",
                "changed" => ", its config holds another value: old credentials?",
                _ => "",
            };
            format!("{} ({}{state})", a.config_var, a.app)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The add-on of `kind` a command acts on: `name` if given, else the app's one attached as
/// `default_attachment` (`DATABASE`), else its only one of that kind.
pub fn pick(
    client: &ApiClient,
    app: Option<&AppName>,
    kind: &str,
    default_attachment: &str,
    name: Option<&str>,
) -> Result<Addon, CliError> {
    if let Some(name) = name {
        let addon: Addon = client.get(&format!("/addons/{}", path_segment(name)))?;
        if addon.kind != kind {
            return Err(CliError::usage(format!(
                "{name} is a {} add-on, not a {kind} one",
                addon.kind
            ))
            .hint(match addon.kind.as_str() {
                "redis" => "use paas redis:cli for it",
                _ => "use paas pg:psql and pg:backups for it",
            }));
        }
        return Ok(addon);
    }
    let Some(app) = app else {
        return Err(CliError::usage(format!("which {kind} add-on?"))
            .hint("name it, or give the app with -a APP (or run this in its git repo)"));
    };
    let addons: Vec<Addon> = client.get(&format!("/apps/{app}/addons"))?;
    let of_kind: Vec<Addon> = addons.into_iter().filter(|a| a.kind == kind).collect();
    let attached_default = of_kind.iter().find(|a| {
        a.attachments
            .iter()
            .any(|t| t.app == app.as_str() && t.name == default_attachment)
    });
    match (attached_default, of_kind.as_slice()) {
        (Some(addon), _) => Ok(addon.clone()),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(
            CliError::new("no_addon", format!("{app} has no {kind} add-on"))
                .hint(format!("create one with `paas addons:create {kind}`")),
        ),
        (None, several) => Err(CliError::usage(format!(
            "{app} has {} {kind} add-ons: {}",
            several.len(),
            several
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("name the one you mean")),
    }
}

/// Runs the add-on's own client (`psql`, `redis-cli`) in a one-off dyno on the server, attached
/// here as `paas run` is: this terminal when stdin and stdout are one, else byte streams.
pub fn client_session(
    ctx: &crate::context::Ctx,
    client: &ApiClient,
    addon: &Addon,
) -> anyhow::Result<crate::error::ExitStatus> {
    use std::io::IsTerminal;
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut env = std::collections::BTreeMap::new();
    if terminal && let Some(term) = std::env::var("TERM").ok().filter(|t| !t.is_empty()) {
        env.insert("TERM".to_owned(), term);
    }
    let request = paas_share::models::CreateDyno {
        command: String::new(),
        attach: true,
        env,
        tty: terminal.then(|| {
            crate::attach::window_size().unwrap_or(paas_share::models::WindowSize {
                columns: 80,
                lines: 24,
            })
        }),
        time_to_live: None,
    };
    let spinner = ctx
        .printer
        .spinner(format!("Connecting to {}…", addon.name));
    let dyno = client.post::<_, paas_share::models::Dyno>(
        &format!("/addons/{}/sessions", path_segment(&addon.name)),
        &request,
    );
    spinner.finish_and_clear();
    let dyno = dyno?;
    ctx.printer.status(format_args!(
        "Connected to {} ({}) as {}, {}",
        addon.name, addon.plan, addon.app, dyno.name
    ));
    crate::attach::session(
        ctx,
        client,
        &format!("/apps/{}/dynos/{}/attach", addon.app, dyno.name),
        &dyno.name,
        terminal,
    )
}
