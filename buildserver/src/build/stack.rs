//! Stacks: the root filesystems builds and dynos run on, by name, as Heroku's `heroku-24` (the
//! run image) and `heroku-24-build` (the build image). Each lives under
//! `<data-dir>/stacks/<name>/`:
//!
//! - `stack.json`: how it was made and the runtimes it has ([`Runtimes`], from its dpkg database);
//! - `rootfs/`: the run image's root, whose layers (`oci/`, `layers.json`) are the base of every
//!   app image built on it — what every dyno unpacks, so it stays slim;
//! - `build/rootfs/`: the build image's root, the run image plus compilers and headers, which
//!   builds run on; stacks without one (busybox, imported) build on `rootfs/`; its layer
//!   (`build-layers.json`, made on first use) is the build image that builds off this host run
//!   (`--k8s-builds job`);
//! - `layers/<hex>/`: the run image's layers unpacked, one per digest, which dynos' lower dirs
//!   are hard-linked from.
//!
//! `stack build --recipe NAME` makes `bookworm` or `trixie` (Debian by debootstrap, with the
//! packages in `buildpacks/stacks/{run,build}.packages`) or `busybox` (the host's static busybox
//! only: enough for static sites and shell Procfiles); `stack import` pulls one from a registry.
//! `stacks/default`, a symlink to one of them, is the server's default stack: the one new apps
//! get (`stack default NAME` moves it; the first stack made becomes it).
//!
//! Every stack trusts the CA certificates the operator added on the host (under
//! `/usr/local/share/ca-certificates`, as behind a TLS-inspecting proxy): `stack build` and
//! `stack import` carry them in, `stack update-ca` refreshes them. They live in one extra image
//! layer on top of the stack's own (`trust.json`), so refreshing them never re-makes or re-tars
//! the stack's layers.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use sha2::Digest;

use crate::data_dir::{DataDir, write_atomic};
use crate::oci::layer::{self, Layer, Owner};
use crate::oci::{Layout, Manifest, valid_digest};
use crate::registry::{Credentials, Registry, RegistryRef};

/// The symlink under `stacks/` that names the server's default stack.
const DEFAULT_LINK: &str = "default";
/// The file in a stack's directory that builds on it hold a shared lock on ([`Stack::in_use`]).
const IN_USE_FILE: &str = ".in-use";
/// The folder in a stack's directory that holds its run image's layers unpacked, by digest.
const UNPACKED_DIR: &str = "layers";

/// What the run image has (one package per line, `#` comments).
const RUN_PACKAGES: &str = include_str!("../../../buildpacks/stacks/run.packages");
/// What the build image adds to it.
const BUILD_PACKAGES: &str = include_str!("../../../buildpacks/stacks/build.packages");
/// What the services image (the add-ons' PostgreSQL and Redis) has, on bookworm.
const SERVICES_PACKAGES: &str = include_str!("../../../buildpacks/stacks/services.packages");

/// The name of the stack the add-ons' services run on (`stack build --recipe services`).
pub const SERVICES: &str = "services";
/// The uid (and gid) the add-ons' services run as: user `paas-service` of the services stack,
/// not the dynos' uid.
pub const SERVICE_UID: u32 = 2100;

/// Where a Debian or Ubuntu host keeps the CA certificates its operator added (`*.crt`, read by
/// `update-ca-certificates`).
pub const HOST_CA_DIR: &str = "/usr/local/share/ca-certificates";
/// Where a stack keeps the host's: a folder of their own, replaced whole at each refresh.
const STACK_HOST_CA_DIR: &str = "usr/local/share/ca-certificates/paas-host";
/// The stack's own trust store, which `update-ca-certificates` writes.
const STACK_CERTS_DIR: &str = "etc/ssl/certs";
const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";
/// Keeps documentation, manual pages and translations out of a Debian stack, as Debian's own
/// slim images do (debuerreotype's `--slimify`): a dyno never reads them.
const DPKG_SLIM: &str = "\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Recipe {
    /// Debian 12: Python 3.11, Node.js 18
    Bookworm,
    /// Debian 13: Python 3.13, Node.js 20
    Trixie,
    /// The host's static busybox: static sites and shell Procfiles only
    Busybox,
    /// Debian 12 with PostgreSQL 15 and Redis 7: what add-ons run (not a stack apps build on)
    Services,
}

impl Recipe {
    /// What this recipe makes, as a digest: its name, the way it is made (raise
    /// `REVISION` when `debian` or `busybox` changes what they make) and its package lists.
    fn digest(self) -> String {
        const REVISION: &str = "3";
        let mut hasher = sha2::Sha256::new();
        // The app stacks' lists, or the services' (whose list changing leaves them alone).
        let packages = match self {
            Recipe::Services => [SERVICES_PACKAGES, ""],
            _ => [RUN_PACKAGES, BUILD_PACKAGES],
        };
        for part in [REVISION, self.name(), packages[0], packages[1], DPKG_SLIM] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        // The app stacks name the dyno user (the services' stack has its own, above).
        if self != Recipe::Services {
            let user = dyno_user();
            hasher.update((user.len() as u64).to_le_bytes());
            hasher.update(user);
        }
        format!("sha256:{:x}", hasher.finalize())
    }

    /// The stack's name, which is the recipe's.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::Bookworm => "bookworm",
            Recipe::Trixie => "trixie",
            Recipe::Busybox => "busybox",
            Recipe::Services => SERVICES,
        }
    }
}

