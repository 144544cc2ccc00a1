//! Writing a pushed commit's tree into a fresh build directory, like `git archive | tar x`: from
//! the objects alone (git's quarantine, inside the pre-receive hook), without a work tree or an
//! index, so nothing in the bare repository is written (a rejected push leaves it exactly as it
//! was, and `git fsck` stays clean).
//!
//! Submodules (gitlink entries) are not fetched: each becomes an empty directory and is reported,
//! so that the build can say so. Entry names are checked again here (git's `fsckObjects` already
//! refuses `..`, `.git` and names with `/`), and every file is created new (`O_EXCL`) under a
//! directory this code made, so a committed symlink is written as a symlink and never followed.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Why a commit could not be written out; the message is for the pusher.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    NotACommit(String),
    #[error("the commit has an entry git cannot check out: {0:?}")]
    BadEntry(String),
    #[error(transparent)]
    Git(#[from] git2::Error),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// What [`export`] wrote.
#[derive(Debug)]
pub struct Exported {
    /// The paths of the submodules left empty, in tree order.
    pub submodules: Vec<String>,
    /// The commit's committer time, in unix seconds (`git log --format=%ct`; 0 before 1970).
    pub committed: u64,
}

/// Writes the tree of `oid` (which must name a commit) into `dir` (created, must not exist).
pub fn export(
    repo: &git2::Repository,
    oid: git2::Oid,
    dir: &Path,
) -> Result<Exported, ExportError> {
    let object = repo.find_object(oid, None)?;
    let commit = match object.kind() {
        Some(git2::ObjectType::Commit) => object.peel_to_commit()?,
        Some(git2::ObjectType::Tag) => {
            return Err(ExportError::NotACommit(
                "main must point to a commit, and this push points it at a tag object.\n\
                 Push the branch (git push paas main), or the commit the tag names: \
                 git push paas 'TAG^{commit}:main'"
                    .to_owned(),
            ));
        }
        kind => {
            return Err(ExportError::NotACommit(format!(
                "main must point to a commit, and this push points it at a {}.\n\
                 Push a branch: git push paas main",
                kind.map_or("object of unknown kind", |k| k.str())
            )));
        }
    };
    let tree = commit.tree()?;
    mkdir(dir, "")?;
    let mut submodules = Vec::new();
    write_tree(repo, &tree, dir, "", &mut submodules)?;
    Ok(Exported {
        submodules,
        committed: u64::try_from(commit.committer().when().seconds()).unwrap_or(0),
    })
}

fn write_tree(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    dir: &Path,
    prefix: &str,
    submodules: &mut Vec<String>,
) -> Result<(), ExportError> {
    for entry in tree.iter() {
        let name = entry.name_bytes();
        let shown = format!("{prefix}{}", String::from_utf8_lossy(name));
        if name.is_empty()
            || name == b"."
            || name == b".."
            || name.contains(&b'/')
            || name.contains(&0)
            || name.eq_ignore_ascii_case(b".git")
        {
            return Err(ExportError::BadEntry(shown));
        }
        let path = dir.join(std::ffi::OsStr::from_bytes(name));
        match entry.filemode() {
            0o040000 => {
                mkdir(&path, &shown)?;
                let subtree = repo.find_tree(entry.id())?;
                write_tree(repo, &subtree, &path, &format!("{shown}/"), submodules)?;
            }
            mode @ (0o100644 | 0o100755 | 0o100664) => {
                let blob = repo.find_blob(entry.id())?;
                let io = |source| ExportError::Io {
                    path: shown.clone(),
                    source,
                };
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if mode == 0o100755 { 0o755 } else { 0o644 })
                    .open(&path)
                    .map_err(io)?;
                file.write_all(blob.content()).map_err(io)?;
            }
            0o120000 => {
                let blob = repo.find_blob(entry.id())?;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(blob.content()), &path)
                    .map_err(|source| ExportError::Io {
                        path: shown.clone(),
                        source,
                    })?;
            }
            0o160000 => {
                mkdir(&path, &shown)?;
                submodules.push(shown);
            }
            _ => return Err(ExportError::BadEntry(shown)),
        }
    }
    Ok(())
}

fn mkdir(path: &Path, shown: &str) -> Result<(), ExportError> {
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(path)
        .map_err(|source| ExportError::Io {
            path: if shown.is_empty() {
                ".".to_owned()
            } else {
                shown.to_owned()
            },
            source,
        })
}
