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
/// renamed into place, so a half-unpacked layer is never used).
pub fn cached(layout: &Layout, layers_dir: &Path, digest: &str) -> anyhow::Result<PathBuf> {
    let dir = layers_dir.join(&digest["sha256:".len()..]);
    if dir.is_dir() {
        return Ok(dir);
    }
    std::fs::create_dir_all(layers_dir)?;
    let tmp = layers_dir.join(format!(
        ".{}.{}",
        &digest["sha256:".len()..],
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    unpack_layer(&layout.blob_path(digest), &tmp)?;
    if std::fs::rename(&tmp, &dir).is_err() {
        // Someone else unpacked it meanwhile.
        std::fs::remove_dir_all(&tmp)?;
    }
    Ok(dir)
}