/// Checks a stack name: 1 to 30 lowercase letters, digits and dashes, starting with a letter,
/// and not `default` (the link to the default stack).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=30).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name != DEFAULT_LINK;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a stack name: use 1 to 30 lowercase letters, digits and dashes, \
             starting with a letter (not \"default\")"
        ))
    }
}

/// The language runtimes a stack has, as upstream versions (`3.11.2`, `18.19.0`), read from its
/// dpkg database (the `python3` and `nodejs` packages); None when it has no such package.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Runtimes {
    pub python: Option<String>,
    pub node: Option<String>,
}

/// `stack.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Meta {
    /// `bookworm`, `trixie`, `busybox` or `import`.
    recipe: String,
    /// The image an imported stack came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    #[serde(default)]
    runtimes: Runtimes,
    /// What a recipe stack was made from ([`Recipe::digest`]), for `stack build --keep-current`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recipe_digest: Option<String>,
}

/// An installed stack.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    /// Its directory, canonical (runc refuses a root reached through a symlink).
    dir: PathBuf,
    meta: Meta,
}

impl Stack {
    /// Stack `name`, if it is installed.
    pub fn open(data: &DataDir, name: &str) -> anyhow::Result<Option<Stack>> {
        check_name(name).map_err(anyhow::Error::msg)?;
        let path = data.stacks().join(name);
        let text = match std::fs::read_to_string(path.join("stack.json")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading stack {name}")),
        };
        let meta = serde_json::from_str(&text)
            .with_context(|| format!("reading stack {name}'s stack.json"))?;
        Ok(Some(Stack {
            name: name.to_owned(),
            dir: std::fs::canonicalize(&path)?,
            meta,
        }))
    }

    pub fn runtimes(&self) -> &Runtimes {
        &self.meta.runtimes
    }

    /// The run image's root.
    pub fn run_rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// The root builds run on: the build image's, else the run image's.
    pub fn build_rootfs(&self) -> PathBuf {
        let build = self.dir.join("build/rootfs");
        if build.is_dir() {
            build
        } else {
            self.run_rootfs()
        }
    }

    /// Whether the stack has a build image of its own (with compilers and headers).
    pub fn has_build_image(&self) -> bool {
        self.dir.join("build/rootfs").is_dir()
    }

    /// How it was made: `recipe bookworm`, `imported from <ref>`.
    pub fn origin(&self) -> String {
        match &self.meta.reference {
            Some(reference) => format!("imported from {reference}"),
            None => format!("recipe {}", self.meta.recipe),
        }
    }

    /// `Python 3.11.2, Node.js 18.19.0`, or `no Python or Node.js`.
    pub fn runtimes_line(&self) -> String {
        let Runtimes { python, node } = self.runtimes();
        paas_share::models::runtimes_line(python.as_deref(), node.as_deref())
    }

