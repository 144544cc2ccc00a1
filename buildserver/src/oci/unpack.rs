//! Image layers as directories: each layer unpacked once per digest under `<data-dir>/layers/`,
//! for stacking with overlayfs (dynos) or into one tree (stack import).

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::Layout;

/// Unpacks one gzip layer into `rootfs`, applying whiteouts (`.wh.NAME` deletes NAME,
/// `.wh..wh..opq` empties its directory). Paths never leave `rootfs`.
pub fn unpack_layer(blob: &Path, rootfs: &Path) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(blob)?));
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        if !path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        }) {
            bail!("layer entry {} leaves the root", path.display());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = rootfs.join(path.parent().unwrap_or(Path::new("")));
        if name == ".wh..wh..opq" {
            if let Ok(children) = std::fs::read_dir(&parent) {
                for child in children.flatten() {
                    remove_any(&child.path())?;
                }
            }
        } else if let Some(hidden) = name.strip_prefix(".wh.") {
            remove_any(&parent.join(hidden))?;
        } else {
            entry.unpack_in(rootfs)?;
        }
    }
    Ok(())
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// The directory holding layer `digest` unpacked, made on first use (into a temporary directory
/// renamed into place, so a half-unpacked layer is never used). When one of `seeds` (folders of
/// layers unpacked by digest, such as a stack's) has it, it is a hard-linked copy of that one
/// (`cp -a --link`: the same files, no gunzip and no copy; a lower dir is never written to, so
/// sharing inodes is safe, and either copy may be removed without the other), else it is
/// unpacked from the layout's blob.
pub fn cached(
    layout: &Layout,
    layers_dir: &Path,
    digest: &str,
    seeds: &[PathBuf],
) -> anyhow::Result<PathBuf> {
    let hex = &digest["sha256:".len()..];
    let dir = layers_dir.join(hex);
    if dir.is_dir() {
        return Ok(dir);
    }
    std::fs::create_dir_all(layers_dir)?;
    let tmp = layers_dir.join(format!(".{hex}.{}", std::process::id()));
    if std::fs::symlink_metadata(&tmp).is_ok() {
        std::fs::remove_dir_all(&tmp)?;
    }
    let linked = seeds
        .iter()
        .map(|seed| seed.join(hex))
        .filter(|seed| seed.is_dir())
        .any(|seed| match hard_link_tree(&seed, &tmp) {
            Ok(()) => true,
            Err(e) => {
                // A seed removed meanwhile (a stack replaced): unpack instead.
                tracing::warn!(seed = %seed.display(), "cannot link an unpacked layer: {e:#}");
                let _ = std::fs::remove_dir_all(&tmp);
                false
            }
        });
    if !linked {
        std::fs::create_dir_all(&tmp)?;
        unpack_layer(&layout.blob_path(digest), &tmp)?;
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        // Someone else made it meanwhile.
        std::fs::remove_dir_all(&tmp)?;
    }
    Ok(dir)
}

/// `to` as a copy of tree `from` whose files are hard links to `from`'s (directories and
/// symlinks copied with their owners, modes and times). GNU cp does this walk, metadata and all;
/// the arguments are our own paths, passed without a shell.
fn hard_link_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    let output = std::process::Command::new("cp")
        .args(["-a", "--link", "--no-target-directory", "--"])
        .arg(from)
        .arg(to)
        .stdin(std::process::Stdio::null())
        .output()?;
    if !output.status.success() {
        bail!(
            "cp -a --link {} failed: {}",
            from.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::oci::layer::{self, Owner};

    #[test]
    fn a_seeded_layer_is_linked_and_an_unseeded_one_unpacked() {
        let source = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(source.path().join("etc/ssl")).expect("mkdir");
        std::fs::write(source.path().join("etc/ssl/ca.pem"), "pem").expect("write");
        std::os::unix::fs::symlink("ssl/ca.pem", source.path().join("etc/ca")).expect("link");
        let scratch = tempfile::tempdir().expect("temp dir");
        let layout = Layout::open(&scratch.path().join("oci")).expect("layout");
        let layer = layer::write(
            &layout,
            source.path(),
            "",
            Owner::Preserved,
            &mut Vec::new(),
        )
        .expect("layer");
        let seed = scratch.path().join("stack-layers");
        let seeded = cached(&layout, &seed, &layer.digest, &[]).expect("unpacked");
        let dynos = scratch.path().join("layers");
        let linked =
            cached(&layout, &dynos, &layer.digest, std::slice::from_ref(&seed)).expect("linked");
        let inode = |dir: &Path| {
            std::fs::metadata(dir.join("etc/ssl/ca.pem"))
                .expect("the file")
                .ino()
        };
        assert_eq!(inode(&linked), inode(&seeded), "a hard link, not a copy");
        assert_eq!(
            std::fs::read_link(linked.join("etc/ca")).expect("a symlink"),
            Path::new("ssl/ca.pem")
        );
        // Removing the seed (a stack replaced) leaves the dynos' copy whole.
        std::fs::remove_dir_all(&seed).expect("remove");
        assert_eq!(
            std::fs::read_to_string(linked.join("etc/ssl/ca.pem")).expect("read"),
            "pem"
        );
        // Without a seed holding it, the blob is unpacked.
        let other = scratch.path().join("other");
        let unpacked = cached(&layout, &other, &layer.digest, &[seed]).expect("unpacked");
        assert_ne!(inode(&unpacked), inode(&linked));
        assert_eq!(
            std::fs::read_dir(&other).expect("dir").count(),
            1,
            "no temporary folder left"
        );
    }
}
