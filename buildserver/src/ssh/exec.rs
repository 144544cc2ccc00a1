//! Parsing of SSH exec requests (DESIGN §3.5). The whole command must be
//! `git-receive-pack '<path>'` or `git-upload-pack '<path>'`, with the path strictly
//! single-quoted, an optional leading `/` and `.git` suffix, and an app name in between.
//! Everything else is refused with a one-line reason; nothing here touches a shell or the disk.

use crate::git::receive::GitService;
use paas_share::AppName;

/// Longest exec command considered at all.
const MAX_COMMAND_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitCommand {
    pub service: GitService,
    pub app: AppName,
}

/// Why an exec request was refused: shown to the client as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only git push and git clone are supported (git@host: commands are not a shell)")]
    NotGit,
    #[error(
        "invalid repository path: use '<app>.git', where app names are 1 to 30 lowercase letters, digits and dashes, starting with a letter and ending with a letter or digit"
    )]
    BadPath,
}

pub fn parse(command: &[u8]) -> Result<GitCommand, Refusal> {
    if command.len() > MAX_COMMAND_BYTES || !command.is_ascii() {
        return Err(Refusal::BadPath);
    }
    let command = std::str::from_utf8(command).map_err(|_| Refusal::BadPath)?;
    let (verb, arg) = command.split_once(' ').ok_or(Refusal::NotGit)?;
    let service = match verb {
        "git-receive-pack" => GitService::ReceivePack,
        "git-upload-pack" => GitService::UploadPack,
        _ => return Err(Refusal::NotGit),
    };
    // Strict single quotes: one quoted word, no quote, control character or space inside.
    let path = arg
        .strip_prefix('\'')
        .and_then(|a| a.strip_suffix('\''))
        .ok_or(Refusal::BadPath)?;
    if path
        .bytes()
        .any(|b| b == b'\'' || b.is_ascii_control() || b == b' ')
    {
        return Err(Refusal::BadPath);
    }
    let path = path.strip_prefix('/').unwrap_or(path);
    let name = path.strip_suffix(".git").unwrap_or(path);
    let app = AppName::parse(name).map_err(|_| Refusal::BadPath)?;
    Ok(GitCommand { service, app })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(command: &str) -> Result<(GitService, String), Refusal> {
        parse(command.as_bytes()).map(|c| (c.service, c.app.to_string()))
    }

    #[test]
    fn accepted_forms() {
        for ok in [
            "git-receive-pack 'demo'",
            "git-receive-pack '/demo.git'",
            "git-receive-pack 'demo.git'",
            "git-receive-pack '/demo'",
        ] {
            assert_eq!(
                app(ok),
                Ok((GitService::ReceivePack, "demo".into())),
                "{ok}"
            );
        }
        assert_eq!(
            app("git-upload-pack '/my-app.git'"),
            Ok((GitService::UploadPack, "my-app".into()))
        );
    }

    #[test]
    fn refused_paths() {
        let long = format!("git-receive-pack '{}'", "a".repeat(10 * 1024));
        for bad in [
            "git-receive-pack '../../etc'",
            "git-receive-pack '..'",
            "git-receive-pack '/etc/passwd'",
            "git-receive-pack 'a/b'",
            "git-receive-pack 'App'",
            "git-receive-pack 'app;id'",
            "git-receive-pack '$(id)'",
            "git-receive-pack '--upload-pack=x'",
            "git-receive-pack demo",
            "git-receive-pack 'demo",
            "git-receive-pack 'demo' extra",
            "git-receive-pack 'de'mo'",
            "git-receive-pack 'demo\0'",
            "git-receive-pack 'demo\n'",
            "git-receive-pack ''",
            "git-receive-pack '/'",
            "git-receive-pack 'dеmo'",
            "git-receive-pack  'demo'",
            long.as_str(),
        ] {
            assert_eq!(app(bad), Err(Refusal::BadPath), "{bad:?}");
        }
    }

    #[test]
    fn refused_commands() {
        for bad in [
            "ls",
            "sh -c id",
            "scp -t /",
            "git-receive-pack",
            "git receive-pack 'demo'",
            "git-upload-archive 'demo'",
            "",
        ] {
            assert_eq!(app(bad), Err(Refusal::NotGit), "{bad:?}");
        }
    }
}
