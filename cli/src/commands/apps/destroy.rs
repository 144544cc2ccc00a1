//! `paas apps destroy [APP]` (and `paas destroy [APP]`): delete an app for good, after a
//! confirmation.

use paas_share::models::App;

use crate::context::Ctx;
use crate::git_remote;

/// Destroy an app with its config, builds and releases
///
/// Without a terminal, --confirm APP is required.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  paas destroy my-app --confirm my-app")]
pub struct Args {
    /// App to act on, instead of -a [default: $PAAS_APP, then the `paas` git remote]
    // Not `app`: that id is the global -a/--app, and clap ids must be unique.
    #[arg(id = "app_arg", value_name = "APP")]
    app: Option<String>,
    /// The app's name again, to confirm (required without a terminal)
    #[arg(long, value_name = "APP")]
    confirm: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let name = ctx.app_or(args.app.as_deref())?;
    crate::confirm::confirm(
        ctx,
        name.as_str(),
        args.confirm,
        &crate::confirm::Action {
            doing: &format!("destroying {name}"),
            done: "destroyed",
            warning: &format!(
                "this destroys {name} with its config, builds, releases and the add-ons it owns; it cannot be undone"
            ),
        },
    )?;
    let client = ctx.client()?;
    let app: App = client.delete(&format!("/apps/{name}"))?;
    ctx.printer.done("Destroyed", format_args!("app {name}"));
    if let Some(repo) = git_remote::current_repo() {
        let remotes = git_remote::remotes_for(&repo, &name);
        // A remote names its app, not the app's id: one created again under the same name while
        // this destroy ran (its dynos' stop grace) is the new app's remote now.
        let again =
            || matches!(client.get::<App>(&format!("/apps/{name}")), Ok(new) if new.id != app.id);
        if !remotes.is_empty() && again() {
            ctx.printer.warn(format_args!(
                "kept git remote {}: a new app named {name} was created meanwhile",
                remotes.join(", ")
            ));
        } else {
            for remote in remotes {
                repo.remote_delete(&remote)?;
                ctx.printer
                    .done("Removed", format_args!("git remote {remote}"));
            }
        }
    }
    ctx.printer.print(&app, |_, _| Ok(()))
}
