//! The edge's tables: custom domains (with ACM's state for each), TLS certificates (chain and
//! private key) and each app's router settings.

use paas_share::models::RouterSettings;
use rusqlite::{OptionalExtension, Row, params};

use super::{Db, Result, StoreError, is_unique_violation, new_id};

/// A custom domain row.
#[derive(Debug, Clone)]
pub struct DomainRecord {
    pub hostname: String,
    pub app_id: String,
    /// ACM's state: `None` (no order yet), `pending`, `issued` or `failing`.
    pub acm_status: Option<String>,
    pub acm_error: Option<String>,
    /// Orders that failed in a row.
    pub acm_failures: u32,
    /// When ACM may order again, unix seconds.
    pub acm_next_at: i64,
    pub created_at: String,
}

/// A certificate row. `private_key` is PEM, never logged or answered (not even by `Debug`).
#[derive(Clone)]
pub struct CertRecord {
    pub id: String,
    pub name: String,
    pub app_id: String,
    /// `acm` or `manual`.
    pub source: String,
    pub chain: String,
    pub private_key: String,
    pub names: Vec<String>,
    pub issuer: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl std::fmt::Debug for CertRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertRecord")
            .field("name", &self.name)
            .field("app_id", &self.app_id)
            .field("source", &self.source)
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A certificate to record.
pub struct NewCert<'a> {
    pub app_id: &'a str,
    pub source: &'a str,
    pub chain: &'a str,
    pub private_key: &'a str,
    pub names: &'a [String],
    pub issuer: &'a str,
    pub not_before: i64,
    pub not_after: i64,
}

/// Where ACM's order for a domain stands, to record.
pub enum AcmOutcome<'a> {
    Pending,
    Issued,
    /// Failed with this error; ordered again no sooner than `next_at` (unix seconds).
    Failed {
        error: &'a str,
        next_at: i64,
    },
}

const DOMAIN_COLUMNS: &str =
    "hostname, app_id, acm_status, acm_error, acm_failures, acm_next_at, created_at";

fn domain_row(r: &Row<'_>) -> rusqlite::Result<DomainRecord> {
    Ok(DomainRecord {
        hostname: r.get(0)?,
        app_id: r.get(1)?,
        acm_status: r.get(2)?,
        acm_error: r.get(3)?,
        acm_failures: r.get(4)?,
        acm_next_at: r.get(5)?,
        created_at: r.get(6)?,
    })
}

const CERT_COLUMNS: &str =
    "id, name, app_id, source, chain, private_key, names, issuer, not_before, not_after";

fn cert_row(r: &Row<'_>) -> rusqlite::Result<CertRecord> {
    let names: String = r.get(6)?;
    Ok(CertRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        app_id: r.get(2)?,
        source: r.get(3)?,
        chain: r.get(4)?,
        private_key: r.get(5)?,
        names: serde_json::from_str(&names).map_err(|e| super::conversion_error(6, e))?,
        issuer: r.get(7)?,
        not_before: r.get(8)?,
        not_after: r.get(9)?,
    })
}

impl Db {
    /// Adds `hostname` to the app; `AlreadyExists` naming the app that has it when it is taken.
    pub fn add_domain(&mut self, app_id: &str, hostname: &str) -> Result<DomainRecord> {
        let inserted = self.conn.execute(
            "INSERT INTO domains (hostname, app_id) VALUES (?1, ?2)",
            params![hostname, app_id],
        );
        if is_unique_violation(&inserted) {
            let holder: String = self.conn.query_row(
                "SELECT a.name FROM domains d JOIN apps a ON a.id = d.app_id WHERE d.hostname = ?1",
                [hostname],
                |r| r.get(0),
            )?;
            return Err(StoreError::AlreadyExists(holder));
        }
        inserted?;
        Ok(self
            .domain(hostname)?
            .expect("the domain was just inserted"))
    }

