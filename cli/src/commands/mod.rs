//! One module per command (`<noun>/<verb>.rs`), each with its clap `Args` and a `run`. Commands
//! share logic through the crate's modules, never by calling each other.

pub mod access;
pub mod addons;
pub mod alerts;
pub mod apps;
pub mod audit;
pub mod autoscale;
pub mod builds;
pub mod canary;
pub mod certs;
pub mod completions;
pub mod config;
pub mod domains;
pub mod drains;
pub mod git;
pub mod keys;
pub mod limits;
pub mod login;
pub mod logout;
pub mod logs;
pub mod maintenance;
pub mod metrics;
pub mod open;
pub mod pg;
pub mod ps;
pub mod redis;
pub mod releases;
pub mod restart;
pub mod router;
pub mod run;
pub mod scale;
pub mod stack;
pub mod stop;
pub mod tokens;
pub mod whoami;

/// The refusal of a listing's own flag given with a subcommand (`paas config --shell get K`):
/// a noun that lists without a subcommand takes its listing's flags, and checks them here rather
/// than with clap's `args_conflicts_with_subcommands`, which would refuse the global -a/--json
/// before a subcommand too. `example` is the listing with the flag.
pub fn listing_flag_with_subcommand(flag: &str, example: &str) -> anyhow::Error {
    crate::error::CliError::usage(format!(
        "{flag} goes with the listing, not with a subcommand"
    ))
    .hint(example)
    .into()
}
