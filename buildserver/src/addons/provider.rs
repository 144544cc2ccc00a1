//! What a kind of add-on is: one [`Provider`] per kind, data and shell scripts run in containers
//! of the services image. Adding a kind (MySQL, say) means one module with its `Provider`, its
//! packages in `buildpacks/stacks/services.packages`, and a line in [`PROVIDERS`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every kind of add-on, in the order `paas addons:create --help` lists them.
pub const PROVIDERS: &[&dyn Provider] = &[&super::postgres::Postgres, &super::redis::Redis];

/// The provider for `kind` (or one of its aliases: `postgres`, `heroku-postgresql`).
pub fn provider(kind: &str) -> Option<&'static dyn Provider> {
    PROVIDERS
        .iter()
        .copied()
        .find(|p| p.kind() == kind || p.aliases().contains(&kind))
}

/// An add-on's credentials, kept in the store (0600), never logged: the app's user and password,
/// its database, and the service's admin password (backups, rotation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Secrets {
    pub user: String,
    pub password: String,
    pub database: String,
    pub admin_password: String,
}

impl Secrets {
    /// Fresh random credentials (names of 12 and passwords of 32 hex digits, from the OS).
    pub fn generate() -> Self {
        Self {
            user: format!("u{}", crate::token::random_hex(6)),
            password: crate::token::random_hex(16),
            database: format!("d{}", crate::token::random_hex(6)),
            admin_password: crate::token::random_hex(16),
        }
    }

    /// The same user and database with new passwords.
    pub fn rotated(&self) -> Self {
        Self {
            password: crate::token::random_hex(16),
            admin_password: crate::token::random_hex(16),
            ..self.clone()
        }
    }
}

/// The argv that runs a provider's script in a container of the services image. Scripts read
/// secrets from their environment, never from their own text or arguments (which `ps` shows).
pub fn script_args(script: &str) -> Vec<String> {
    vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()]
}

/// The environment every script of an add-on gets: where it is and its secrets, as `PAAS_*`.
pub fn task_env(secrets: &Secrets, host: &str, port: u16) -> BTreeMap<String, String> {
    vars([
        ("PAAS_HOST", host.to_owned()),
        ("PAAS_PORT", port.to_string()),
        ("PAAS_USER", secrets.user.clone()),
        ("PAAS_PASSWORD", secrets.password.clone()),
        ("PAAS_DATABASE", secrets.database.clone()),
        ("PAAS_ADMIN_PASSWORD", secrets.admin_password.clone()),
    ])
}

/// An environment from `(name, value)` pairs.
pub fn vars<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A kind of add-on.
pub trait Provider: Sync {
    /// `postgresql`
    fn kind(&self) -> &'static str;
    /// Other names `addons:create` takes: `postgres`, `heroku-postgresql`.
    fn aliases(&self) -> &'static [&'static str];
    /// `postgresql 15`
    fn plan(&self) -> &'static str;
    /// The attachment an app gets when it has none of this name yet: `DATABASE`.
    fn default_attachment(&self) -> &'static str;
    /// The prefix of further attachments' names (`HEROKU_POSTGRESQL` + `_AMBER`), as Heroku.
    fn attachment_prefix(&self) -> &'static str;
    /// Makes a fresh volume ready (`initdb`, the app's user and database), run before every
    /// start of the service and doing nothing once the volume is ready; None when the service
    /// starts from an empty volume by itself.
    fn init(&self) -> Option<&'static str>;
    /// The service, in the foreground, listening on `$PAAS_LISTEN:$PAAS_PORT` (the scheduler sets
    /// `PAAS_LISTEN`), stopping cleanly on SIGTERM. Tasks reach it at `$PAAS_HOST:$PAAS_PORT`.
    fn service(&self) -> &'static str;
    /// When the service counts as up.
    fn readiness(&self) -> crate::scheduler::ServiceReadiness {
        crate::scheduler::ServiceReadiness::Tcp
    }
    /// The URL an app gets (`postgres://user:password@127.0.0.1:5432/database`), for the service
    /// at `host:port`.
    fn url(&self, secrets: &Secrets, host: &str, port: u16) -> String;
    /// Changes the running service's passwords from `PAAS_OLD_*` to `PAAS_*`; None when a
    /// restart with the new secrets does it.
    fn rotate(&self) -> Option<&'static str>;
    /// Writes a backup of the running service to `$PAAS_BACKUP` and restores one from it:
    /// None for kinds without backups.
    fn backup(&self) -> Option<(&'static str, &'static str)>;
    /// The interactive client (`psql`, `redis-cli`) connected as the app: the command of a
    /// one-off dyno, and the environment that tells it where and who (the password in a
    /// variable the client reads, never in its arguments, which `ps` shows to every local user).
    fn client(
        &self,
        secrets: &Secrets,
        host: &str,
        port: u16,
    ) -> (&'static str, BTreeMap<String, String>);
}
