//! `paas releases info [vN]`.

use crate::context::Ctx;
use crate::error::CliError;

/// Show one release (the running one by default), with why it failed if it did
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release version, such as v3 [default: the running release]
    #[arg(value_parser = super::version_arg, allow_negative_numbers = true)]
    version: Option<u32>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let release = super::release_or(
        ctx,
        &app,
        args.version,
        |releases| releases.into_iter().find(|r| r.current),
        CliError::new("not_found", format!("{app} has no running release"))
            .hint("push code to make one; `paas releases` lists every release"),
    )?;
    ctx.printer.print(&release, |p, out| {
        p.heading(out, &format!("Release v{}", release.version))?;
        let types: Vec<String> = release
            .process_types
            .iter()
            .map(|(t, cmd)| format!("{t}: {cmd}"))
            .collect();
        let keys: Vec<&str> = release.config_vars.keys().map(String::as_str).collect();
        let none = || "none".to_owned();
        let status = match &release.failure {
            // The reason quotes the dyno's last log lines.
            Some(why) => format!("{}: {}", release.status.as_str(), p.app_text(why)),
            None if release.current => format!("{} (current)", release.status.as_str()),
            None => release.status.as_str().to_owned(),
        };
        p.fields(
            out,
            &[
                ("Description", release.description.clone()),
                ("Status", status),
                ("By", release.user.to_string()),
                ("When", release.created_at.clone()),
                ("Build", release.build_id.clone().unwrap_or_else(none)),
                ("Image", release.image.clone().unwrap_or_else(none)),
                (
                    "Processes",
                    if types.is_empty() {
                        none()
                    } else {
                        types.join("; ")
                    },
                ),
                (
                    "Config vars",
                    if keys.is_empty() {
                        none()
                    } else {
                        keys.join(", ")
                    },
                ),
            ],
        )
    })
}
