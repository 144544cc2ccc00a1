//! Redis 7 (Debian's `redis-server`): append-only persistence in the add-on's volume, a
//! password (`requirepass`), listening on `$PAAS_LISTEN` only.

use std::collections::BTreeMap;

use super::provider::{Provider, Secrets};

pub struct Redis;

/// The config, password included, goes to the container's own tmpfs (0600), never to an
/// argument; SIGTERM makes Redis write its data and exit.
const SERVICE: &str = r#"set -eu
umask 077
cat > /tmp/redis.conf <<CONF
port $PAAS_PORT
bind $PAAS_LISTEN
protected-mode yes
dir /var/lib/paas-service
appendonly yes
requirepass $PAAS_PASSWORD
CONF
exec redis-server /tmp/redis.conf
"#;

impl Provider for Redis {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["heroku-redis"]
    }

    fn plan(&self) -> &'static str {
        "redis 7"
    }

    fn default_attachment(&self) -> &'static str {
        "REDIS"
    }

    fn attachment_prefix(&self) -> &'static str {
        "HEROKU_REDIS"
    }

    fn init(&self) -> Option<&'static str> {
        None
    }

    fn service(&self) -> &'static str {
        SERVICE
    }

    fn url(&self, secrets: &Secrets, host: &str, port: u16) -> String {
        format!("redis://default:{}@{host}:{port}", secrets.password)
    }

    fn rotate(&self) -> Option<&'static str> {
        None
    }

    fn backup(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    fn client(
        &self,
        secrets: &Secrets,
        host: &str,
        port: u16,
    ) -> (&'static str, BTreeMap<String, String>) {
        // redis-cli reads the password from REDISCLI_AUTH.
        let env = super::provider::vars([
            ("PAAS_HOST", host.to_owned()),
            ("PAAS_PORT", port.to_string()),
            ("REDISCLI_AUTH", secrets.password.clone()),
        ]);
        (r#"exec redis-cli -h "$PAAS_HOST" -p "$PAAS_PORT""#, env)
    }
}
