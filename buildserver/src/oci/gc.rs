//! Garbage collection of the image layout: blobs that no kept image uses are deleted, as are
//! temporary files a crash left behind, and references to images no longer kept leave
//! index.json. Safe while builds run: blobs younger
//! than a grace period are left alone (a build writes its layers before its release exists).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::{Layout, is_temporary, valid_digest};

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
        let unused = valid_digest(&digest) && !live.contains(&digest);
        // A temporary file older than the grace period was left by a crash mid-write.
        if !(unused || is_temporary(&name)) {
            continue;
        }
        // A build running meanwhile renames or deletes its temporaries: one gone is skipped.
        let meta = match entry.metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            meta => meta?,
        };
        if meta.modified()? > cutoff {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            removed => removed?,
        }
        report.removed_blobs += 1;
        report.freed_bytes += meta.len();
    }
    layout.forget_missing_layers()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_a_crash_left_are_removed_after_the_grace_period() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::open(dir.path()).expect("layout");
        let old = layout
            .temporary_blob()
            .expect("temporary")
            .keep()
            .expect("keep")
            .1;
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|f| f.set_modified(hour_ago))
            .expect("age it");
        let young = layout.temporary_blob().expect("temporary");

        let report = collect(&layout, &BTreeSet::new(), Duration::from_secs(60)).expect("gc");
        assert_eq!(report.removed_blobs, 1);
        assert!(!old.exists(), "the old one is gone");
        assert!(young.path().exists(), "a blob being written now stays");
    }
}
