//! The SQLite store: users, API tokens, SSH keys, apps, config vars, builds, releases, formation,
//! add-ons.
//!
//! Every SQL statement of the server lives in this module. The database runs in WAL mode with
//! `synchronous=FULL` and foreign keys on, so a committed change survives `kill -9` and power loss.
//! It must not hold policy: callers decide who may do what; the store only keeps rows consistent
//! (one transaction per change, immutable releases, formation following the release's process
//! types).

mod access;
mod addons;
mod alerts;
mod autoscale;
mod canary;
mod domains;
mod drains;
mod metrics;
mod migrations;

pub use access::{AuditRecord, Authenticated};
pub use addons::{AddonRecord, Attached, NewAddon};
pub use alerts::AlertRecord;
pub use domains::{AcmOutcome, CertRecord, DomainRecord, NewCert};
pub use drains::DrainRecord;
pub use metrics::MetricsRow;

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paas_share::models::{
    Account, Build, ConfigPatch, ConfigVars, Formation, Release, ReleaseStatus, Role, SshKey,
};
use paas_share::names::MAX_CONFIG_TOTAL_BYTES;
use paas_share::{AppName, UserName};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::token::NewToken;

/// How [`Db::delete_user`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum UserDeletion {
    Deleted,
    /// Their tokens and keys are gone; the row stays because builds or releases name them.
    KeptForHistory,
    /// Nothing changed: they own these apps.
    OwnsApps(Vec<AppName>),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database at {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database at {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this server knows ({known}); run a newer paas-buildserver"
    )]
    TooNew { found: usize, known: usize },
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A row the request names went away under it: a foreign key to it failed, or it was not
    /// there to read back (an app destroyed while a rename or config change to it ran).
    #[error("it was deleted while the request ran")]
    Gone,
    /// The disk under the database is full (SQLITE_FULL): the write was rolled back.
    #[error("the server's data disk is full")]
    DiskFull,
    /// The config vars would hold this many bytes together, over [`MAX_CONFIG_TOTAL_BYTES`].
    #[error("the app's config vars would hold {0} bytes")]
    ConfigTooLarge(usize),
    #[error(transparent)]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::Gone,
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                StoreError::DiskFull
            }
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
            {
                StoreError::Gone
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A user as the server sees one: for a request, with the token it came with.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: UserName,
    pub admin: bool,
    /// The API token of the request (None over SSH and for the server's own work).
    pub token: Option<Grant>,
}

/// What the API token of a request allows: a login token everything its user may do, a scoped
/// token at most its role, on its app only if it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub token_id: String,
    /// The one app a scoped token may reach.
    pub app_id: Option<String>,
    /// A scoped token's most; None for a login token.
    pub role: Option<Role>,
}

impl User {
    /// Whether the request came with a scoped token (which never manages keys, tokens or apps).
    pub fn scoped(&self) -> bool {
        self.token.as_ref().is_some_and(|t| t.role.is_some())
    }

    /// What this request may do on app `app_id`, where the user has role `had` (None: nothing),
    /// within its token's limits.
    pub fn role_on(&self, app_id: &str, had: Option<Role>) -> Option<Role> {
        let had = had?;
        match &self.token {
            Some(Grant {
                app_id: Some(only), ..
            }) if only != app_id => None,
            Some(Grant {
                role: Some(most), ..
            }) => Some(had.min(*most)),
            _ => Some(had),
        }
    }
}

