//! The command-line definition: global flags, nouns and verbs, the top-level shortcuts, and the
//! Heroku-style colon spellings (`apps:create`, `config:set`, `git:remote`).

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::commands::{
    access, addons, alerts, apps, audit, autoscale, builds, canary, certs, completions, config,
    domains, drains, git, keys, limits, login, logout, logs, maintenance, metrics, open, pg, ps,
    redis, releases, restart, router, run, scale, stack, stop, tokens, whoami,
};
use crate::printer::ColorChoice;

const EXAMPLES: &str = "\
Examples:
  paas login --host http://paas.example.com:5500
  paas create my-app              # in your app's git repo: also adds the `paas` remote
  git push paas main              # build and deploy
  paas config set GREETING=hello  # each change is a new release
  paas releases
  paas rollback                   # back to the previous release
  paas run -- ./manage.py migrate # a one-off dyno of the current release
  paas addons:create postgresql   # a database: the app gets DATABASE_URL
  paas domains:add www.example.com && paas certs:auto:enable   # your domain, over HTTPS

The app comes from -a/--app, then PAAS_APP, then the `paas` git remote of the current repo.
Heroku-style spellings work too: apps:create, config:set, releases:rollback, keys:add, git:remote.";

/// Deploy and run apps on your own servers, Heroku-style
#[derive(Debug, Parser)]
#[command(name = "paas", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// App to act on [default: $PAAS_APP, then the `paas` git remote]
    #[arg(short, long, global = true, value_name = "APP", value_parser = app_flag)]
    pub app: Option<String>,
    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// When to use colour
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

thread_local! {
    /// Every -a/--app value clap parsed, in order (see [`parse`]).
    static APP_FLAGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// clap's parser for -a/--app: notes each value as given.
fn app_flag(value: &str) -> Result<String, String> {
    APP_FLAGS.with(|flags| flags.borrow_mut().push(value.to_owned()));
    Ok(value.to_owned())
}

/// Parses a command line (as [`expand_colon_command`] left it). Errors: clap's, and an argument
/// conflict when -a/--app names two different apps: given once before and once after a
/// subcommand, clap keeps the last one without a word (clap-rs/clap#3938), and a change made
/// to the wrong app is worse than a refusal.
pub fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    use clap::CommandFactory;
    APP_FLAGS.with(|flags| flags.borrow_mut().clear());
    let cli = Cli::try_parse_from(args)?;
    // In name order: clap parses a subcommand's values before its parent's.
    let apps: std::collections::BTreeSet<String> =
        APP_FLAGS.with(|flags| flags.take()).into_iter().collect();
    if let [first, second, ..] = Vec::from_iter(&apps)[..] {
        return Err(Cli::command().error(
            clap::error::ErrorKind::ArgumentConflict,
            format!("-a/--app names two apps, {first:?} and {second:?}: name one"),
        ));
    }
    Ok(cli)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Login(login::Args),
    Logout(logout::Args),
    Whoami(whoami::Args),
    Apps(apps::Args),
    /// Create an app (same as `apps create`)
    Create(apps::create::Args),
    /// Destroy an app (same as `apps destroy`)
    Destroy(apps::destroy::Args),
    /// Show an app's details (same as `apps info`)
    Info(apps::info::Args),
    Git(git::Args),
    Keys(keys::Args),
    Tokens(tokens::Args),
    Access(access::Args),
    Audit(audit::Args),
    Builds(builds::Args),
    Logs(logs::Args),
    Metrics(metrics::Args),
    Autoscale(autoscale::Args),
    Alerts(alerts::Args),
    Drains(drains::Args),
    Open(open::Args),
    Ps(ps::Args),
    Scale(scale::Args),
    Restart(restart::Args),
    Run(run::Args),
    Stop(stop::Args),
    Config(config::Args),
    Releases(releases::Args),
    /// Roll back to an earlier release (same as `releases rollback`)
    Rollback(releases::rollback::Args),
    Stack(stack::Args),
    Addons(addons::Args),
    Domains(domains::Args),
    Certs(certs::Args),
    Maintenance(maintenance::Args),
    Router(router::Args),
    Limits(limits::Args),
    Canary(canary::Args),
    Pg(pg::Args),
    Redis(redis::Args),
    Completions(completions::Args),
}

