//! `paas apps rename NEW`: a new name, the same app (releases, config and id stay).

use paas_share::AppName;
use paas_share::models::{App, UpdateApp};

use crate::context::Ctx;
use crate::git_remote;

/// Rename an app
///
/// Git remotes of the current repository that point at the app are updated.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The new name
    #[arg(value_parser = AppName::parse_new)]
    new_name: AppName,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let old = ctx.app()?;
    let app: App = ctx.client()?.patch(
        &format!("/apps/{old}"),
        &UpdateApp {
            name: Some(args.new_name),
            ..UpdateApp::default()
        },
    )?;
    ctx.printer
        .done("Renamed", format_args!("{old} to {}", app.name));
    if let Some(repo) = git_remote::current_repo() {
        for remote in git_remote::remotes_for(&repo, &old) {
            git_remote::set_remote(&repo, &remote, &app.git_url)?;
            ctx.printer.done(
                "Updated",
                format_args!("git remote {remote} → {}", app.git_url),
            );
        }
    }
    ctx.printer
        .print(&app, |_, out| writeln!(out, "{}", super::urls_line(&app)))
}
