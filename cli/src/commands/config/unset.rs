//! `paas config unset KEY...`: one release for the whole change.

use paas_share::ConfigKey;
use paas_share::models::ConfigPatch;

use crate::context::Ctx;

/// Remove config vars (one new release for all of them)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(required = true, value_name = "KEY", value_parser = ConfigKey::parse)]
    keys: Vec<ConfigKey>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let patch: ConfigPatch = args
        .keys
        .into_iter()
        .map(|k| (k.to_string(), None))
        .collect();
    let release = super::change(ctx, &patch, "Unset")?;
    ctx.printer.print(&release, |_, _| Ok(()))
}