    /// Marks the stack in use until the returned lock drops: a build holds it from start to
    /// image, so that `stack build` replacing the stack meanwhile leaves this one's files in place
    /// for it (and removes them later) instead of deleting them under the running build.
    pub fn in_use(&self) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
        let file = std::fs::File::create(self.dir.join(IN_USE_FILE))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockShared)
            .map_err(|(_, e)| anyhow::anyhow!("cannot mark stack {} in use: {e}", self.name))
    }

    /// The stack's lock, held while its layers or trust store change.
    fn lock(&self) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
        let lock = std::fs::File::create(self.dir.join(".layers.lock"))?;
        nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("cannot lock stack {}: {e}", self.name))
    }

    /// The run image as image layers: its own (made once from its root filesystem into the
    /// stack's own layout, under the lock, as builds may ask at the same time, and referenced by
    /// digest ever after), then its trust layer if the host has CAs of its own. Returns the
    /// stack's layout and its layers, bottom first.
    pub fn layers(&self, progress: impl FnMut(String)) -> anyhow::Result<(Layout, Vec<Layer>)> {
        self.image_layers(&self.run_rootfs(), "layers.json", progress)
    }

    /// The build image as image layers (as [`Stack::layers`], from the build image's root: the
    /// run image's layers when the stack has no build image of its own), for builds that run
    /// off this host.
    pub fn build_layers(
        &self,
        progress: impl FnMut(String),
    ) -> anyhow::Result<(Layout, Vec<Layer>)> {
        if !self.has_build_image() {
            return self.layers(progress);
        }
        self.image_layers(&self.build_rootfs(), "build-layers.json", progress)
    }

    /// `rootfs`'s layer (recorded in `record`) and the trust layer.
    fn image_layers(
        &self,
        rootfs: &Path,
        record: &str,
        progress: impl FnMut(String),
    ) -> anyhow::Result<(Layout, Vec<Layer>)> {
        let _lock = self.lock()?;
        let layout = Layout::open(&self.dir.join("oci"))?;
        let mut layers = self.own_layers(&layout, rootfs, record, progress)?;
        if let Some(trust) = read_trust(&self.dir)?.and_then(|t| t.layer) {
            if !layout.has_blob(&trust.digest) {
                bail!(
                    "stack {}'s CA layer is missing: run `paas-buildserver stack update-ca`",
                    self.name
                );
            }
            layers.push(trust);
        }
        Ok((layout, layers))
    }

    /// Unpacks the run image's layers (its own, then its CA layer) under the stack's `layers/`,
    /// one folder per digest (`layers/<hex>`), in parallel, once each; folders of layers the
    /// stack no longer has (an older CA layer) go. Dynos start from these: the local scheduler
    /// hard-links its lower dirs from them ([`unpacked_layer_dirs`]) instead of unpacking the
    /// stack's hundreds of megabytes again for an app's first dyno.
    pub fn unpack_layers(&self, mut progress: impl FnMut(String)) -> anyhow::Result<()> {
        let (layout, layers) = self.layers(&mut progress)?;
        let _lock = self.lock()?;
        let dir = self.dir.join(UNPACKED_DIR);
        std::fs::create_dir_all(&dir)?;
        let missing: Vec<&Layer> = layers
            .iter()
            .filter(|l| !dir.join(&l.digest["sha256:".len()..]).is_dir())
            .collect();
        if !missing.is_empty() {
            progress(format!(
                "-----> Unpacking stack {}'s {} image layers for dynos",
                self.name,
                missing.len()
            ));
        }
        std::thread::scope(|scope| {
            let unpacks: Vec<_> = missing
                .iter()
                .map(|l| scope.spawn(|| crate::oci::unpack::cached(&layout, &dir, &l.digest, &[])))
                .collect();
            unpacks
                .into_iter()
                .try_for_each(|u| u.join().expect("unpacking panicked").map(drop))
        })?;
        let current: Vec<std::ffi::OsString> = layers
            .iter()
            .map(|l| l.digest["sha256:".len()..].into())
            .collect();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if !current.contains(&entry.file_name()) {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }

    /// The layers recorded in `layers.json` (the CA layer last), for `stack list`; none before
    /// the first build on the stack made them.
    pub fn recorded_layers(&self) -> anyhow::Result<Vec<Layer>> {
        let mut layers: Vec<Layer> = match std::fs::read_to_string(self.dir.join("layers.json")) {
            Ok(text) => serde_json::from_str(&text)?,
            Err(_) => Vec::new(),
        };
        layers.extend(read_trust(&self.dir)?.and_then(|t| t.layer));
        Ok(layers)
    }

    fn own_layers(
        &self,
        layout: &Layout,
        rootfs: &Path,
        record: &str,
        mut progress: impl FnMut(String),
    ) -> anyhow::Result<Vec<Layer>> {
        let record = self.dir.join(record);
        if let Ok(text) = std::fs::read_to_string(&record) {
            let layers: Vec<Layer> =
                serde_json::from_str(&text).context("reading the stack's layers.json")?;
            if layers.iter().all(|l| layout.has_blob(&l.digest)) {
                return Ok(layers);
            }
        }
        progress(format!(
            "-----> Making stack {}'s image layer (once per stack)",
            self.name
        ));
        let mut skipped = Vec::new();
        let layer = layer::write(layout, rootfs, "", Owner::Preserved, &mut skipped)?;
        if !skipped.is_empty() {
            progress(format!(
                "       {} special files (devices, FIFOs, sockets) left out",
                skipped.len()
            ));
        }
        let layers = vec![layer];
        write_atomic(&record, serde_json::to_string(&layers)?.as_bytes(), 0o644)?;
        Ok(layers)
    }

    /// Carries the CA certificates under `host_cas` (`*.crt`, as `update-ca-certificates` reads
    /// them; normally [`HOST_CA_DIR`]) into the stack's run and build roots and refreshes their
    /// trust stores with the stack's own `update-ca-certificates --fresh` (chrooted), then makes
    /// the stack's trust layer: the run root's `/etc/ssl/certs` and
    /// `/usr/local/share/ca-certificates`, on top of its own layers. Certificates carried by an
    /// earlier run that the host no longer has are dropped; when the host's certificates are the
    /// ones the stack already carries, nothing is done. Returns how many certificates the stack
    /// now carries; 0 means no trust layer. A stack without `update-ca-certificates` (busybox)
    /// carries none, and says so if the host has some.
    pub fn update_ca(
        &self,
        host_cas: &Path,
        mut progress: impl FnMut(String),
    ) -> anyhow::Result<usize> {
        let _lock = self.lock()?;
        let dir = &self.dir;
        let mut found = Vec::new();
        if host_cas.is_dir() {
            collect_certificates(host_cas, Path::new(""), &mut found)
                .with_context(|| format!("reading {}", host_cas.display()))?;
        } else if host_cas != Path::new(HOST_CA_DIR) {
            // A host without added CAs has no such folder; a folder named by hand must exist.
            bail!(
                "{} is not a directory: name the folder that holds the CA certificates (*.crt)",
                host_cas.display()
            );
        }
        let record = dir.join("trust.json");
        let mut hasher = sha2::Sha256::new();
        for relative in &found {
            let content = std::fs::read(host_cas.join(relative))
                .with_context(|| format!("reading {}", host_cas.join(relative).display()))?;
            if !content
                .windows(27)
                .any(|w| w == b"-----BEGIN CERTIFICATE-----")
            {
                bail!(
                    "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----); fix or remove it",
                    host_cas.join(relative).display()
                );
            }
            for part in [relative.as_os_str().as_encoded_bytes(), &content] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
        }
        let certificates = format!("sha256:{:x}", hasher.finalize());
        let layout = Layout::open(&dir.join("oci"))?;
        if let Some(trust) = read_trust(dir)?
            && trust.certificates == certificates
            && trust
                .layer
                .as_ref()
                .is_none_or(|l| layout.has_blob(&l.digest))
        {
            return Ok(found.len());
        }
        let rootfs = self.run_rootfs();
        if !rootfs.join("usr/sbin/update-ca-certificates").exists() {
            if !found.is_empty() {
                progress(format!(
                    " !     stack {} has no update-ca-certificates: the host's {} CA certificates \
                     are not carried into it",
                    self.name,
                    found.len()
                ));
            }
            return Ok(0);
        }
        progress(format!(
            "-----> Stack {}: trusting {} CA certificates added on the host ({})",
            self.name,
            found.len(),
            host_cas.display()
        ));
        let mut roots = vec![rootfs.clone()];
        if self.has_build_image() {
            roots.push(self.build_rootfs());
        }
        for root in &roots {
            let target = root.join(STACK_HOST_CA_DIR);
            if target.exists() {
                std::fs::remove_dir_all(&target)?;
            }
            for relative in &found {
                let to = target.join(relative);
                std::fs::create_dir_all(to.parent().expect("a file has a parent"))?;
                std::fs::copy(host_cas.join(relative), &to)
                    .with_context(|| format!("copying {}", host_cas.join(relative).display()))?;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))?;
            }
            let mut refresh = chroot(root);
            refresh.args(["update-ca-certificates", "--fresh"]);
            run_step(&mut refresh, "update-ca-certificates in the stack")?;
        }
        let layer = if found.is_empty() {
            None
        } else {
            let staging = dir.join(".trust");
            if staging.exists() {
                std::fs::remove_dir_all(&staging)?;
            }
            for part in [STACK_CERTS_DIR, "usr/local/share/ca-certificates"] {
                copy_tree(&rootfs.join(part), &staging.join(part))?;
            }
            let layer = layer::write(&layout, &staging, "", Owner::Preserved, &mut Vec::new())?;
            std::fs::remove_dir_all(&staging)?;
            progress(format!("       CA layer {}", layer.digest));
            Some(layer)
        };
        let trust = Trust {
            certificates,
            layer,
        };
        write_atomic(&record, serde_json::to_string(&trust)?.as_bytes(), 0o644)?;
        Ok(found.len())
    }
}

