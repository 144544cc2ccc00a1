//! Builds (DESIGN §3.6): a pushed commit, written out by the pre-receive hook, is built by the
//! classic buildpacks inside a runc sandbox on the build stack; the result (the built `/app` tree
//! and its process types) is recorded on the build row and becomes an image (stack layers + app
//! layer) in the local layout, pushed to the registry if there is one. A build ends there, at a
//! [`Built`] image.
//!
//! It must not update refs, record releases or run anything: the hook accepts or refuses the push
//! on this module's verdict and the release controller's (`release/`).

pub mod buildpacks;
pub mod live;
pub mod process_types;
pub mod remote;
pub mod stack;
pub mod untrusted;

use std::collections::BTreeMap;

use anyhow::Context;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use self::live::LiveBuilds;
use self::stack::Stack;
use crate::container::{Exit, Mount, Runtime, Spec};
use crate::data_dir::DataDir;
use crate::logs::Logs;
use crate::oci::Layout;
use crate::oci::image::AppImage;
use crate::oci::layer::{self, Folder, Owner};
use crate::registry::{EarlyUploads, Registry};
use crate::store::{BuildEnd, Store};

/// The most the server reads of a file the app or its build controls (Procfile, `.buildpacks`,
/// the driver's reports).
const APP_FILE_LIMIT: u64 = 1024 * 1024;

/// The unprivileged user and group buildpacks run as.
pub const BUILD_UID: u32 = 2000;
const PIDS_LIMIT: i64 = 4096;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub time: Duration,
    pub memory_bytes: u64,
}

pub struct Builder {
    pub store: Store,
    /// Where images go.
    pub layout: std::sync::Arc<Layout>,
    /// Where images are pushed, when one is configured.
    pub registry: Option<std::sync::Arc<Registry>>,
    pub live: LiveBuilds,
    /// Build output and release events go to the app's log too.
    pub logs: Logs,
    pub data: DataDir,
    pub runtime: Runtime,
    pub limits: Limits,
    /// `--build-env`: for every build step, never for dynos; values are never printed.
    pub env: BTreeMap<String, String>,
    /// Where builds run off this host (`--k8s-builds job`); `None`: in `runtime`, here.
    pub jobs: Option<std::sync::Arc<dyn remote::BuildJobs>>,
    /// The stacks' build images pushed to the registry since the start (by manifest digest).
    pub build_images: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// What the daemon knows of a push when its hook calls.
#[derive(Debug, Clone)]
pub struct Push {
    pub app: crate::app::AppRef,
    pub user: crate::store::User,
    /// `git push -o canary=N`: this push's canary weight in percent, over the app's
    /// `canary:config` (`Some(0)`: no canary); `None` when the push did not say.
    pub canary: Option<u8>,
    /// Where it came from, for the audit log (`ssh 192.0.2.1`).
    pub source: String,
}

/// A build in progress: its row and its directory (`source/` is the app, later `/app`).
#[derive(Debug, Clone)]
pub struct BuildDir {
    pub id: String,
    pub dir: PathBuf,
    /// The commit it builds (`SOURCE_VERSION` in the build, as on Heroku).
    pub commit: String,
}

impl BuildDir {
    pub fn source(&self) -> PathBuf {
        self.dir.join("source")
    }
}

/// Why a build failed: the step, and what to do about it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `build` or `release`: what the step was part of.
    pub stage: &'static str,
    pub step: String,
    pub message: String,
    /// The buildpack detected before the failure, when the build got that far (`paas builds`
    /// shows it, as Heroku's build list does).
    pub buildpack: Option<String>,
    /// The app was destroyed under the step: nothing to fix, nothing to push again.
    pub app_gone: bool,
}

impl Failure {
    /// A build step failed (`detect`, `compile (python)`, …).
    pub fn new(step: &str, message: impl Into<String>) -> Self {
        Self {
            stage: "build",
            step: step.to_owned(),
            message: message.into(),
            buildpack: None,
            app_gone: false,
        }
    }

    /// A step of the release of a built image failed (`release phase`, `deploy`, …).
    pub fn release(step: &str, message: impl Into<String>) -> Self {
        Self {
            stage: "release",
            ..Self::new(step, message)
        }
    }

    /// The app was destroyed while its push was built or released (its repository, cache and
    /// rows went under the step).
    pub fn app_destroyed(stage: &'static str, step: &str, app: &paas_share::AppName) -> Self {
        Self::app_gone(
            stage,
            step,
            format!("app {app} was destroyed during the push: nothing was released."),
        )
    }

