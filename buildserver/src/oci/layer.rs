//! A directory tree → one reproducible `tar+gzip` layer blob, in one streaming pass: the tar is
//! hashed as it is written (the diff_id), gzipped, hashed again (the digest) and written to a
//! temporary blob file that is renamed to its digest. Memory stays bounded whatever the tree.
//!
//! Reproducible (DESIGN §3.7): entries sorted by name bytes, parent directories explicit, one
//! mtime per layer, fixed or preserved ownership with empty user/group names, symlinks stored (never
//! followed), PAX records for long or non-UTF-8 names, no sparse files, device nodes, FIFOs or
//! sockets (skipped with a warning), gzip (see `pgzip`) with header mtime 0 and a pinned level.

use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use super::pgzip::ParallelGzip;
use super::{Layout, hex};

/// 1980-01-01T00:00:01Z, the mtime of every entry of a stack's or a dependency folder's layer
/// (an app's code gets its commit's time: see [`app_layers`]).
pub const EPOCH: u64 = 315_532_801;
/// Pinned: the same tree gives the same bytes with this level, whatever the machine.
const GZIP_LEVEL: u32 = 1;

/// Who owns the layer's files.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    /// Every entry owned by this uid and gid (the app layer).
    Fixed(u32, u32),
    /// Ownership from the filesystem (a stack's root filesystem).
    Preserved,
}

/// A written layer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    /// Of the gzip blob.
    pub digest: String,
    pub size: u64,
    /// Of the uncompressed tar.
    pub diff_id: String,
}

/// A copy of a layer's gzip bytes as they are written, for an upload that begins before the
/// image is done (the registry's `EarlyUpload`): one per layer written, never for one reused.
pub trait Tee: Send {
    /// The blob's next bytes. It cannot fail the layer: a copy that cannot go on stops.
    fn write(&mut self, bytes: &[u8]);
    /// The blob is whole: `layer` says its digest (it is in the layout once the layer is
    /// returned). A tee dropped without this call had its layer fail.
    fn finish(self: Box<Self>, layer: &Layer);
}

/// Makes a [`Tee`] for each layer written (`None`: no copy).
pub type Tees<'a> = &'a (dyn Fn() -> Option<Box<dyn Tee>> + Sync);

/// Bytes written to a blob file between two background `fdatasync`s.
const SYNC_EVERY: u64 = 16 << 20;

/// The blob file, and a [`Tee`] of what goes into it. Every [`SYNC_EVERY`] bytes, a thread of
/// its own is asked to `fdatasync` the file (`sync`), so that the kernel writes it back while
/// the layer is still being made and the `fsync` that ends it has little left to wait for (the
/// kernel alone starts writing back at 10 % of memory dirty: on a big machine, only at that
/// `fsync`, a wait in series with the registry's own at the end of the upload).
struct Teed {
    file: std::fs::File,
    tee: Option<Box<dyn Tee>>,
    sync: std::sync::mpsc::SyncSender<()>,
    unsynced: u64,
}

impl Write for Teed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(tee) = &mut self.tee {
            tee.write(&buf[..n]);
        }
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_EVERY {
            self.unsynced = 0;
            // Full: a sync is under way or asked for already.
            let _ = self.sync.try_send(());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn finish(self) -> (W, String, u64) {
        (
            self.inner,
            format!("sha256:{}", hex(&self.hasher.finalize())),
            self.count,
        )
    }
}

/// Which of a tree's top-level entries a layer takes: all of them, all but some (an app's code
/// without its dependency folders), or one (a dependency folder alone). The layer's top folder
/// (`prefix/`) is in it either way.
#[derive(Debug, Clone, Copy)]
enum Part<'a> {
    All,
    Without(&'a [String]),
    Only(&'a str),
}

impl Part<'_> {
    fn takes(&self, name: &[u8]) -> bool {
        match self {
            Part::All => true,
            Part::Without(names) => !names.iter().any(|n| n.as_bytes() == name),
            Part::Only(only) => only.as_bytes() == name,
        }
    }
}