/// The installed stacks, by name.
pub fn installed(data: &DataDir) -> anyhow::Result<Vec<Stack>> {
    let mut names = Vec::new();
    match std::fs::read_dir(data.stacks()) {
        Ok(entries) => {
            for entry in entries {
                let name = entry?.file_name();
                if let Some(name) = name.to_str()
                    && check_name(name).is_ok()
                {
                    names.push(name.to_owned());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("reading the stacks folder"),
    }
    names.sort();
    let mut stacks = Vec::new();
    for name in names {
        stacks.extend(Stack::open(data, &name)?);
    }
    Ok(stacks)
}

/// The folders of every installed stack's unpacked layers ([`Stack::unpack_layers`]), where a
/// dyno's lower dirs for a stack layer come from.
pub fn unpacked_layer_dirs(data: &DataDir) -> Vec<PathBuf> {
    installed(data)
        .unwrap_or_default()
        .into_iter()
        .map(|stack| stack.dir.join(UNPACKED_DIR))
        .collect()
}

/// The server's default stack's name (the target of `stacks/default`), if it is installed.
pub fn default_name(data: &DataDir) -> Option<String> {
    let target = std::fs::read_link(data.stacks().join(DEFAULT_LINK)).ok()?;
    let name = target.file_name()?.to_str()?.to_owned();
    check_name(&name).ok()?;
    data.stacks()
        .join(&name)
        .join("stack.json")
        .is_file()
        .then_some(name)
}

/// Makes installed stack `name` the server's default: the stack new apps get.
pub fn set_default(data: &DataDir, name: &str) -> anyhow::Result<()> {
    if name == SERVICES {
        bail!("stack {SERVICES} runs the add-ons' services; apps do not build on it");
    }
    if Stack::open(data, name)?.is_none() {
        bail!("there is no stack {name}: {}", installed_line(data));
    }
    let staging = data.stacks().join(format!(".{DEFAULT_LINK}.new"));
    let _ = std::fs::remove_file(&staging);
    std::os::unix::fs::symlink(name, &staging)?;
    std::fs::rename(&staging, data.stacks().join(DEFAULT_LINK))?;
    Ok(())
}

/// The stacks apps can build on: `installed: bookworm, trixie` (not the add-ons' services
/// stack), or how to make the first.
pub fn installed_line(data: &DataDir) -> String {
    let names: Vec<String> = installed(data)
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.name)
        .filter(|name| name != SERVICES)
        .collect();
    if names.is_empty() {
        return "none is installed (paas-buildserver stack build)".to_owned();
    }
    format!("installed: {}", names.join(", "))
}

/// Moves a stack from before stacks had names (a directory `stacks/default`) to its name
/// (`bookworm`, `busybox`, `imported`), with `default` linking to it. Run at start-up and by the
/// `stack` commands; nothing to do on a data dir already laid out by name.
pub fn migrate(data: &DataDir) -> anyhow::Result<()> {
    let old = data.stacks().join(DEFAULT_LINK);
    let Ok(meta) = std::fs::symlink_metadata(&old) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Ok(());
    }
    let recipe = std::fs::read_to_string(old.join("stack.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["recipe"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let name = match recipe.as_str() {
        "bookworm" | "busybox" => recipe,
        _ => "imported".to_owned(),
    };
    let target = data.stacks().join(&name);
    if target.exists() {
        bail!(
            "{} is a stack from an older paas and {} exists too: move one away",
            old.display(),
            target.display()
        );
    }
    std::fs::rename(&old, &target)?;
    record_runtimes(&target)?;
    set_default(data, &name)?;
    tracing::info!(stack = %name, "stack moved to its name and made the default");
    Ok(())
}

/// Reads the runtimes of the stack in `dir` into its `stack.json`.
fn record_runtimes(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("stack.json");
    let mut meta: Meta = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    meta.runtimes = runtimes_of(&dir.join("rootfs"));
    write_atomic(&path, serde_json::to_string(&meta)?.as_bytes(), 0o644)?;
    Ok(())
}

/// The runtimes installed in `rootfs`, by its dpkg database; none without one.
fn runtimes_of(rootfs: &Path) -> Runtimes {
    let status = std::fs::read_to_string(rootfs.join("var/lib/dpkg/status")).unwrap_or_default();
    Runtimes {
        python: installed_version(&status, "python3"),
        node: installed_version(&status, "nodejs"),
    }
}

/// The upstream version of installed package `name` in a dpkg status file: `3.11.2` for
/// `3.11.2-1+b1`, `18.19.0` for `18.19.0+dfsg-6~deb12u2` (Debian policy §5.6.12: epoch,
/// upstream version, revision; the `+dfsg`-style repack suffix is ours to drop).
fn installed_version(status: &str, name: &str) -> Option<String> {
    status.split("\n\n").find_map(|paragraph| {
        let field = |key: &str| {
            paragraph
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
        };
        if field("Package") != Some(name) || field("Status") != Some("install ok installed") {
            return None;
        }
        let version = field("Version")?;
        let version = version.split_once(':').map_or(version, |(_, v)| v);
        let upstream = version.split(['-', '+', '~']).next()?;
        (!upstream.is_empty()).then(|| upstream.to_owned())
    })
}

/// `trust.json`: the stack's CA layer and which host certificates it was made from.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Trust {
    /// sha256 of every carried certificate's relative path and content, in order.
    certificates: String,
    /// None when the host added no CA.
    layer: Option<Layer>,
}

fn read_trust(dir: &Path) -> anyhow::Result<Option<Trust>> {
    match std::fs::read_to_string(dir.join("trust.json")) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).context("reading the stack's trust.json")?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("reading the stack's trust.json"),
    }
}

