//! `paas access`: who may use an app, and as what (Heroku's `heroku access`): list,
//! `access:add`, `access:update`, `access:remove`.

use paas_share::UserName;
use paas_share::models::{AddCollaborator, Collaborator, Role, UpdateCollaborator};

use crate::api_client::path_segment;
use crate::context::Ctx;
use crate::error::CliError;

/// Collaborators: list them (without a subcommand), add, change or remove one
///
/// Roles, least to most: viewer reads everything but config values (shown redacted); deployer
/// also pushes, scales, restarts, runs one-off dynos, changes config and rolls back; admin also
/// manages access, domains, certificates, add-ons, drains, alerts and router settings, renames
/// and destroys the app. The app's owner is an admin who cannot be removed.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas access                              # who may use the app, and as what
  paas access:add alice --role deployer
  paas access:update alice --role viewer
  paas access:remove alice")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Add(AddArgs),
    Update(UpdateArgs),
    Remove(RemoveArgs),
}

/// Give a user a role on the app
#[derive(Debug, clap::Args)]
struct AddArgs {
    /// Their user name, as `paas whoami` prints it for them
    user: String,
    /// viewer, deployer or admin
    #[arg(long, default_value = "deployer", value_parser = parse_role)]
    role: Role,
}

/// Change a collaborator's role
#[derive(Debug, clap::Args)]
struct UpdateArgs {
    user: String,
    /// viewer, deployer or admin
    #[arg(long, value_parser = parse_role)]
    role: Role,
}

/// Take a collaborator's role away (their requests, log streams and pushes stop)
#[derive(Debug, clap::Args)]
struct RemoveArgs {
    user: String,
}

/// A role name, for clap.
pub fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
        .map_err(|e: paas_share::models::UnknownRole| e.to_string())
}

fn user_name(text: &str) -> Result<UserName, CliError> {
    UserName::parse(text).map_err(|e| {
        CliError::usage(e.to_string()).hint("user names are as `paas whoami` prints them")
    })
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let path = format!("/apps/{app}/collaborators");
    match args.command {
        None => {
            let people: Vec<Collaborator> = client.get(&path)?;
            ctx.printer.print(&people, |p, out| {
                p.heading(out, &format!("{app} access"))?;
                let rows: Vec<Vec<String>> = people
                    .iter()
                    .map(|c| {
                        let role = match (c.owner, c.server_admin) {
                            (true, _) => "admin (owner)".to_owned(),
                            (false, true) => {
                                format!("{} (a server admin: admin on every app)", c.role)
                            }
                            (false, false) => c.role.to_string(),
                        };
                        vec![c.user.to_string(), role, c.created_at.clone()]
                    })
                    .collect();
                p.table(out, &["USER", "ROLE", "SINCE"], &rows)
            })
        }
        Some(Command::Add(args)) => {
            let body = AddCollaborator {
                user: user_name(&args.user)?,
                role: args.role,
            };
            let added: Collaborator = client.post(&path, &body)?;
            ctx.printer.done(
                "Added",
                format_args!("{} to {app} as {}", added.user, added.role),
            );
            ctx.printer.print(&added, |_, _| Ok(()))
        }
        Some(Command::Update(args)) => {
            let who = user_name(&args.user)?;
            let changed: Collaborator = client.patch(
                &format!("{path}/{}", path_segment(who.as_str())),
                &UpdateCollaborator { role: args.role },
            )?;
            ctx.printer.done(
                "Changed",
                format_args!("{}'s role on {app} to {}", changed.user, changed.role),
            );
            ctx.printer.print(&changed, |_, _| Ok(()))
        }
        Some(Command::Remove(args)) => {
            let who = user_name(&args.user)?;
            client.delete::<()>(&format!("{path}/{}", path_segment(who.as_str())))?;
            ctx.printer
                .done("Removed", format_args!("{who} from {app}"));
            ctx.printer.print(
                &serde_json::json!({ "app": app, "user": who, "removed": true }),
                |_, _| Ok(()),
            )
        }
    }
}