    /// The app was destroyed under `step`, as `message` says.
    pub fn app_gone(stage: &'static str, step: &str, message: impl Into<String>) -> Self {
        Self {
            stage,
            app_gone: true,
            ..Self::new(step, message)
        }
    }

    /// The same failure, naming the buildpack detected before it.
    pub fn with_buildpack(self, buildpack: Option<String>) -> Self {
        Self { buildpack, ..self }
    }

    /// The block a refused push ends with: which step failed, why, and that `main` did not move
    /// (only why, when the app was destroyed: no step failed, and there is nothing to push to).
    pub fn lines(&self) -> Vec<String> {
        if self.app_gone {
            return self
                .message
                .lines()
                .map(|line| format!(" !     Push rejected: {line}"))
                .collect();
        }
        let mut lines = vec![format!(
            " !     Push rejected: the {} failed at step `{}`.",
            self.stage, self.step
        )];
        lines.extend(self.message.lines().map(|line| format!(" !     {line}")));
        lines.push(" !     main is unchanged; fix the problem and push again.".to_owned());
        lines
    }
}

/// What a successful build made: its image, stored (and pushed), and its process types.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image's manifest in the local layout.
    pub manifest: crate::oci::Descriptor,
    pub process_types: BTreeMap<String, String>,
    /// When the build started, for the push's `Done in` line.
    pub started: Instant,
}

/// Output of a running build: lines go to the push, to late readers, and to the build's record.
struct Output<'a> {
    id: &'a str,
    app_id: &'a str,
    logs: &'a Logs,
    push: mpsc::Sender<String>,
    readers: &'a LiveBuilds,
    all: String,
}

impl Output<'_> {
    async fn line(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.all.push_str(&line);
        self.all.push('\n');
        self.readers.line(self.id, &line);
        self.logs.emit(self.app_id, "paas", "build", &line);
        // The pusher may be gone; the build still finishes its record.
        let _ = self.push.send(line).await;
    }
}

impl Builder {
    /// Records a pending build of `commit` and makes its private directory.
    pub async fn begin(&self, push: &Push, commit: &str) -> anyhow::Result<BuildDir> {
        let (app_id, user, commit) = (push.app.id.clone(), push.user.clone(), commit.to_owned());
        let recorded = commit.clone();
        let id = self
            .store
            .call(move |db| db.create_build(&app_id, &user, &recorded))
            .await?;
        let dir = self.data.build(&id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        // Readers may follow the build from now on; `run` or `abandon` ends the stream.
        self.live.start(&id);
        Ok(BuildDir { id, dir, commit })
    }

    /// Records a build that did not run to its end: the checkout failed, or the pusher went away
    /// (dropping `run`, which stops the sandbox). Its output so far, ended by a line giving
    /// `reason`, and the buildpack it was detected as, if it got that far, are kept.
    pub async fn abandon(&self, app_id: &str, build: &BuildDir, reason: &str) {
        // The output's last line says so, to its readers and in the app's log too.
        let last = format!(" !     Build failed: {reason}");
        self.live.line(&build.id, &last);
        self.logs.emit(app_id, "paas", "build", &last);
        // Each line ends with a newline, as in a build's recorded output.
        let output: String = self
            .live
            .finish(&build.id)
            .into_iter()
            .map(|line| line + "\n")
            .collect();
        let id = build.id.clone();
        let end = BuildEnd {
            failure: Some(reason.to_owned()),
            output,
            buildpack: reported(&build.dir.join("out"), "buildpack"),
            ..BuildEnd::default()
        };
        if let Err(e) = self.store.call(move |db| db.finish_build(&id, &end)).await {
            tracing::error!(error = %anyhow::Error::from(e), build = %build.id, "cannot record the build");
        }
    }

    /// Builds the checked-out source of `commit` (made at `committed`, unix seconds), streaming
    /// output to `live`, and records the outcome.
    pub async fn run(
        &self,
        push: &Push,
        build: &BuildDir,
        commit: &str,
        committed: u64,
        submodules: &[String],
        live: mpsc::Sender<String>,
    ) -> Result<Built, Failure> {
        let mut live_stream = LiveGuard {
            live: &self.live,
            id: &build.id,
            recorded: false,
        };
        let mut out = Output {
            id: &build.id,
            app_id: &push.app.id,
            logs: &self.logs,
            push: live,
            readers: &self.live,
            all: String::new(),
        };
        let started = Instant::now();
        let stacks = self.stacks(push).await;
        // Held to the end of the image: a `stack build` meanwhile leaves this stack's files be.
        let _in_use = match &stacks {
            Ok(stacks) => match stacks.app.in_use() {
                Ok(lock) => Some(lock),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot mark the stack in use");
                    None
                }
            },
            Err(_) => None,
        };
        out.line(format!(
            "-----> Building {} ({}){}",
            push.app.name,
            &commit[..commit.len().min(7)],
            match &stacks {
                Ok(stacks) => format!(" on the {} stack", stacks.app.name),
                Err(_) => String::new(),
            }
        ))
        .await;
        for path in submodules {
            out.line(format!(
                "-----> Submodule {path} was not fetched (paas builds what the repository itself \
                 holds): it is an empty directory"
            ))
            .await;
        }
        let result = match stacks {
            Ok(stacks) => match self.build(push, build, &stacks, &mut out).await {
                Ok(compiled) => self
                    .image(
                        push,
                        build,
                        &stacks.app,
                        (commit, committed),
                        &compiled,
                        &mut out,
                    )
                    .await
                    .map_err(|failure| failure.with_buildpack(Some(compiled.buildpack.clone())))
                    .map(|manifest| (compiled.buildpack, compiled.process_types, manifest)),
                Err(failure) => Err(failure),
            },
            Err(failure) => Err(failure),
        };
        let mut end = BuildEnd::default();
        match &result {
            Ok((buildpack, types, _)) => {
                end.buildpack = Some(buildpack.clone());
                end.process_types = Some(types.clone());
            }
            Err(failure) => {
                for line in failure.lines() {
                    out.line(line).await;
                }
                end.buildpack.clone_from(&failure.buildpack);
                end.failure = Some(format!("{}: {}", failure.step, failure.message));
            }
        }
        end.output = std::mem::take(&mut out.all);
        live_stream.recorded = true;
        let (id, first) = (build.id.clone(), end.clone());
        if let Err(e) = self
            .store
            .call(move |db| db.finish_build(&id, &first))
            .await
        {
            // A full disk, most likely: the build's own files go (they are the space a retry
            // needs), and the build is recorded as failed so that it never stays pending.
            tracing::error!(error = %anyhow::Error::from(e), build = %build.id, "cannot record the build");
            let _ = std::fs::remove_dir_all(&build.dir);
            let id = build.id.clone();
            let failed = BuildEnd {
                failure: Some(format!("record: {DISK_FULL}")),
                ..end
            };
            if let Err(e) = self
                .store
                .call(move |db| db.finish_build(&id, &failed))
                .await
            {
                tracing::error!(error = %anyhow::Error::from(e), build = %build.id, "cannot record the build as failed either");
            }
            return Err(Failure::new(
                "record",
                "the server could not record the build (its data disk may be full); nothing was released",
            ));
        }
        result.map(|(_, process_types, manifest)| Built {
            manifest,
            process_types,
            started,
        })
    }

