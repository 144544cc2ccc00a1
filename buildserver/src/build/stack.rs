//! Stacks: the root filesystems builds (and later dynos) run on, under `<data-dir>/stacks/<name>/`
//! as `rootfs/` plus `stack.json`. `stack build` makes the default one from a recipe:
//! `bookworm` (Debian via debootstrap, with the packages in `buildpacks/stacks/bookworm.packages`)
//! or `busybox` (the host's static busybox only: enough for static sites and shell Procfiles);
//! `stack import` pulls one from a registry instead.
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

use crate::data_dir::DataDir;
use crate::oci::layer::{self, Layer, Owner};
use crate::oci::{Layout, Manifest, valid_digest};
use crate::registry::{Credentials, Registry, RegistryRef};

/// The stack builds use.
pub const DEFAULT: &str = "default";

const BOOKWORM_PACKAGES: &str = include_str!("../../../buildpacks/stacks/bookworm.packages");

/// Where a Debian or Ubuntu host keeps the CA certificates its operator added (`*.crt`, read by
/// `update-ca-certificates`).
pub const HOST_CA_DIR: &str = "/usr/local/share/ca-certificates";
/// Where a stack keeps the host's: a folder of their own, replaced whole at each refresh.
const STACK_HOST_CA_DIR: &str = "usr/local/share/ca-certificates/paas-host";
/// The stack's own trust store, which `update-ca-certificates` writes.
const STACK_CERTS_DIR: &str = "etc/ssl/certs";
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

/// The default stack's directory (canonical) and its lock, held while its layers change.
fn lock_stack(data: &DataDir) -> anyhow::Result<(PathBuf, nix::fcntl::Flock<std::fs::File>)> {
    let dir = std::fs::canonicalize(data.stacks().join(DEFAULT))
        .context("there is no default stack yet: run `paas-buildserver stack build`")?;
    let lock = std::fs::File::create(dir.join(".layers.lock"))?;
    let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("cannot lock the stack: {e}"))?;
    Ok((dir, lock))
}

