//! `paas domains`: the hostnames an app answers to (Heroku's `heroku domains`): list, add,
//! remove, wait for a certificate, and the redirect from HTTP to HTTPS.

use std::time::{Duration, Instant};

use paas_share::models::{Domain, RouterSettings, UpdateRouterSettings};

use crate::api_client::path_segment;
use crate::context::Ctx;
use crate::error::CliError;

/// Custom domains: point a DNS name at an app (lists them without a subcommand)
///
/// Every app answers at its default hostname (<app>.<domain>). A custom domain adds another:
/// create a CNAME record from it to the DNS target `paas domains` shows (an ALIAS or ANAME record
/// at a zone's apex, or an A record with this server's address). With `paas certs:auto:enable`
/// the server gets and renews its certificate from Let's Encrypt (ACME).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas domains:add www.example.com    # then: CNAME www.example.com -> the DNS target shown
  paas certs:auto:enable              # HTTPS with certificates from Let's Encrypt
  paas domains:wait www.example.com   # until its certificate is issued
  paas domains:redirect-https on      # HTTP requests get a 301 to https://
  paas domains:remove www.example.com")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Add(AddArgs),
    Remove(RemoveArgs),
    Wait(WaitArgs),
    RedirectHttps(RedirectArgs),
}

/// Add a custom domain to the app
///
/// Internationalised names are stored as IDNA (Bücher.example is xn--bcher-kva.example). A
/// wildcard (*.example.com) covers one label; ACM cannot get certificates for wildcards: upload
/// one with `paas certs:add`.
#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The hostname, such as www.example.com
    hostname: String,
    /// Wait until its certificate is issued (with ACM on)
    #[arg(long)]
    wait: bool,
}

/// Remove a custom domain from the app (and the ACM certificate only it had)
#[derive(Debug, clap::Args)]
struct RemoveArgs {
    hostname: String,
}

/// Wait until a domain's certificate is issued by ACM
///
/// Exits 0 once HTTPS is served for it, 1 when the last order failed (the error says why; ACM
/// tries again later) or the timeout passes.
#[derive(Debug, clap::Args)]
struct WaitArgs {
    hostname: String,
    /// How long to wait, in seconds
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,
}

/// Answer the app's HTTP requests with a 301 to HTTPS (for hostnames it has a certificate for)
#[derive(Debug, clap::Args)]
struct RedirectArgs {
    #[arg(value_enum)]
    state: OnOff,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    pub fn is_on(self) -> bool {
        matches!(self, Self::On)
    }
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        None => list(ctx),
        Some(Command::Add(args)) => add(args, ctx),
        Some(Command::Remove(args)) => remove(args, ctx),
        Some(Command::Wait(args)) => wait(&args.hostname, args.timeout, ctx),
        Some(Command::RedirectHttps(args)) => redirect(args, ctx),
    }
}

fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let domains: Vec<Domain> = client.get(&format!("/apps/{app}/domains"))?;
    let settings: RouterSettings = client.get(&format!("/apps/{app}/router"))?;
    ctx.printer.print(&domains, |p, out| {
        p.heading(out, &format!("{app} Default Domain"))?;
        for domain in domains.iter().filter(|d| d.kind == "default") {
            writeln!(out, "{}", domain.hostname)?;
        }
        let custom: Vec<&Domain> = domains.iter().filter(|d| d.kind == "custom").collect();
        writeln!(out)?;
        p.heading(out, &format!("{app} Custom Domains"))?;
        if custom.is_empty() {
            return writeln!(
                out,
                "None yet. Add one with `paas domains:add www.example.com`."
            );
        }
        let rows: Vec<Vec<String>> = custom
            .iter()
            .map(|d| {
                vec![
                    d.hostname.clone(),
                    "CNAME".to_owned(),
                    d.cname.clone().unwrap_or_default(),
                    d.cert_status.clone(),
                ]
            })
            .collect();
        p.table(
            out,
            &["DOMAIN", "DNS RECORD", "DNS TARGET", "CERTIFICATE"],
            &rows,
        )?;
        for domain in &custom {
            if let Some(error) = &domain.acm_error {
                writeln!(out, "\n{}: {error}", domain.hostname)?;
            }
        }
        writeln!(
            out,
            "\nACM (automatic certificates): {}; HTTP to HTTPS redirect: {}",
            on_off(settings.acm),
            on_off(settings.redirect_https)
        )
    })
}