    /// Turns a successful build into an image (stack layers, a layer per dependency folder,
    /// the code layer), stored in the local layout and pushed to the registry if there is one.
    /// A dependency folder the buildpack restored from its cache is hashed first and, when its
    /// layer is in the layout already, not written again.
    async fn image(
        &self,
        push: &Push,
        build: &BuildDir,
        stack: &Stack,
        (commit, committed): (&str, u64),
        compiled: &Compiled,
        out: &mut Output<'_>,
    ) -> Result<crate::oci::Descriptor, Failure> {
        out.line("-----> Assembling the image").await;
        let (notes_tx, mut notes) = mpsc::unbounded_channel::<String>();
        let (stack, layout, source) = (
            stack.clone(),
            std::sync::Arc::clone(&self.layout),
            build.source(),
        );
        let (commit_owned, compiled) = (commit.to_owned(), compiled.clone());
        // A big layer's upload begins while it is written.
        let early = self
            .registry
            .as_ref()
            .map(|registry| EarlyUploads::new(std::sync::Arc::clone(registry), push.app.name()));
        let tees = early.clone();
        let task = tokio::task::spawn_blocking(
            move || -> anyhow::Result<(crate::oci::Descriptor, Vec<String>, Vec<String>)> {
                let (stack_layout, stack_layers) = stack.layers(|line| {
                    let _ = notes_tx.send(line);
                })?;
                for layer in &stack_layers {
                    layout.share_blob(&stack_layout, &layer.digest)?;
                }
                let mut skipped = Vec::new();
                let layers = layer::app_layers(
                    &layout,
                    &source,
                    &compiled.dependencies,
                    Owner::Fixed(BUILD_UID, BUILD_UID),
                    committed,
                    &|| tees.as_ref().map(EarlyUploads::tee),
                    &mut skipped,
                )?;
                let names = compiled.dependencies.iter().map(|d| d.name.as_str());
                let sizes: Vec<String> = layers
                    .iter()
                    .zip(names.chain(["code"]))
                    .map(|((layer, reused), name)| {
                        let unchanged = if *reused { ", unchanged" } else { "" };
                        format!("{name} layer {:.1} MB{unchanged}", layer.size as f64 / 1e6)
                    })
                    .collect();
                let app_layers: Vec<layer::Layer> = layers.into_iter().map(|(l, _)| l).collect();
                for warning in skipped {
                    let _ = notes_tx.send(format!(" !     warning: {warning}"));
                }
                let image = AppImage {
                    commit: &commit_owned,
                    buildpack: &compiled.buildpack,
                    process_types: &compiled.process_types,
                    stack_layers: &stack_layers,
                    app_layers: &app_layers,
                };
                let stack_digests = stack_layers.iter().map(|l| l.digest.clone()).collect();
                Ok((image.store(&layout)?, sizes, stack_digests))
            },
        );
        tokio::pin!(task);
        let assembled = loop {
            tokio::select! {
                Some(line) = notes.recv() => out.line(line).await,
                joined = &mut task => break joined.expect("the image task does not panic"),
            }
        };
        while let Ok(line) = notes.try_recv() {
            out.line(line).await;
        }
        let (manifest, sizes, stack_digests) = assembled.map_err(|e| {
            if is_disk_full(&e) {
                return Failure::new("image", DISK_FULL);
            }
            Failure::new("image", format!("the image could not be assembled: {e:#}"))
        })?;
        out.line(format!(
            "-----> Image {} ({})",
            manifest.digest,
            sizes.join("; ")
        ))
        .await;
        if let (Some(registry), Some(early)) = (&self.registry, early) {
            out.line(format!(
                "-----> Pushing {}",
                registry.reference(push.app.name())
            ))
            .await;
            let early = early.finish().await;
            let uploaded = registry
                .push(
                    &self.layout,
                    &manifest,
                    push.app.name(),
                    &["latest".to_owned()],
                    &stack_digests,
                )
                .await
                .map_err(|e| {
                    Failure::new(
                        "registry",
                        format!("{e}.\nNothing was released; push again once the registry works."),
                    )
                })?;
            let during = if early > 0 {
                format!(
                    " ({:.1} MB of it as the image was assembled)",
                    early as f64 / 1e6
                )
            } else {
                String::new()
            };
            out.line(format!(
                "       {:.1} MB uploaded{during}",
                (early + uploaded) as f64 / 1e6
            ))
            .await;
        }
        Ok(manifest)
    }

