//! Stacks: the root filesystems builds (and later dynos) run on, under `<data-dir>/stacks/<name>/`
//! as `rootfs/` plus `stack.json`. `stack build` makes the default one from a recipe:
//! `bookworm` (Debian via debootstrap, with the packages in `buildpacks/stacks/bookworm.packages`)
//! or `busybox` (the host's static busybox only: enough for static sites and shell Procfiles).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::data_dir::DataDir;
use crate::oci::Layout;
use crate::oci::layer::{self, Layer, Owner};

/// The stack builds use.
pub const DEFAULT: &str = "default";

const BOOKWORM_PACKAGES: &str = include_str!("../../../buildpacks/stacks/bookworm.packages");
const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Recipe {
    Bookworm,
    Busybox,
}

/// The default stack's root filesystem, if one has been built, as a canonical path (runc refuses
/// a root reached through a symlink).
pub fn rootfs(data: &DataDir) -> Option<PathBuf> {
    let dir = data.stacks().join(DEFAULT);
    if !dir.join("stack.json").is_file() {
        return None;
    }
    std::fs::canonicalize(dir.join("rootfs")).ok()
}

/// The default stack as image layers: made once from its root filesystem (under a lock, as
/// builds may ask at the same time) into the stack's own layout, and referenced by digest ever
/// after. Returns the stack's layout and its layers, bottom first.
pub fn layers(
    data: &DataDir,
    mut progress: impl FnMut(String),
) -> anyhow::Result<(Layout, Vec<Layer>)> {
    let dir = std::fs::canonicalize(data.stacks().join(DEFAULT)).context("no default stack")?;
    let lock = std::fs::File::create(dir.join(".layers.lock"))?;
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("cannot lock the stack: {e}"))?;
    let layout = Layout::open(&dir.join("oci"))?;
    let record = dir.join("layers.json");
    if let Ok(text) = std::fs::read_to_string(&record) {
        let layers: Vec<Layer> =
            serde_json::from_str(&text).context("reading the stack's layers.json")?;
        if layers.iter().all(|l| layout.has_blob(&l.digest)) {
            return Ok((layout, layers));
        }
    }
    progress("-----> Making the stack's image layer (once per stack)".to_owned());
    let mut skipped = Vec::new();
    let layer = layer::write(
        &layout,
        &dir.join("rootfs"),
        "",
        Owner::Preserved,
        &mut skipped,
    )?;
    if !skipped.is_empty() {
        progress(format!(
            "       {} special files (devices, FIFOs, sockets) left out",
            skipped.len()
        ));
    }
    let layers = vec![layer];
    std::fs::write(&record, serde_json::to_string(&layers)?)?;
    Ok((layout, layers))
}

/// Builds the default stack from `recipe`, printing progress to stderr, and swaps it in whole.
pub fn build(data: &DataDir, recipe: Recipe) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(data.stacks())?;
    let work = data.stacks().join(format!(".{DEFAULT}.building"));
    if work.exists() {
        std::fs::remove_dir_all(&work).context("removing an unfinished stack build")?;
    }
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(&rootfs)?;
    match recipe {
        Recipe::Bookworm => debootstrap(&rootfs)?,
        Recipe::Busybox => busybox(&rootfs)?,
    }
    // Mount points and files every container needs, on a root that is read-only at run time.
    for dir in ["app", "tmp", "proc", "sys", "dev", "etc"] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    std::fs::set_permissions(rootfs.join("app"), std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    if !rootfs.join("etc/resolv.conf").exists() {
        std::fs::write(rootfs.join("etc/resolv.conf"), "")?;
    }
    let recipe_name = match recipe {
        Recipe::Bookworm => "bookworm",
        Recipe::Busybox => "busybox",
    };
    std::fs::write(
        work.join("stack.json"),
        serde_json::json!({ "name": DEFAULT, "recipe": recipe_name }).to_string(),
    )?;

    let target = data.stacks().join(DEFAULT);
    let old = data.stacks().join(format!(".{DEFAULT}.old"));
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    std::fs::rename(&work, &target)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    layers(data, |line| eprintln!("{line}"))?;
    Ok(target.join("rootfs"))
}

/// Debian minbase by debootstrap, then the recipe's packages by apt inside it (debootstrap's own
/// `--include` resolver cannot install npm's dependency tree).
fn debootstrap(rootfs: &Path) -> anyhow::Result<()> {
    let packages: Vec<&str> = BOOKWORM_PACKAGES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    eprintln!("-----> debootstrap bookworm (minbase)");
    let mut debootstrap = Command::new("debootstrap");
    debootstrap
        .arg("--variant=minbase")
        .arg("bookworm")
        .arg(rootfs)
        .arg(DEBIAN_MIRROR);
    run_step(
        &mut debootstrap,
        "debootstrap (apt-get install debootstrap)",
    )?;
    // Name resolution for apt inside the new root; replaced by the host's file at run time.
    std::fs::copy("/etc/resolv.conf", rootfs.join("etc/resolv.conf"))
        .context("copying /etc/resolv.conf")?;
    eprintln!("-----> apt-get install {}", packages.join(" "));
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("chroot");
        cmd.arg(rootfs)
            .arg("apt-get")
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LANG", "C.UTF-8");
        cmd
    };
    run_step(&mut apt(&["update", "-q"]), "apt-get update in the stack")?;
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(&packages);
    run_step(&mut install, "apt-get install in the stack")?;
    run_step(&mut apt(&["clean"]), "apt-get clean in the stack")?;
    let lists = rootfs.join("var/lib/apt/lists");
    if lists.exists() {
        std::fs::remove_dir_all(&lists)?;
        std::fs::create_dir_all(&lists)?;
    }
    std::fs::write(rootfs.join("etc/resolv.conf"), "")?;
    Ok(())
}

/// Runs one step of a stack build, indenting its output under the step's heading.
fn run_step(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    for line in BufReader::new(child.stdout.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
    {
        eprintln!("       {line}");
    }
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
