//! `paas certs`: the app's TLS certificates (Heroku's `heroku certs` and ACM): list, add an
//! uploaded one, remove, and Automated Certificate Management (`certs:auto`).

use paas_share::models::{
    Certificate, CreateCertificate, Domain, RouterSettings, UpdateRouterSettings,
};

use crate::api_client::path_segment;
use crate::context::Ctx;
use crate::error::CliError;

/// TLS certificates: list (without a subcommand), add, remove, and automatic ones (ACM)
///
/// The router serves HTTPS for a hostname once a certificate covers it: one ACM ordered from
/// Let's Encrypt (`certs:auto:enable`; renewed before it expires), or one you upload
/// (`certs:add`), which is served first. Private keys are never shown.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas certs:auto:enable                    # certificates for every custom domain, renewed
  paas certs                                # issuer, expiry and state of each
  paas certs:add fullchain.pem privkey.pem  # or your own (chain leaf first, and its key)
  paas certs:remove cert-3f9a1c2b --confirm cert-3f9a1c2b")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Add(AddArgs),
    Remove(RemoveArgs),
    Auto(AutoArgs),
}

/// Upload a certificate chain and its private key
///
/// The chain is PEM, leaf first, each certificate followed by the one that issued it (as
/// fullchain.pem); the key is PEM too (PKCS#8, RSA or EC). They must match, and the
/// certificate must not have expired.
#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The PEM certificate chain
    #[arg(value_name = "CERT.pem")]
    chain: std::path::PathBuf,
    /// The PEM private key
    #[arg(value_name = "KEY.pem")]
    key: std::path::PathBuf,
}

/// Remove a certificate (its hostnames are then served by another, or over HTTP only)
#[derive(Debug, clap::Args)]
struct RemoveArgs {
    /// The certificate's name, as `paas certs` lists it
    name: String,
    /// The name again, to confirm (required without a terminal)
    #[arg(long, value_name = "NAME")]
    confirm: Option<String>,
}

/// Automated Certificate Management: status (without a subcommand), enable, disable
#[derive(Debug, clap::Args)]
struct AutoArgs {
    #[command(subcommand)]
    command: Option<AutoCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum AutoCommand {
    /// Order certificates for every custom domain (ACME HTTP-01 through the router) and renew
    /// them 30 days (or a third of their lifetime) before they expire
    Enable,
    /// Stop ordering and renewing; certificates already issued are served until they expire
    Disable,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        None => list(ctx),
        Some(Command::Add(args)) => add(args, ctx),
        Some(Command::Remove(args)) => remove(args, ctx),
        Some(Command::Auto(AutoArgs { command: None })) => auto_status(ctx),
        Some(Command::Auto(AutoArgs {
            command: Some(command),
        })) => auto_set(matches!(command, AutoCommand::Enable), ctx),
    }
}

fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let certs: Vec<Certificate> = client.get(&format!("/apps/{app}/certs"))?;
    if !ctx.printer.json() {
        // ACM's last errors, which a certificate that still serves would hide.
        let domains: Vec<Domain> = client.get(&format!("/apps/{app}/domains"))?;
        for domain in &domains {
            if let Some(error) = &domain.acm_error {
                ctx.printer.warn(format_args!(
                    "ACM could not get a certificate for {}: {error}",
                    domain.hostname
                ));
            }
        }
    }
    if certs.is_empty() && !ctx.printer.json() {
        ctx.printer.status(format_args!(
            "{app} has no certificate. `paas certs:auto:enable` gets them from Let's Encrypt; `paas certs:add CERT KEY` uploads one."
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = certs
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.source.clone(),
                if c.domains.is_empty() {
                    format!("(none of its names: {})", c.names.join(", "))
                } else {
                    c.domains.join(", ")
                },
                c.not_after.clone(),
                c.state.clone(),
                c.issuer.clone(),
            ]
        })
        .collect();
    ctx.printer.print(&certs, |p, out| {
        p.table(
            out,
            &["NAME", "SOURCE", "DOMAINS", "EXPIRES", "STATE", "ISSUER"],
            &rows,
        )
    })
}