/// Builds stack `recipe.name()` from `recipe`, printing progress to stderr, and swaps it in whole
/// (a stack of that name is replaced; apps on it use the new one from their next build). The
/// first stack made becomes the server's default. With `keep_current`, a stack of that name
/// made from this same recipe (package lists and all) is kept as it is instead.
pub fn build(data: &DataDir, recipe: Recipe, keep_current: bool) -> anyhow::Result<Stack> {
    let name = recipe.name();
    if keep_current
        && let Some(stack) = Stack::open(data, name)?
        && stack.meta.recipe_digest.as_deref() == Some(recipe.digest().as_str())
    {
        eprintln!("-----> Stack {name} is current (made from this recipe): kept");
        stack.unpack_layers(|line| eprintln!("{line}"))?;
        return Ok(stack);
    }
    std::fs::create_dir_all(data.stacks())?;
    let work = data.stacks().join(format!(".{name}.building"));
    if work.exists() {
        std::fs::remove_dir_all(&work).context("removing an unfinished stack build")?;
    }
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(&rootfs)?;
    match recipe {
        Recipe::Bookworm | Recipe::Trixie => {
            debian(name, &work, RUN_PACKAGES, Some(BUILD_PACKAGES))?;
            add_users(&rootfs, &dyno_user())?;
        }
        Recipe::Services => {
            debian("bookworm", &work, SERVICES_PACKAGES, None)?;
            add_users(
                &rootfs,
                &format!(
                    "paas-service:x:{SERVICE_UID}:{SERVICE_UID}:paas add-on service:/tmp:/bin/sh\n"
                ),
            )?;
        }
        Recipe::Busybox => {
            busybox(&rootfs)?;
            add_users(&rootfs, &dyno_user())?;
        }
    }
    let meta = Meta {
        recipe: name.to_owned(),
        reference: None,
        runtimes: runtimes_of(&rootfs),
        recipe_digest: Some(recipe.digest()),
    };
    let stack = install(data, &work, name, &meta)?;
    // The stack's own layer is its root as made, before the host's CAs go in.
    stack.layers(|line| eprintln!("{line}"))?;
    stack.update_ca(Path::new(HOST_CA_DIR), |line| eprintln!("{line}"))?;
    stack.unpack_layers(|line| eprintln!("{line}"))?;
    Ok(stack)
}

