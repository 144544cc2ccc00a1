//! `paas config set KEY=VALUE...`: one release for the whole change.

use paas_share::ConfigKey;
use paas_share::models::ConfigPatch;
use paas_share::names::{MAX_CONFIG_VALUE_BYTES, excerpt};

use crate::context::Ctx;

/// Set config vars (one new release for all of them)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  paas config set GREETING=hello\n  paas config set DATABASE_URL='postgres://u:p@db/app?sslmode=require' WORKERS=4"
)]
pub struct Args {
    /// Everything after the first `=` is the value
    #[arg(required = true, value_name = "KEY=VALUE", value_parser = parse_assignment)]
    vars: Vec<(ConfigKey, String)>,
}

fn parse_assignment(arg: &str) -> Result<(ConfigKey, String), String> {
    let (key, value) = arg.split_once('=').ok_or_else(|| {
        format!(
            "expected KEY=VALUE, got {:?} (to remove a var: paas config unset KEY)",
            excerpt(arg)
        )
    })?;
    let key = ConfigKey::parse(key).map_err(|e| e.to_string())?;
    if value.len() > MAX_CONFIG_VALUE_BYTES {
        return Err(format!(
            "the value of {key} is longer than {} KiB",
            MAX_CONFIG_VALUE_BYTES / 1024
        ));
    }
    Ok((key, value.to_owned()))
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let patch: ConfigPatch = args
        .vars
        .into_iter()
        .map(|(k, v)| (k.to_string(), Some(v)))
        .collect();
    let release = super::change(ctx, &patch, "Set")?;
    ctx.printer.print(&release, |p, out| {
        let fields: Vec<(&str, String)> = patch
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    p.app_text(v.as_deref().unwrap_or_default()).into_owned(),
                )
            })
            .collect();
        p.fields(out, &fields)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_assignment;

    #[test]
    fn value_keeps_everything_after_the_first_equals() {
        let (key, value) = parse_assignment("URL=postgres://h/db?a=b=c").expect("valid");
        assert_eq!(
            (key.as_str(), value.as_str()),
            ("URL", "postgres://h/db?a=b=c")
        );
        assert_eq!(parse_assignment("EMPTY=").expect("valid").1, "");
    }

    #[test]
    fn bare_keys_and_bad_keys_are_refused() {
        assert!(
            parse_assignment("KEY")
                .expect_err("no =")
                .contains("expected KEY=VALUE")
        );
        assert!(
            parse_assignment("1KEY=x")
                .expect_err("bad key")
                .contains("invalid config key")
        );
        assert!(parse_assignment(&format!("BIG={}", "x".repeat(32 * 1024 + 1))).is_err());
        // What the user typed is quoted, not echoed whole.
        let said = parse_assignment(&"K".repeat(40_000)).expect_err("no =");
        assert!(said.len() < 200, "{said}");
        let said = parse_assignment(&format!("{}=x", "-".repeat(40_000))).expect_err("bad key");
        assert!(said.len() < 200, "{said}");
    }
}
