//! `paas builds output [ID]`: a build's full output; follows a running build until it ends.

use paas_share::models::Build;

use crate::api_client::path_segment;
use crate::context::Ctx;
use crate::error::CliError;

/// Print a build's output (the latest build by default)
///
/// While the build runs, this follows it until it ends. With --json, it waits for the end and
/// prints {"id": "…", "output": "…"}.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The build's id [default: the latest build]
    id: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let id = match args.id {
        Some(id) => id,
        None => {
            let builds: Vec<Build> = client.get(&format!("/apps/{app}/builds"))?;
            builds.into_iter().next().map(|b| b.id).ok_or_else(|| {
                CliError::new("not_found", format!("{app} has no builds yet"))
                    .hint("deploy with `git push paas main`")
            })?
        }
    };
    let body = client.stream(&format!("/apps/{app}/builds/{}/output", path_segment(&id)))?;
    ctx.printer.output(body, "id", id.into())
}
