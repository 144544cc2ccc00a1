//! `paas stack`: the stack an app builds on (Heroku's `heroku stack`), and `paas stack set NAME`
//! (`stack:set`) to move it to another from its next build.

use paas_share::models::{App, Stack, UpdateApp};
use serde::Serialize;

use crate::context::Ctx;

/// Show the app's stack and the stacks the server has (`stack set` moves the app)
///
/// A stack is the operating system builds and dynos run on, with its Python and Node.js
/// versions. The * marks the stack the app's next build runs on; `paas stack:set NAME` moves the
/// app to another, from its next build.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Set(SetArgs),
}

/// Move the app to another stack; its next build (push again) runs on it
///
/// The running release stays on its stack until then. The build cache starts empty on the new
/// stack: its packages were built for other runtimes.
#[derive(Debug, clap::Args)]
struct SetArgs {
    /// The stack's name, as `paas stack` lists it (such as bookworm or trixie)
    name: String,
}

/// `paas stack --json`.
#[derive(Debug, Serialize)]
struct Shown<'a> {
    app: &'a str,
    stack: Option<&'a str>,
    stacks: &'a [Stack],
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        None => show(ctx),
        Some(Command::Set(args)) => set(args, ctx),
    }
}

fn show(ctx: &Ctx) -> anyhow::Result<()> {
    let name = ctx.app()?;
    let client = ctx.client()?;
    let app: App = client.get(&format!("/apps/{name}"))?;
    let stacks: Vec<Stack> = client.get("/stacks")?;
    let shown = Shown {
        app: app.name.as_str(),
        stack: app.stack.as_deref(),
        stacks: &stacks,
    };
    ctx.printer.print(&shown, |p, out| {
        p.heading(out, &format!("{} Available Stacks", app.name))?;
        if stacks.is_empty() {
            return writeln!(
                out,
                "This server has no stack yet: an operator runs `paas-buildserver stack build`."
            );
        }
        let width = stacks.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for stack in &stacks {
            let mark = if app.stack.as_deref() == Some(stack.name.as_str()) {
                '*'
            } else {
                ' '
            };
            let runtimes = stack.runtimes_line();
            writeln!(
                out,
                "{mark} {:width$}  {runtimes}{}",
                stack.name,
                if stack.default { "  (default)" } else { "" }
            )?;
        }
        Ok(())
    })
}

fn set(args: SetArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let name = ctx.app()?;
    let client = ctx.client()?;
    let before: App = client.get(&format!("/apps/{name}"))?;
    let app: App = client.patch(
        &format!("/apps/{name}"),
        &UpdateApp {
            stack: Some(args.name.clone()),
            ..UpdateApp::default()
        },
    )?;
    if before.stack.as_deref() == Some(args.name.as_str()) {
        ctx.printer
            .status(format_args!("{name} is already on the {} stack", args.name));
    } else {
        ctx.printer.done(
            "Moved",
            format_args!("{name} to the {} stack, from its next build", args.name),
        );
        ctx.printer.status(format_args!(
            "Build and release it there with a new push (an empty commit will do):\n  \
             git commit --allow-empty -m \"Build on {}\" && git push paas main",
            args.name
        ));
    }
    ctx.printer.print(&app, |_, _| Ok(()))
}
