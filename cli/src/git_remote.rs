//! The `paas` git remote of the repository in the current directory: which app it points at, and
//! adding or replacing it (git2, no `git` process).

use git2::Repository;
use paas_share::AppName;

/// The remote name `paas create` and `paas git:remote` use unless told otherwise.
pub const DEFAULT_REMOTE: &str = "paas";

/// The repository containing the current directory, if any.
pub fn current_repo() -> Option<Repository> {
    Repository::discover(".").ok()
}

/// The app a remote URL points at: the last path segment without `.git`, for both
/// `ssh://git@host:2222/app.git` and `git@host:app.git`.
pub fn app_in_url(url: &str) -> Option<AppName> {
    let path = url.rsplit(['/', ':']).next()?;
    AppName::parse(path.strip_suffix(".git").unwrap_or(path)).ok()
}

/// The app that `remote` of the current repository points at.
pub fn app_of_remote(remote: &str) -> Option<AppName> {
    let repo = current_repo()?;
    let remote = repo.find_remote(remote).ok()?;
    app_in_url(remote.url()?)
}

/// Where `remote` points, if the repository has it.
pub fn remote_url(repo: &Repository, remote: &str) -> Option<String> {
    repo.find_remote(remote).ok()?.url().map(str::to_owned)
}

/// Points `remote` at `url`, creating it if needed. Returns whether it already existed.
pub fn set_remote(repo: &Repository, remote: &str, url: &str) -> Result<bool, git2::Error> {
    match repo.find_remote(remote) {
        Ok(_) => repo.remote_set_url(remote, url).map(|()| true),
        Err(e) if e.code() == git2::ErrorCode::NotFound => repo.remote(remote, url).map(|_| false),
        Err(e) => Err(e),
    }
}

/// Remotes of the current repository that point at `app`.
pub fn remotes_for(repo: &Repository, app: &AppName) -> Vec<String> {
    let Ok(names) = repo.remotes() else {
        return Vec::new();
    };
    names
        .iter()
        .flatten()
        .filter(|name| {
            repo.find_remote(name)
                .ok()
                .and_then(|r| r.url().and_then(app_in_url))
                .as_ref()
                == Some(app)
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_in_urls() {
        let app = |s: &str| app_in_url(s).map(|a| a.to_string());
        assert_eq!(
            app("ssh://git@127.0.0.1:2222/demo.git"),
            Some("demo".into())
        );
        assert_eq!(app("ssh://git@paas.example.com/demo"), Some("demo".into()));
        assert_eq!(
            app("git@paas.example.com:my-app.git"),
            Some("my-app".into())
        );
        assert_eq!(app("https://github.com/Foo/Bar.git"), None);
    }
}
