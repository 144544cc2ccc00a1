//! `paas login`: check a token against the server and store both.

use std::io::Read;

use paas_share::models::Account;

use crate::api_client::ApiClient;
use crate::context::{Ctx, HOST_EXAMPLES, checked_host};
use crate::credentials::{self, Credentials};
use crate::env_vars;
use crate::error::CliError;

/// Log in to a paas server with an API token
///
/// The token comes from --token-stdin, then PAAS_API_TOKEN, then a hidden prompt. An admin's
/// token is in <data-dir>/admin-token on the server; `paas-buildserver user create NAME` makes
/// more users.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  paas login --host http://paas.example.com:5500\n  paas login --token-stdin < token.txt"
)]
pub struct Args {
    /// Server URL [default: $PAAS_HOST, then the last login, then http://127.0.0.1:5500]
    #[arg(long, value_name = "URL")]
    host: Option<String>,
    /// Read the token from standard input
    #[arg(long)]
    token_stdin: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let host = match &args.host {
        // Checked here, before a token is asked for, rather than met as "cannot reach".
        Some(given) => checked_host(given).map_err(|why| {
            CliError::usage(format!("invalid --host {given:?}: {why}")).hint(HOST_EXAMPLES)
        })?,
        None => ctx.host()?,
    };
    let token = if args.token_stdin {
        let mut token = String::new();
        std::io::stdin().read_to_string(&mut token)?;
        token.trim().to_owned()
    } else if let Some(token) = env_vars::get(env_vars::PAAS_API_TOKEN) {
        token
    } else if ctx.interactive() {
        dialoguer::Password::new()
            .with_prompt(format!("API token for {host}"))
            .interact()?
            .trim()
            .to_owned()
    } else {
        return Err(
            CliError::usage("no token given and no terminal to ask for one")
                .hint(format!(
                    "pass it on standard input with --token-stdin, or set {}",
                    env_vars::PAAS_API_TOKEN
                ))
                .into(),
        );
    };
    if token.is_empty() {
        return Err(CliError::usage("the token is empty").into());
    }
    let account: Account = ApiClient::new(host.clone(), Some(token.clone()))?.get("/account")?;
    credentials::save(&Credentials {
        host: host.clone(),
        token,
    })?;
    ctx.printer.print(&account, |_, _| Ok(()))?;
    ctx.printer
        .done("Logged in", format_args!("as {} at {host}", account.name));
    Ok(())
}
