//! `paas maintenance`: the app's maintenance mode (Heroku's `heroku maintenance`).

use paas_share::models::{RouterSettings, UpdateRouterSettings};

use crate::commands::domains::{OnOff, on_off};
use crate::context::Ctx;

/// Maintenance mode: show it (without a subcommand), turn it on or off
///
/// In maintenance mode the router answers every request to the app with 503, a
/// `Retry-After: 60` header and a page saying so; dynos keep running (run migrations with
/// `paas run` meanwhile).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  paas maintenance:on\n  paas run -- ./manage.py migrate\n  paas maintenance:off"
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Answer every request with 503 and a maintenance page
    On,
    /// Serve requests again
    Off,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let path = format!("/apps/{app}/router");
    let Some(command) = args.command else {
        let settings: RouterSettings = client.get(&path)?;
        return ctx.printer.print(&settings, |_, out| {
            writeln!(out, "{}", on_off(settings.maintenance))
        });
    };
    let state = match command {
        Command::On => OnOff::On,
        Command::Off => OnOff::Off,
    };
    let settings: RouterSettings = client.patch(
        &path,
        &UpdateRouterSettings {
            maintenance: Some(state.is_on()),
            ..UpdateRouterSettings::default()
        },
    )?;
    if settings.maintenance {
        ctx.printer.done(
            "Enabled",
            format_args!(
                "maintenance mode for {app}: requests get 503 until `paas maintenance:off`"
            ),
        );
    } else {
        ctx.printer
            .done("Disabled", format_args!("maintenance mode for {app}"));
    }
    ctx.printer.print(&settings, |_, _| Ok(()))
}