/// The default stack as image layers: its own layers (made once from its root filesystem into
/// the stack's own layout, under a lock, as builds may ask at the same time, and referenced by
/// digest ever after), then its trust layer if the host has CAs of its own. Returns the stack's
/// layout and its layers, bottom first.
pub fn layers(
    data: &DataDir,
    progress: impl FnMut(String),
) -> anyhow::Result<(Layout, Vec<Layer>)> {
    let (dir, _lock) = lock_stack(data)?;
    let layout = Layout::open(&dir.join("oci"))?;
    let mut layers = own_layers(&dir, &layout, progress)?;
    if let Some(trust) = read_trust(&dir)?.and_then(|t| t.layer) {
        if !layout.has_blob(&trust.digest) {
            bail!("the stack's CA layer is missing: run `paas-buildserver stack update-ca`");
        }
        layers.push(trust);
    }
    Ok((layout, layers))
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

fn own_layers(
    dir: &Path,
    layout: &Layout,
    mut progress: impl FnMut(String),
) -> anyhow::Result<Vec<Layer>> {
    let record = dir.join("layers.json");
    if let Ok(text) = std::fs::read_to_string(&record) {
        let layers: Vec<Layer> =
            serde_json::from_str(&text).context("reading the stack's layers.json")?;
        if layers.iter().all(|l| layout.has_blob(&l.digest)) {
            return Ok(layers);
        }
    }
    progress("-----> Making the stack's image layer (once per stack)".to_owned());
    let mut skipped = Vec::new();
    let layer = layer::write(
        layout,
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
    Ok(layers)
}

/// Carries the CA certificates under `host_cas` (`*.crt`, as `update-ca-certificates` reads
/// them; normally [`HOST_CA_DIR`]) into the default stack and refreshes its trust store with the
/// stack's own `update-ca-certificates --fresh` (chrooted), then makes the stack's trust layer:
/// its `/etc/ssl/certs` and `/usr/local/share/ca-certificates`, on top of its own layers.
/// Certificates carried by an earlier run that the host no longer has are dropped; when the
/// host's certificates are the ones the stack already carries, nothing is done. Returns how many
/// certificates the stack now carries; 0 means no trust layer. A stack without
/// `update-ca-certificates` (busybox) carries none, and says so if the host has some.
pub fn update_ca(
    data: &DataDir,
    host_cas: &Path,
    mut progress: impl FnMut(String),
) -> anyhow::Result<usize> {
    let (dir, _lock) = lock_stack(data)?;
    let rootfs = dir.join("rootfs");
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
    if let Some(trust) = read_trust(&dir)?
        && trust.certificates == certificates
        && trust
            .layer
            .as_ref()
            .is_none_or(|l| layout.has_blob(&l.digest))
    {
        return Ok(found.len());
    }
    if !rootfs.join("usr/sbin/update-ca-certificates").exists() {
        if !found.is_empty() {
            progress(format!(
                " !     this stack has no update-ca-certificates: the host's {} CA certificates \
                 are not carried into it",
                found.len()
            ));
        }
        return Ok(0);
    }
    let target = rootfs.join(STACK_HOST_CA_DIR);
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
    progress(format!(
        "-----> Trusting {} CA certificates added on the host ({})",
        found.len(),
        host_cas.display()
    ));
    let mut refresh = Command::new("chroot");
    refresh
        .arg(&rootfs)
        .args(["update-ca-certificates", "--fresh"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8");
    run_step(&mut refresh, "update-ca-certificates in the stack")?;
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
    crate::data_dir::write_atomic(&record, serde_json::to_string(&trust)?.as_bytes(), 0o644)?;
    Ok(found.len())
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

/// How the default stack was made (`recipe bookworm`, `import <ref>`) and its layers (the CA
/// layer last), if any.
pub fn describe(data: &DataDir) -> anyhow::Result<Option<(String, Vec<Layer>)>> {
    let dir = data.stacks().join(DEFAULT);
    let Ok(text) = std::fs::read_to_string(dir.join("stack.json")) else {
        return Ok(None);
    };
    let meta: serde_json::Value = serde_json::from_str(&text)?;
    let description = match meta["reference"].as_str() {
        Some(reference) => format!("imported from {reference}"),
        None => format!("recipe {}", meta["recipe"].as_str().unwrap_or("?")),
    };
    let mut layers: Vec<Layer> = match std::fs::read_to_string(dir.join("layers.json")) {
        Ok(text) => serde_json::from_str(&text)?,
        Err(_) => Vec::new(),
    };
    layers.extend(read_trust(&dir)?.and_then(|t| t.layer));
    Ok(Some((description, layers)))
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
    let recipe_name = match recipe {
        Recipe::Bookworm => "bookworm",
        Recipe::Busybox => "busybox",
    };
    let target = install(
        data,
        &work,
        serde_json::json!({ "name": DEFAULT, "recipe": recipe_name }),
    )?;
    layers(data, |line| eprintln!("{line}"))?;
    update_ca(data, Path::new(HOST_CA_DIR), |line| eprintln!("{line}"))?;
    Ok(target.join("rootfs"))
}

/// Finishes a stack built or imported in `work` (mount points every container needs, its
/// `stack.json`) and swaps it in as the default stack, whole.
fn install(data: &DataDir, work: &Path, description: serde_json::Value) -> anyhow::Result<PathBuf> {
    let rootfs = work.join("rootfs");
    // Mount points and files every container needs, on a root that is read-only at run time.
    for dir in ["app", "tmp", "proc", "sys", "dev", "etc"] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    std::fs::set_permissions(rootfs.join("app"), std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    if !rootfs.join("etc/resolv.conf").exists() {
        std::fs::write(rootfs.join("etc/resolv.conf"), "")?;
    }
    std::fs::write(work.join("stack.json"), description.to_string())?;
    let target = data.stacks().join(DEFAULT);
    let old = data.stacks().join(format!(".{DEFAULT}.old"));
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    std::fs::rename(work, &target)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(target)
}

/// Imports the default stack from an image in a registry: `host[:port]/repository[:tag|@digest]`.
/// Every blob is checked against its digest as it downloads; the layers become the stack's
/// image layers as they are (never re-tarred) and are unpacked, whiteouts applied, into its root.
pub fn import(
    data: &DataDir,
    reference: &str,
    insecure: bool,
    credentials: Option<Credentials>,
) -> anyhow::Result<PathBuf> {
    let (host, repository, tag) = parse_reference(reference)?;
    let registry = Registry::new(
        RegistryRef {
            host: host.clone(),
            prefix: String::new(),
        },
        insecure,
        credentials,
    );
    eprintln!("-----> Fetching {reference}");
    let manifest = registry.pull_manifest(&repository, &tag)?;
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
    let work = data.stacks().join(format!(".{DEFAULT}.importing"));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let layout = Layout::open(&work.join("oci"))?;
    let config_path = layout.blob_path(config_digest);
    let fetched = (|| -> anyhow::Result<Vec<Layer>> {
        registry.pull_blob(&repository, config_digest, &config_path)?;
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
            registry.pull_blob(&repository, digest, &layout.blob_path(digest))?;
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
    let target = install(
        data,
        &work,
        serde_json::json!({ "name": DEFAULT, "recipe": "import", "reference": reference }),
    )?;
    update_ca(data, Path::new(HOST_CA_DIR), |line| eprintln!("{line}"))?;
    Ok(target.join("rootfs"))
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
