//! Bare git repositories, one per app, under `<data-dir>/repos/<app-id>.git`: created with the
//! app, removed with it, and the pre-receive hook that hands each push to the daemon (`hook`),
//! which writes the pushed commit out for the build (`export`). It must not run
//! `git receive-pack` itself (that is `ssh/`'s job), nor write into a repository while a push is
//! checked: the objects of a refused push vanish with git's quarantine and nothing may name them.

pub mod export;
pub mod hook;
pub mod push;
pub mod receive;

use std::path::Path;

use crate::data_dir::DataDir;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("cannot create the repository of app {app_id}")]
    Create {
        app_id: String,
        #[source]
        source: git2::Error,
    },
    #[error("cannot remove the repository of app {app_id}")]
    Remove {
        app_id: String,
        #[source]
        source: std::io::Error,
    },
}

/// Creates the app's bare repo with `main` as its initial branch.
pub fn create(data: &DataDir, app_id: &str) -> Result<(), RepoError> {
    let path = data.repo(app_id);
    let mut opts = git2::RepositoryInitOptions::new();
    opts.bare(true)
        .initial_head("main")
        .mkdir(true)
        .mkpath(true);
    git2::Repository::init_opts(&path, &opts)
        .map(drop)
        .map_err(|source| RepoError::Create {
            app_id: app_id.to_owned(),
            source,
        })
}

/// Removes the app's repo; a repo that is already gone is fine.
pub fn remove(data: &DataDir, app_id: &str) -> Result<(), RepoError> {
    match std::fs::remove_dir_all(data.repo(app_id)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RepoError::Remove {
            app_id: app_id.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Writes `<data-dir>/hooks/pre-receive`, which hands every push to this daemon binary.
pub fn install_hooks(data: &DataDir, daemon_binary: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(data.hooks())?;
    let hook = data.hooks().join("pre-receive");
    let quoted = daemon_binary.to_string_lossy().replace('\'', r"'\''");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\nexec '{quoted}' hook pre-receive\n"),
    )?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
}

/// Removes what pushes cut short by a killed daemon left in the repos: git's quarantine
/// directories (`objects/incoming-*`, `objects/tmp_objdir-incoming-*`), which git itself deletes
/// when receive-pack ends normally. Run at start, before any push; returns how many it removed.
pub fn remove_quarantines(data: &DataDir) -> std::io::Result<usize> {
    let mut removed = 0;
    let repos = match std::fs::read_dir(data.repos()) {
        Ok(repos) => repos,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for repo in repos {
        let objects = repo?.path().join("objects");
        let Ok(entries) = std::fs::read_dir(&objects) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if (name.starts_with("incoming-") || name.starts_with("tmp_objdir-incoming-"))
                && entry.file_type()?.is_dir()
            {
                std::fs::remove_dir_all(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