fn add(args: AddArgs, ctx: &Ctx) -> anyhow::Result<()> {
    // A PEM chain is a few KiB: a larger file is not one (and would be over the API's limit).
    const MOST: u64 = 256 * 1024;
    let read = |path: &std::path::Path, what: &str| {
        let failed = |e: std::io::Error| {
            CliError::usage(format!("cannot read the {what} {}: {e}", path.display()))
        };
        let size = std::fs::metadata(path).map_err(failed)?.len();
        if size > MOST {
            return Err(CliError::usage(format!(
                "the {what} {} is {}, not a PEM file (those are a few KiB; at most 256 KiB)",
                path.display(),
                indicatif::HumanBytes(size)
            )));
        }
        std::fs::read_to_string(path).map_err(failed)
    };
    let body = CreateCertificate {
        certificate_chain: read(&args.chain, "certificate chain")?,
        private_key: read(&args.key, "private key")?,
    };
    let app = ctx.app()?;
    let cert: Certificate = ctx.client()?.post(&format!("/apps/{app}/certs"), &body)?;
    ctx.printer.done(
        "Added",
        format_args!(
            "certificate {} for {} (expires {})",
            cert.name,
            cert.names.join(", "),
            cert.not_after
        ),
    );
    if cert.domains.is_empty() {
        ctx.printer.warn(format_args!(
            "it covers none of {app}'s hostnames yet: add one with `paas domains:add`"
        ));
    }
    ctx.printer.print(&cert, |_, _| Ok(()))
}

fn remove(args: RemoveArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    crate::confirm::confirm(
        ctx,
        &args.name,
        args.confirm,
        &crate::confirm::Action {
            doing: &format!("removing certificate {}", args.name),
            done: "removed",
            warning: &format!(
                "the hostnames {} covers are served over HTTPS only if another certificate covers them",
                args.name
            ),
        },
    )?;
    let cert: Certificate = ctx
        .client()?
        .delete(&format!("/apps/{app}/certs/{}", path_segment(&args.name)))?;
    ctx.printer.done(
        "Removed",
        format_args!("certificate {} from {app}", cert.name),
    );
    ctx.printer.print(&cert, |_, _| Ok(()))
}

fn auto_status(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let settings: RouterSettings = client.get(&format!("/apps/{app}/router"))?;
    let domains: Vec<Domain> = client.get(&format!("/apps/{app}/domains"))?;
    #[derive(serde::Serialize)]
    struct Status<'a> {
        acm: bool,
        domains: &'a [Domain],
    }
    let custom: Vec<Domain> = domains.into_iter().filter(|d| d.kind == "custom").collect();
    ctx.printer.print(
        &Status {
            acm: settings.acm,
            domains: &custom,
        },
        |p, out| {
            writeln!(
                out,
                "Automatic Certificate Management is {} for {app}.",
                if settings.acm { "enabled" } else { "disabled" }
            )?;
            if custom.is_empty() {
                return Ok(());
            }
            writeln!(out)?;
            let rows: Vec<Vec<String>> = custom
                .iter()
                .map(|d| {
                    vec![
                        d.hostname.clone(),
                        d.cert_status.clone(),
                        d.acm_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            p.table(out, &["DOMAIN", "STATUS", "LAST ERROR"], &rows)
        },
    )
}

fn auto_set(enable: bool, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let settings: RouterSettings = ctx.client()?.patch(
        &format!("/apps/{app}/router"),
        &UpdateRouterSettings {
            acm: Some(enable),
            ..UpdateRouterSettings::default()
        },
    )?;
    if enable {
        ctx.printer.done(
            "Enabled",
            format_args!("Automatic Certificate Management for {app}"),
        );
        ctx.printer.status(
            "Certificates are ordered for each custom domain whose DNS points here; `paas certs:auto` shows their state.",
        );
    } else {
        ctx.printer.done(
            "Disabled",
            format_args!("Automatic Certificate Management for {app} (issued certificates are served until they expire)"),
        );
    }
    ctx.printer.print(&settings, |_, _| Ok(()))
}