/// Finishes a stack built or imported in `work` (mount points every container needs, its
/// `stack.json`) and swaps it in as stack `name`, whole; the first stack becomes the default.
fn install(data: &DataDir, work: &Path, name: &str, meta: &Meta) -> anyhow::Result<Stack> {
    let mut roots = vec![work.join("rootfs")];
    if work.join("build/rootfs").is_dir() {
        roots.push(work.join("build/rootfs"));
    }
    for rootfs in roots {
        // Mount points and files every container needs, on a root that is read-only at run time.
        for dir in ["app", "tmp", "proc", "sys", "dev", "etc"] {
            std::fs::create_dir_all(rootfs.join(dir))?;
        }
        std::fs::set_permissions(rootfs.join("app"), std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
        for file in ["etc/resolv.conf", "etc/hosts"] {
            if !rootfs.join(file).exists() {
                std::fs::write(rootfs.join(file), "")?;
            }
        }
    }
    std::fs::write(work.join("stack.json"), serde_json::to_string(meta)?)?;
    let target = data.stacks().join(name);
    if std::fs::symlink_metadata(&target).is_ok() {
        // Replaced stacks wait under a name of their own until no build uses them.
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        std::fs::rename(&target, data.stacks().join(format!(".{name}.old-{stamp}")))?;
    }
    std::fs::rename(work, &target)?;
    remove_replaced(data, name)?;
    if default_name(data).is_none() && name != SERVICES {
        set_default(data, name)?;
    }
    Ok(Stack::open(data, name)?.expect("the stack was just installed"))
}

/// Removes the replaced copies of stack `name` (`.NAME.old-*`) that no build uses any more; one a
/// build still runs on stays, to be removed by a later `stack build`.
fn remove_replaced(data: &DataDir, name: &str) -> anyhow::Result<()> {
    let prefix = format!(".{name}.old-");
    for entry in std::fs::read_dir(data.stacks())? {
        let entry = entry?;
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let free = match std::fs::File::open(path.join(IN_USE_FILE)) {
            Ok(file) => {
                nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
            }
            Err(_) => true,
        };
        if free {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing the replaced stack {}", path.display()))?;
        } else {
            eprintln!(
                "-----> The replaced {name} stack stays until the builds running on it end \
                 ({}; the next `stack build` removes it)",
                path.display()
            );
        }
    }
    Ok(())
}

/// Imports stack `name` from an image in a registry: `host[:port]/repository[:tag|@digest]`.
/// Every blob is checked against its digest as it downloads; the layers become the stack's
/// image layers as they are (never re-tarred) and are unpacked, whiteouts applied, into its root.
/// The stack has no build image of its own: builds run on it as it is.
pub fn import(
    data: &DataDir,
    name: &str,
    reference: &str,
    insecure: bool,
    credentials: Option<Credentials>,
) -> anyhow::Result<Stack> {
    check_name(name).map_err(anyhow::Error::msg)?;
    let (host, repository, tag) = parse_reference(reference)?;
    let registry = Registry::new(
        RegistryRef {
            host: host.clone(),
            prefix: String::new(),
        },
        insecure,
        credentials,
    );
    // The registry client is async; an import is the only thing this process does.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the registry client")?;
    eprintln!("-----> Fetching {reference}");
    let manifest = runtime.block_on(registry.pull_manifest(&repository, &tag))?;
    let manifest = Manifest::parse(&manifest).context("reading the image manifest")?;
    let config_digest = manifest.config.digest.as_str();
    if manifest.layers.is_empty() {
        bail!("the manifest lists no layers");
    }
    let layers: Vec<(String, u64, String)> = manifest
        .layers
        .iter()
        .map(|l| {
            let media = &l.media_type;
            if !(media.ends_with("tar+gzip") || media.ends_with("tar.gzip")) {
                bail!(
                    "layer {} is {media:?}; only gzip layers can be imported",
                    l.digest
                );
            }
            Ok((l.digest.clone(), l.size, media.clone()))
        })
        .collect::<anyhow::Result<_>>()?;

    std::fs::create_dir_all(data.stacks())?;
    let work = data.stacks().join(format!(".{name}.importing"));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let layout = Layout::open(&work.join("oci"))?;
    let config_path = layout.blob_path(config_digest);
    let fetched = (|| -> anyhow::Result<Vec<Layer>> {
        runtime.block_on(registry.pull_blob(&repository, config_digest, &config_path, |_| {}))?;
        let config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path)?)?;
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .context("the image config has no rootfs.diff_ids")?
            .iter()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect();
        if diff_ids.len() != layers.len() {
            bail!(
                "the image config lists {} layers, the manifest {}",
                diff_ids.len(),
                layers.len()
            );
        }
        let rootfs = work.join("rootfs");
        std::fs::create_dir_all(&rootfs)?;
        let mut result = Vec::new();
        for ((digest, size, _), diff_id) in layers.iter().zip(diff_ids) {
            eprintln!("       {digest} ({:.1} MB)", *size as f64 / 1e6);
            let bar = paas_share::terminal::bytes_bar(
                *size,
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            );
            let blob = layout.blob_path(digest);
            let pulled = runtime.block_on(registry.pull_blob(&repository, digest, &blob, |n| {
                bar.set_position(n);
            }));
            bar.finish_and_clear();
            pulled?;
            crate::oci::unpack::unpack_layer(&layout.blob_path(digest), &rootfs)?;
            result.push(Layer {
                digest: digest.clone(),
                size: *size,
                diff_id,
            });
        }
        Ok(result)
    })();
    let stack_layers = match fetched {
        Ok(layers) => layers,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            return Err(e.context(format!("importing {reference} failed; nothing was stored")));
        }
    };
    std::fs::write(
        work.join("layers.json"),
        serde_json::to_string(&stack_layers)?,
    )?;
    let meta = Meta {
        recipe: "import".to_owned(),
        reference: Some(reference.to_owned()),
        runtimes: runtimes_of(&work.join("rootfs")),
        recipe_digest: None,
    };
    let stack = install(data, &work, name, &meta)?;
    stack.update_ca(Path::new(HOST_CA_DIR), |line| eprintln!("{line}"))?;
    stack.unpack_layers(|line| eprintln!("{line}"))?;
    Ok(stack)
}

