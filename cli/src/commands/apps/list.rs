//! `paas apps list`.

use paas_share::models::App;

use crate::context::Ctx;

/// List the apps you can access
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let apps: Vec<App> = ctx.client()?.get("/apps")?;
    if apps.is_empty() && !ctx.printer.json() {
        ctx.printer
            .status("You have no apps yet. Create one with `paas create`.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            let release = a
                .release
                .map_or_else(|| "-".to_owned(), |v| format!("v{v}"));
            vec![
                a.name.to_string(),
                a.owner.to_string(),
                a.role.map_or_else(String::new, |r| r.to_string()),
                release,
                a.web_url.clone(),
            ]
        })
        .collect();
    ctx.printer.print(&apps, |p, out| {
        p.table(
            out,
            &["NAME", "OWNER", "YOUR ROLE", "RELEASE", "URL"],
            &rows,
        )
    })
}
