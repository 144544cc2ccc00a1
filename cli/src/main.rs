//! `paas`: the command-line client. Parses the command line, runs one command, renders its
//! failure as `error:`/`hint:` (or JSON), and exits 0 (success), 1 (failure) or 2 (usage).

mod addons;
mod api_client;
mod attach;
mod cli;
mod commands;
mod confirm;
mod context;
mod credentials;
mod env_vars;
mod error;
mod git_remote;
mod printer;

use std::process::ExitCode;

use crate::cli::Command;
use crate::commands::{
    access, alerts, apps, audit, autoscale, builds, canary, certs, completions, config, domains,
    drains, git, keys, limits, login, logout, logs, maintenance, metrics, open, pg, ps, redis,
    releases, restart, router, run, scale, stack, stop, tokens, whoami,
};
use crate::context::Ctx;
use crate::error::ExitStatus;
use crate::printer::Printer;

fn main() -> ExitCode {
    let args = cli::expand_colon_command(std::env::args_os().collect());
    let cli = match cli::parse(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, &args),
    };
    let ctx = Ctx::new(
        Printer::new(cli.global.json, cli.global.color),
        cli.global.app,
    );
    let result = match cli.command {
        Command::Login(args) => login::run(args, &ctx),
        Command::Logout(args) => logout::run(args, &ctx),
        Command::Whoami(args) => whoami::run(args, &ctx),
        Command::Apps(args) => apps::run(args, &ctx),
        Command::Create(args) => apps::create::run(args, &ctx),
        Command::Destroy(args) => apps::destroy::run(args, &ctx),
        Command::Info(args) => apps::info::run(args, &ctx),
        Command::Git(args) => git::run(args, &ctx),
        Command::Keys(args) => keys::run(args, &ctx),
        Command::Builds(args) => builds::run(args, &ctx),
        Command::Logs(args) => logs::run(args, &ctx),
        Command::Open(args) => open::run(args, &ctx),
        Command::Ps(args) => ps::run(args, &ctx),
        Command::Scale(args) => scale::run(args, &ctx),
        Command::Stack(args) => stack::run(args, &ctx),
        Command::Domains(args) => domains::run(args, &ctx),
        Command::Certs(args) => certs::run(args, &ctx),
        Command::Maintenance(args) => maintenance::run(args, &ctx),
        Command::Router(args) => router::run(args, &ctx),
        Command::Limits(args) => limits::run(args, &ctx),
        Command::Canary(args) => canary::run(args, &ctx),
        Command::Metrics(args) => metrics::run(args, &ctx),
        Command::Autoscale(args) => autoscale::run(args, &ctx),
        Command::Alerts(args) => alerts::run(args, &ctx),
        Command::Drains(args) => drains::run(args, &ctx),
        Command::Tokens(args) => tokens::run(args, &ctx),
        Command::Access(args) => access::run(args, &ctx),
        Command::Audit(args) => audit::run(args, &ctx),
        Command::Restart(args) => restart::run(args, &ctx),
        Command::Run(args) => match run::run(args, &ctx) {
            Ok(status) => return status.into(),
            Err(err) => Err(err),
        },
        Command::Stop(args) => stop::run(args, &ctx),
        Command::Config(args) => config::run(args, &ctx),
        Command::Releases(args) => releases::run(args, &ctx),
        Command::Rollback(args) => releases::rollback::run(args, &ctx),
        Command::Addons(args) => commands::addons::run(args, &ctx),
        Command::Pg(args) => match pg::run(args, &ctx) {
            Ok(status) => return status.into(),
            Err(err) => Err(err),
        },
        Command::Redis(args) => match redis::run(args, &ctx) {
            Ok(status) => return status.into(),
            Err(err) => Err(err),
        },
        Command::Completions(args) => completions::run(args, &ctx),
    };
    match result {
        Ok(()) => ExitStatus::Success,
        Err(err) => ctx.printer.error(&err),
    }
    .into()
}

/// A command line clap refused: help and version as clap prints them; a usage error as the JSON
/// error object when `--json` was given (every command's errors are JSON then), else clap's.
fn usage_error(mut e: clap::Error, args: &[std::ffi::OsString]) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    // A refused value is quoted in part: it may be a 32 KiB secret.
    if let Some(ContextValue::String(value)) = e.get(ContextKind::InvalidValue) {
        let shortened = paas_share::names::excerpt(value);
        e.insert(ContextKind::InvalidValue, ContextValue::String(shortened));
    }
    let json = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shown || !json {
        e.exit();
    }
    let rendered = e.render().to_string();
    // The message with the lines that name what is missing, and clap's tip as the hint; not
    // the usage and help lines.
    let lines: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let (tips, message): (Vec<&str>, Vec<&str>) = lines
        .into_iter()
        .partition(|line| line.starts_with("tip: "));
    let message = message.join(" ");
    let hint = tips
        .first()
        .map_or("run the command with --help to see its arguments", |tip| {
            tip.trim_start_matches("tip: ")
        });
    let failure = crate::error::CliError::usage(message.trim_start_matches("error: ").to_owned())
        .hint(hint.to_owned());
    Printer::new(true, crate::printer::ColorChoice::Never)
        .error(&failure.into())
        .into()
}
