//! `paas apps create` (and `paas create`): a new app, plus a git remote when run in a repo.

use paas_share::AppName;
use paas_share::models::{App, CreateApp};

use crate::context::Ctx;
use crate::error::CliError;
use crate::git_remote;

/// Create an app
///
/// Inside a git repository this also adds a `paas` remote, so that `git push paas main` deploys.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  paas create\n  paas create my-app          (or: paas create -a my-app)\n  paas apps create my-app --remote staging"
)]
pub struct Args {
    /// 1 to 30 lowercase letters, digits and dashes, starting with a letter [default: generated]
    #[arg(value_parser = AppName::parse_new)]
    name: Option<AppName>,
    /// Name of the git remote to add
    #[arg(short, long, default_value = git_remote::DEFAULT_REMOTE, value_name = "NAME")]
    remote: String,
    /// Do not add a git remote
    #[arg(long, conflicts_with = "remote")]
    no_remote: bool,
}

pub fn run(mut args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    args.name = ctx.new_app_name(args.name)?;
    let repo = (!args.no_remote).then(git_remote::current_repo).flatten();
    // A remote of that name that points elsewhere (another app, another server) is replaced only
    // when asked on a terminal; elsewhere nothing is created. One that already names this app
    // (made again after a destroy) is kept: it is checked once the app's URL is known.
    let existing = repo
        .as_ref()
        .and_then(|r| git_remote::remote_url(r, &args.remote));
    let wanted = args.name.clone();
    let names_this_app = |url: &str| {
        wanted.as_ref().is_some_and(|name| {
            url.trim_end_matches('/').rsplit('/').next() == Some(&format!("{name}.git"))
        })
    };
    if let Some(existing) = existing.as_deref().filter(|url| !names_this_app(url)) {
        let replace = ctx.interactive()
            && dialoguer::Confirm::new()
                .with_prompt(format!(
                    "git remote {} points at {existing}; point it at the new app instead?",
                    args.remote
                ))
                .default(false)
                .interact()?;
        if !replace {
            return Err(CliError::usage(format!(
                "git remote {} already points at {existing}; no app was created",
                args.remote
            ))
            .hint(format!(
                "name another remote (--remote {}), skip it (--no-remote), or `git remote remove {}` first",
                if args.remote == "staging" { "production" } else { "staging" },
                args.remote
            ))
            .into());
        }
    }
    let app: App = ctx
        .client()?
        .post("/apps", &CreateApp { name: args.name })?;
    ctx.printer
        .done("Created", format_args!("app {}", app.name));
    match (repo, existing) {
        (Some(_), Some(existing)) if existing == app.git_url => ctx.printer.done(
            "Kept",
            format_args!("git remote {} → {}", args.remote, app.git_url),
        ),
        (Some(_), Some(existing)) if names_this_app(&existing) => ctx.printer.warn(format_args!(
            "git remote {} points at {existing}, another server's app of this name; left as it is (`git remote set-url {} {}` to use this one)",
            args.remote, args.remote, app.git_url
        )),
        (Some(repo), _) => {
            git_remote::set_remote(&repo, &args.remote, &app.git_url)?;
            ctx.printer.done(
                "Added",
                format_args!("git remote {} → {}", args.remote, app.git_url),
            );
        }
        (None, _) => {}
    }
    ctx.printer
        .print(&app, |_, out| writeln!(out, "{}", super::urls_line(&app)))
}