    /// The stack the app builds on (its own, else the server's default) and every installed
    /// one, for the buildpacks' hints about runtimes another stack has.
    async fn stacks(&self, push: &Push) -> Result<Stacks, Failure> {
        let (data, app_id) = (self.data.clone(), push.app.id.clone());
        // An app without a stack of its own (made while the server had none) gets the default,
        // and keeps it from then on.
        let default = stack::default_name(&self.data);
        let chosen = self
            .store
            .call(move |db| match (db.app_by_id(&app_id)?.stack, default) {
                (Some(stack), _) => Ok(Some(stack)),
                (None, Some(default)) => db.set_app_stack(&app_id, &default).map(|a| a.stack),
                (None, None) => Ok(None),
            })
            .await
            .map_err(|_| Failure::new("stack", "the server could not read the app; try again"))?;
        tokio::task::spawn_blocking(move || {
            let installed = stack::installed(&data).map_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "cannot read the stacks");
                Failure::new("stack", "the server could not read its stacks; try again")
            })?;
            if installed.is_empty() {
                return Err(Failure::new(
                    "stack",
                    "this server has no build stack yet.\nAn operator must run: paas-buildserver stack build",
                ));
            }
            let Some(name) = chosen else {
                return Err(Failure::new(
                    "stack",
                    "this server has no default stack.\nAn operator must run: paas-buildserver stack default NAME",
                ));
            };
            let Some(app) = installed.iter().find(|s| s.name == name).cloned() else {
                return Err(Failure::new(
                    "stack",
                    format!(
                        "this app's stack {name} is not on this server ({}).\nChoose one: paas stack:set NAME",
                        stack::installed_line(&data)
                    ),
                ));
            };
            Ok(Stacks { app, installed })
        })
        .await
        .expect("reading the stacks does not panic")
    }

    async fn build(
        &self,
        push: &Push,
        build: &BuildDir,
        stacks: &Stacks,
        out: &mut Output<'_>,
    ) -> Result<Compiled, Failure> {
        let rootfs = stacks.app.build_rootfs();
        let source = build.source();
        let app_id = push.app.id.clone();
        let config = self
            .store
            .call(move |db| db.config_vars(&app_id))
            .await
            .map_err(|_| {
                Failure::new(
                    "config",
                    "the server could not read the app's config vars; try again",
                )
            })?;
        let dot_buildpacks = untrusted::read(&source, ".buildpacks", APP_FILE_LIMIT)
            .map_err(|e| Failure::new("buildpacks", e.to_string()))?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        let requested = buildpacks::requested(
            dot_buildpacks.as_deref(),
            config.get("BUILDPACK").map(String::as_str),
        )
        .map_err(|e| Failure::new("buildpacks", e))?;

        let io = |e: std::io::Error| {
            if io_disk_full(&e) {
                return Failure::new("prepare", DISK_FULL);
            }
            Failure::new(
                "prepare",
                format!("the server could not prepare the build: {e}"),
            )
        };
        let env_dir = build.dir.join("env");
        let out_dir = build.dir.join("out");
        let cache = self.data.cache(&push.app.id);
        for dir in [&env_dir, &out_dir, &cache] {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        if let Some(previous) = cache_stack(&cache, &stacks.app.name).map_err(io)? {
            out.line(format!(
                "-----> The app moved from the {previous} stack to {}: its build cache starts empty",
                stacks.app.name
            ))
            .await;
        }
        for (key, value) in &config {
            // Keys are validated config keys: safe as file names.
            std::fs::write(env_dir.join(key), value).map_err(io)?;
        }
        for dir in [&source, &env_dir, &out_dir, &cache] {
            chown_tree(dir, BUILD_UID).map_err(io)?;
        }

        let buildpacks_dir = self.data.root().join("buildpacks");
        let spec = Spec {
            id: format!("build-{}", build.id),
            rootfs,
            readonly_root: true,
            args: vec!["/bin/sh".into(), "/paas/buildpacks/builder".into()],
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "HOME=/app".into(),
                "LANG=C.UTF-8".into(),
                format!("STACK={}", stacks.app.name),
                format!("PAAS_STACKS={}", stacks.runtimes_env()),
                format!("SOURCE_VERSION={}", build.commit),
                format!("PAAS_BUILDPACKS={}", requested.join(" ")),
            ]
            .into_iter()
            .chain(self.env.iter().map(|(key, value)| format!("{key}={value}")))
            .collect(),
            cwd: "/tmp/build",
            uid: BUILD_UID,
            gid: BUILD_UID,
            mounts: vec![
                Mount {
                    source: source.clone(),
                    destination: "/tmp/build",
                    read_only: false,
                },
                Mount {
                    source: source.clone(),
                    destination: "/app",
                    read_only: false,
                },
                Mount {
                    source: cache,
                    destination: "/tmp/cache",
                    read_only: false,
                },
                Mount {
                    source: env_dir,
                    destination: "/tmp/env",
                    read_only: true,
                },
                Mount {
                    source: out_dir.clone(),
                    destination: "/tmp/paas-out",
                    read_only: false,
                },
                Mount {
                    source: buildpacks_dir,
                    destination: "/paas/buildpacks",
                    read_only: true,
                },
            ],
            memory_bytes: self.limits.memory_bytes,
            pids_limit: PIDS_LIMIT,
            hostname: "paas-build",
            terminal: None,
        };
        let (tx, mut rx) = mpsc::channel::<String>(256);
        let bundle = build.dir.join("bundle");
        let run = async {
            match &self.jobs {
                Some(jobs) => {
                    self.run_as_job(jobs.as_ref(), push, build, &stacks.app, &spec, tx)
                        .await
                }
                None => Ok(self
                    .runtime
                    .run(&spec, &bundle, self.limits.time, tx)
                    .await?),
            }
        };
        tokio::pin!(run);
        let exit = loop {
            tokio::select! {
                Some(line) = rx.recv() => out.line(line).await,
                exit = &mut run => break exit,
            }
        };
        while let Ok(line) = rx.try_recv() {
            out.line(line).await;
        }
        let outcome = exit.map_err(|e| {
            Failure::new(
                "sandbox",
                format!("the build sandbox could not start: {e:#}"),
            )
        })?;
        let read = |name: &str| reported(&out_dir, name);
        let step = || read("failed").unwrap_or_else(|| "compile".to_owned());
        let failed = |step: &str, message: String| {
            Failure::new(step, message).with_buildpack(read("buildpack"))
        };
        if outcome.oom_killed && outcome.exit != Exit::Code(0) {
            return Err(failed(
                &step(),
                format!(
                    "the build ran out of memory: it exceeded its memory limit of {} MiB (--build-memory).",
                    self.limits.memory_bytes / (1024 * 1024)
                ),
            ));
        }
        match outcome.exit {
            Exit::Code(0) => {}
            Exit::TimedOut => {
                return Err(failed(
                    &step(),
                    format!(
                        "the build exceeded its time limit of {}s and was stopped (--build-timeout).",
                        self.limits.time.as_secs()
                    ),
                ));
            }
            Exit::Signal(signal) => {
                return Err(failed(
                    &step(),
                    format!("the build was killed by signal {signal}."),
                ));
            }
            Exit::Code(code) => {
                let step = read("failed").unwrap_or_else(|| "sandbox".to_owned());
                return Err(failed(
                    &step,
                    format!("{step} exited with status {code} (see the output above)."),
                ));
            }
        }
        let buildpack = read("buildpack").unwrap_or_default();
        let procfile_failed = |message: String| {
            Failure::new("procfile", message).with_buildpack(Some(buildpack.clone()))
        };
        // The Procfile's types are the app's; a buildpack's defaults apply only without one.
        let procfile = untrusted::read(&source, "Procfile", APP_FILE_LIMIT)
            .map_err(|e| procfile_failed(e.to_string()))?;
        let (types, origin) = match procfile {
            Some(bytes) => (
                process_types::parse_procfile(&bytes).map_err(procfile_failed)?,
                "Procfile declares types".to_owned(),
            ),
            None => (
                process_types::parse_release(&read("release.yml").unwrap_or_default()),
                format!("Default types for buildpack {buildpack}"),
            ),
        };
        out.line("-----> Discovering process types").await;
        if types.is_empty() {
            // As on Heroku: the app builds and releases, and nothing runs until it says how.
            let example = match buildpack.as_str() {
                "python" => "web: gunicorn app:app",
                "nodejs" => {
                    "web: npm start` (with a start script in package.json) or `web: node index.js"
                }
                _ => "web: ./start-server",
            };
            for line in [
                " !     warning: the app declares no process types, so no dyno will run."
                    .to_owned(),
                format!(" !     Add a Procfile with a line such as `{example}` and push again."),
            ] {
                out.line(line).await;
            }
        } else {
            let names: Vec<&str> = types.keys().map(String::as_str).collect();
            out.line(format!("       {origin} -> {}", names.join(", ")))
                .await;
        }
        let dependencies = dependencies(&source, &read("dependencies").unwrap_or_default());
        Ok(Compiled {
            buildpack,
            process_types: types,
            dependencies,
        })
    }
}

