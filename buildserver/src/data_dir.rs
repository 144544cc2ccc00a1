//! The layout of the data dir: every path the server keeps state under is named here, and paths
//! are built only from ids the server made (never from user strings).
//!
//! ```text
//! <data-dir>/paas.db            SQLite store            admin-token, ssh_host_ed25519_key
//! <data-dir>/repos/<app-id>.git bare repos             hooks/pre-receive (git's hook, for every repo)
//! <data-dir>/run/hook.sock      hook ↔ daemon socket   builds/<build-id>/  one dir per build
//! <data-dir>/cache/<app-id>/    build cache per app    stacks/<name>/      build/run stacks
//! <data-dir>/oci/               OCI image layout of app images
//! ```

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("paas.db")
    }

    pub fn admin_token(&self) -> PathBuf {
        self.root.join("admin-token")
    }

    pub fn ssh_host_key(&self) -> PathBuf {
        self.root.join("ssh_host_ed25519_key")
    }

    pub fn repos(&self) -> PathBuf {
        self.root.join("repos")
    }

    /// The bare repo of app `app_id` (a UUID the store generated).
    pub fn repo(&self, app_id: &str) -> PathBuf {
        debug_assert!(is_id(app_id), "{app_id:?} is not a server-made id");
        self.repos().join(format!("{app_id}.git"))
    }

    /// `core.hooksPath` of every repo.
    pub fn hooks(&self) -> PathBuf {
        self.root.join("hooks")
    }

    pub fn hook_socket(&self) -> PathBuf {
        self.root.join("run/hook.sock")
    }

    pub fn builds(&self) -> PathBuf {
        self.root.join("builds")
    }

    pub fn build(&self, build_id: &str) -> PathBuf {
        debug_assert!(is_id(build_id), "{build_id:?} is not a server-made id");
        self.builds().join(build_id)
    }

    pub fn cache(&self, app_id: &str) -> PathBuf {
        debug_assert!(is_id(app_id), "{app_id:?} is not a server-made id");
        self.root.join("cache").join(app_id)
    }

    /// The OCI image layout of app images.
    pub fn oci(&self) -> PathBuf {
        self.root.join("oci")
    }

    /// Takes the data dir for one `serve` (an exclusive lock on `<data>/serve.lock`, held until
    /// the returned file is dropped, and the holder's pid written in it): a second server on the
    /// same data dir would remove the first one's dynos and take its hook socket.
    ///
    /// # Errors
    /// Another process holds it (the message names its pid), or the file cannot be made (the
    /// data dir must exist).
    pub fn lock_for_serving(&self) -> anyhow::Result<std::fs::File> {
        use std::io::{Read, Seek, Write};
        let path = self.root.join("serve.lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if file.try_lock().is_err() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            anyhow::bail!(
                "the data dir {} is in use by another paas-buildserver (pid {}); stop it first, or give this one another --data-dir",
                self.root.display(),
                holder.trim()
            );
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(file)
    }

    /// Add-on `id`'s folder: its service's volume and its backups.
    pub fn addon(&self, id: &str) -> PathBuf {
        self.root.join("addons").join(id)
    }

    pub fn stacks(&self) -> PathBuf {
        self.root.join("stacks")
    }
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, fsync, rename): a crash
/// leaves the old file or the new one, never half of it, and a failed write (a full disk) leaves
/// neither a half file nor the temporary one (`.<name>.<random>.tmp`). A new file gets `mode`
/// (0o600 for secrets; the umask applies).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut file = temporary_file(dir, &format!(".{name}."), mode)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A new empty file in `dir` named `<prefix><random>.tmp` with `mode` (the umask applies),
/// deleted when dropped unless `persist`ed: the one way the server writes a file that must be
/// whole or absent. A `prefix` starting with `.` keeps it out of listings; ones a crash left
/// behind are recognised by that prefix and the `.tmp` suffix.
pub fn temporary_file(
    dir: &Path,
    prefix: &str,
    mode: u32,
) -> std::io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
}

/// Whether `s` looks like an id the server made (a UUID): safe as a path component.
pub fn is_id(s: &str) -> bool {
    s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}
