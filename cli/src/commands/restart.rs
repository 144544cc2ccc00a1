//! `paas restart [TYPE | TYPE.N]`: new dynos up before the old ones stop.

use paas_share::models::{Dyno, Restart};

use crate::context::Ctx;

/// Restart the app's dynos (new ones start and pass their health check before the old stop)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A process type (web) or one dyno (web.1) [default: all]
    #[arg(value_name = "TYPE[.N]")]
    target: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let body = match args.target {
        Some(t) if t.contains('.') => Restart {
            dyno: Some(t),
            ..Restart::default()
        },
        Some(t) => Restart {
            process_type: Some(t),
            ..Restart::default()
        },
        None => Restart::default(),
    };
    let client = ctx.client()?;
    // The server answers once the new dynos are up.
    let dynos = ctx.showing_dynos(&client, &app, &format!("Restarting {app}"), || {
        client.post::<_, Vec<Dyno>>(&format!("/apps/{app}/dynos/restart"), &body)
    })?;
    ctx.printer.done("Restarted", format_args!("{app}"));
    ctx.printer.print(&dynos, |_, _| Ok(()))
}