/// Writes the tree at `source` as a layer whose entries sit under `prefix` (`app` puts the tree
/// at `/app`; an empty prefix makes it the root). Skipped entries are described in `warnings`.
pub fn write(
    layout: &Layout,
    source: &Path,
    prefix: &str,
    owner: Owner,
    warnings: &mut Vec<String>,
) -> io::Result<Layer> {
    write_part(
        layout,
        source,
        prefix,
        Part::All,
        (owner, EPOCH),
        None,
        warnings,
    )
}

/// [`write`] of `part` of the tree, its gzip bytes copied to `tee` too. The layout remembers the
/// layer by its diff_id, for [`reuse_or_write`].
fn write_part(
    layout: &Layout,
    source: &Path,
    prefix: &str,
    part: Part<'_>,
    stamp: Stamp,
    tee: Option<Box<dyn Tee>>,
    warnings: &mut Vec<String>,
) -> io::Result<Layer> {
    // Removed when dropped: a layer that fails (a tree read error, a full disk) leaves nothing.
    let tmp = layout.temporary_blob()?;
    let file = tmp.as_file().try_clone()?;
    let syncing = file.try_clone()?;
    let (sync, asked) = std::sync::mpsc::sync_channel::<()>(1);
    // Its errors are the final `fsync`'s to report.
    let syncer = std::thread::spawn(move || {
        while asked.recv().is_ok() {
            let _ = syncing.sync_data();
        }
    });
    let teed = Teed {
        file,
        tee,
        sync,
        unsynced: 0,
    };
    // Unbuffered: the gzip writes whole compressed blocks.
    let blob = Hashing::new(teed);
    let gzip = ParallelGzip::new(blob, GZIP_LEVEL)?;
    let (gzip, diff_id) = tar_tree(gzip, source, prefix, part, stamp, warnings)?;
    let (blob, digest, size) = gzip.finish()?.finish();
    let Teed {
        file, tee, sync, ..
    } = blob;
    drop(sync);
    let _ = syncer.join();
    let layer = Layer {
        digest,
        size,
        diff_id,
    };
    // The upload is closed first: the registry's own fsync of its copy then runs alongside ours.
    if let Some(tee) = tee {
        tee.finish(&layer);
    }
    file.sync_all()?;
    let path = layout.blob_path(&layer.digest);
    if !path.exists() {
        tmp.persist(&path).map_err(|e| e.error)?;
    }
    layout.remember_layer(&layer)?;
    Ok(layer)
}

/// The layer [`write_part`] would make of `part` of the tree, from the layout when it made one
/// of the same tar before (found by diff_id: the tar alone is hashed, a read of the tree with no
/// gzip and no blob written), else written. Returns the layer and whether it was reused.
fn reuse_or_write(
    layout: &Layout,
    source: &Path,
    prefix: &str,
    part: Part<'_>,
    stamp: Stamp,
    tees: Tees<'_>,
    warnings: &mut Vec<String>,
) -> io::Result<(Layer, bool)> {
    let (_, diff_id) = tar_tree(io::sink(), source, prefix, part, stamp, &mut Vec::new())?;
    if let Some(layer) = layout.known_layer(&diff_id) {
        return Ok((layer, true));
    }
    write_part(layout, source, prefix, part, stamp, tees(), warnings).map(|layer| (layer, false))
}

/// A dependency folder of an app's tree, which gets a layer of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// A top-level name in the tree.
    pub name: String,
    /// Restored unchanged (from a build cache): its layer is looked up by diff_id before it is
    /// written ([`reuse_or_write`]).
    pub restored: bool,
}

/// An app's layers, bottom first, stable to volatile: one per dependency folder, then the rest
/// of the tree (the code), all under `app/` (the image's working directory). Returns each layer
/// and whether it was reused.
/// Each layer written is copied to a tee `tees` makes as it is written.
///
/// The code's entries have the mtime `committed` (unix seconds: the commit's time), the
/// folders' [`EPOCH`]: a static file server's `Last-Modified` and mtime-based `ETag` (busybox
/// httpd, Express's serve-static, nginx) then change with each commit, and a file edited to
/// the same size is not served stale from a browser's cache after a deploy, while one commit
/// still makes the same layers (and a restored folder the same layer) every time.
pub fn app_layers(
    layout: &Layout,
    source: &Path,
    folders: &[Folder],
    owner: Owner,
    committed: u64,
    tees: Tees<'_>,
    warnings: &mut Vec<String>,
) -> io::Result<Vec<(Layer, bool)>> {
    let prefix = "app";
    let mut layers = Vec::new();
    for folder in folders {
        let (part, stamp) = (Part::Only(&folder.name), (owner, EPOCH));
        layers.push(if folder.restored {
            reuse_or_write(layout, source, prefix, part, stamp, tees, warnings)?
        } else {
            let layer = write_part(layout, source, prefix, part, stamp, tees(), warnings)?;
            (layer, false)
        });
    }
    let names: Vec<String> = folders.iter().map(|f| f.name.clone()).collect();
    let code = write_part(
        layout,
        source,
        prefix,
        Part::Without(&names),
        (owner, committed),
        tees(),
        warnings,
    )?;
    layers.push((code, false));
    Ok(layers)
}

