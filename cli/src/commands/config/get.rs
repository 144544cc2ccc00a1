//! `paas config get KEY`.

use paas_share::ConfigKey;
use paas_share::models::ConfigVars;

use crate::context::Ctx;
use crate::error::CliError;

/// Print one config var's value
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_parser = ConfigKey::parse)]
    key: ConfigKey,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let vars: ConfigVars = ctx.client()?.get(&format!("/apps/{app}/config-vars"))?;
    let value = vars.get(args.key.as_str()).ok_or_else(|| {
        CliError::new(
            "not_found",
            format!("config var {} is not set on {app}", args.key),
        )
        .hint("run `paas config` to list them")
    })?;
    if value == paas_share::models::REDACTED {
        return Err(CliError::new(
            "forbidden",
            format!("the value of {} is hidden from viewers of {app}", args.key),
        )
        .hint(format!(
            "ask an admin of {app} for the deployer role (`paas access -a {app}` lists them)"
        ))
        .into());
    }
    ctx.printer.print(value, |p, out| {
        // Exactly as set for a script; on a terminal, with control characters shown.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            writeln!(out, "{}", p.app_text(value))
        } else {
            writeln!(out, "{value}")
        }
    })
}