impl Builder {
    /// Runs the build `spec` describes as a job off this host (see [`remote`]): the stack's build
    /// image pushed first (once), the spec's directories packed in, and what the build left in
    /// them unpacked back (atomically: a job that ends without its output leaves the source and
    /// the cache as they were).
    async fn run_as_job(
        &self,
        jobs: &dyn remote::BuildJobs,
        push: &Push,
        build: &BuildDir,
        stack: &Stack,
        spec: &Spec,
        lines: mpsc::Sender<String>,
    ) -> anyhow::Result<crate::container::Outcome> {
        let image = self.build_image(stack, &lines).await?;
        let dir_of = |at: &str| {
            spec.mounts
                .iter()
                .find(|m| m.destination.trim_start_matches('/') == at)
                .map(|m| m.source.clone())
                .with_context(|| format!("the build has no /{at}"))
        };
        let (source, cache, env, out, buildpacks) = (
            dir_of(remote::SOURCE)?,
            dir_of(remote::CACHE)?,
            dir_of(remote::ENV)?,
            dir_of(remote::OUT)?,
            dir_of(remote::BUILDPACKS)?,
        );
        let (input, output, staged) = (
            build.dir.join("input.tar"),
            build.dir.join("output.tar"),
            build.dir.join("staged"),
        );
        let build_env = self.env.clone();
        {
            let (input, source, cache) = (input.clone(), source.clone(), cache.clone());
            tokio::task::spawn_blocking(move || {
                remote::pack_input(
                    &input,
                    &[
                        (remote::SOURCE, &source),
                        (remote::CACHE, &cache),
                        (remote::ENV, &env),
                        (remote::BUILDPACKS, &buildpacks),
                    ],
                    &build_env,
                )
            })
            .await??;
        }
        let job = remote::BuildJob {
            app: push.app.clone(),
            id: build.id.clone(),
            image,
            env: spec
                .env
                .iter()
                .filter_map(|pair| pair.split_once('='))
                .filter(|(key, _)| !self.env.contains_key(*key))
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
            uid: spec.uid,
            memory_bytes: spec.memory_bytes,
            timeout: self.limits.time,
        };
        let outcome = jobs
            .run(
                &job,
                tokio::fs::File::open(&input).await?,
                tokio::fs::File::create(&output).await?,
                lines,
            )
            .await?;
        let unpacked = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let (new_source, new_cache, new_out) = (
                staged.join("source"),
                staged.join("cache"),
                staged.join("out"),
            );
            remote::unpack_output(
                &output,
                &[
                    (remote::SOURCE, &new_source),
                    (remote::CACHE, &new_cache),
                    (remote::OUT, &new_out),
                ],
            )?;
            for (new, old) in [(new_source, source), (new_cache, cache), (new_out, out)] {
                std::fs::remove_dir_all(&old)?;
                std::fs::rename(&new, &old)?;
                chown_tree(&old, BUILD_UID)?;
            }
            let _ = std::fs::remove_file(&output);
            let _ = std::fs::remove_file(&input);
            Ok(())
        })
        .await?;
        match unpacked {
            Ok(()) => Ok(outcome),
            // A build that failed may have ended before its output.
            Err(_) if outcome.exit != Exit::Code(0) => Ok(outcome),
            Err(e) => Err(e.context("the build job's output could not be read")),
        }
    }

    /// The stack's build image in the registry, by digest: made from the stack's build root
    /// (once per stack) and pushed (once per server start; the registry skips the blobs it has).
    async fn build_image(
        &self,
        stack: &Stack,
        lines: &mpsc::Sender<String>,
    ) -> anyhow::Result<String> {
        let registry = self
            .registry
            .as_ref()
            .context("builds off this host need --registry")?;
        let (stack_owned, layout) = (stack.clone(), std::sync::Arc::clone(&self.layout));
        let (notes_tx, mut notes) = mpsc::unbounded_channel::<String>();
        let made = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let (stack_layout, layers) = stack_owned.build_layers(|line| {
                let _ = notes_tx.send(line);
            })?;
            for layer in &layers {
                layout.share_blob(&stack_layout, &layer.digest)?;
            }
            let image = crate::oci::image::BuildImage {
                stack: &stack_owned.name,
                layers: &layers,
            };
            let digests: Vec<String> = layers.iter().map(|l| l.digest.clone()).collect();
            Ok((image.store(&layout)?, digests))
        });
        tokio::pin!(made);
        let (manifest, layers) = loop {
            tokio::select! {
                Some(line) = notes.recv() => { let _ = lines.send(line).await; }
                made = &mut made => break made??,
            }
        };
        let pushed = self
            .build_images
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&manifest.digest);
        if !pushed {
            let _ = lines
                .send(format!(
                    "-----> Pushing stack {}'s build image to {}",
                    stack.name,
                    registry.reference(BUILD_REPOSITORY)
                ))
                .await;
            // Its layers are the stack's: mounted from the stack repository (or uploaded there).
            registry
                .push(
                    &self.layout,
                    &manifest,
                    BUILD_REPOSITORY,
                    std::slice::from_ref(&stack.name),
                    &layers,
                )
                .await
                .context("the stack's build image could not be pushed")?;
            self.build_images
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(manifest.digest.clone());
        }
        Ok(format!(
            "{}@{}",
            registry.reference(BUILD_REPOSITORY),
            manifest.digest
        ))
    }
}

