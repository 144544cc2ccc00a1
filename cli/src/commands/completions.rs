//! `paas completions SHELL`: shell completion scripts generated from the command definitions.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::context::Ctx;

/// Print a shell completion script
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  paas completions bash > /etc/bash_completion.d/paas\n  paas completions zsh > \"${fpath[1]}/_paas\"\n  paas completions fish > ~/.config/fish/completions/paas.fish"
)]
pub struct Args {
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(args: Args, _: &Ctx) -> anyhow::Result<()> {
    // Generated into memory first: clap_complete panics when its writer fails, and a closed
    // stdout must end the command quietly.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "paas", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}