/// Colon spellings that are not simply `noun verb`.
const COLON_ALIASES: &[(&str, &[&str])] = &[
    ("releases:rollback", &["rollback"]),
    ("apps:open", &["open"]),
    ("ps:scale", &["scale"]),
    ("ps:restart", &["restart"]),
    ("ps:stop", &["stop"]),
    ("run:detached", &["run", "--detached"]),
    ("auth:login", &["login"]),
    ("auth:logout", &["logout"]),
    ("auth:whoami", &["whoami"]),
    // Heroku's older spellings of `access` and `tokens`.
    ("sharing", &["access"]),
    ("sharing:add", &["access", "add"]),
    ("sharing:remove", &["access", "remove"]),
    ("authorizations", &["tokens"]),
    ("authorizations:create", &["tokens", "create"]),
    ("authorizations:revoke", &["tokens", "revoke"]),
    (
        "addons:credentials:rotate",
        &["addons", "rotate-credentials"],
    ),
    ("certs:auto:enable", &["certs", "auto", "enable"]),
    ("certs:auto:disable", &["certs", "auto", "disable"]),
    ("pg:backups:capture", &["pg", "backups", "capture"]),
    ("pg:backups:info", &["pg", "backups", "info"]),
    ("pg:backups:list", &["pg", "backups", "list"]),
    ("pg:backups:download", &["pg", "backups", "download"]),
    ("pg:backups:restore", &["pg", "backups", "restore"]),
];

/// Rewrites the first command word `noun:verb` into `noun verb` (or its alias), skipping global
/// flags and their values. Later words are left alone: they are values (`config set A=b:c`).
pub fn expand_colon_command(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut iter = args.into_iter();
    out.extend(iter.next());
    let mut takes_value = false;
    for arg in iter.by_ref() {
        let text = arg.to_str().unwrap_or_default().to_owned();
        if takes_value || text.starts_with('-') {
            takes_value = !takes_value && matches!(text.as_str(), "-a" | "--app" | "--color");
            out.push(arg);
            continue;
        }
        match (
            COLON_ALIASES.iter().find(|(alias, _)| *alias == text),
            text.split_once(':'),
        ) {
            (Some((_, words)), _) => out.extend(words.iter().map(OsString::from)),
            (None, Some((noun, verb))) => out.extend([OsString::from(noun), OsString::from(verb)]),
            (None, None) => out.push(arg),
        }
        break;
    }
    out.extend(iter);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(line: &str) -> String {
        let args = line.split(' ').map(OsString::from).collect();
        expand_colon_command(args)
            .iter()
            .map(|a| a.to_str().expect("utf-8"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn colon_commands() {
        assert_eq!(expand("paas apps:create demo"), "paas apps create demo");
        assert_eq!(
            expand("paas -a demo config:set A=b:c"),
            "paas -a demo config set A=b:c"
        );
        assert_eq!(
            expand("paas --color never releases:rollback v2"),
            "paas --color never rollback v2"
        );
        assert_eq!(expand("paas git:remote -r x"), "paas git remote -r x");
        assert_eq!(expand("paas apps:open demo"), "paas open demo");
        assert_eq!(expand("paas config set A=b:c"), "paas config set A=b:c");
        assert_eq!(
            expand("paas --app=demo keys:add"),
            "paas --app=demo keys add"
        );
    }

    /// -a/--app, --json and --color are global: they go before or after a noun's subcommand.
    /// clap's `args_conflicts_with_subcommands` counts a global given before the subcommand as
    /// the noun's own argument and refuses the pair, so no command may set it.
    #[test]
    fn global_flags_go_anywhere() {
        use clap::CommandFactory;
        fn walk(command: &clap::Command) {
            assert!(
                !command.is_args_conflicts_with_subcommands_set(),
                "{} refuses global flags before its subcommand",
                command.get_name()
            );
            command.get_subcommands().for_each(walk);
        }
        walk(&Cli::command());
        for line in [
            "paas releases -a demo info v3",
            "paas config -a demo --json get K",
            "paas pg:backups -a demo capture",
            "paas domains --color never -a demo add www.example.com",
        ] {
            let words = expand_colon_command(line.split(' ').map(Into::into).collect());
            if let Err(e) = parse(&words) {
                panic!("{line}: {e}");
            }
        }
    }

    #[test]
    fn two_apps_are_refused_wherever_the_flags_are() {
        let parse = |line: &str| parse(&line.split(' ').map(OsString::from).collect::<Vec<_>>());
        for line in [
            "paas -a one config set A=1 -a two",
            "paas config -a one set A=1 --app=two",
            "paas -a one releases info v1 -a two",
        ] {
            let e = parse(line).expect_err(line);
            assert!(e.to_string().contains("\"one\" and \"two\""), "{line}: {e}");
        }
        let cli = parse("paas -a one config set A=1 -a one").expect("the same app twice");
        assert_eq!(cli.global.app.as_deref(), Some("one"));
        let cli = parse("paas -a one run ls -a").expect("run's own -a");
        assert_eq!(cli.global.app.as_deref(), Some("one"));
    }

    #[test]
    fn definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