/// The registry repository of the stacks' build images (tagged by stack name).
pub const BUILD_REPOSITORY: &str = "paas-build";

/// What the buildpacks made of the app.
#[derive(Debug, Clone)]
struct Compiled {
    buildpack: String,
    process_types: BTreeMap<String, String>,
    /// The folders of the app's dependencies (`.venv`, `node_modules`) that the buildpacks
    /// reported: each becomes an image layer of its own, below the code, which changes more
    /// often.
    dependencies: Vec<Folder>,
}

/// The most dependency folders a build may report.
const MAX_DEPENDENCIES: usize = 4;

/// Parses the driver's `dependencies` report (`<folder> hit|miss` per line, written from inside
/// the sandbox, so untrusted): folders that are plain top-level names of real directories in
/// `source` (never symlinks), each once, at most [`MAX_DEPENDENCIES`]; other lines are ignored.
fn dependencies(source: &Path, report: &str) -> Vec<Folder> {
    let mut found: Vec<Folder> = Vec::new();
    for line in report.lines() {
        let mut words = line.split_whitespace();
        let (Some(dir), Some(cache), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let plain = !matches!(dir, "." | "..")
            && dir
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        let real_dir = std::fs::symlink_metadata(source.join(dir)).is_ok_and(|m| m.is_dir());
        if plain
            && real_dir
            && matches!(cache, "hit" | "miss")
            && !found.iter().any(|d| d.name == dir)
            && found.len() < MAX_DEPENDENCIES
        {
            found.push(Folder {
                name: dir.to_owned(),
                restored: cache == "hit",
            });
        }
    }
    found
}

/// The app's stack and every installed one.
struct Stacks {
    app: Stack,
    installed: Vec<Stack>,
}

impl Stacks {
    /// `PAAS_STACKS` for the buildpacks: `NAME:PYTHON:NODE` per installed stack, space
    /// separated, a version empty when the stack lacks that runtime
    /// (`bookworm:3.11.2:18.19.0 trixie:3.13.5:20.19.2 busybox::`).
    fn runtimes_env(&self) -> String {
        self.installed
            .iter()
            .map(|s| {
                let r = s.runtimes();
                format!(
                    "{}:{}:{}",
                    s.name,
                    r.python.as_deref().unwrap_or(""),
                    r.node.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a build says when the server's disk is full.
const DISK_FULL: &str = "the server's data disk is full (no space left on device).\nNothing was released; an operator must free space on the server (`paas-buildserver gc` removes unused images), then push again.";
const ENOSPC: i32 = nix::errno::Errno::ENOSPC as i32;

/// Whether `e` (or what caused it) is the disk running out of space.
fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(io_disk_full)
    })
}

fn io_disk_full(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(ENOSPC) || e.kind() == std::io::ErrorKind::StorageFull
}

/// The file in an app's build cache that names the stack it was made on.
const CACHE_STACK_FILE: &str = ".paas-stack";

/// Empties the app's build cache when it was made on another stack than `stack` (its tools and
/// packages were built for other runtimes, as Heroku clears it on a stack change), and records
/// `stack` in it. Returns the other stack's name when it emptied the cache. The file is the
/// build's to write, so it is read as untrusted; a cache without one (made before stacks had
/// names) is kept.
fn cache_stack(cache: &Path, stack: &str) -> std::io::Result<Option<String>> {
    let recorded = untrusted::read(cache, CACHE_STACK_FILE, 64)
        .ok()
        .flatten()
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned());
    let moved = recorded.filter(|previous| previous != stack);
    if moved.is_some() {
        for entry in std::fs::read_dir(cache)? {
            let path = entry?.path();
            if std::fs::symlink_metadata(&path)?.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
    }
    let marker = cache.join(CACHE_STACK_FILE);
    // Replaced, never written through: the build may have left a symlink there.
    let _ = std::fs::remove_file(&marker);
    std::fs::write(&marker, stack)?;
    Ok(moved)
}

/// What the build driver reported in `out_dir` as `name` (`buildpack`, `failed`, …), trimmed:
/// written by code the app controls, so never followed and capped.
fn reported(out_dir: &Path, name: &str) -> Option<String> {
    untrusted::read(out_dir, name, APP_FILE_LIMIT)
        .ok()
        .flatten()
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
}

/// Ends a build's live stream however `run` ends: once it is recorded, its lines go; cancelled
/// before (the pusher went away), they wait for [`Builder::abandon`] to record them.
struct LiveGuard<'a> {
    live: &'a LiveBuilds,
    id: &'a str,
    recorded: bool,
}

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        if self.recorded {
            self.live.finish(self.id);
        } else {
            self.live.stop(self.id);
        }
    }
}

/// `chown -R uid:uid` without following symlinks.
fn chown_tree(path: &Path, uid: u32) -> std::io::Result<()> {
    let id = Some(nix::unistd::Uid::from_raw(uid));
    let gid = Some(nix::unistd::Gid::from_raw(uid));
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        path,
        id,
        gid,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(std::io::Error::from)?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_reports_name_real_top_level_folders_only() {
        let source = tempfile::tempdir().expect("temp dir");
        for dir in [".venv", "node_modules", "lib/deep"] {
            std::fs::create_dir_all(source.path().join(dir)).expect("mkdir");
        }
        std::os::unix::fs::symlink("/etc", source.path().join("etc-link")).expect("symlink");
        std::fs::write(source.path().join("file"), "").expect("write");
        let report = ".venv hit\nnode_modules miss\n.venv miss\nlib/deep hit\n.. hit\n\
                      etc-link hit\nfile hit\nmissing hit\nnode_modules maybe\n.venv hit extra\n";
        assert_eq!(
            dependencies(source.path(), report),
            [
                Folder {
                    name: ".venv".to_owned(),
                    restored: true
                },
                Folder {
                    name: "node_modules".to_owned(),
                    restored: false
                },
            ]
        );
    }
}
