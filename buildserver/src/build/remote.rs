//! Builds off this host (`--k8s-builds job`): the build runs where a [`BuildJobs`] puts it (a
//! Kubernetes Job, `scheduler::kubernetes`), from the stack's build image in the registry, with
//! the same driver, directories and environment as the local sandbox. The directories travel as
//! tar streams: in, the source, cache, config and buildpacks ([`pack_input`]); out, the built
//! source, the cache and the driver's reports ([`unpack_output`]), which the build controls and
//! are read as untrusted.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::mpsc;

use crate::container::Outcome;

/// A build to run off this host.
#[derive(Debug, Clone)]
pub struct BuildJob {
    pub app: crate::app::AppRef,
    /// The build's id (`paas builds`): the Job is named after it.
    pub id: String,
    /// The stack's build image, by digest (`registry/paas/paas-build@sha256:…`).
    pub image: String,
    /// The driver's environment (not `--build-env`, which is in the input).
    pub env: BTreeMap<String, String>,
    pub uid: u32,
    pub memory_bytes: u64,
    pub timeout: Duration,
}

/// Runs builds off this host.
#[async_trait::async_trait]
pub trait BuildJobs: Send + Sync {
    /// Runs `job`: its container gets `input` (a tar made by [`pack_input`]) on stdin, runs
    /// [`JOB_SCRIPT`], and its output (a tar for [`unpack_output`]) is written to `output`; the
    /// driver's output lines go to `lines`. Dropped before the end, the job is deleted. `Err`:
    /// it could not run (the cluster refused it, its image could not be pulled, …).
    async fn run(
        &self,
        job: &BuildJob,
        input: tokio::fs::File,
        output: tokio::fs::File,
        lines: mpsc::Sender<String>,
    ) -> anyhow::Result<Outcome>;
}

/// Where each directory of a build goes in its container (as the local sandbox mounts them);
/// `/app` is the same directory as `/tmp/build`.
pub const SOURCE: &str = "tmp/build";
pub const CACHE: &str = "tmp/cache";
pub const ENV: &str = "tmp/env";
pub const OUT: &str = "tmp/paas-out";
pub const BUILDPACKS: &str = "paas/buildpacks";
/// `--build-env` as shell assignments, sourced before the driver.
const BUILD_ENV: &str = "tmp/paas-build-env";

/// What the build's container runs (a shell command line, after the one-off gate): unpack the
/// input from stdin at `/`, run the driver (its output on stderr), then write the built source,
/// the cache and the reports to stdout as a base64 tar, and exit with the driver's status.
pub const JOB_SCRIPT: &str = "mkdir -p /tmp/cache /tmp/env /tmp/paas-out || exit 70
tar -x -f - -C / || exit 70
cd /tmp/build || exit 70
status=0
( [ -f /tmp/paas-build-env ] && . /tmp/paas-build-env; exec /bin/sh /paas/buildpacks/builder ) >&2 || status=$?
cd / && tar -c -f - tmp/build tmp/cache tmp/paas-out | base64 || exit 70
exit $status";

/// Writes the input of a build to `to` as a tar: `source`, `cache`, `env` and `buildpacks`
/// under the paths [`JOB_SCRIPT`] unpacks them at, and `build_env`. Symlinks are stored as
/// symlinks (never followed); other special files are left out. The directories' own entries
/// are not stored: their mount points in the container are not the build user's to change.
pub fn pack_input(
    to: &Path,
    dirs: &[(&str, &Path)],
    build_env: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let file = std::fs::File::create(to).with_context(|| format!("creating {}", to.display()))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    tar.follow_symlinks(false);
    for (at, dir) in dirs {
        append_contents(&mut tar, dir, Path::new(at))?;
    }
    let mut assignments = String::new();
    for (key, value) in build_env {
        // Keys are validated variable names; values are single-quoted.
        assignments.push_str(&format!(
            "export {key}='{}'\n",
            value.replace('\'', "'\\''")
        ));
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(assignments.len() as u64);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, BUILD_ENV, assignments.as_bytes())?;
    tar.into_inner()?.flush()?;
    Ok(())
}

fn append_contents(
    tar: &mut tar::Builder<impl Write>,
    dir: &Path,
    at: &Path,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let kind = entry.file_type()?;
        let name = at.join(entry.file_name());
        if kind.is_dir() {
            tar.append_path_with_name(entry.path(), &name)?;
            append_contents(tar, &entry.path(), &name)?;
        } else if kind.is_file() || kind.is_symlink() {
            tar.append_path_with_name(entry.path(), &name)?;
        }
    }
    Ok(())
}

/// Unpacks the output of a build (written by code the app controls) into the host directories
/// `into` names for [`SOURCE`], [`CACHE`] and [`OUT`], which are emptied first. Only
/// directories, regular files and symlinks under those three are taken, by plain relative paths;
/// an entry under a symlink, or anything else, fails the whole output: nothing it names is
/// written outside those directories, and no host file is read.
pub fn unpack_output(from: &Path, into: &[(&str, &Path)]) -> anyhow::Result<()> {
    for (_, dir) in into {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::open(from)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some((root, rest)) = into.iter().find_map(|(at, dir)| {
            let rest = path.strip_prefix(at).ok()?;
            Some((*dir, rest.to_owned()))
        }) else {
            bail!(
                "the build's output has {} outside its directories",
                path.display()
            );
        };
        if rest.as_os_str().is_empty() {
            continue; // the directory itself
        }
        if !rest.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!(
                "the build's output has a path that is not plain: {}",
                path.display()
            );
        }
        let target = root.join(&rest);
        reject_symlinked_parents(root, &rest)?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Symlink => {
                if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                    std::fs::remove_file(&target)?;
                }
                entry.unpack(&target)?;
            }
            other => bail!(
                "the build's output has {} of a kind paas does not take ({other:?})",
                path.display()
            ),
        }
    }
    Ok(())
}

