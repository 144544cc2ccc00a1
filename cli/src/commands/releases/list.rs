//! `paas releases list`.

use paas_share::models::Release;

use crate::context::Ctx;

/// List an app's releases, newest first
#[derive(Debug, clap::Args)]
// Also flattened into `paas releases`: no group of its own to clash with that command's.
#[group(skip)]
pub struct Args {
    /// Only the newest NUM releases [default: all]
    #[arg(short, long, value_name = "NUM")]
    pub(super) num: Option<usize>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let mut releases: Vec<Release> = ctx.client()?.get(&format!("/apps/{app}/releases"))?;
    releases.truncate(args.num.unwrap_or(usize::MAX));
    if releases.is_empty() && !ctx.printer.json() {
        ctx.printer.status(format_args!(
            "{app} has no releases yet. Push code or set config to make one."
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = releases
        .iter()
        .map(|r| {
            let marker = if r.current { " (current)" } else { "" };
            vec![
                format!("v{}", r.version),
                brief(&r.description),
                format!("{}{marker}", r.status.as_str()),
                r.user.to_string(),
                r.created_at.clone(),
            ]
        })
        .collect();
    ctx.printer.print(&releases, |p, out| {
        p.table(
            out,
            &["VERSION", "DESCRIPTION", "STATUS", "USER", "CREATED"],
            &rows,
        )
    })
}

/// The longest description a row shows, in characters: setting 500 config vars at once makes a
/// description of thousands, which would widen every row (Heroku's CLI cuts them too).
/// `releases info` shows it whole.
const DESCRIPTION_CHARS: usize = 60;

/// `description`, cut to [`DESCRIPTION_CHARS`] with `…` at the end when longer.
fn brief(description: &str) -> String {
    if description.chars().count() <= DESCRIPTION_CHARS {
        return description.to_owned();
    }
    let kept: String = description.chars().take(DESCRIPTION_CHARS - 1).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_descriptions_are_cut() {
        assert_eq!(super::brief("Deploy 1a2b3c4"), "Deploy 1a2b3c4");
        let exact = "é".repeat(super::DESCRIPTION_CHARS);
        assert_eq!(super::brief(&exact), exact);
        let long = format!("Set {} config vars", "VAR_NAME, ".repeat(50));
        let brief = super::brief(&long);
        assert_eq!(brief.chars().count(), super::DESCRIPTION_CHARS);
        assert!(brief.starts_with("Set VAR_NAME, VAR_NAME,") && brief.ends_with('…'));
    }
}
