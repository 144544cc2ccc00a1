//! OCI images (DESIGN §3.7): reproducible gzip layers written in one streaming pass, canonical
//! config and manifest JSON, and the local OCI image layout under `<data-dir>/oci` that
//! `skopeo inspect oci:<dir>:<ref>` and `umoci unpack` read.
//!
//! It must not talk to registries (that is `registry/`) nor decide what goes in an image (the
//! build step hands it a tree and a process table).

pub mod gc;
pub mod image;
pub mod layer;
pub mod pgzip;
pub mod unpack;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor: what a manifest or index points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:<hex>`
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// An image manifest (OCI image-spec `manifest.md`; Docker's v2 schema 2 has the same shape):
/// the config and the layers, bottom first. The one way paas reads a manifest it stored or
/// pulled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

impl Manifest {
    /// Parses a manifest; every digest it names must be a valid `sha256:` digest (they become
    /// file names in a layout).
    pub fn parse(bytes: &[u8]) -> std::io::Result<Self> {
        let manifest: Self = serde_json::from_slice(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if let Some(bad) = manifest.blobs().find(|d| !valid_digest(&d.digest)) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the manifest names an invalid digest {:?}", bad.digest),
            ));
        }
        Ok(manifest)
    }

    /// Every blob it names: its layers, bottom first, then its config.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.layers.iter().chain([&self.config])
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `digest` is a well-formed `sha256:` digest: safe as a file name.
pub fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Canonical JSON: compact, keys sorted (serde_json's map is ordered by key).
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON values serialize")
}

/// An OCI image layout on disk.
pub struct Layout {
    root: PathBuf,
    /// Serializes updates of index.json within this process.
    index_lock: Mutex<()>,
}

impl Layout {
    /// Opens (creating if needed) the layout at `root`.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("blobs/sha256"))?;
        let marker = root.join("oci-layout");
        if !marker.exists() {
            write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !root.join("index.json").exists() {
            write_atomic(
                &root.join("index.json"),
                br#"{"manifests":[],"schemaVersion":2}"#,
            )?;
        }
        Ok(Self {
            root: root.to_owned(),
            index_lock: Mutex::new(()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        assert!(valid_digest(digest), "{digest:?} is not a sha256 digest");
        self.root
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..])
    }

    /// The image manifest stored as blob `digest`.
    pub fn manifest(&self, digest: &str) -> std::io::Result<Manifest> {
        Manifest::parse(&std::fs::read(self.blob_path(digest))?)
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        valid_digest(digest) && self.blob_path(digest).is_file()
    }

    /// Makes blob `digest` of `from` (a stack's layout) available here: a hard link where
    /// possible, else a copy (whole or none: a failed copy leaves nothing under the digest).
    pub fn share_blob(&self, from: &Layout, digest: &str) -> std::io::Result<()> {
        if self.has_blob(digest) {
            return Ok(());
        }
        let (source, target) = (from.blob_path(digest), self.blob_path(digest));
        if std::fs::hard_link(&source, &target).is_ok() {
            return Ok(());
        }
        let mut copy = self.temporary_blob()?;
        std::io::copy(&mut std::fs::File::open(&source)?, copy.as_file_mut())?;
        copy.as_file().sync_all()?;
        copy.persist(&target).map_err(|e| e.error)?;
        Ok(())
    }

    /// A new empty file in `blobs/sha256` (named `.blob-<random>.tmp`, 0644), deleted when
    /// dropped unless `persist`ed to its blob's path: a blob is whole under its digest or absent.
    /// Ones a crash left behind are removed by [`gc::collect`].
    pub fn temporary_blob(&self) -> std::io::Result<tempfile::NamedTempFile> {
        crate::data_dir::temporary_file(&self.root.join("blobs/sha256"), ".blob-", 0o644)
    }

    /// Stores a small blob (config, manifest) and describes it.
    pub fn put_blob(&self, media_type: &str, bytes: &[u8]) -> std::io::Result<Descriptor> {
        let digest = sha256_digest(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            write_atomic(&path, bytes)?;
        }
        Ok(Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size: bytes.len() as u64,
            annotations: Default::default(),
        })
    }

    /// Records `layer` by its diff_id (`diffs/<hex>`, its JSON), for [`Layout::known_layer`].
    pub fn remember_layer(&self, layer: &layer::Layer) -> std::io::Result<()> {
        let dir = self.root.join("diffs");
        std::fs::create_dir_all(&dir)?;
        let json = serde_json::to_vec(layer).expect("layers serialize");
        write_atomic(&dir.join(&layer.diff_id["sha256:".len()..]), &json)
    }

    /// The layer made before of the tar whose digest is `diff_id`, if its blob is still here.
    pub fn known_layer(&self, diff_id: &str) -> Option<layer::Layer> {
        if !valid_digest(diff_id) {
            return None;
        }
        let path = self.root.join("diffs").join(&diff_id["sha256:".len()..]);
        let layer: layer::Layer = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        (layer.diff_id == diff_id && self.has_blob(&layer.digest)).then_some(layer)
    }

    /// Forgets the layers whose blobs are gone (after a garbage collection).
    pub fn forget_missing_layers(&self) -> std::io::Result<()> {
        let Ok(entries) = std::fs::read_dir(self.root.join("diffs")) else {
            return Ok(());
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // A record being written by a build running meanwhile (`write_atomic`'s
            // temporary) is the build's; one gone already is skipped.
            if is_temporary(&name) || self.known_layer(&format!("sha256:{name}")).is_some() {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                removed => removed?,
            }
        }
        Ok(())
    }

    /// Points reference `name` at `manifest` in index.json (replacing an older entry of that name).
    pub fn tag(&self, name: &str, manifest: &Descriptor) -> std::io::Result<()> {
        let mut entry = manifest.clone();
        entry
            .annotations
            .insert(REF_NAME.to_owned(), name.to_owned());
        let entry = serde_json::to_value(entry).expect("descriptors serialize");
        self.update_index(|manifests| {
            manifests.retain(|m| m["annotations"][REF_NAME] != name);
            manifests.push(entry);
        })
    }

    /// Drops the references whose manifest digest `keep` refuses.
    pub fn retain_refs(&self, keep: impl Fn(&str) -> bool) -> std::io::Result<()> {
        self.update_index(|manifests| manifests.retain(|m| m["digest"].as_str().is_some_and(&keep)))
    }

    /// Reads, changes and atomically rewrites index.json's manifest list.
    fn update_index(
        &self,
        change: impl FnOnce(&mut Vec<serde_json::Value>),
    ) -> std::io::Result<()> {
        let _guard = self
            .index_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let path = self.root.join("index.json");
        let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        change(
            index["manifests"]
                .as_array_mut()
                .ok_or(std::io::ErrorKind::InvalidData)?,
        );
        write_atomic(&path, &canonical_json(&index))
    }
}

/// Whether `name` in `blobs/sha256` (or `diffs`) is a temporary file: a blob being written
/// ([`Layout::temporary_blob`]) or a small file being stored ([`write_atomic`]'s).
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Layout files are public (0644), written atomically.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::data_dir::write_atomic(path, bytes, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(len: u64) -> Vec<u8> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open("/dev/urandom").expect("urandom"), len),
            &mut bytes,
        )
        .expect("read");
        bytes
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn a_full_disk_leaves_no_half_blob_and_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("layout");
        std::fs::create_dir(&root).expect("mkdir");
        let _disk = paas_tests::Tmpfs::mount_over(&root, "1m");
        let layout = Layout::open(&root).expect("layout");
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).expect("mkdir");
        std::fs::write(tree.join("data.bin"), random(3 << 20)).expect("write");

        let no_room = |e: std::io::Error| {
            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
        };
        let layer = layer::write(
            &layout,
            &tree,
            "app",
            layer::Owner::Fixed(2000, 2000),
            &mut Vec::new(),
        );
        no_room(layer.expect_err("a 3 MB layer on a 1 MB disk"));
        no_room(
            layout
                .put_blob(MEDIA_CONFIG, &random(2 << 20))
                .expect_err("a 2 MB blob on a 1 MB disk"),
        );
        // A stack's blob on another filesystem is copied (no hard link across them).
        let stack = Layout::open(&dir.path().join("stack")).expect("stack layout");
        let blob = stack
            .put_blob(MEDIA_LAYER_GZIP, &random(2 << 20))
            .expect("blob");
        no_room(
            layout
                .share_blob(&stack, &blob.digest)
                .expect_err("a 2 MB copy on a 1 MB disk"),
        );

        assert!(!layout.has_blob(&blob.digest));
        assert_eq!(names(&root.join("blobs/sha256")), Vec::<String>::new());
        assert_eq!(names(&root.join("diffs")), Vec::<String>::new());
    }
}
