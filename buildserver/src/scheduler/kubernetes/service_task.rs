//! An add-on's tasks on Kubernetes (a backup, a restore, a password change): a pod of the
//! services image next to the add-on's own, reaching it by its pod IP (no cluster DNS needed),
//! its secrets in a Secret of its own, fed and read through an attach as builds are. The backup
//! file travels through the attach too: in before a restore, out (base64 on stdout) after a
//! backup, into the add-on's backups folder on this host, where the local scheduler's tasks
//! leave it.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::sync::mpsc;

use super::{KubernetesScheduler, await_running, build::attached, manifests};
use crate::container::{Exit, Outcome};
use crate::scheduler::{BackupFile, ServiceSpec};

impl KubernetesScheduler {
    /// [`crate::scheduler::Scheduler::run_service_task`] on the cluster.
    pub(super) async fn run_service_task_now(
        &self,
        spec: &ServiceSpec,
        args: Vec<String>,
        backup: BackupFile,
        timeout: Duration,
        lines: mpsc::Sender<String>,
    ) -> anyhow::Result<Outcome> {
        let namespace = manifests::namespace(spec.app.name());
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let service_pod = format!("{}-0", spec.name);
        let address = pods
            .get_opt(&service_pod)
            .await
            .with_context(|| format!("cannot read pod {service_pod}"))?
            .and_then(|p| p.status?.pod_ip)
            .with_context(|| format!("add-on {} is not running (pod {service_pod} has no address): `paas addons:info` shows its state", spec.name))?;
        let mut env = spec.env.clone();
        env.insert("PAAS_HOST".to_owned(), address);
        let (file, input, output) = transfer(spec, backup)?;
        let command = task_command(&args, backup)?;

        let name = super::unique_pod_name(&format!("{}-task", spec.name));
        let object = manifests::service_task_pod(spec, &self.settings, &name, &command, timeout);
        let _pod = self
            .create_pod(spec.app.name(), &name, &object, &env)
            .await?;
        self.logs.emit(
            &spec.app.id,
            "paas",
            "scheduler",
            format!("Running a task of add-on {} as pod {name}", spec.name),
        );
        let within = Duration::from_secs(self.settings.progress_deadline_seconds.into());
        await_running(&pods, &name, within.min(timeout)).await?;
        let Output { file: out, partial } = output;
        let outcome = attached(&pods, &name, "task", within, timeout, (input, out), lines).await;
        // The file is this host's once the task has written it whole.
        if let (Ok(outcome), Some(file)) = (&outcome, file)
            && outcome.exit == Exit::Code(0)
        {
            partial.keep_as(&file)?;
        }
        outcome
    }
}

/// Where a task's output goes: the backup being written (`partial`), or nowhere.
struct Output {
    file: tokio::fs::File,
    partial: Partial,
}

/// A backup being written beside its file: removed when dropped, unless kept.
struct Partial(Option<PathBuf>);

impl Partial {
    /// Renames it to `file`: it is whole.
    fn keep_as(mut self, file: &Path) -> anyhow::Result<()> {
        if let Some(partial) = self.0.take() {
            std::fs::rename(&partial, file)
                .with_context(|| format!("cannot move {} into place", partial.display()))?;
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(partial) = self.0.take() {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// The host file of the backup `$PAAS_BACKUP` names, what the task reads (the backup, for a
/// restore; else nothing) and where its output goes.
fn transfer(
    spec: &ServiceSpec,
    backup: BackupFile,
) -> anyhow::Result<(Option<PathBuf>, tokio::fs::File, Output)> {
    let nothing = || std::fs::File::open("/dev/null");
    let discard = || std::fs::OpenOptions::new().write(true).open("/dev/null");
    let file = match backup {
        BackupFile::None => None,
        BackupFile::Written | BackupFile::Read => {
            let named = spec
                .env
                .get("PAAS_BACKUP")
                .context("a backup task without PAAS_BACKUP")?;
            let name = Path::new(named)
                .file_name()
                .context("PAAS_BACKUP names no file")?;
            Some(spec.backups.join(name))
        }
    };
    let (input, output) = match (&file, backup) {
        (Some(file), BackupFile::Read) => {
            let input = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let output = Output {
                file: discard()?.into(),
                partial: Partial(None),
            };
            (input, output)
        }
        (Some(file), BackupFile::Written) => {
            let mut partial = file.clone().into_os_string();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let output = Output {
                file: written.into(),
                partial: Partial(Some(partial)),
            };
            (nothing()?, output)
        }
        _ => {
            let output = Output {
                file: discard()?.into(),
                partial: Partial(None),
            };
            (nothing()?, output)
        }
    };
    Ok((file, input.into(), output))
}

/// The shell command of a task's pod: `args` (the provider's script) with its output on stderr
/// (its lines), and the backup file read from stdin before it or written (base64) to stdout after
/// it.
fn task_command(args: &[String], backup: BackupFile) -> anyhow::Result<String> {
    let run = shlex::try_join(args.iter().map(String::as_str))
        .context("a task's arguments cannot be quoted")?;
    Ok(match backup {
        BackupFile::None => format!("exec {run} >&2"),
        BackupFile::Written => format!("{run} >&2 && base64 \"$PAAS_BACKUP\""),
        BackupFile::Read => format!("cat > \"$PAAS_BACKUP\" && exec {run} >&2"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands, run by a shell as the pod's wrapper runs them: the script's output goes to
    /// stderr; a written backup comes out as base64 on stdout; a read one is taken from stdin
    /// first.
    #[test]
    fn a_task_s_command_moves_its_backup_through_its_streams() {
        let dir = tempfile::tempdir().expect("temp");
        let file = dir.path().join("b001.dump");
        let run = |backup: BackupFile, script: &str, input: &[u8]| {
            let command = task_command(
                &["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()],
                backup,
            )
            .expect("a command");
            let mut child = std::process::Command::new("/bin/sh")
                .args(["-c", &command])
                .env("PAAS_BACKUP", &file)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("sh");
            std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input)
                .expect("write");
            let output = child.wait_with_output().expect("ends");
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        };
        let (code, out, err) = run(
            BackupFile::Written,
            "echo 'dumping \"it\"'; printf 'PGDMP\\001' > \"$PAAS_BACKUP\"",
            b"",
        );
        assert_eq!(code, Some(0));
        assert_eq!((out.trim(), err.as_str()), ("UEdETVAB", "dumping \"it\"\n"));
        let (code, out, err) = run(
            BackupFile::Read,
            "echo restored; od -c \"$PAAS_BACKUP\" | head -1",
            b"PGDMP",
        );
        assert_eq!((code, out.as_str()), (Some(0), ""));
        assert!(
            err.starts_with("restored\n0000000   P   G   D   M   P"),
            "{err}"
        );
        let (code, out, err) = run(BackupFile::None, "echo rotated; exit 3", b"");
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (Some(3), "", "rotated\n")
        );
        let (code, ..) = run(BackupFile::Written, "exit 2", b"");
        assert_eq!(code, Some(2), "a failed dump sends no file");
    }
}
