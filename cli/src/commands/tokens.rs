//! `paas tokens`: your API tokens; `tokens:create` makes a scoped one for CI and scripts,
//! `tokens:revoke` ends one.

use paas_share::models::{CreateToken, CreatedToken, Role, TokenInfo};

use crate::api_client::path_segment;
use crate::context::Ctx;
use crate::error::CliError;

/// API tokens: list yours (without a subcommand), create a scoped one, revoke one
///
/// A scoped token works for the API, `paas logs` and `paas run` on its app (or on every app you
/// may use, with --all-apps), never for more than its role or more than you may do, and never to
/// manage keys or tokens or to create apps. Give one to CI as PAAS_API_TOKEN.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas tokens
  paas tokens:create --description \"GitHub Actions\" -a my-app --role deployer --expires 90d
  paas tokens:create --description CI -a my-app --json   # {\"id\": …, \"token\": …, …}
  paas tokens:revoke 0123456789abcdef")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Create(CreateArgs),
    Revoke(RevokeArgs),
}

/// The longest `--expires` the server takes: ten years (of 365.25 days, as `10y` means), in
/// seconds.
const MAX_EXPIRES_SECONDS: u64 = 315_576_000;

/// Create a scoped token (printed once)
#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// What holds it, such as "GitHub Actions deploy" (1 to 100 characters)
    #[arg(long, short)]
    description: String,
    /// The most it may do: viewer, deployer or admin (never more than your own role)
    #[arg(long, default_value = "deployer", value_parser = super::access::parse_role)]
    role: Role,
    /// For every app you may use instead of one app (-a APP)
    #[arg(long)]
    all_apps: bool,
    /// How long it works: 1h, 30d, 90d, 1y…; without it, until revoked
    #[arg(long, value_name = "DURATION")]
    expires: Option<String>,
}

/// Revoke a token: requests with it are refused from now on
#[derive(Debug, clap::Args)]
struct RevokeArgs {
    /// Its id, as `paas tokens` lists it
    id: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        None => list(ctx),
        Some(Command::Create(args)) => create(args, ctx),
        Some(Command::Revoke(args)) => {
            ctx.client()?
                .delete::<()>(&format!("/account/tokens/{}", path_segment(&args.id)))?;
            ctx.printer
                .done("Revoked", format_args!("token {}", args.id));
            ctx.printer.print(
                &serde_json::json!({ "id": args.id, "revoked": true }),
                |_, _| Ok(()),
            )
        }
    }
}

fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let tokens: Vec<TokenInfo> = ctx.client()?.get("/account/tokens")?;
    ctx.printer.print(&tokens, |p, out| {
        p.heading(out, "API tokens")?;
        let rows: Vec<Vec<String>> = tokens
            .iter()
            .map(|t| {
                let scope = match (&t.role, &t.app) {
                    (None, _) => "login (everything you may)".to_owned(),
                    (Some(role), Some(app)) => format!("{role} on {app}"),
                    (Some(role), None) => format!("{role} on all your apps"),
                };
                let id = if t.current {
                    format!("{} (this one)", t.id)
                } else {
                    t.id.clone()
                };
                vec![
                    id,
                    p.app_text(&t.description).into_owned(),
                    scope,
                    t.created_at.clone(),
                    t.last_used_at.clone().unwrap_or_else(|| "never".to_owned()),
                    match (&t.expires_at, t.expired) {
                        (Some(at), true) => format!("expired {at}"),
                        (Some(at), false) => at.clone(),
                        (None, _) => "never".to_owned(),
                    },
                ]
            })
            .collect();
        p.table(
            out,
            &[
                "ID",
                "DESCRIPTION",
                "SCOPE",
                "CREATED",
                "LAST USED",
                "EXPIRES",
            ],
            &rows,
        )
    })
}

fn create(args: CreateArgs, ctx: &Ctx) -> anyhow::Result<()> {
    if args.all_apps && ctx.app_flag_given() {
        return Err(CliError::usage("-a APP and --all-apps ask for different tokens")
            .hint("give -a APP for a token limited to that app, or --all-apps for every app you may use")
            .into());
    }
    let app = if args.all_apps {
        None
    } else {
        Some(ctx.app().map_err(|e| {
            e.hint("pass -a APP for a token limited to that app, or --all-apps for every app you may use")
        })?)
    };
    let expires_in = match &args.expires {
        None => None,
        Some(text) => Some(
            humantime::parse_duration(text)
                .ok()
                .map(|d| d.as_secs())
                .filter(|s| (1..=MAX_EXPIRES_SECONDS).contains(s))
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "{text:?} is not a duration from 1 second to 10 years"
                    ))
                    .hint("such as 1h, 30d, 90d or 1y")
                })?,
        ),
    };
    let body = CreateToken {
        description: args.description,
        app,
        role: args.role,
        expires_in,
    };
    let created: CreatedToken = ctx.client()?.post("/account/tokens", &body)?;
    let scope = match &created.info.app {
        Some(app) => format!("{} on {app}", created.info.role.unwrap_or(args.role)),
        None => format!("{} on all your apps", args.role),
    };
    let until = created
        .info
        .expires_at
        .as_deref()
        .map_or_else(|| "until revoked".to_owned(), |at| format!("until {at}"));
    ctx.printer.done(
        "Created",
        format_args!("token {} ({scope}, {until})", created.info.id),
    );
    if !ctx.printer.json() {
        ctx.printer.status(
            "It is shown this once: store it now (as PAAS_API_TOKEN in your CI's secrets).",
        );
    }
    ctx.printer
        .print(&created, |_, out| writeln!(out, "{}", created.token))
}
