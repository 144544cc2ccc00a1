//! PostgreSQL 15 (Debian's `postgresql-15`): one cluster per add-on in its volume, SCRAM
//! passwords, the app's own non-superuser role owning its database (as Heroku Postgres gives),
//! `pg_dump` custom-format backups restored with `pg_restore` in one transaction.

use std::collections::BTreeMap;

use super::provider::{Provider, Secrets};

pub struct Postgres;

/// Once per volume (a marker says it is made; a cut-short one is made again from scratch): initdb
/// with the admin password (from a 0600 file on the container's tmpfs, never an argument), TCP
/// logins by password from any address (a pod's clients are other pods; locally the server
/// listens on loopback only; a volume made before this line gets it at its next start), then
/// the app's role and database, made over the unix socket on a server that listens on no TCP
/// port yet. psql reads the names and password from the environment (`\getenv`), so none of them
/// is in a command line.
const INIT: &str = r#"set -eu
umask 077
made=/var/lib/paas-service/.paas-made
data=/var/lib/paas-service/data
hba='host all all all scram-sha-256'
if [ -e "$made" ]; then
  grep -qxF "$hba" "$data/pg_hba.conf" || printf '%s\n' "$hba" >> "$data/pg_hba.conf"
  exit 0
fi
rm -rf "$data"
printf '%s\n' "$PAAS_ADMIN_PASSWORD" > /tmp/admin-password
initdb --pgdata="$data" --username=postgres --pwfile=/tmp/admin-password \
  --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 > /dev/null
rm /tmp/admin-password
printf '%s\n' "$hba" >> "$data/pg_hba.conf"
pg_ctl --pgdata="$data" --options="-c listen_addresses= -k /tmp" --wait --silent start
export PGPASSWORD="$PAAS_ADMIN_PASSWORD"
psql --quiet --no-psqlrc --host=/tmp --username=postgres --dbname=postgres \
  --set=ON_ERROR_STOP=1 <<'SQL'
\getenv user PAAS_USER
\getenv password PAAS_PASSWORD
\getenv database PAAS_DATABASE
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"user";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"user";
SQL
pg_ctl --pgdata="$data" --mode=fast --wait --silent stop
touch "$made"
echo "PostgreSQL cluster made"
"#;

/// The server on `$PAAS_LISTEN` only (the host's loopback, or every address of its pod); SIGTERM
/// becomes PostgreSQL's fast shutdown (SIGINT: clients
/// are disconnected and the data written), where its own SIGTERM would wait for every client.
const SERVICE: &str = r#"postgres -D /var/lib/paas-service/data -p "$PAAS_PORT" \
  -c listen_addresses="$PAAS_LISTEN" -k /tmp -c log_line_prefix= &
pid=$!
trap 'kill -INT $pid' TERM INT
status=0
while kill -0 $pid 2>/dev/null; do wait $pid || status=$?; done
exit $status
"#;

const ROTATE: &str = r#"set -eu
export PGPASSWORD="$PAAS_OLD_ADMIN_PASSWORD"
psql --quiet --no-psqlrc --host="$PAAS_HOST" --port="$PAAS_PORT" --username=postgres \
  --dbname=postgres --set=ON_ERROR_STOP=1 <<'SQL'
\getenv user PAAS_USER
\getenv password PAAS_PASSWORD
\getenv admin_password PAAS_ADMIN_PASSWORD
ALTER ROLE :"user" PASSWORD :'password';
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :'user';
ALTER ROLE postgres PASSWORD :'admin_password';
SQL
echo "Credentials rotated"
"#;

/// Written beside the target and renamed into place once complete: a backup cut short leaves
/// no file that looks whole.
const BACKUP: &str = r#"set -eu
export PGPASSWORD="$PAAS_ADMIN_PASSWORD"
pg_dump --host="$PAAS_HOST" --port="$PAAS_PORT" --username=postgres --format=custom \
  --no-owner --file="$PAAS_BACKUP.partial" "$PAAS_DATABASE"
mv "$PAAS_BACKUP.partial" "$PAAS_BACKUP"
"#;

/// Into the same database, replacing what the backup has, in one transaction (all or nothing),
/// with the app's role owning what it makes. It waits for the locks the app's open transactions
/// hold (pg_restore sets its own `lock_timeout` to 0, so none can be set for it).
const RESTORE: &str = r#"set -eu
export PGPASSWORD="$PAAS_ADMIN_PASSWORD"
pg_restore --host="$PAAS_HOST" --port="$PAAS_PORT" --username=postgres --dbname="$PAAS_DATABASE" \
  --clean --if-exists --no-owner --role="$PAAS_USER" --single-transaction --exit-on-error \
  "$PAAS_BACKUP"
echo "Restored"
"#;

impl Provider for Postgres {
    fn kind(&self) -> &'static str {
        "postgresql"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["postgres", "heroku-postgresql", "pg"]
    }

    fn plan(&self) -> &'static str {
        "postgresql 15"
    }

    fn default_attachment(&self) -> &'static str {
        "DATABASE"
    }

    fn attachment_prefix(&self) -> &'static str {
        "HEROKU_POSTGRESQL"
    }

    fn init(&self) -> Option<&'static str> {
        Some(INIT)
    }

    fn service(&self) -> &'static str {
        SERVICE
    }

    fn readiness(&self) -> crate::scheduler::ServiceReadiness {
        crate::scheduler::ServiceReadiness::Postgres
    }

    fn url(&self, secrets: &Secrets, host: &str, port: u16) -> String {
        format!(
            "postgres://{}:{}@{host}:{port}/{}",
            secrets.user, secrets.password, secrets.database
        )
    }

    fn rotate(&self) -> Option<&'static str> {
        Some(ROTATE)
    }

    fn backup(&self) -> Option<(&'static str, &'static str)> {
        Some((BACKUP, RESTORE))
    }

    fn client(
        &self,
        secrets: &Secrets,
        host: &str,
        port: u16,
    ) -> (&'static str, BTreeMap<String, String>) {
        // libpq's own variables; the history goes to the dyno's /tmp (the image's /app is not
        // the session's to write).
        let env = super::provider::vars([
            ("PGHOST", host.to_owned()),
            ("PGPORT", port.to_string()),
            ("PGUSER", secrets.user.clone()),
            ("PGPASSWORD", secrets.password.clone()),
            ("PGDATABASE", secrets.database.clone()),
            ("PSQL_HISTORY", "/tmp/.psql_history".to_owned()),
        ]);
        ("exec psql", env)
    }
}