fn add(args: AddArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let domain: Domain = client.post(
        &format!("/apps/{app}/domains"),
        &paas_share::models::CreateDomain {
            hostname: args.hostname.clone(),
        },
    )?;
    ctx.printer
        .done("Added", format_args!("{} to {app}", domain.hostname));
    if let Some(target) = &domain.cname {
        ctx.printer.status(format_args!(
            "Point its DNS at this server: a CNAME record from {} to {target} (at a zone's apex: an ALIAS/ANAME record, or an A record with the server's address).",
            domain.hostname
        ));
    }
    let settings: RouterSettings = client.get(&format!("/apps/{app}/router"))?;
    if args.wait {
        return wait(&domain.hostname, 300, ctx);
    }
    if settings.acm {
        ctx.printer.status(format_args!(
            "ACM orders its certificate now; `paas domains:wait {}` waits for it.",
            domain.hostname
        ));
    } else if domain.cert_status == "none" {
        ctx.printer.status(
            "For HTTPS: `paas certs:auto:enable` (certificates from Let's Encrypt), or `paas certs:add CERT KEY`.",
        );
    }
    ctx.printer.print(&domain, |_, _| Ok(()))
}

fn remove(args: RemoveArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let domain: Domain = ctx.client()?.delete(&format!(
        "/apps/{app}/domains/{}",
        path_segment(&args.hostname)
    ))?;
    ctx.printer
        .done("Removed", format_args!("{} from {app}", domain.hostname));
    ctx.printer.print(&domain, |_, _| Ok(()))
}

fn wait(hostname: &str, timeout: u64, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let path = format!("/apps/{app}/domains/{}", path_segment(hostname));
    let settings: RouterSettings = client.get(&format!("/apps/{app}/router"))?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let spinner = ctx
        .printer
        .spinner(format!("Waiting for {hostname}'s certificate…"));
    let domain = loop {
        let domain: Domain = client.get(&path)?;
        match domain.cert_status.as_str() {
            "issued" => break domain,
            _ if domain.kind == "default" => {
                spinner.finish_and_clear();
                return Err(CliError::new(
                    "default_domain",
                    format!(
                        "{} is the app's default hostname: ACM gets certificates for custom domains only",
                        domain.hostname
                    ),
                )
                .hint("upload one for it with `paas certs:add CERT KEY`, or wait for a custom domain")
                .into());
            }
            "failing" => {
                spinner.finish_and_clear();
                return Err(CliError::new(
                    "acm_failed",
                    format!(
                        "the certificate order for {} failed: {}",
                        domain.hostname,
                        domain.acm_error.as_deref().unwrap_or("no reason given")
                    ),
                )
                .hint("ACM tries again later; `paas logs --ps acm` has each attempt")
                .into());
            }
            "none" if !settings.acm => {
                spinner.finish_and_clear();
                return Err(CliError::new(
                    "acm_off",
                    format!("{} has no certificate, and ACM is off", domain.hostname),
                )
                .hint("turn it on with `paas certs:auto:enable`, or upload one with `paas certs:add CERT KEY`")
                .into());
            }
            _ if Instant::now() >= deadline => {
                spinner.finish_and_clear();
                return Err(CliError::new(
                    "timeout",
                    format!(
                        "{}'s certificate is still {} after {timeout} s",
                        domain.hostname, domain.cert_status
                    ),
                )
                .hint("check that its DNS points at this server (`paas domains`); `paas logs --ps acm` shows the orders")
                .into());
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    spinner.finish_and_clear();
    ctx.printer.done(
        "Issued",
        format_args!(
            "a certificate for {}: https://{}/",
            domain.hostname, domain.hostname
        ),
    );
    ctx.printer.print(&domain, |_, _| Ok(()))
}

fn redirect(args: RedirectArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let settings: RouterSettings = ctx.client()?.patch(
        &format!("/apps/{app}/router"),
        &UpdateRouterSettings {
            redirect_https: Some(args.state.is_on()),
            ..UpdateRouterSettings::default()
        },
    )?;
    if settings.redirect_https {
        ctx.printer.done(
            "Redirecting",
            format_args!(
                "{app}'s HTTP requests to HTTPS (301), for the hostnames it has a certificate for"
            ),
        );
    } else {
        ctx.printer
            .done("Stopped", format_args!("redirecting {app}'s HTTP requests"));
    }
    ctx.printer.print(&settings, |_, _| Ok(()))
}

pub fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
