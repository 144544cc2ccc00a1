//! `paas addons create KIND`.

use paas_share::models::{Addon, CreateAddon};

use crate::context::Ctx;

/// Create an add-on for the app and attach it (the app gets its URL as a config var)
///
/// The first add-on of a server builds the services image first, which takes a few minutes.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas addons:create postgresql            # DATABASE_URL, or HEROKU_POSTGRESQL_<COLOR>_URL
  paas addons:create redis                 # REDIS_URL
  paas addons:create postgresql --name orders-db --as ORDERS_DB   # ORDERS_DB_URL")]
pub struct Args {
    /// postgresql (or postgres, heroku-postgresql) or redis (or heroku-redis)
    #[arg(value_name = "KIND")]
    kind: String,
    /// The add-on's name [default: generated, like postgresql-shaped-12345]
    #[arg(long, value_parser = |s: &str| paas_share::AddonName::parse(s).map(|n| n.to_string()))]
    name: Option<String>,
    /// The attachment's name: the app gets NAME_URL [default: DATABASE or REDIS when free]
    #[arg(
        long = "as",
        value_name = "NAME",
        value_parser = |s: &str| paas_share::AttachmentName::parse(s).map(|n| n.to_string())
    )]
    attach_as: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let spinner = ctx.printer.spinner(format!(
        "Creating {} for {app} (the first add-on of a server builds the services image first)…",
        paas_share::names::excerpt(&args.kind)
    ));
    let created = client.send_waiting::<_, Addon>(
        reqwest::Method::POST,
        &format!("/apps/{app}/addons"),
        Some(&CreateAddon {
            kind: args.kind,
            name: args.name,
            attach_as: args.attach_as,
        }),
    );
    spinner.finish_and_clear();
    let addon = created?;
    let var = addon
        .attachments
        .iter()
        .find(|a| a.app == app.as_str())
        .map_or("?", |a| a.config_var.as_str());
    ctx.printer.done(
        "Created",
        format_args!(
            "{} ({}) and attached it to {app} as {var}: a new release",
            addon.name, addon.plan
        ),
    );
    ctx.printer
        .print(&addon, |_, out| writeln!(out, "{}", addon.name))
}
