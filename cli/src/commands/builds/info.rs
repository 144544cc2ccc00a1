//! `paas builds info ID`.

use paas_share::models::Build;

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Show one build
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The build's id, as `paas builds` shows it
    id: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let build: Build = ctx
        .client()?
        .get(&format!("/apps/{app}/builds/{}", path_segment(&args.id)))?;
    ctx.printer.print(&build, |p, out| {
        p.heading(out, &format!("Build {}", build.id))?;
        let none = || "-".to_owned();
        let types: Vec<String> = build
            .process_types
            .iter()
            .flatten()
            .map(|(t, cmd)| format!("{t}: {cmd}"))
            .collect();
        p.fields(
            out,
            &[
                ("Status", build.status.as_str().to_owned()),
                ("Commit", build.commit.clone()),
                ("Buildpack", build.buildpack.clone().unwrap_or_else(none)),
                (
                    "Processes",
                    if types.is_empty() {
                        none()
                    } else {
                        types.join("; ")
                    },
                ),
                ("Failure", build.failure.clone().unwrap_or_else(none)),
                ("By", build.user.to_string()),
                ("Started", build.started_at.clone()),
                ("Finished", build.finished_at.clone().unwrap_or_else(none)),
                ("Duration", super::duration(build.duration_ms)),
            ],
        )
    })
}