/// Fails when a directory on the way from `root` to `rest` is a symlink (or not a directory).
fn reject_symlinked_parents(root: &Path, rest: &Path) -> anyhow::Result<()> {
    let mut at = PathBuf::from(root);
    if let Some(parent) = rest.parent() {
        for part in parent.components() {
            at.push(part);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => bail!(
                    "the build's output writes through {}, which is not a directory",
                    at.display()
                ),
                Err(_) => std::fs::create_dir_all(&at)?,
            }
        }
    }
    Ok(())
}

/// Decodes base64 as it comes (whitespace and line breaks ignored) and writes the bytes on.
pub struct Base64Writer<W> {
    to: W,
    pending: Vec<u8>,
}

impl<W: Write> Base64Writer<W> {
    pub fn new(to: W) -> Self {
        Self {
            to,
            pending: Vec::new(),
        }
    }

    pub fn write(&mut self, text: &[u8]) -> anyhow::Result<()> {
        use base64::Engine;
        self.pending
            .extend(text.iter().filter(|b| !b.is_ascii_whitespace()));
        let whole = self.pending.len() / 4 * 4;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.pending[..whole])
            .context("the output is not base64")?;
        self.to.write_all(&bytes)?;
        self.pending.drain(..whole);
        Ok(())
    }

    /// The writer, once all the text has come.
    pub fn finish(mut self) -> anyhow::Result<W> {
        if !self.pending.is_empty() {
            bail!("the output ended in the middle");
        }
        self.to.flush()?;
        Ok(self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_across_pieces_and_lines() {
        use base64::Engine;
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&data);
        let lined: Vec<u8> = text
            .as_bytes()
            .chunks(76)
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect();
        let mut writer = Base64Writer::new(Vec::new());
        for piece in lined.chunks(33) {
            writer.write(piece).expect("decodes");
        }
        assert_eq!(writer.finish().expect("whole"), data);
    }

    #[test]
    fn the_input_holds_the_contents_and_the_build_env_and_keeps_symlinks() {
        let dir = tempfile::tempdir().expect("temp");
        let source = dir.path().join("source");
        std::fs::create_dir_all(source.join("sub")).expect("mkdir");
        std::fs::write(source.join("sub/a.txt"), "a").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", source.join("link")).expect("symlink");
        let tar_path = dir.path().join("in.tar");
        let env = BTreeMap::from([("TOKEN".to_owned(), "it's".to_owned())]);
        pack_input(&tar_path, &[(SOURCE, &source)], &env).expect("packs");
        let mut archive = tar::Archive::new(std::fs::File::open(&tar_path).expect("open"));
        let mut seen = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").display().to_string();
            if path == BUILD_ENV {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).expect("read");
                assert_eq!(text, "export TOKEN='it'\\''s'\n");
            }
            if path.ends_with("link") {
                assert_eq!(entry.header().entry_type(), tar::EntryType::Symlink);
            }
            seen.push(path);
        }
        assert_eq!(
            seen,
            [
                "tmp/build/link",
                "tmp/build/sub",
                "tmp/build/sub/a.txt",
                BUILD_ENV
            ]
        );
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp");
        let mut tar = tar::Builder::new(file.reopen().expect("reopen"));
        for (path, kind, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o755);
            if *kind == tar::EntryType::Symlink {
                header.set_size(0);
                tar.append_link(&mut header, path, content).expect("link");
            } else {
                header.set_size(content.len() as u64);
                // Paths are set raw: the builder refuses `..` itself.
                header.as_gnu_mut().expect("gnu").name[..path.len()]
                    .copy_from_slice(path.as_bytes());
                header.set_cksum();
                tar.append(&header, content.as_bytes()).expect("append");
            }
        }
        tar.finish().expect("finish");
        file
    }

    #[test]
    fn the_output_is_unpacked_into_its_directories_and_nothing_escapes() {
        let dir = tempfile::tempdir().expect("temp");
        let (source, cache) = (dir.path().join("source"), dir.path().join("cache"));
        let into = [(SOURCE, source.as_path()), (CACHE, cache.as_path())];
        let good = tar_of(&[
            ("tmp/build/", tar::EntryType::Directory, ""),
            ("tmp/build/app.py", tar::EntryType::Regular, "print(1)"),
            (
                "tmp/build/.venv/bin/python",
                tar::EntryType::Symlink,
                "/usr/bin/python3",
            ),
            ("tmp/cache/pip/x", tar::EntryType::Regular, "cached"),
        ]);
        unpack_output(good.path(), &into).expect("unpacks");
        assert_eq!(
            std::fs::read_to_string(source.join("app.py")).expect("read"),
            "print(1)"
        );
        assert_eq!(
            std::fs::read_link(source.join(".venv/bin/python")).expect("link"),
            Path::new("/usr/bin/python3")
        );
        assert_eq!(
            std::fs::read_to_string(cache.join("pip/x")).expect("read"),
            "cached"
        );
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir");
        let escapes = [
            tar_of(&[("tmp/build/../../outside/x", tar::EntryType::Regular, "x")]),
            tar_of(&[
                (
                    "tmp/build/out",
                    tar::EntryType::Symlink,
                    outside.to_str().expect("utf-8"),
                ),
                ("tmp/build/out/x", tar::EntryType::Regular, "x"),
            ]),
            tar_of(&[("etc/x", tar::EntryType::Regular, "x")]),
            tar_of(&[("tmp/build/fifo", tar::EntryType::Fifo, "")]),
        ];
        for tar in escapes {
            assert!(unpack_output(tar.path(), &into).is_err());
            assert!(!outside.join("x").exists());
        }
    }
}