/// A Debian stack of `release` in `work`: minbase by debootstrap, then `run_packages` by apt
/// inside it (debootstrap's own `--include` resolver cannot install npm's dependency tree) into
/// `work/rootfs`; with `build_packages`, a copy of that plus those is `work/build/rootfs`.
fn debian(
    release: &str,
    work: &Path,
    run_packages: &str,
    build_packages: Option<&str>,
) -> anyhow::Result<()> {
    let rootfs = work.join("rootfs");
    eprintln!("-----> debootstrap {release} (minbase)");
    let mut debootstrap = Command::new("debootstrap");
    debootstrap
        .arg("--variant=minbase")
        .arg(release)
        .arg(&rootfs)
        .arg(DEBIAN_MIRROR);
    run_step(
        &mut debootstrap,
        "debootstrap (apt-get install debootstrap)",
    )?;
    std::fs::write(rootfs.join("etc/dpkg/dpkg.cfg.d/paas-slim"), DPKG_SLIM)?;
    // Name resolution for apt inside the new root; replaced by the host's file at run time.
    std::fs::copy("/etc/resolv.conf", rootfs.join("etc/resolv.conf"))
        .context("copying /etc/resolv.conf")?;
    let apt = |root: &Path, args: &[&str]| {
        let mut cmd = chroot(root);
        cmd.arg("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run_step(
        &mut apt(&rootfs, &["update", "-q"]),
        "apt-get update in the stack",
    )?;
    let install = |root: &Path, packages: &str, what: &str| {
        let packages = package_list(packages);
        eprintln!("-----> {what}: apt-get install {}", packages.join(" "));
        let mut install = apt(root, &["install", "-y", "-q", "--no-install-recommends"]);
        install.args(&packages);
        run_step(&mut install, "apt-get install in the stack")
    };
    install(&rootfs, run_packages, "run image")?;
    let mut roots = vec![rootfs.clone()];
    if let Some(build_packages) = build_packages {
        let build = work.join("build/rootfs");
        std::fs::create_dir_all(work.join("build"))?;
        eprintln!("-----> build image: a copy of the run image");
        let mut copy = Command::new("cp");
        copy.arg("-a").arg(&rootfs).arg(&build);
        run_step(&mut copy, "copying the run image")?;
        install(&build, build_packages, "build image")?;
        roots.push(build);
    }
    for root in &roots {
        run_step(&mut apt(root, &["clean"]), "apt-get clean in the stack")?;
        let lists = root.join("var/lib/apt/lists");
        if lists.exists() {
            std::fs::remove_dir_all(&lists)?;
            std::fs::create_dir_all(&lists)?;
        }
        std::fs::write(root.join("etc/resolv.conf"), "")?;
    }
    Ok(())
}

/// The `/etc/passwd` line of the user builds and dynos run as ([`crate::build::BUILD_UID`]),
/// `dyno`, home `/app`: a uid without a name breaks `whoami`, `id -un`, Python's
/// `getpass.getuser()` and what derives a cache directory from them (Heroku's dynos run as a
/// named user too).
fn dyno_user() -> String {
    let uid = crate::build::BUILD_UID;
    format!("dyno:x:{uid}:{uid}:paas dyno:/app:/bin/sh\n")
}

/// Adds users (`passwd` lines) to the stack's `/etc/passwd`, each with a group of its name and
/// id in `/etc/group` (PostgreSQL, for one, refuses to run as a uid without a name).
fn add_users(rootfs: &Path, passwd: &str) -> anyhow::Result<()> {
    let append = |file: &str, lines: String| -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(rootfs.join(file))
            .with_context(|| format!("adding users to {file}"))?;
        std::io::Write::write_all(&mut f, lines.as_bytes())?;
        Ok(())
    };
    let groups: String = passwd
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(format!("{}:x:{}:\n", fields.first()?, fields.get(3)?))
        })
        .collect();
    append("etc/passwd", passwd.to_owned())?;
    append("etc/group", groups)
}

/// A package list's names: one per line, `#` comments and blank lines skipped.
fn package_list(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A command run inside `root` with a clean environment.
fn chroot(root: &Path) -> Command {
    let mut cmd = Command::new("chroot");
    cmd.arg(root)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8");
    cmd
}

/// The `*.crt` files under `root/relative`, as paths relative to `root`, sorted.
fn collect_certificates(
    root: &Path,
    relative: &Path,
    found: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(relative))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = relative.join(entry.file_name());
        let meta = std::fs::metadata(entry.path())?;
        if meta.is_dir() {
            collect_certificates(root, &path, found)?;
        } else if meta.is_file() && path.extension().is_some_and(|e| e == "crt") {
            found.push(path);
        }
    }
    Ok(())
}

/// Copies a directory tree of the stack (files, directories, symlinks kept as symlinks), with
/// modes and owners, into `to`, making `to`'s parents as needed.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if meta.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(from, to)?;
    }
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    if !meta.is_symlink() {
        std::fs::set_permissions(to, meta.permissions())?;
    }
    Ok(())
}

/// The name an imported stack gets without `--name`: its repository's last component
/// (`registry:5000/stacks/heroku-24:v1` → `heroku-24`).
pub fn import_name(reference: &str) -> anyhow::Result<String> {
    let (_, repository, _) = parse_reference(reference)?;
    let name = repository.rsplit('/').next().unwrap_or(&repository);
    check_name(name).map_err(|e| anyhow::anyhow!("{e}; name the stack with --name"))?;
    Ok(name.to_owned())
}

