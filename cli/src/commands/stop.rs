//! `paas stop run.N` (also `paas ps:stop`): stops a one-off dyno.

use paas_share::models::Dyno;

use crate::context::Ctx;

/// Stop a one-off dyno (SIGTERM, then SIGKILL after 10 s)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  paas ps            # one-off dynos are listed as run.N\n  paas stop run.3"
)]
pub struct Args {
    /// The one-off dyno, as `paas ps` names it
    #[arg(value_name = "run.N")]
    dyno: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let path = format!(
        "/apps/{app}/dynos/{}/actions/stop",
        crate::api_client::path_segment(&args.dyno)
    );
    let stopped: Vec<Dyno> = ctx.client()?.post(&path, &serde_json::json!({}))?;
    ctx.printer
        .done("Stopping", format_args!("{} on {app}", args.dyno));
    ctx.printer.print(&stopped, |_, _| Ok(()))
}