/// Writes `part` of the tree as a reproducible tar into `out`; returns `out` and the tar's
/// digest (the layer's diff_id).
fn tar_tree<W: Write>(
    out: W,
    source: &Path,
    prefix: &str,
    part: Part<'_>,
    (owner, mtime): Stamp,
    warnings: &mut Vec<String>,
) -> io::Result<(W, String)> {
    let mut tar = tar::Builder::new(Hashing::new(out));
    tar.follow_symlinks(false);
    tar.sparse(false);
    let mut writer = TreeWriter {
        tar: &mut tar,
        owner,
        mtime,
        warnings,
    };
    let root_meta = std::fs::metadata(source)?;
    if !prefix.is_empty() {
        writer.entry(
            EntryType::Directory,
            format!("{prefix}/").as_bytes(),
            None,
            &root_meta,
            0,
            io::empty(),
        )?;
    }
    writer.tree(source, prefix.as_bytes(), Some(part))?;
    let (out, diff_id, _) = tar.into_inner()?.finish();
    Ok((out, diff_id))
}

/// Who owns a layer's entries, and their mtime (unix seconds).
type Stamp = (Owner, u64);

struct TreeWriter<'a, W: Write> {
    tar: &'a mut tar::Builder<W>,
    owner: Owner,
    mtime: u64,
    warnings: &'a mut Vec<String>,
}

impl<W: Write> TreeWriter<'_, W> {
    /// Appends the entries under `dir`; `part` (at the top level only) chooses which.
    fn tree(&mut self, dir: &Path, tar_dir: &[u8], part: Option<Part<'_>>) -> io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.retain(|e| part.is_none_or(|p| p.takes(e.file_name().as_bytes())));
        entries.sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
        for entry in entries {
            let path = entry.path();
            let mut name = tar_dir.to_vec();
            if !name.is_empty() {
                name.push(b'/');
            }
            name.extend_from_slice(entry.file_name().as_bytes());
            let meta = std::fs::symlink_metadata(&path)?;
            let kind = meta.file_type();
            if kind.is_dir() {
                let mut dir_name = name.clone();
                dir_name.push(b'/');
                self.entry(EntryType::Directory, &dir_name, None, &meta, 0, io::empty())?;
                self.tree(&path, &name, None)?;
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path)?;
                self.entry(
                    EntryType::Symlink,
                    &name,
                    Some(target.as_os_str().as_bytes()),
                    &meta,
                    0,
                    io::empty(),
                )?;
            } else if kind.is_file() {
                // O_NOFOLLOW: the tree is the app's; a file swapped for a symlink since the
                // lstat above is refused, not followed (nothing may make the host read outside).
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                    .open(&path)?;
                self.entry(
                    EntryType::Regular,
                    &name,
                    None,
                    &meta,
                    meta.len(),
                    // Read 1 MiB at a time (io::copy fills a BufReader's buffer whole, where
                    // it would read a bare file 8 KiB at a time).
                    io::BufReader::with_capacity(1 << 20, file.take(meta.len())),
                )?;
            } else {
                self.warnings.push(format!(
                    "skipped {}: not a regular file, directory or symlink",
                    String::from_utf8_lossy(&name)
                ));
            }
        }
        Ok(())
    }

    fn entry(
        &mut self,
        kind: EntryType,
        path: &[u8],
        link: Option<&[u8]>,
        meta: &std::fs::Metadata,
        size: u64,
        data: impl Read,
    ) -> io::Result<()> {
        let mut header = Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(meta.mode() & 0o7777);
        let (uid, gid) = match self.owner {
            Owner::Fixed(uid, gid) => (uid, gid),
            Owner::Preserved => (meta.uid(), meta.gid()),
        };
        header.set_uid(u64::from(uid));
        header.set_gid(u64::from(gid));
        header.set_mtime(self.mtime);
        header.set_size(size);
        // Names that do not fit the ustar fields (or are not UTF-8) go in a PAX record first; the
        // header keeps a truncated copy, which PAX readers ignore.
        let mut records = Vec::new();
        let binary = std::str::from_utf8(path).is_err()
            || link.is_some_and(|l| std::str::from_utf8(l).is_err());
        if binary {
            records.extend(pax_record("hdrcharset", b"BINARY"));
        }
        if path.len() > 100 || binary {
            records.extend(pax_record("path", path));
        }
        if let Some(link) = link.filter(|l| l.len() > 100 || binary) {
            records.extend(pax_record("linkpath", link));
        }
        if !records.is_empty() {
            let mut pax = Header::new_ustar();
            pax.set_entry_type(EntryType::XHeader);
            pax.set_mode(0o644);
            pax.set_mtime(self.mtime);
            pax.set_size(records.len() as u64);
            copy_field(&mut pax.as_old_mut().name, b"././@PaxHeader");
            pax.set_cksum();
            self.tar.append(&pax, records.as_slice())?;
        }
        copy_field(&mut header.as_old_mut().name, path);
        if let Some(link) = link {
            copy_field(&mut header.as_old_mut().linkname, link);
        }
        header.set_cksum();
        self.tar.append(&header, data)
    }
}

