//! Garbage collection of the image layout: blobs that no kept image uses are deleted, and
//! references to images no longer kept leave index.json. Safe while builds run: blobs younger
//! than a grace period are left alone (a build writes its layers before its release exists).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::{Layout, valid_digest};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub kept_images: usize,
    pub removed_blobs: usize,
    pub freed_bytes: u64,
}

/// Keeps the images whose manifest digests are in `keep` (and every blob they use); removes
/// other blobs older than `grace`.
pub fn collect(
    layout: &Layout,
    keep: &BTreeSet<String>,
    grace: Duration,
) -> std::io::Result<Report> {
    let mut live: BTreeSet<String> = BTreeSet::new();
    for manifest in keep
        .iter()
        .filter(|d| valid_digest(d) && layout.has_blob(d))
    {
        live.insert(manifest.clone());
        for descriptor in layout.manifest(manifest)?.blobs() {
            live.insert(descriptor.digest.clone());
        }
    }
    layout.retain_refs(|digest| keep.contains(digest))?;
    let mut report = Report {
        kept_images: keep.len(),
        ..Report::default()
    };
    let cutoff = SystemTime::now() - grace;
    for entry in std::fs::read_dir(layout.root().join("blobs/sha256"))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let digest = format!("sha256:{name}");
        if !valid_digest(&digest) || live.contains(&digest) {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.modified()? > cutoff {
            continue;
        }
        std::fs::remove_file(entry.path())?;
        report.removed_blobs += 1;
        report.freed_bytes += meta.len();
    }
    layout.forget_missing_layers()?;
    Ok(report)
}
