//! `paas pg backups` (`pg:backups`, `pg:backups:capture`, `pg:backups:download`,
//! `pg:backups:restore`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use paas_share::models::Backup;

use crate::api_client::path_segment;
use crate::context::Ctx;
use crate::error::CliError;

/// PostgreSQL backups (pg_dump custom format): list, capture, download, restore
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas pg:backups
  paas pg:backups:capture
  paas pg:backups:info b003
  paas pg:backups:download b003 -o shop.dump      # then: pg_restore -d mydb shop.dump
  paas pg:backups:restore b003 --confirm my-app")]
pub struct Args {
    /// The add-on [default: the app's DATABASE, else its only PostgreSQL add-on]
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List the backups, newest first
    List {
        /// The add-on [default: the app's DATABASE, else its only PostgreSQL add-on]
        #[arg(value_name = "NAME")]
        name: Option<String>,
    },
    /// Show one backup: its state, size, times, and the whole of why it failed if it did
    Info {
        /// `b003`
        #[arg(value_name = "BACKUP", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        backup: String,
        /// The add-on [default: the app's DATABASE, else its only PostgreSQL add-on]
        #[arg(value_name = "NAME")]
        name: Option<String>,
    },
    /// Capture a backup now
    Capture {
        /// The add-on [default: the app's DATABASE, else its only PostgreSQL add-on]
        #[arg(value_name = "NAME")]
        name: Option<String>,
    },
    /// Download a backup [default: the newest that succeeded] to a file [default: latest.dump]
    Download {
        /// `b003`
        #[arg(value_name = "BACKUP", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        backup: Option<String>,
        /// The add-on [default: the app's DATABASE, else its only PostgreSQL add-on]
        #[arg(long, value_name = "NAME")]
        addon: Option<String>,
        /// Where to write it (0600); `-` for stdout
        #[arg(short, long, value_name = "FILE", default_value = "latest.dump")]
        output: std::path::PathBuf,
    },
    /// Restore a backup into the add-on, replacing its data (all or nothing)
    Restore {
        /// `b003`
        #[arg(value_name = "BACKUP", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        backup: String,
        /// The add-on [default: the app's DATABASE, else its only PostgreSQL add-on]
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// The app's name again, to confirm (required without a terminal)
        #[arg(long, value_name = "APP")]
        confirm: Option<String>,
    },
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    // Not clap's `args_conflicts_with_subcommands`: it would refuse the global -a/--json too.
    if let (Some(name), Some(command)) = (&args.name, &args.command) {
        let after = match command {
            Command::List { .. } => format!("paas pg:backups:list {name}"),
            Command::Info { backup, .. } => format!("paas pg:backups:info {backup} {name}"),
            Command::Capture { .. } => format!("paas pg:backups:capture {name}"),
            Command::Download { backup, .. } => match backup {
                Some(backup) => format!("paas pg:backups:download {backup} --addon {name}"),
                None => format!("paas pg:backups:download --addon {name}"),
            },
            Command::Restore { backup, .. } => format!("paas pg:backups:restore {backup} {name}"),
        };
        return Err(CliError::usage(format!(
            "the add-on {name:?} goes after the subcommand, not before it"
        ))
        .hint(after)
        .into());
    }
    let client = ctx.client()?;
    match args.command.unwrap_or(Command::List { name: args.name }) {
        Command::List { name } => {
            let addon = super::database(ctx, &client, name.as_deref())?;
            let backups: Vec<Backup> =
                client.get(&format!("/addons/{}/backups", path_segment(&addon.name)))?;
            if backups.is_empty() && !ctx.printer.json() {
                ctx.printer.status(format_args!(
                    "{} has no backups. Capture one with `paas pg:backups:capture`.",
                    addon.name
                ));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = backups
                .iter()
                .map(|b| {
                    vec![
                        b.id.clone(),
                        b.created_at.clone(),
                        match (&b.failure, b.size) {
                            // The first line: the rest (the tool's output) is in --json.
                            (Some(why), _) => {
                                format!("{}: {}", b.status, why.lines().next().unwrap_or(""))
                            }
                            (None, Some(bytes)) => {
                                format!("{} ({})", b.status, indicatif::HumanBytes(bytes))
                            }
                            (None, None) => b.status.clone(),
                        },
                    ]
                })
                .collect();
            ctx.printer.print(&backups, |p, out| {
                p.heading(out, &format!("{} backups", addon.name))?;
                p.table(out, &["ID", "CREATED", "STATUS"], &rows)
            })
        }
        Command::Info { backup, name } => {
            let addon = super::database(ctx, &client, name.as_deref())?;
            let backups: Vec<Backup> =
                client.get(&format!("/addons/{}/backups", path_segment(&addon.name)))?;
            let Some(found) = backups.iter().find(|b| b.id == backup) else {
                return Err(CliError::new(
                    "not_found",
                    format!(
                        "{} has no backup {:?}",
                        addon.name,
                        paas_share::names::excerpt(&backup)
                    ),
                )
                .hint("`paas pg:backups` lists them")
                .into());
            };
            ctx.printer.print(found, |p, out| {
                p.heading(out, &format!("Backup {} of {}", found.id, addon.name))?;
                let none = || "-".to_owned();
                p.fields(
                    out,
                    &[
                        ("Status", found.status.clone()),
                        (
                            "Size",
                            found
                                .size
                                .map_or_else(none, |b| indicatif::HumanBytes(b).to_string()),
                        ),
                        ("Created", found.created_at.clone()),
                        ("Finished", found.finished_at.clone().unwrap_or_else(none)),
                        ("Failure", found.failure.clone().unwrap_or_else(none)),
                    ],
                )
            })
        }
        Command::Capture { name } => {
            let addon = super::database(ctx, &client, name.as_deref())?;
            let spinner = ctx
                .printer
                .spinner(format!("Capturing a backup of {}…", addon.name));
            let captured = client.send_waiting::<(), Backup>(
                reqwest::Method::POST,
                &format!("/addons/{}/backups", path_segment(&addon.name)),
                None,
            );
            spinner.finish_and_clear();
            let backup = captured?;
            if let Some(why) = &backup.failure {
                return Err(CliError::new(
                    "backup_failed",
                    format!("backup {} failed: {why}", backup.id),
                )
                .hint(format!(
                    "the database is as it was; `paas logs -a {} --ps {}` shows pg_dump's output",
                    addon.app, addon.name
                ))
                .into());
            }
            ctx.printer.done(
                "Captured",
                format_args!(
                    "backup {} of {} ({})",
                    backup.id,
                    addon.name,
                    indicatif::HumanBytes(backup.size.unwrap_or(0))
                ),
            );
            ctx.printer
                .print(&backup, |_, out| writeln!(out, "{}", backup.id))
        }
        Command::Download {
            backup,
            addon,
            output,
        } => {
            let addon = super::database(ctx, &client, addon.as_deref())?;
            let backup = match backup {
                Some(backup) => backup,
                None => {
                    client
                        .get::<Vec<Backup>>(&format!(
                            "/addons/{}/backups",
                            path_segment(&addon.name)
                        ))?
                        .into_iter()
                        .find(|b| b.status == "succeeded")
                        .ok_or_else(|| {
                            CliError::new(
                                "no_backup",
                                format!("{} has no backup that succeeded", addon.name),
                            )
                            .hint("capture one with `paas pg:backups:capture`")
                        })?
                        .id
                }
            };
            download(ctx, &client, &addon.name, &backup, &output)
        }
        Command::Restore {
            backup,
            name,
            confirm,
        } => {
            let addon = super::database(ctx, &client, name.as_deref())?;
            crate::confirm::confirm(
                ctx,
                &addon.app,
                confirm,
                &crate::confirm::Action {
                    doing: &format!("restoring {backup} into {}", addon.name),
                    done: "restored",
                    warning: &format!(
                        "this replaces what {} holds with backup {backup}; apps using it see the change at once",
                        addon.name
                    ),
                },
            )?;
            let spinner = ctx
                .printer
                .spinner(format!("Restoring {backup} into {}…", addon.name));
            let restored = client.send_waiting::<(), Backup>(
                reqwest::Method::POST,
                &format!(
                    "/addons/{}/backups/{}/actions/restore",
                    path_segment(&addon.name),
                    path_segment(&backup)
                ),
                None,
            );
            spinner.finish_and_clear();
            let restored = restored?;
            ctx.printer.done(
                "Restored",
                format_args!("{} from backup {backup}", addon.name),
            );
            ctx.printer.print(&restored, |_, _| Ok(()))
        }
    }
}

/// Streams the backup to `output` (through `output.partial`, renamed when whole), with a bar of
/// bytes on a terminal.
fn download(
    ctx: &Ctx,
    client: &crate::api_client::ApiClient,
    addon: &str,
    backup: &str,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    let mut body = client.stream(&format!(
        "/addons/{}/backups/{}/download",
        path_segment(addon),
        path_segment(backup)
    ))?;
    let total = body.content_length().unwrap_or(0);
    if output == std::path::Path::new("-") {
        let written = std::io::copy(&mut body, &mut std::io::stdout().lock()).map_err(
            |e| -> anyhow::Error {
                // A closed stdout (`| head -c 5`) ends it quietly, as it does every command.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return e.into();
                }
                CliError::new("connection_lost", format!("the download stopped: {e}"))
                    .hint("download it again")
                    .into()
            },
        )?;
        if total != 0 && written != total {
            return Err(CliError::new(
                "connection_lost",
                format!("the download stopped after {written} of {total} bytes"),
            )
            .hint("download it again")
            .into());
        }
        return Ok(());
    }
    let partial = output.with_file_name(format!(
        "{}.partial",
        output
            .file_name()
            .map_or_else(|| "latest.dump".into(), |n| n.to_string_lossy())
    ));
    let write_error = |e: std::io::Error| {
        CliError::new(
            "write_failed",
            format!("cannot write {}: {e}", output.display()),
        )
        .hint("pick another file with -o FILE")
    };
    // A database's contents: readable by this user only.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(write_error)?;
    let bar = ctx.printer.bytes_bar(total);
    let mut buffer = vec![0u8; 256 * 1024];
    let mut written = 0u64;
    loop {
        let n = std::io::Read::read(&mut body, &mut buffer).map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            CliError::new("connection_lost", format!("the download stopped: {e}"))
                .hint("download it again")
        })?;
        if n == 0 {
            break;
        }
        file.write_all(&buffer[..n]).map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            write_error(e)
        })?;
        written += n as u64;
        bar.set_position(written);
    }
    bar.finish_and_clear();
    if total != 0 && written != total {
        let _ = std::fs::remove_file(&partial);
        return Err(CliError::new(
            "connection_lost",
            format!("the download stopped after {written} of {total} bytes"),
        )
        .hint("download it again")
        .into());
    }
    file.sync_all().map_err(write_error)?;
    std::fs::rename(&partial, output).map_err(write_error)?;
    ctx.printer.done(
        "Downloaded",
        format_args!(
            "backup {backup} of {addon} to {} ({})",
            output.display(),
            indicatif::HumanBytes(written)
        ),
    );
    ctx.printer.print(
        &serde_json::json!({"backup": backup, "file": output, "bytes": written}),
        |_, _| Ok(()),
    )
}