fn copy_field(field: &mut [u8; 100], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    field[n..].fill(0);
}

/// One PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + rest.to_string().len();
    if len.to_string().len() != rest.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    debug_assert_eq!(record.len(), len);
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("b/c")).expect("mkdir");
        std::fs::write(dir.path().join("b/c/file"), "x").expect("write");
        std::fs::write(dir.path().join("a"), "y").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).expect("symlink");
        dir
    }

    #[test]
    fn same_tree_same_digests_and_special_files_skipped() {
        let layout_dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::open(layout_dir.path()).expect("layout");
        let (one, two) = (tree(), tree());
        nix::unistd::mkfifo(
            &two.path().join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .expect("fifo");
        let mut warnings = Vec::new();
        let first = write(
            &layout,
            one.path(),
            "app",
            Owner::Fixed(2000, 2000),
            &mut warnings,
        )
        .expect("layer");
        assert!(warnings.is_empty());
        let second = write(
            &layout,
            two.path(),
            "app",
            Owner::Fixed(2000, 2000),
            &mut warnings,
        )
        .expect("layer");
        assert_eq!(
            first, second,
            "a FIFO adds nothing; everything else is identical"
        );
        assert_eq!(
            warnings,
            vec!["skipped app/fifo: not a regular file, directory or symlink".to_owned()]
        );
        assert!(layout.has_blob(&first.digest));
        // The blob is a gzip of a tar whose sha256 is the diff_id.
        let mut tar = Vec::new();
        let blob = std::fs::File::open(layout.blob_path(&first.digest)).expect("blob");
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(blob), &mut tar)
            .expect("gunzip");
        assert_eq!(crate::oci::sha256_digest(&tar), first.diff_id);
        let names = entries(&layout, &first);
        assert_eq!(
            names,
            [
                "app/",
                "app/a",
                "app/b/",
                "app/b/c/",
                "app/b/c/file",
                "app/link"
            ]
        );
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        assert_eq!(pax_record("path", b"a"), b"9 path=a\n");
        let long = vec![b'x'; 95];
        let record = pax_record("path", &long);
        assert_eq!(record.len(), 105);
        assert!(record.starts_with(b"105 path="));
    }

    /// What `read` says of each entry of layer `layer`'s tar, in order.
    fn each_entry<T>(
        layout: &Layout,
        layer: &Layer,
        read: impl Fn(&tar::Entry<'_, flate2::read::GzDecoder<std::fs::File>>) -> T,
    ) -> Vec<T> {
        let blob = std::fs::File::open(layout.blob_path(&layer.digest)).expect("blob");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob));
        let entries = archive.entries().expect("entries");
        entries.map(|e| read(&e.expect("entry"))).collect()
    }

    /// The entry names of layer `layer`'s tar.
    fn entries(layout: &Layout, layer: &Layer) -> Vec<String> {
        each_entry(layout, layer, |e| {
            e.path().expect("path").to_string_lossy().into_owned()
        })
    }

    #[test]
    fn parts_split_a_tree_and_an_unchanged_part_is_reused() {
        let layout_dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::open(layout_dir.path()).expect("layout");
        let app = tree();
        let owner = Owner::Fixed(2000, 2000);
        let folders = ["b".to_owned()];
        let write = |part| {
            write_part(
                &layout,
                app.path(),
                "app",
                part,
                (owner, EPOCH),
                None,
                &mut Vec::new(),
            )
        };
        let (deps, code) = (
            write(Part::Only("b")).expect("deps"),
            write(Part::Without(&folders)).expect("code"),
        );
        assert_eq!(
            entries(&layout, &deps),
            ["app/", "app/b/", "app/b/c/", "app/b/c/file"]
        );
        assert_eq!(entries(&layout, &code), ["app/", "app/a", "app/link"]);
        // Unchanged: found by its diff_id, nothing written.
        let reuse = || {
            reuse_or_write(
                &layout,
                app.path(),
                "app",
                Part::Only("b"),
                (owner, EPOCH),
                &|| None,
                &mut Vec::new(),
            )
            .expect("layer")
        };
        assert_eq!(reuse(), (deps.clone(), true));
        // Changed: written anew.
        std::fs::write(app.path().join("b/c/file"), "changed").expect("write");
        let (changed, reused) = reuse();
        assert!(!reused);
        assert_ne!(changed.digest, deps.digest);
        // A layer whose blob went (garbage collected) is forgotten, and written again.
        std::fs::remove_file(layout.blob_path(&changed.digest)).expect("remove");
        layout.forget_missing_layers().expect("forget");
        assert_eq!(layout.known_layer(&changed.diff_id), None);
        assert_eq!(reuse(), (changed, false));
    }

    /// The mtimes of layer `layer`'s entries.
    fn mtimes(layout: &Layout, layer: &Layer) -> Vec<u64> {
        each_entry(layout, layer, |e| e.header().mtime().expect("mtime"))
    }

    #[test]
    fn the_code_has_its_commits_time_and_the_folders_a_fixed_one() {
        let layout_dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::open(layout_dir.path()).expect("layout");
        let app = tree();
        let folders = [Folder {
            name: "b".to_owned(),
            restored: false,
        }];
        // Each layer written is copied whole to its tee, which learns its digest at the end.
        struct Copy(Vec<u8>);
        impl Tee for Copy {
            fn write(&mut self, bytes: &[u8]) {
                self.0.extend_from_slice(bytes);
            }
            fn finish(self: Box<Self>, layer: &Layer) {
                assert_eq!(super::super::sha256_digest(&self.0), layer.digest);
                assert_eq!(self.0.len() as u64, layer.size);
                COPIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        static COPIED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let layers = |committed| -> Vec<Layer> {
            app_layers(
                &layout,
                app.path(),
                &folders,
                Owner::Fixed(2000, 2000),
                committed,
                &|| Some(Box::new(Copy(Vec::new()))),
                &mut Vec::new(),
            )
            .expect("layers")
            .into_iter()
            .map(|(layer, _)| layer)
            .collect()
        };
        let first = layers(1_700_000_000);
        assert!(mtimes(&layout, &first[0]).iter().all(|&t| t == EPOCH));
        assert!(
            mtimes(&layout, &first[1])
                .iter()
                .all(|&t| t == 1_700_000_000)
        );
        // The same commit: the same layers. Another commit of the same tree: a new code layer
        // (a static server's Last-Modified and ETag change), the same folder layer.
        assert_eq!(layers(1_700_000_000), first);
        let next = layers(1_700_000_060);
        assert_eq!(next[0], first[0]);
        assert_ne!(next[1].digest, first[1].digest);
        assert_eq!(COPIED.load(std::sync::atomic::Ordering::Relaxed), 6);
    }
}
