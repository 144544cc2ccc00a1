//! Reading, on the host and as root, files that a pushed tree or a build controls: the app's
//! `Procfile` and `.buildpacks`, and what the build driver reports in `/tmp/paas-out`
//! (`buildpack`, `failed`, `release.yml`). A user can commit a symlink to `/etc/shadow` or
//! `../../admin-token` under any of these names, and build code can replace a report file with one
//! while it runs, so every such read goes through [`read`]: `openat2(2)` with `RESOLVE_BENEATH`
//! and `RESOLVE_NO_SYMLINKS` (Linux ≥ 5.6) refuses any symlink on the way instead of following
//! it, the file must be a regular file, and its size is capped.
//!
//! It must not be bypassed with `std::fs::read*` on a path inside a build directory.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// Why a file under an untrusted directory was not read.
#[derive(Debug, thiserror::Error)]
pub enum UntrustedRead {
    #[error("{name} is a symbolic link; paas reads only files committed as regular files")]
    Symlink { name: String },
    #[error("{name} is not a regular file")]
    NotAFile { name: String },
    #[error("{name} is larger than {limit} bytes")]
    TooLarge { name: String, limit: u64 },
    #[error("cannot read {name}: {source}")]
    Io {
        name: String,
        source: std::io::Error,
    },
}

/// Reads `name` (a relative path without `..`) under `dir`, at most `limit` bytes; `Ok(None)` if
/// it does not exist. `dir` itself is the server's own (a build directory), opened without
/// following a final symlink; everything below it is the user's.
///
/// Errors: [`UntrustedRead::Symlink`] for any symlink on the way (absolute, relative or `../`),
/// `NotAFile` for a directory, FIFO or the like, `TooLarge` past `limit`.
pub fn read(dir: &Path, name: &str, limit: u64) -> Result<Option<Vec<u8>>, UntrustedRead> {
    let io = |source: std::io::Error| UntrustedRead::Io {
        name: name.to_owned(),
        source,
    };
    let dir = nix::fcntl::open(
        dir,
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let how = OpenHow::new()
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    let fd = match nix::fcntl::openat2(dir.as_fd(), name, how) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        // ELOOP: a symlink on the way; EXDEV: a path that would leave `dir`.
        Err(nix::errno::Errno::ELOOP | nix::errno::Errno::EXDEV) => {
            return Err(UntrustedRead::Symlink {
                name: name.to_owned(),
            });
        }
        Err(e) => return Err(io(e.into())),
    };
    let mut file = std::fs::File::from(fd);
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(UntrustedRead::NotAFile {
            name: name.to_owned(),
        });
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(UntrustedRead::TooLarge {
            name: name.to_owned(),
            limit,
        });
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_and_refuses_links_and_the_rest() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret"), "root:x:0:0").expect("write");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("Procfile"), "web: x\n").expect("write");
        std::os::unix::fs::symlink(outside.path().join("secret"), d.join("absolute"))
            .expect("link");
        std::os::unix::fs::symlink("../../../../../../etc/passwd", d.join("dotdot")).expect("link");
        std::os::unix::fs::symlink("Procfile", d.join("inside")).expect("link");
        std::fs::create_dir(d.join("sub")).expect("mkdir");
        nix::unistd::mkfifo(&d.join("fifo"), Mode::from_bits_truncate(0o644)).expect("fifo");
        std::fs::write(d.join("big"), vec![b'x'; 100]).expect("write");

        assert_eq!(
            read(d, "Procfile", 1024).expect("read"),
            Some(b"web: x\n".to_vec())
        );
        assert_eq!(read(d, "missing", 1024).expect("read"), None);
        for link in ["absolute", "dotdot", "inside", "../secret"] {
            assert!(
                matches!(read(d, link, 1024), Err(UntrustedRead::Symlink { .. })),
                "{link}"
            );
        }
        assert!(matches!(
            read(d, "sub", 1024),
            Err(UntrustedRead::NotAFile { .. })
        ));
        assert!(matches!(
            read(d, "fifo", 1024),
            Err(UntrustedRead::NotAFile { .. })
        ));
        assert!(matches!(
            read(d, "big", 99),
            Err(UntrustedRead::TooLarge { limit: 99, .. })
        ));
        assert_eq!(
            read(d, "big", 100).expect("read").map(|b| b.len()),
            Some(100)
        );
    }
}