    /// A custom domain of an app another user owns that `hostname` overlaps: the wildcard that
    /// covers it, or, for a wildcard, a name it covers (`*.example.com` and `www.example.com`):
    /// adding it would take that name's traffic, or give up some of it.
    pub fn overlapping_domain(&self, hostname: &str, owner: &str) -> Result<Option<String>> {
        let (wildcard, parent) = match hostname.strip_prefix("*.") {
            Some(parent) => (true, parent),
            None => (false, hostname.split_once('.').map_or("", |(_, p)| p)),
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.hostname FROM domains d JOIN apps a ON a.id = d.app_id
             JOIN users u ON u.id = a.owner_id
             WHERE u.name != ?1 AND (d.hostname = '*.' || ?2 OR d.hostname LIKE '%.' || ?2)",
        )?;
        let names: Vec<String> = stmt
            .query_map(params![owner, parent], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(names.into_iter().find(|name| {
            let one_under = name
                .strip_suffix(parent)
                .and_then(|label| label.strip_suffix('.'))
                .is_some_and(|label| !label.contains('.') && label != "*");
            if wildcard {
                one_under
            } else {
                *name == format!("*.{parent}")
            }
        }))
    }

    pub fn domain(&self, hostname: &str) -> Result<Option<DomainRecord>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE hostname = ?1"),
                [hostname],
                domain_row,
            )
            .optional()?)
    }

    /// The app's custom domains, in the order they were added.
    pub fn domains(&self, app_id: &str) -> Result<Vec<DomainRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE app_id = ?1 ORDER BY created_at, hostname"
        ))?;
        let rows = stmt.query_map([app_id], domain_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes the app's `hostname`; `false` if it had no such domain.
    pub fn remove_domain(&mut self, app_id: &str, hostname: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM domains WHERE app_id = ?1 AND hostname = ?2",
            params![app_id, hostname],
        )? > 0)
    }

    pub fn set_acm_outcome(&mut self, hostname: &str, outcome: &AcmOutcome<'_>) -> Result<()> {
        match outcome {
            AcmOutcome::Pending => self.conn.execute(
                "UPDATE domains SET acm_status = 'pending' WHERE hostname = ?1",
                [hostname],
            )?,
            AcmOutcome::Issued => self.conn.execute(
                "UPDATE domains SET acm_status = 'issued', acm_error = NULL, acm_failures = 0,
                 acm_next_at = 0 WHERE hostname = ?1",
                [hostname],
            )?,
            AcmOutcome::Failed { error, next_at } => self.conn.execute(
                "UPDATE domains SET acm_status = 'failing', acm_error = ?2,
                 acm_failures = acm_failures + 1, acm_next_at = ?3 WHERE hostname = ?1",
                params![hostname, error, next_at],
            )?,
        };
        Ok(())
    }

    /// Forgets ACM's state for the app's domains (ACM turned off, or on again: order now).
    pub fn reset_acm(&mut self, app_id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE domains SET acm_status = NULL, acm_error = NULL, acm_failures = 0,
             acm_next_at = 0 WHERE app_id = ?1",
            [app_id],
        )?;
        Ok(())
    }

    /// Records a certificate; an ACM one replaces the app's earlier ACM certificates with the
    /// same names (a renewal), in one transaction.
    pub fn add_cert(&mut self, new: &NewCert<'_>) -> Result<CertRecord> {
        let tx = self.conn.transaction()?;
        let id = new_id();
        let name = format!("cert-{}", &id[..8]);
        let names = super::to_json(&new.names);
        if new.source == "acm" {
            tx.execute(
                "DELETE FROM certificates WHERE app_id = ?1 AND source = 'acm' AND names = ?2",
                params![new.app_id, names],
            )?;
        }
        tx.execute(
            "INSERT INTO certificates (id, name, app_id, source, chain, private_key, names,
             issuer, not_before, not_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id,
                name,
                new.app_id,
                new.source,
                new.chain,
                new.private_key,
                names,
                new.issuer,
                new.not_before,
                new.not_after
            ],
        )?;
        let record = tx.query_row(
            &format!("SELECT {CERT_COLUMNS} FROM certificates WHERE id = ?1"),
            [&id],
            cert_row,
        )?;
        tx.commit()?;
        Ok(record)
    }

    /// The app's certificates, oldest first.
    pub fn certs(&self, app_id: &str) -> Result<Vec<CertRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE app_id = ?1 ORDER BY created_at, name"
        ))?;
        let rows = stmt.query_map([app_id], cert_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes the app's certificate `name`; `false` if it has none by that name.
    pub fn remove_cert(&mut self, app_id: &str, name: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM certificates WHERE app_id = ?1 AND name = ?2",
            params![app_id, name],
        )? > 0)
    }

    /// Removes the app's ACM certificates that cover no name in `keep`.
    pub fn remove_acm_certs_except(&mut self, app_id: &str, keep: &[String]) -> Result<usize> {
        let stale: Vec<String> = self
            .certs(app_id)?
            .into_iter()
            .filter(|c| c.source == "acm" && !c.names.iter().any(|n| keep.contains(n)))
            .map(|c| c.id)
            .collect();
        for id in &stale {
            self.conn
                .execute("DELETE FROM certificates WHERE id = ?1", [id])?;
        }
        Ok(stale.len())
    }

    /// The app's router settings (the defaults if never set).
    pub fn router_settings(&self, app_id: &str) -> Result<RouterSettings> {
        Ok(self
            .conn
            .query_row(
                "SELECT acm, redirect_https, maintenance, timeout_seconds, max_body_bytes,
                 rate_per_s, burst, concurrency, per_ip_per_s FROM app_router WHERE app_id = ?1",
                [app_id],
                |r| {
                    Ok(RouterSettings {
                        acm: r.get(0)?,
                        redirect_https: r.get(1)?,
                        maintenance: r.get(2)?,
                        timeout_seconds: r.get(3)?,
                        max_body_bytes: r.get(4)?,
                        rate_per_s: r.get(5)?,
                        burst: r.get(6)?,
                        concurrency: r.get(7)?,
                        per_ip_per_s: r.get(8)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }

    pub fn set_router_settings(&mut self, app_id: &str, settings: &RouterSettings) -> Result<()> {
        self.conn.execute(
            "INSERT INTO app_router (app_id, acm, redirect_https, maintenance, timeout_seconds,
             max_body_bytes, rate_per_s, burst, concurrency, per_ip_per_s)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (app_id) DO UPDATE SET acm = ?2, redirect_https = ?3, maintenance = ?4,
             timeout_seconds = ?5, max_body_bytes = ?6, rate_per_s = ?7, burst = ?8,
             concurrency = ?9, per_ip_per_s = ?10",
            params![
                app_id,
                settings.acm,
                settings.redirect_https,
                settings.maintenance,
                settings.timeout_seconds,
                settings.max_body_bytes,
                settings.rate_per_s,
                settings.burst,
                settings.concurrency,
                settings.per_ip_per_s
            ],
        )?;
        Ok(())
    }

    /// The ids of the apps with ACM on.
    pub fn acm_apps(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT app_id FROM app_router WHERE acm = 1")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
