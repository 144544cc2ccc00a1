//! Confirming a destructive command, as Heroku does: `--confirm NAME`, else (on a terminal only)
//! typing the name at a prompt; without either, a usage error that names the flag (exit 2).

use crate::context::Ctx;
use crate::error::CliError;

/// What is confirmed: `Action { doing: "destroying my-app", done: "destroyed", warning }`.
pub struct Action<'a> {
    /// `destroying my-app`, for "… needs confirmation".
    pub doing: &'a str,
    /// `destroyed`, for "nothing was destroyed".
    pub done: &'a str,
    /// What is lost, shown before the prompt.
    pub warning: &'a str,
}

/// Goes on only when `given` (the `--confirm` value) or the name typed at the prompt is `name`.
pub fn confirm(
    ctx: &Ctx,
    name: &str,
    given: Option<String>,
    action: &Action<'_>,
) -> Result<(), CliError> {
    let Action {
        doing,
        done,
        warning,
    } = action;
    let confirmed = match given {
        Some(confirm) => confirm,
        None if ctx.interactive() => {
            ctx.printer.warn(warning);
            dialoguer::Input::<String>::new()
                .with_prompt(format!("To proceed, type {name}"))
                .allow_empty(true)
                .interact_text()
                .map_err(|e| {
                    CliError::new(
                        "prompt_failed",
                        format!("cannot read the confirmation: {e}"),
                    )
                })?
        }
        None => {
            return Err(CliError::usage(format!("{doing} needs confirmation"))
                .hint(format!("pass --confirm {name}")));
        }
    };
    if confirmed != name {
        return Err(CliError::new(
            "confirmation_mismatch",
            format!(
                "confirmation {:?} does not match {name}; nothing was {done}",
                paas_share::names::excerpt(&confirmed)
            ),
        ));
    }
    Ok(())
}
