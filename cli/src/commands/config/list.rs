//! `paas config list`.

use paas_share::models::{ConfigVars, REDACTED};

use crate::context::Ctx;

/// List an app's config vars
#[derive(Debug, clap::Args)]
// Also flattened into `paas config`: no group of its own to clash with that command's.
#[group(skip)]
pub struct Args {
    /// Print KEY='value' lines that a POSIX shell can `eval` or a .env file can hold
    #[arg(long, conflicts_with = "json")]
    pub(super) shell: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let vars: ConfigVars = ctx.client()?.get(&format!("/apps/{app}/config-vars"))?;
    if !vars.is_empty() && vars.values().all(|v| v == REDACTED) {
        ctx.printer.warn(format_args!(
            "the values are hidden: viewers of {app} see the keys only"
        ));
    }
    ctx.printer.print(&vars, |p, out| {
        if args.shell {
            // Exact for `eval` and .env files; on a terminal, a value's control characters show
            // as `�` (they could retitle or rewrite it), as in every other listing.
            let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
            for (key, value) in &vars {
                let line = format!("{key}={}", shell_quote(value));
                if on_terminal {
                    writeln!(out, "{}", paas_share::terminal::terminal_safe(&line, false))?;
                } else {
                    writeln!(out, "{line}")?;
                }
            }
            return Ok(());
        }
        p.heading(out, &format!("{app} Config Vars"))?;
        let fields: Vec<(&str, String)> = vars
            .iter()
            .map(|(k, v)| (k.as_str(), p.app_text(v).into_owned()))
            .collect();
        p.fields(out, &fields)
    })
}

/// `it's` → `'it'\''s'`: single quotes keep everything literal.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_quoting() {
        assert_eq!(super::shell_quote("a b"), "'a b'");
        assert_eq!(super::shell_quote("it's $HOME"), r"'it'\''s $HOME'");
    }
}