/// An app row; the API adds its URLs.
#[derive(Debug, Clone)]
pub struct AppRecord {
    pub id: String,
    pub name: AppName,
    pub owner: UserName,
    pub release: Option<u32>,
    /// The stack its builds run on; None follows the server's default (apps made before stacks
    /// had names).
    pub stack: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl AppRecord {
    /// The app as the other subsystems take it.
    pub fn app_ref(&self) -> crate::app::AppRef {
        crate::app::AppRef {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

/// The `Idempotency-Key` a request that makes a release came with, and a digest of the request
/// (who sent what to which route), recorded with the release it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub digest: String,
}

/// An SSH public key to record for a user, as `ssh::public_key` parsed and checked it.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub algorithm: String,
    pub comment: String,
    /// The key re-encoded as one line, with its comment.
    pub openssh: String,
}

/// What a new release is made of (DESIGN §3.4); every release starts `pending` (the controller
/// moves it on).
pub struct NewRelease {
    pub build_id: Option<String>,
    pub image: Option<String>,
    pub process_types: BTreeMap<String, String>,
    pub description: String,
}

/// How a build ended, as recorded on its row.
#[derive(Debug, Clone, Default)]
pub struct BuildEnd {
    pub buildpack: Option<String>,
    pub process_types: Option<BTreeMap<String, String>>,
    /// The step that failed and why; `None` for success.
    pub failure: Option<String>,
    pub output: String,
}

/// One open connection. Cheap calls only: the async server reaches it through [`Store`].
pub struct Db {
    conn: Connection,
}

/// The version of the running release of app `$app` (an SQL expression): the newest release
/// that succeeded and has an image. The one rule for "current", here, in `paas releases` and
/// `apps info`, and for what the scheduler runs; failed releases are never current.
macro_rules! running_version {
    ($app:literal) => {
        concat!(
            "(SELECT MAX(version) FROM releases m WHERE m.app_id = ",
            $app,
            " AND m.status = 'succeeded' AND m.image IS NOT NULL)"
        )
    };
}

/// A release row's columns, for `Db::release_row`; `WHERE` narrows it to one app (`?1`).
macro_rules! release_query {
    () => {
        concat!(
            "SELECT r.version, r.description, r.status, r.build_id, r.image,
            r.process_types, r.config_vars, u.name, r.created_at,
            r.version IS ",
            running_version!("r.app_id"),
            ", r.failure",
            " FROM releases r JOIN users u ON u.id = r.user_id WHERE r.app_id = ?1"
        )
    };
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        // Config vars are secrets: the file (and SQLite's -wal and -shm, which copy its mode) is
        // readable by the server's user only.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| StoreError::Create {
                path: path.to_owned(),
                source,
            })?;
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(open_err)?;
        let mut db = Self { conn };
        db.migrate()?;
        Ok(db)
    }

    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)?;
        let applied: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = migrations::MIGRATIONS.len();
        if applied > known {
            return Err(StoreError::TooNew {
                found: applied,
                known,
            });
        }
        for (i, sql) in migrations::MIGRATIONS.iter().enumerate().skip(applied) {
            tx.execute_batch(sql)?;
            tracing::info!(version = i + 1, "applied database migration");
        }
        tx.pragma_update(None, "user_version", known)?;
        tx.commit()?;
        Ok(())
    }

    // ---- users and tokens ----

    pub fn user_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    /// Creates a user with its first API token.
    pub fn create_user(&mut self, name: &UserName, admin: bool, token: &NewToken) -> Result<User> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = new_id();
        let inserted = tx.execute(
            "INSERT INTO users (id, name, admin) VALUES (?1, ?2, ?3)",
            params![id, name.as_str(), admin],
        );
        if is_unique_violation(&inserted) {
            return Err(StoreError::AlreadyExists(format!("user \"{name}\"")));
        }
        inserted?;
        tx.execute(
            "INSERT INTO api_tokens (id, user_id, token_sha256) VALUES (?1, ?2, ?3)",
            params![token.id, id, token.sha256.as_slice()],
        )?;
        tx.commit()?;
        Ok(User {
            id,
            name: name.clone(),
            admin,
            token: None,
        })
    }

    /// A user from columns `id, name, admin`.
    fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
        Ok(User {
            id: r.get(0)?,
            name: parse(r, 1)?,
            admin: r.get(2)?,
            token: None,
        })
    }

    /// User `name`, if there is one.
    pub fn user_named(&self, name: &UserName) -> Result<Option<User>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, admin FROM users WHERE name = ?1",
                [name.as_str()],
                Self::user_row,
            )
            .optional()?)
    }

    /// Revokes every API token of the user (requests with them answer 401 from now on) and, with
    /// `new`, gives them that one instead. Returns how many were revoked.
    pub fn revoke_tokens(&mut self, user: &User, new: Option<&NewToken>) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let revoked = tx.execute("DELETE FROM api_tokens WHERE user_id = ?1", [&user.id])?;
        if let Some(token) = new {
            tx.execute(
                "INSERT INTO api_tokens (id, user_id, token_sha256) VALUES (?1, ?2, ?3)",
                params![token.id, user.id, token.sha256.as_slice()],
            )?;
        }
        tx.commit()?;
        Ok(revoked)
    }

    /// Deletes a user who owns no app: their tokens and SSH keys go at once; the user row goes
    /// too unless builds or releases they made name them (it then stays, with no way to log in,
    /// so that history keeps its author). A user who owns apps is left as is.
    pub fn delete_user(&mut self, user: &User) -> Result<UserDeletion> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let owned: Vec<AppName> = {
            let mut stmt = tx.prepare("SELECT name FROM apps WHERE owner_id = ?1 ORDER BY name")?;
            let rows = stmt.query_map([&user.id], |r| parse(r, 0))?;
            rows.collect::<Result<_, _>>()?
        };
        if !owned.is_empty() {
            return Ok(UserDeletion::OwnsApps(owned));
        }
        tx.execute("DELETE FROM api_tokens WHERE user_id = ?1", [&user.id])?;
        tx.execute("DELETE FROM ssh_keys WHERE user_id = ?1", [&user.id])?;
        tx.execute("DELETE FROM collaborators WHERE user_id = ?1", [&user.id])?;
        let history: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM builds WHERE user_id = ?1)
                 OR EXISTS (SELECT 1 FROM releases WHERE user_id = ?1)",
            [&user.id],
            |r| r.get(0),
        )?;
        if !history {
            tx.execute("DELETE FROM users WHERE id = ?1", [&user.id])?;
        }
        tx.commit()?;
        Ok(if history {
            UserDeletion::KeptForHistory
        } else {
            UserDeletion::Deleted
        })
    }

    pub fn account(&self, user_id: &str) -> Result<Account> {
        Ok(self.conn.query_row(
            "SELECT id, name, admin, created_at FROM users WHERE id = ?1",
            [user_id],
            |r| {
                Ok(Account {
                    id: r.get(0)?,
                    name: parse(r, 1)?,
                    admin: r.get(2)?,
                    created_at: r.get(3)?,
                    token: None,
                })
            },
        )?)
    }

    // ---- SSH keys ----

    pub fn keys(&self, user_id: &str) -> Result<Vec<SshKey>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT fingerprint, algorithm, comment, public_key, created_at
             FROM ssh_keys WHERE user_id = ?1 ORDER BY created_at, fingerprint",
        )?;
        let rows = stmt.query_map([user_id], |r| {
            Ok(SshKey {
                fingerprint: r.get(0)?,
                algorithm: r.get(1)?,
                comment: r.get(2)?,
                public_key: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn add_key(&mut self, user_id: &str, key: &PublicKey) -> Result<SshKey> {
        let inserted = self.conn.execute(
            "INSERT INTO ssh_keys (fingerprint, user_id, algorithm, public_key, comment)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                key.fingerprint,
                user_id,
                key.algorithm,
                key.openssh,
                key.comment
            ],
        );
        if is_unique_violation(&inserted) {
            return Err(StoreError::AlreadyExists(format!(
                "key {}",
                key.fingerprint
            )));
        }
        inserted?;
        Ok(self.conn.query_row(
            "SELECT created_at FROM ssh_keys WHERE fingerprint = ?1",
            [&key.fingerprint],
            |r| {
                Ok(SshKey {
                    fingerprint: key.fingerprint.clone(),
                    algorithm: key.algorithm.clone(),
                    comment: key.comment.clone(),
                    public_key: key.openssh.clone(),
                    created_at: r.get(0)?,
                })
            },
        )?)
    }

    /// The user an SSH key belongs to.
    pub fn key_owner(&self, fingerprint: &str) -> Result<Option<User>> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.id, u.name, u.admin FROM ssh_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.fingerprint = ?1",
                [fingerprint],
                Self::user_row,
            )
            .optional()?)
    }

    /// Removes one of the user's keys; false when the user has no such key.
    pub fn remove_key(&mut self, user_id: &str, fingerprint: &str) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM ssh_keys WHERE user_id = ?1 AND fingerprint = ?2",
            params![user_id, fingerprint],
        )?;
        Ok(n == 1)
    }

    // ---- apps ----

    const APP_COLUMNS: &str = concat!(
        "a.id, a.name, u.name, a.created_at, a.updated_at, a.stack, ",
        running_version!("a.id")
    );

    fn app_row(r: &Row<'_>) -> rusqlite::Result<AppRecord> {
        Ok(AppRecord {
            id: r.get(0)?,
            name: parse(r, 1)?,
            owner: parse(r, 2)?,
            created_at: r.get(3)?,
            updated_at: r.get(4)?,
            stack: r.get(5)?,
            release: r.get(6)?,
        })
    }

    /// A new app of `owner`'s on `stack` (the server's default stack when it was made).
    pub fn create_app(
        &mut self,
        owner: &User,
        name: &AppName,
        stack: Option<&str>,
    ) -> Result<AppRecord> {
        let id = new_id();
        let inserted = self.conn.execute(
            "INSERT INTO apps (id, name, owner_id, stack) VALUES (?1, ?2, ?3, ?4)",
            params![id, name.as_str(), owner.id, stack],
        );
        if is_unique_violation(&inserted) {
            return Err(StoreError::AlreadyExists(format!("app \"{name}\"")));
        }
        inserted?;
        self.app_by_id(&id)
    }

    pub fn app_by_id(&self, id: &str) -> Result<AppRecord> {
        Ok(self.conn.query_row(
            &format!(
                "SELECT {} FROM apps a JOIN users u ON u.id = a.owner_id WHERE a.id = ?1",
                Self::APP_COLUMNS
            ),
            [id],
            Self::app_row,
        )?)
    }

    /// The apps `user` may see (their own, those they collaborate on, all for an admin, the one
    /// app of a token limited to one), by name, with what the request may do on each.
    pub fn apps(&self, user: &User) -> Result<Vec<(AppRecord, Role)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {}, {} {} ORDER BY a.name",
            Self::APP_COLUMNS,
            Self::ROLE_COLUMN,
            Self::VISIBLE_APPS
        ))?;
        let rows = stmt.query_map(params![user.id, user.admin], Self::app_and_role)?;
        let mut apps = Vec::new();
        for row in rows {
            let (app, had) = row?;
            if let Some(role) = user.role_on(&app.id, Some(had)) {
                apps.push((app, role));
            }
        }
        Ok(apps)
    }

    /// Every app on the server.
    pub fn all_apps(&self) -> Result<Vec<AppRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM apps a JOIN users u ON u.id = a.owner_id ORDER BY a.name",
            Self::APP_COLUMNS
        ))?;
        let rows = stmt.query_map([], Self::app_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// App `name`, if it exists and `user` may see it.
    pub fn app(&self, user: &User, name: &AppName) -> Result<Option<AppRecord>> {
        Ok(self.app_role(user, name)?.map(|(app, _)| app))
    }

    /// App `name` and what `user`'s request may do on it, if it may see it.
    pub fn app_role(&self, user: &User, name: &AppName) -> Result<Option<(AppRecord, Role)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {}, {} {} AND a.name = ?3",
            Self::APP_COLUMNS,
            Self::ROLE_COLUMN,
            Self::VISIBLE_APPS
        ))?;
        let found = stmt
            .query_row(
                params![user.id, user.admin, name.as_str()],
                Self::app_and_role,
            )
            .optional()?;
        Ok(found.and_then(|(app, had)| Some((app.clone(), user.role_on(&app.id, Some(had))?))))
    }

    /// The user's role on each app (after [`Self::APP_COLUMNS`]): `admin` for the owner and the
    /// server's admins (`?2`), else their collaborator role.
    const ROLE_COLUMN: &str = "CASE WHEN ?2 OR a.owner_id = ?1 THEN 'admin' ELSE c.role END";

    /// The apps user `?1` (a server admin if `?2`) may see.
    const VISIBLE_APPS: &str = "FROM apps a JOIN users u ON u.id = a.owner_id
         LEFT JOIN collaborators c ON c.app_id = a.id AND c.user_id = ?1
         WHERE (?2 OR a.owner_id = ?1 OR c.role IS NOT NULL)";

    fn app_and_role(r: &Row<'_>) -> rusqlite::Result<(AppRecord, Role)> {
        Ok((Self::app_row(r)?, parse(r, 7)?))
    }

    /// Puts every app that has no stack of its own (made before stacks had names, or while the
    /// server had none) on `stack`, so that moving the default later leaves them where they are.
    /// Returns how many there were.
    pub fn assign_default_stack(&mut self, stack: &str) -> Result<usize> {
        Ok(self
            .conn
            .execute("UPDATE apps SET stack = ?1 WHERE stack IS NULL", [stack])?)
    }

    /// Puts the app on `stack` from its next build.
    pub fn set_app_stack(&mut self, app_id: &str, stack: &str) -> Result<AppRecord> {
        self.conn.execute(
            "UPDATE apps SET stack = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ?1",
            params![app_id, stack],
        )?;
        self.app_by_id(app_id)
    }

    pub fn rename_app(&mut self, app_id: &str, new_name: &AppName) -> Result<AppRecord> {
        let updated = self.conn.execute(
            "UPDATE apps SET name = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ?1",
            params![app_id, new_name.as_str()],
        );
        if is_unique_violation(&updated) {
            return Err(StoreError::AlreadyExists(format!("app \"{new_name}\"")));
        }
        updated?;
        self.app_by_id(app_id)
    }

    /// Deletes the app with its config, builds, releases and formation.
    pub fn delete_app(&mut self, app_id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM apps WHERE id = ?1", [app_id])?;
        Ok(())
    }

    // ---- config vars and releases ----

    pub fn config_vars(&self, app_id: &str) -> Result<ConfigVars> {
        read_config(&self.conn, app_id)
    }

    /// Applies `patch` to the app's config and records one release with the new snapshot, on the
    /// running release's build (never on a failed one), in one transaction.
    pub fn update_config(
        &mut self,
        app_id: &str,
        user: &User,
        patch: &ConfigPatch,
        description: &str,
        idempotency: Option<&Idempotency>,
    ) -> Result<Release> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = patch_config(&tx, app_id, user, patch, description, idempotency)?;
        tx.commit()?;
        self.release(app_id, version)?
            .ok_or_else(|| rusqlite::Error::QueryReturnedNoRows.into())
    }

    /// The release a request with this `Idempotency-Key` made, with the digest of that request.
    pub fn release_for_key(&self, app_id: &str, key: &str) -> Result<Option<(Release, String)>> {
        let version: Option<(u32, String)> = self
            .conn
            .query_row(
                "SELECT version, request_digest FROM releases
                 WHERE app_id = ?1 AND idempotency_key = ?2",
                params![app_id, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((version, digest)) = version else {
            return Ok(None);
        };
        Ok(self.release(app_id, version)?.map(|r| (r, digest)))
    }

    /// Records a new release copying `from`'s build and config vars, and makes that config the
    /// app's current config (DESIGN §3.4 rollback: no rebuild).
    pub fn copy_release(
        &mut self,
        app_id: &str,
        user: &User,
        from: &Release,
        description: &str,
        idempotency: Option<&Idempotency>,
    ) -> Result<Release> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        replace_config(&tx, app_id, &from.config_vars)?;
        let release = NewRelease {
            build_id: from.build_id.clone(),
            image: from.image.clone(),
            process_types: from.process_types.clone(),
            description: description.to_owned(),
        };
        let version = insert_release(&tx, app_id, user, &release, idempotency)?;
        tx.commit()?;
        self.release(app_id, version)?
            .ok_or_else(|| rusqlite::Error::QueryReturnedNoRows.into())
    }

    /// Records a release of a new build with the app's current config.
    pub fn create_release(
        &mut self,
        app_id: &str,
        user: &User,
        release: &NewRelease,
    ) -> Result<Release> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = insert_release(&tx, app_id, user, release, None)?;
        tx.commit()?;
        self.release(app_id, version)?
            .ok_or_else(|| rusqlite::Error::QueryReturnedNoRows.into())
    }

    const RELEASE_QUERY: &str = release_query!();
    /// The release that should be running: the newest that succeeded and has an image.
    const RUNNING_RELEASE_QUERY: &str = concat!(
        release_query!(),
        " AND r.version = ",
        running_version!("r.app_id")
    );

    fn release_row(r: &Row<'_>) -> rusqlite::Result<Release> {
        Ok(Release {
            version: r.get(0)?,
            description: r.get(1)?,
            status: parse_status(r, 2)?,
            build_id: r.get(3)?,
            image: r.get(4)?,
            process_types: parse_json(r, 5)?,
            config_vars: parse_json(r, 6)?,
            user: parse(r, 7)?,
            created_at: r.get(8)?,
            current: r.get(9)?,
            failure: r.get(10)?,
        })
    }

    /// The app's releases, newest first.
    pub fn releases(&self, app_id: &str) -> Result<Vec<Release>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{} ORDER BY r.version DESC", Self::RELEASE_QUERY))?;
        let rows = stmt.query_map([app_id], Self::release_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn release(&self, app_id: &str, version: u32) -> Result<Option<Release>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{} AND r.version = ?2", Self::RELEASE_QUERY))?;
        Ok(stmt
            .query_row(params![app_id, version], Self::release_row)
            .optional()?)
    }

    /// What should run: each app's newest succeeded release that has an image, with its formation.
    pub fn deployments(&self) -> Result<Vec<crate::scheduler::Deployment>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM apps ORDER BY name")?;
        let apps: Vec<crate::app::AppRef> = stmt
            .query_map([], |r| {
                Ok(crate::app::AppRef {
                    id: r.get(0)?,
                    name: parse(r, 1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut deployments = Vec::new();
        for app in apps {
            let Some(release) = self.running_release(&app.id)? else {
                continue;
            };
            let formation = self.formation(&app.id)?;
            deployments.extend(crate::scheduler::Deployment::of(&app, &release, &formation));
        }
        Ok(deployments)
    }

    /// The release that should be running: the newest that succeeded and has an image.
    pub fn running_release(&self, app_id: &str) -> Result<Option<Release>> {
        let mut stmt = self.conn.prepare_cached(Self::RUNNING_RELEASE_QUERY)?;
        Ok(stmt.query_row([app_id], Self::release_row).optional()?)
    }

    /// Moves release `version` to `deploying` or `succeeded` (see [`Db::fail_release`] for
    /// `failed`).
    pub fn set_release_status(
        &mut self,
        app_id: &str,
        version: u32,
        status: ReleaseStatus,
    ) -> Result<()> {
        debug_assert!(status != ReleaseStatus::Failed, "use fail_release");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE releases SET status = ?3 WHERE app_id = ?1 AND version = ?2",
            params![app_id, version, status.as_str()],
        )?;
        // The release that runs now decides which types have counts: those it dropped go (and
        // `release`, which is never a dyno type). An older release marked succeeded as superseded
        // does not run, and changes nothing.
        if status == ReleaseStatus::Succeeded {
            tx.execute(
                concat!(
                    "DELETE FROM formation WHERE app_id = ?1 AND (process_type = 'release' OR (",
                    "?2 = ",
                    running_version!("?1"),
                    " AND EXISTS (SELECT 1 FROM releases WHERE app_id = ?1 AND version = ?2 ",
                    "AND build_id IS NOT NULL)",
                    " AND process_type NOT IN (SELECT key FROM json_each((",
                    "SELECT process_types FROM releases WHERE app_id = ?1 AND version = ?2)))))"
                ),
                params![app_id, version],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores what release `version`'s release phase printed.
    pub fn set_release_output(&mut self, app_id: &str, version: u32, output: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE releases SET release_output = ?3 WHERE app_id = ?1 AND version = ?2",
            params![app_id, version, output],
        )?;
        Ok(())
    }

    /// What release `version`'s release phase printed; `None` if there is no such release.
    pub fn release_output(&self, app_id: &str, version: u32) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT release_output FROM releases WHERE app_id = ?1 AND version = ?2",
                params![app_id, version],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Marks release `version` failed with `reason` and, when it is the app's newest release,
    /// makes the config of the release still running the app's current config again: after a
    /// failed deploy, what `paas config` shows is what runs. (A canary aborted because a newer
    /// release replaced it leaves that release's config.)
    pub fn fail_release(&mut self, app_id: &str, version: u32, reason: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        fail_release(&tx, app_id, version, reason)?;
        tx.commit()?;
        Ok(())
    }

    /// Marks every release a stopped server left `pending` or `deploying` failed, with `reason`
    /// (each app's config becomes its running release's again), canaries' included (they are
    /// forgotten). Returns them as (app id,
    /// version). Run at start, before anything is deployed.
    pub fn fail_unfinished_releases(&mut self, reason: &str) -> Result<Vec<(String, u32)>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let unfinished: Vec<(String, u32)> = tx
            .prepare(
                "SELECT app_id, version FROM releases WHERE status IN ('pending', 'deploying')
                 ORDER BY app_id, version",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (app_id, version) in &unfinished {
            fail_release(&tx, app_id, *version, reason)?;
        }
        // A canary's release was among them: the canary is over (its dynos stopped with the
        // server), and its baseline serves every request again.
        tx.execute("DELETE FROM canaries", [])?;
        tx.commit()?;
        Ok(unfinished)
    }

    /// Builds that have ended (their working directories are no longer needed).
    pub fn finished_builds(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM builds WHERE status != 'pending'")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Image digests of each app's newest `keep` releases that have one.
    pub fn recent_images(&self, keep: usize) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT image FROM (
                 SELECT image, ROW_NUMBER() OVER (PARTITION BY app_id ORDER BY version DESC) AS n
                 FROM releases WHERE image IS NOT NULL)
             WHERE n <= ?1",
        )?;
        let rows = stmt.query_map([keep], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- formation ----

    /// The formation with each type's command from the running release.
    pub fn formation(&self, app_id: &str) -> Result<Vec<Formation>> {
        let commands = self
            .running_release(app_id)?
            .map(|r| r.process_types)
            .unwrap_or_default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT process_type, quantity FROM formation WHERE app_id = ?1 ORDER BY process_type",
        )?;
        let rows = stmt.query_map([app_id], |r| {
            let process_type: String = r.get(0)?;
            let command = commands.get(&process_type).cloned().unwrap_or_default();
            Ok(Formation {
                process_type,
                quantity: r.get(1)?,
                command,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets the counts of the named process types; the caller has checked them against the release.
    pub fn update_formation(
        &mut self,
        app_id: &str,
        counts: &BTreeMap<String, u32>,
    ) -> Result<Vec<Formation>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (process_type, quantity) in counts {
            tx.execute(
                "INSERT INTO formation (app_id, process_type, quantity) VALUES (?1, ?2, ?3)
                 ON CONFLICT (app_id, process_type) DO UPDATE SET quantity = excluded.quantity",
                params![app_id, process_type, quantity],
            )?;
        }
        tx.commit()?;
        self.formation(app_id)
    }

    // ---- builds ----

    /// Records a pending build of `commit`.
    pub fn create_build(&mut self, app_id: &str, user: &User, commit: &str) -> Result<String> {
        let id = new_id();
        self.conn.execute(
            "INSERT INTO builds (id, app_id, user_id, status, source_version)
             VALUES (?1, ?2, ?3, 'pending', ?4)",
            params![id, app_id, user.id, commit],
        )?;
        Ok(id)
    }

    /// Records how a build ended.
    pub fn finish_build(&mut self, id: &str, end: &BuildEnd) -> Result<()> {
        let status = if end.failure.is_none() {
            "succeeded"
        } else {
            "failed"
        };
        self.conn.execute(
            "UPDATE builds SET status = ?2, buildpack = ?3, process_types = ?4, failure = ?5,
                 output = ?6, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ?1",
            params![
                id,
                status,
                end.buildpack,
                end.process_types.as_ref().map(to_json),
                end.failure,
                end.output
            ],
        )?;
        Ok(())
    }

    /// Marks builds still pending as failed: at start, none of them can be running.
    pub fn fail_unfinished_builds(&mut self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "UPDATE builds SET status = 'failed', failure = 'interrupted: the server stopped during the build',
                 finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE status = 'pending' RETURNING id",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    const BUILD_QUERY: &str =
        "SELECT b.id, b.status, b.source_version, b.buildpack, b.process_types,
            b.failure, u.name, b.created_at, b.finished_at,
            CAST(ROUND((julianday(COALESCE(b.finished_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
                        - julianday(b.created_at)) * 86400000) AS INTEGER)
        FROM builds b JOIN users u ON u.id = b.user_id WHERE b.app_id = ?1";

    fn build_row(r: &Row<'_>) -> rusqlite::Result<Build> {
        Ok(Build {
            id: r.get(0)?,
            status: parse_status(r, 1)?,
            commit: r.get(2)?,
            buildpack: r.get(3)?,
            process_types: r
                .get::<_, Option<String>>(4)?
                .map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| conversion_error(4, e))?,
            failure: r.get(5)?,
            user: parse(r, 6)?,
            started_at: r.get(7)?,
            finished_at: r.get(8)?,
            duration_ms: r
                .get::<_, Option<i64>>(9)?
                .and_then(|d| u64::try_from(d).ok()),
        })
    }

    /// The app's builds, newest first.
    pub fn builds(&self, app_id: &str) -> Result<Vec<Build>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{} ORDER BY b.created_at DESC, b.rowid DESC",
            Self::BUILD_QUERY
        ))?;
        let rows = stmt.query_map([app_id], Self::build_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn build(&self, app_id: &str, id: &str) -> Result<Option<Build>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{} AND b.id = ?2", Self::BUILD_QUERY))?;
        Ok(stmt
            .query_row(params![app_id, id], Self::build_row)
            .optional()?)
    }

    pub fn build_output(&self, app_id: &str, id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT output FROM builds WHERE app_id = ?1 AND id = ?2",
                params![app_id, id],
                |r| r.get(0),
            )
            .optional()?)
    }
}

/// Inserts release v(N+1) of the app with its current config and keeps the formation in step
/// with the release's process types: new types start at 0 (`web` at 1), counts of kept types stay,
/// types the release lacks are dropped (DESIGN §3.4).
/// Makes `vars` the app's whole config.
fn replace_config(
    tx: &rusqlite::Transaction<'_>,
    app_id: &str,
    vars: &BTreeMap<String, String>,
) -> Result<()> {
    tx.execute("DELETE FROM config_vars WHERE app_id = ?1", [app_id])?;
    for (key, value) in vars {
        tx.execute(
            "INSERT INTO config_vars (app_id, key, value) VALUES (?1, ?2, ?3)",
            params![app_id, key, value],
        )?;
    }
    Ok(())
}

fn fail_release(
    tx: &rusqlite::Transaction<'_>,
    app_id: &str,
    version: u32,
    reason: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE releases SET status = 'failed', failure = ?3 WHERE app_id = ?1 AND version = ?2",
        params![app_id, version, reason],
    )?;
    // The app's config is its newest release's: when a newer one was recorded (a release that
    // replaced a canary), it stays; else it is the running release's again.
    let newest: u32 = tx.query_row(
        "SELECT MAX(version) FROM releases WHERE app_id = ?1",
        [app_id],
        |r| r.get(0),
    )?;
    if newest > version {
        return Ok(());
    }
    let running = tx
        .prepare_cached(Db::RUNNING_RELEASE_QUERY)?
        .query_row([app_id], Db::release_row)
        .optional()?;
    if let Some(running) = running {
        replace_config(tx, app_id, &running.config_vars)?;
    }
    Ok(())
}

/// Applies `patch` to the app's config and records one release with the new snapshot, on the
/// running release's build, inside `tx`; returns its version.
fn patch_config(
    tx: &rusqlite::Transaction<'_>,
    app_id: &str,
    user: &User,
    patch: &ConfigPatch,
    description: &str,
    idempotency: Option<&Idempotency>,
) -> Result<u32> {
    for (key, value) in patch {
        match value {
            Some(value) => tx.execute(
                "INSERT INTO config_vars (app_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (app_id, key) DO UPDATE SET value = excluded.value",
                params![app_id, key, value],
            )?,
            None => tx.execute(
                "DELETE FROM config_vars WHERE app_id = ?1 AND key = ?2",
                params![app_id, key],
            )?,
        };
    }
    let total: i64 = tx.query_row(
        "SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0)
         FROM config_vars WHERE app_id = ?1",
        [app_id],
        |r| r.get(0),
    )?;
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    if total > MAX_CONFIG_TOTAL_BYTES {
        // Dropping the transaction rolls the patch back.
        return Err(StoreError::ConfigTooLarge(total));
    }
    let base = tx
        .prepare_cached(Db::RUNNING_RELEASE_QUERY)?
        .query_row([app_id], Db::release_row)
        .optional()?;
    let release = NewRelease {
        build_id: base.as_ref().and_then(|r| r.build_id.clone()),
        image: base.as_ref().and_then(|r| r.image.clone()),
        process_types: base.map(|r| r.process_types).unwrap_or_default(),
        description: description.to_owned(),
    };
    insert_release(tx, app_id, user, &release, idempotency)
}

fn insert_release(
    tx: &rusqlite::Transaction<'_>,
    app_id: &str,
    user: &User,
    release: &NewRelease,
    idempotency: Option<&Idempotency>,
) -> Result<u32> {
    let config = read_config(tx, app_id)?;
    let version: u32 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE app_id = ?1",
        [app_id],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO releases (app_id, version, build_id, image, process_types, config_vars,
                               description, status, user_id, idempotency_key, request_digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            app_id,
            version,
            release.build_id,
            release.image,
            to_json(&release.process_types),
            to_json(&config),
            release.description,
            ReleaseStatus::Pending.as_str(),
            user.id,
            idempotency.map(|i| &i.key),
            idempotency.map(|i| &i.digest),
        ],
    )?;
    if release.build_id.is_some() {
        // New types get a count (web 1, others 0) for the release's deploy; types it drops keep
        // theirs until it runs (`set_release_status`): a release that fails changes no count.
        // `release` is the release phase's command: it runs once per release, never as dynos.
        let types = to_json(&release.process_types);
        tx.execute(
            "INSERT OR IGNORE INTO formation (app_id, process_type, quantity)
             SELECT ?1, key, key = 'web' FROM json_each(?2) WHERE key != 'release'",
            params![app_id, types],
        )?;
    }
    tx.execute(
        "UPDATE apps SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        [app_id],
    )?;
    Ok(version)
}

fn read_config(conn: &Connection, app_id: &str) -> Result<ConfigVars> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM config_vars WHERE app_id = ?1")?;
    let rows = stmt.query_map([app_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The async server's handle: one connection behind a mutex, used from blocking threads.
#[derive(Clone)]
pub struct Store {
    db: Arc<Mutex<Db>>,
}

impl Store {
    pub fn new(db: Db) -> Self {
        Self {
            db: Arc::new(Mutex::new(db)),
        }
    }

    /// Runs `f` with the database on a blocking thread. Everything `f` does happens under one lock,
    /// so a read followed by a write in the same call sees no other change in between.
    pub async fn call<T, E>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            // A panic inside `f` poisons the lock but cannot leave a transaction half-applied:
            // an uncommitted rusqlite transaction rolls back on drop.
            let mut db = db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut db)
        })
        .await
        .unwrap_or_else(|join_err| std::panic::resume_unwind(join_err.into_panic()))
    }

    /// Appends `entry` to the audit log. A failure to (a full disk) is logged, not returned: the
    /// change it records has happened.
    pub async fn audit(&self, entry: AuditRecord) {
        let action = entry.action.clone();
        if let Err(e) = self.call(move |db| db.record_audit(&entry)).await {
            tracing::error!(error = %anyhow::Error::from(e), %action, "cannot append to the audit log");
        }
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn is_unique_violation<T>(result: &rusqlite::Result<T>) -> bool {
    matches!(
        result,
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("maps of strings always serialize")
}

fn conversion_error(
    idx: usize,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
}

fn parse<T: FromStr<Err: std::error::Error + Send + Sync + 'static>>(
    r: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    r.get::<_, String>(idx)?
        .parse()
        .map_err(|e| conversion_error(idx, e))
}

fn parse_json<T: serde::de::DeserializeOwned>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    serde_json::from_str(&r.get::<_, String>(idx)?).map_err(|e| conversion_error(idx, e))
}

fn parse_status(r: &Row<'_>, idx: usize) -> rusqlite::Result<ReleaseStatus> {
    serde_json::from_value(serde_json::Value::String(r.get(idx)?))
        .map_err(|e| conversion_error(idx, e))
}

#[cfg(test)]
mod tests {
    use super::Db;
    use paas_share::AppName;

    /// A fresh store with user alice and her app demo (and the directory holding it).
    pub(super) fn demo_app() -> (tempfile::TempDir, Db, super::User, super::AppRecord) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut db = Db::open(&dir.path().join("paas.db")).expect("open");
        let owner = db
            .create_user(
                &paas_share::UserName::parse("alice").expect("a name"),
                false,
                &crate::token::generate(),
            )
            .expect("user");
        let app = db
            .create_app(&owner, &AppName::parse("demo").expect("a name"), None)
            .expect("app");
        (dir, db, owner, app)
    }

    #[test]
    fn releases_are_immutable_in_the_database() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("paas.db");
        drop(Db::open(&path).expect("open"));
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(
            "INSERT INTO users (id, name) VALUES ('u', 'u');
             INSERT INTO apps (id, name, owner_id) VALUES ('a', 'a', 'u');
             INSERT INTO releases (app_id, version, process_types, config_vars, description, status, user_id)
             VALUES ('a', 1, '{}', '{}', 'x', 'succeeded', 'u');",
        )
        .expect("seed");
        let err = conn
            .execute("UPDATE releases SET description = 'changed'", [])
            .expect_err("immutable");
        assert!(err.to_string().contains("releases are immutable"), "{err}");
        conn.execute("UPDATE releases SET status = 'failed'", [])
            .expect("status may move");
    }

    /// A release that drops a type changes the formation only once it runs: one that fails keeps
    /// every count (the worker that runs keeps running at the next deploy).
    #[test]
    fn a_failed_release_keeps_the_formation_and_one_that_runs_drops_its_old_types() {
        use paas_share::models::ReleaseStatus;
        let (_dir, mut db, owner, app) = demo_app();
        let release = |db: &mut Db, types: &[&str]| {
            let build = db.create_build(&app.id, &owner, "abc").expect("build");
            let new = super::NewRelease {
                build_id: Some(build),
                image: Some("sha256:0".to_owned()),
                process_types: types
                    .iter()
                    .map(|t| ((*t).to_owned(), "run".to_owned()))
                    .collect(),
                description: "Deploy".to_owned(),
            };
            db.create_release(&app.id, &owner, &new)
                .expect("release")
                .version
        };
        let counts = |db: &Db| -> Vec<(String, u32)> {
            db.formation(&app.id)
                .expect("formation")
                .into_iter()
                .map(|f| (f.process_type, f.quantity))
                .collect()
        };
        let v1 = release(&mut db, &["web", "worker"]);
        db.set_release_status(&app.id, v1, ReleaseStatus::Succeeded)
            .expect("runs");
        db.update_formation(&app.id, &[("worker".to_owned(), 2)].into())
            .expect("scale");
        let v2 = release(&mut db, &["web", "release"]);
        db.fail_release(&app.id, v2, "release phase: exit 1")
            .expect("fails");
        assert_eq!(
            counts(&db),
            [("web".to_owned(), 1), ("worker".to_owned(), 2)],
            "a failed release changes no count"
        );
        let v3 = release(&mut db, &["web", "clock"]);
        db.set_release_status(&app.id, v3, ReleaseStatus::Succeeded)
            .expect("runs");
        assert_eq!(
            counts(&db),
            [("clock".to_owned(), 0), ("web".to_owned(), 1)],
            "the running release's types"
        );
    }

    #[test]
    fn a_full_disk_is_its_own_error_and_changes_nothing() {
        let (_dir, mut db, owner, app) = demo_app();
        // SQLite's own limit on the file's size: the next page it needs fails as on a full disk.
        let pages: i64 = db
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .expect("page count");
        db.conn
            .execute_batch(&format!("PRAGMA max_page_count = {pages}"))
            .expect("limit");
        let big = std::iter::once(("A".to_owned(), Some("x".repeat(32 * 1024)))).collect();
        let err = db
            .update_config(&app.id, &owner, &big, "Set A", None)
            .expect_err("no room");
        assert!(matches!(err, super::StoreError::DiskFull), "{err:?}");
        assert!(db.config_vars(&app.id).expect("read").is_empty());
    }
}
