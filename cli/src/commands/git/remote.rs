//! `paas git:remote`: add or replace the git remote that deploys an app.

use paas_share::models::App;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::CliError;
use crate::git_remote;

/// Add or replace the git remote for the app in the current repository
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  paas git:remote -a my-app && git push paas main")]
pub struct Args {
    /// Name of the git remote
    #[arg(short, long, default_value = git_remote::DEFAULT_REMOTE, value_name = "NAME")]
    remote: String,
}

#[derive(Serialize)]
struct Remote<'a> {
    remote: &'a str,
    url: &'a str,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let repo = git_remote::current_repo().ok_or_else(|| {
        CliError::new(
            "not_a_git_repo",
            "the current directory is not inside a git repository",
        )
        .hint("cd into your app's repository, or run `git init` first")
    })?;
    let name = ctx.app()?;
    let app: App = ctx.client()?.get(&format!("/apps/{name}"))?;
    let replaced = git_remote::set_remote(&repo, &args.remote, &app.git_url)?;
    let verb = if replaced { "Updated" } else { "Added" };
    ctx.printer.done(
        verb,
        format_args!("git remote {} → {}", args.remote, app.git_url),
    );
    ctx.printer.print(
        &Remote {
            remote: &args.remote,
            url: &app.git_url,
        },
        |_, _| Ok(()),
    )
}