/// `host[:port]/repository[:tag|@digest]` → (host, repository, tag or digest).
fn parse_reference(reference: &str) -> anyhow::Result<(String, String, String)> {
    let (host, rest) = reference
        .split_once('/')
        .filter(|(host, _)| host.contains('.') || host.contains(':') || *host == "localhost")
        .with_context(|| {
            format!("{reference:?} names no registry: use host[:port]/repository[:tag]")
        })?;
    let (repository, tag) = match rest.split_once('@') {
        Some((repository, digest)) => (repository, digest.to_owned()),
        None => match rest.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, tag.to_owned()),
            _ => (rest, "latest".to_owned()),
        },
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    };
    let tag_ok = valid_digest(&tag)
        || (!tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')));
    if !repository.split('/').all(component_ok) || !tag_ok {
        bail!("{reference:?} is not a valid image reference");
    }
    Ok((host.to_owned(), repository.to_owned(), tag))
}

/// Runs one step of a stack build, indenting its output under the step's heading.
/// Runs one step of a stack build, its output (stdout and stderr) indented under the step; on a
/// terminal, a spinner with the step and its time stays below the output while it runs.
fn run_step(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    let spinner = paas_share::terminal::spinner(
        what.to_owned(),
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    // A hidden spinner prints nothing.
    let say = |line: String| {
        if spinner.is_hidden() {
            eprintln!("       {line}");
        } else {
            spinner.println(format!("       {line}"));
        }
    };
    let stderr = child.stderr.take().expect("piped");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                say(line);
            }
        });
        for line in BufReader::new(child.stdout.take().expect("piped"))
            .lines()
            .map_while(Result::ok)
        {
            say(line);
        }
    });
    spinner.finish_and_clear();
    let status = child.wait()?;
    if !status.success() {
        bail!("{what} failed ({status}); see the lines above");
    }
    Ok(())
}

fn busybox(rootfs: &Path) -> anyhow::Result<()> {
    let source = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .context("no busybox binary on this host (apt-get install busybox-static)")?;
    eprintln!("-----> busybox stack from {}", source.display());
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::copy(source, bin.join("busybox"))?;
    std::fs::set_permissions(bin.join("busybox"), std::fs::Permissions::from_mode(0o755))?;
    let list = Command::new(bin.join("busybox"))
        .arg("--list")
        .output()
        .context("running busybox --list")?;
    if !list.status.success() {
        bail!(
            "busybox --list failed: is {} statically linked?",
            source.display()
        );
    }
    for applet in String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        let link = bin.join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link)?;
        }
    }
    std::fs::create_dir_all(rootfs.join("usr"))?;
    std::os::unix::fs::symlink("../bin", rootfs.join("usr/bin"))?;
    std::fs::create_dir_all(rootfs.join("etc"))?;
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_versions_from_dpkg_status() {
        let status = "Package: python3\nStatus: install ok installed\nVersion: 3.11.2-1+b1\n\n\
                      Package: nodejs\nStatus: install ok installed\nVersion: 18.19.0+dfsg-6~deb12u2\n\n\
                      Package: npm\nStatus: deinstall ok config-files\nVersion: 1:9.2.0~ds1-3\n";
        assert_eq!(
            installed_version(status, "python3").as_deref(),
            Some("3.11.2")
        );
        assert_eq!(
            installed_version(status, "nodejs").as_deref(),
            Some("18.19.0")
        );
        assert_eq!(installed_version(status, "npm"), None, "not installed");
        assert_eq!(installed_version(status, "ruby"), None);
        let epoch = "Package: nodejs\nStatus: install ok installed\nVersion: 2:20.19.2+dfsg-1\n";
        assert_eq!(
            installed_version(epoch, "nodejs").as_deref(),
            Some("20.19.2")
        );
    }

    #[test]
    fn stack_names() {
        for good in ["bookworm", "trixie", "heroku-24", "a"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "default",
            "Bookworm",
            "../x",
            "1abc",
            "a b",
            &"a".repeat(31),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn imported_stacks_are_named_after_their_repository() {
        let name = |r: &str| import_name(r).map_err(|e| e.to_string());
        assert_eq!(
            name("127.0.0.1:5000/stacks/busybox:1").as_deref(),
            Ok("busybox")
        );
        assert_eq!(
            name("registry.example.com/heroku-24").as_deref(),
            Ok("heroku-24")
        );
        assert!(name("127.0.0.1:5000/stacks/default").is_err());
    }

    #[test]
    fn a_replaced_stack_stays_while_a_build_uses_it() {
        let root = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(root.path().to_owned());
        std::fs::create_dir_all(data.stacks()).expect("mkdir");
        // A bare stack, installed the way every recipe installs one.
        let make = |name: &str| {
            let work = data.stacks().join(format!(".{name}.building"));
            std::fs::create_dir_all(work.join("rootfs/bin")).expect("mkdir");
            let meta = Meta {
                recipe: "busybox".to_owned(),
                reference: None,
                runtimes: Runtimes::default(),
                recipe_digest: None,
            };
            install(&data, &work, name, &meta).expect("install")
        };
        let first = make("small");
        let building = first.in_use().expect("in use");
        make("small");
        let replaced = || {
            std::fs::read_dir(data.stacks())
                .expect("read")
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with(".small.old-"))
                })
                .count()
        };
        assert_eq!(replaced(), 1, "kept for the build");
        assert!(
            first.build_rootfs().is_dir(),
            "the build's root is still there"
        );
        drop(building);
        make("small");
        assert_eq!(replaced(), 0, "both replaced copies are gone once unused");
        assert_eq!(default_name(&data).as_deref(), Some("small"));
    }

    #[test]
    fn package_lists_skip_comments() {
        assert_eq!(
            package_list("# run\npython3\n\n  nodejs  # for npm start\n"),
            ["python3", "nodejs"]
        );
    }
}
