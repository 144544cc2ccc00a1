//! Custom domains, TLS certificates and router settings (Heroku's Domains, SNI Endpoints and
//! Automated Certificate Management): what `paas domains`, `paas certs`, `paas maintenance` and
//! `paas router` change. The store keeps them; after every change the app's edge is published to
//! the scheduler (the local router's table, or the app's Ingress on Kubernetes). With ACM on, a
//! loop orders a certificate for each custom domain through ACME and renews it before it expires
//! (30 days, or a third of its lifetime, before), backing off after failures.

pub mod acme;
pub mod certs;
pub mod hostname;

use std::sync::Arc;
use std::time::Duration;

use paas_share::models::{Certificate, Domain, RouterSettings, UpdateRouterSettings};

use crate::logs::Logs;
use crate::scheduler::{EdgeCert, EdgeSpec, Scheduler};
use crate::store::{
    AcmOutcome, AppRecord, CertRecord, DomainRecord, NewCert, Store, StoreError, User,
};

/// The most a dyno may be given to begin its response, in seconds (`paas router:timeout`).
pub const MAX_TIMEOUT_SECONDS: u32 = 3600;
/// The largest request body limit (`paas router:max-body-size`), in bytes: what the store's
/// signed 64-bit integers hold.
pub const MAX_BODY_BYTES: u64 = i64::MAX as u64;
/// The largest rate, burst or concurrency an app's flow control takes.
pub const MAX_FLOW_LIMIT: u32 = 1_000_000;
/// The first wait after a failed ACM order; it doubles with each failure, up to a day.
const FIRST_BACKOFF: i64 = 60;
const MAX_BACKOFF: i64 = 24 * 3600;

/// Who orders certificates when an app turns ACM on.
pub enum CertificateAuthority {
    /// This server, with ACME (the local scheduler: its router answers HTTP-01).
    Acme(acme::Acme),
    /// cert-manager in the cluster (`--k8s-cert-manager-issuer`).
    CertManager,
    /// Nobody: ACM is refused, and the message says why.
    None(&'static str),
}

/// The edge's manager: every change to an app's domains, certificates or router settings goes
/// through it (and is published to the scheduler), and it runs the ACM loop.
pub struct Domains {
    store: Store,
    scheduler: Arc<dyn Scheduler>,
    logs: Logs,
    /// The server's `--domain`: apps' default hostnames are under it.
    server_domain: String,
    authority: CertificateAuthority,
    /// Wakes the ACM loop (ACM turned on, a domain added).
    wake: tokio::sync::Notify,
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A bad hostname, certificate or setting: the sentence says what.
    #[error("{0}")]
    Invalid(String),
    /// The hostname is another app's: named when the user may see that app.
    #[error("{}", match .0 {
        Some(app) => format!("that domain is already on app {app}; remove it there first (paas domains:remove --app {app})"),
        None => "that domain is already in use by another app on this server".to_owned(),
    })]
    Taken(Option<String>),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(anyhow::Error),
}

impl Domains {
    pub fn new(
        store: Store,
        scheduler: Arc<dyn Scheduler>,
        logs: Logs,
        server_domain: String,
        authority: CertificateAuthority,
    ) -> Self {
        Self {
            store,
            scheduler,
            logs,
            server_domain,
            authority,
            wake: tokio::sync::Notify::new(),
        }
    }

    /// The app's domains: its default hostname first, then its custom ones.
    pub async fn list(&self, app: &AppRecord) -> Result<Vec<Domain>, DomainError> {
        let (domains, certs, settings) = self.edge_of(app).await?;
        let now = crate::unix_now();
        let default_host = format!("{}.{}", app.name, self.server_domain);
        let covered = |host: &str| {
            certs.iter().any(|c| {
                c.not_before <= now
                    && c.not_after > now
                    && c.names.iter().any(|n| crate::router::name_matches(n, host))
            })
        };
        let mut listed = vec![Domain {
            cert_status: if covered(&default_host) {
                "issued"
            } else {
                "none"
            }
            .to_owned(),
            hostname: default_host.clone(),
            kind: "default".to_owned(),
            cname: None,
            acm_error: None,
            created_at: None,
        }];
        for domain in domains {
            // A renewal that failed is reported while the certificate it was to replace serves.
            let failing = settings.acm
                && domain.acm_status.as_deref() == Some("failing")
                && !(domain.hostname.starts_with("*.") && covered(&domain.hostname));
            let error = if failing { domain.acm_error } else { None };
            let status = if covered(&domain.hostname) {
                "issued"
            } else if !settings.acm {
                "none"
            } else if matches!(self.authority, CertificateAuthority::CertManager) {
                "external"
            } else if failing {
                "failing"
            } else {
                "pending"
            };
            listed.push(Domain {
                hostname: domain.hostname,
                kind: "custom".to_owned(),
                cname: Some(default_host.clone()),
                cert_status: status.to_owned(),
                acm_error: error,
                created_at: Some(domain.created_at),
            });
        }
        Ok(listed)
    }

    /// Adds custom domain `input` (normalised: lowercase, IDNA) to the app, for `user`.
    pub async fn add(
        &self,
        app: &AppRecord,
        user: &User,
        input: &str,
    ) -> Result<Domain, DomainError> {
        let hostname = hostname::parse(input, &self.server_domain).map_err(DomainError::Invalid)?;
        let (id, host, user) = (app.id.clone(), hostname.clone(), user.clone());
        let (this_app, owner) = (app.name.to_string(), app.owner.to_string());
        let added: crate::store::DomainRecord = self
            .store
            .call(move |db| {
                let taken = |db: &crate::store::Db, holder: String| {
                    if holder == this_app {
                        return Ok(Err(DomainError::Invalid(format!(
                            "{this_app} already has {host}"
                        ))));
                    }
                    let visible = paas_share::AppName::parse(&holder)
                        .ok()
                        .map(|name| db.app(&user, &name))
                        .transpose()?
                        .flatten()
                        .is_some();
                    Ok(Err(DomainError::Taken(visible.then_some(holder))))
                };
                // Taken as it is first, so that an overlap below never names another user's
                // domain to someone asking for that very name.
                if let Some(existing) = db.domain(&host)? {
                    return taken(db, db.app_by_id(&existing.app_id)?.name.to_string());
                }
                if db.overlapping_domain(&host, &owner)?.is_some() {
                    return Ok(Err(DomainError::Invalid(format!(
                        "{host} overlaps a domain of another user's app: a wildcard and the names it covers must belong to one user"
                    ))));
                }
                match db.add_domain(&id, &host) {
                    Err(StoreError::AlreadyExists(holder)) => taken(db, holder),
                    other => other.map(Ok),
                }
            })
            .await??;
        self.publish(app).await?;
        self.wake.notify_one();
        self.logs.emit(
            &app.id,
            "paas",
            "api",
            format!("Domain {} added", added.hostname),
        );
        Ok(self
            .list(app)
            .await?
            .into_iter()
            .find(|d| d.hostname == hostname)
            .expect("the domain was just added"))
    }

    /// The app's hostname `input` (its default one, or a custom domain), as `list` shows it.
    pub async fn find(&self, app: &AppRecord, input: &str) -> Result<Option<Domain>, DomainError> {
        // As added (IDNA, no final dot), or as given: the default hostname is not one to add.
        let hostname = hostname::parse(input, &self.server_domain)
            .unwrap_or_else(|_| input.to_ascii_lowercase());
        Ok(self
            .list(app)
            .await?
            .into_iter()
            .find(|d| d.hostname == hostname))
    }

    /// Removes custom domain `input` from the app, with the ACM certificates only it had.
    pub async fn remove(&self, app: &AppRecord, input: &str) -> Result<Domain, DomainError> {
        let domain = self
            .find(app, input)
            .await?
            .filter(|d| d.kind == "custom")
            .ok_or_else(|| {
                DomainError::NotFound(format!(
                    "app {} has no custom domain {input}; `paas domains` lists them",
                    app.name
                ))
            })?;
        let hostname = domain.hostname.clone();
        let (id, host) = (app.id.clone(), hostname.clone());
        self.store
            .call(move |db| {
                db.remove_domain(&id, &host)?;
                let left: Vec<String> = db.domains(&id)?.into_iter().map(|d| d.hostname).collect();
                db.remove_acm_certs_except(&id, &left)
            })
            .await?;
        self.publish(app).await?;
        self.logs
            .emit(&app.id, "paas", "api", format!("Domain {hostname} removed"));
        Ok(domain)
    }

    /// The app's certificates.
    pub async fn certs(&self, app: &AppRecord) -> Result<Vec<Certificate>, DomainError> {
        let id = app.id.clone();
        let (records, domains) = self
            .store
            .call(move |db| Ok::<_, StoreError>((db.certs(&id)?, db.domains(&id)?)))
            .await?;
        let hosts: Vec<String> = std::iter::once(format!("{}.{}", app.name, self.server_domain))
            .chain(domains.into_iter().map(|d| d.hostname))
            .collect();
        Ok(records.iter().map(|r| view(r, &hosts)).collect())
    }

    /// Adds an uploaded certificate: `chain` (PEM, leaf first) with its PEM `key`.
    ///
    /// Errors: [`DomainError::Invalid`] for PEM that is not a certificate chain and its key, a
    /// key that does not match, a chain out of order, or a certificate that has expired.
    pub async fn add_cert(
        &self,
        app: &AppRecord,
        chain: &str,
        key: &str,
    ) -> Result<Certificate, DomainError> {
        let inspected = certs::inspect(chain, key).map_err(DomainError::Invalid)?;
        let now = crate::unix_now();
        if inspected.not_after <= now {
            return Err(DomainError::Invalid(format!(
                "the certificate expired at {}; get a new one from its issuer",
                crate::rfc3339(inspected.not_after)
            )));
        }
        // Five minutes' grace for a certificate issued just now by a clock a little ahead.
        if inspected.not_before > now + 300 {
            return Err(DomainError::Invalid(format!(
                "the certificate is not valid before {}; upload it from then on",
                crate::rfc3339(inspected.not_before)
            )));
        }
        let record = self
            .record_cert(&app.id, "manual", chain, key, &inspected)
            .await?;
        self.publish(app).await?;
        self.logs.emit(
            &app.id,
            "paas",
            "api",
            format!(
                "Certificate {} added for {}",
                record.name,
                record.names.join(", ")
            ),
        );
        Ok(self
            .certs(app)
            .await?
            .into_iter()
            .find(|c| c.name == record.name)
            .expect("the certificate was just added"))
    }

    /// Removes the app's certificate `name`.
    pub async fn remove_cert(
        &self,
        app: &AppRecord,
        name: &str,
    ) -> Result<Certificate, DomainError> {
        let cert = self
            .certs(app)
            .await?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                DomainError::NotFound(format!(
                    "app {} has no certificate {name}; `paas certs` lists them",
                    app.name
                ))
            })?;
        let (id, name) = (app.id.clone(), name.to_owned());
        self.store
            .call(move |db| db.remove_cert(&id, &name))
            .await?;
        self.publish(app).await?;
        Ok(cert)
    }

    pub async fn settings(&self, app: &AppRecord) -> Result<RouterSettings, DomainError> {
        let id = app.id.clone();
        Ok(self.store.call(move |db| db.router_settings(&id)).await?)
    }

    /// Changes the app's router settings as `update` says.
    ///
    /// Errors: [`DomainError::Invalid`] for a timeout outside 1 s to an hour, a body limit of 0,
    /// a flow limit outside 1 to [`MAX_FLOW_LIMIT`], a burst without a rate, or ACM where no one
    /// can order certificates.
    pub async fn update_settings(
        &self,
        app: &AppRecord,
        update: UpdateRouterSettings,
    ) -> Result<RouterSettings, DomainError> {
        if let Some(Some(seconds)) = update.timeout_seconds
            && !(1..=MAX_TIMEOUT_SECONDS).contains(&seconds)
        {
            return Err(DomainError::Invalid(format!(
                "the timeout is a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}"
            )));
        }
        if let Some(Some(bytes)) = update.max_body_bytes
            && !(1..=MAX_BODY_BYTES).contains(&bytes)
        {
            return Err(DomainError::Invalid(format!(
                "the body limit is from 1 byte to {MAX_BODY_BYTES} (or none, for no limit)"
            )));
        }
        for (value, what) in [
            (update.rate_per_s, "rate"),
            (update.burst, "burst"),
            (update.concurrency, "concurrency"),
            (update.per_ip_per_s, "per-ip rate"),
        ] {
            if let Some(Some(n)) = value
                && !(1..=MAX_FLOW_LIMIT).contains(&n)
            {
                return Err(DomainError::Invalid(format!(
                    "the {what} is a whole number from 1 to {MAX_FLOW_LIMIT} (or none, for no limit)"
                )));
            }
        }
        if update.acm == Some(true)
            && let CertificateAuthority::None(why) = self.authority
        {
            return Err(DomainError::Invalid(why.to_owned()));
        }
        let id = app.id.clone();
        let (before, after) = self
            .store
            .call(move |db| {
                let before = db.router_settings(&id)?;
                let after = RouterSettings {
                    acm: update.acm.unwrap_or(before.acm),
                    redirect_https: update.redirect_https.unwrap_or(before.redirect_https),
                    maintenance: update.maintenance.unwrap_or(before.maintenance),
                    timeout_seconds: update.timeout_seconds.unwrap_or(before.timeout_seconds),
                    max_body_bytes: update.max_body_bytes.unwrap_or(before.max_body_bytes),
                    rate_per_s: update.rate_per_s.unwrap_or(before.rate_per_s),
                    burst: update.burst.unwrap_or(before.burst),
                    concurrency: update.concurrency.unwrap_or(before.concurrency),
                    per_ip_per_s: update.per_ip_per_s.unwrap_or(before.per_ip_per_s),
                };
                if after.burst.is_some() && after.rate_per_s.is_none() {
                    return Err(DomainError::Invalid(
                        "a burst needs a rate: it is how far above the rate requests may go"
                            .to_owned(),
                    ));
                }
                db.set_router_settings(&id, &after)?;
                if after.acm != before.acm {
                    db.reset_acm(&id)?;
                }
                Ok::<_, DomainError>((before, after))
            })
            .await?;
        self.publish(app).await?;
        if after.acm && !before.acm {
            self.wake.notify_one();
        }
        if after.maintenance != before.maintenance {
            self.logs.emit(
                &app.id,
                "paas",
                "api",
                format!(
                    "Maintenance mode {}",
                    if after.maintenance { "on" } else { "off" }
                ),
            );
        }
        Ok(after)
    }

    /// Publishes every app's edge (the daemon is starting).
    pub async fn publish_all(&self) -> anyhow::Result<()> {
        let apps = self.store.call(|db| db.all_apps()).await?;
        for app in apps {
            if let Err(e) = self.publish(&app).await {
                tracing::error!(app = %app.name, error = %e, "cannot publish the app's domains and certificates");
            }
        }
        Ok(())
    }

    /// The app's custom domains, certificates and router settings, as the store has them now.
    async fn edge_of(
        &self,
        app: &AppRecord,
    ) -> Result<(Vec<DomainRecord>, Vec<CertRecord>, RouterSettings), StoreError> {
        let id = app.id.clone();
        self.store
            .call(move |db| Ok((db.domains(&id)?, db.certs(&id)?, db.router_settings(&id)?)))
            .await
    }

    /// Hands the app's edge, as the store has it now, to the scheduler.
    async fn publish(&self, app: &AppRecord) -> Result<(), DomainError> {
        let (domains, records, settings) = self.edge_of(app).await?;
        let now = crate::unix_now();
        let edge = EdgeSpec {
            domains: domains.into_iter().map(|d| d.hostname).collect(),
            certs: records
                .into_iter()
                .filter(|r| r.not_after > now)
                .map(|r| EdgeCert {
                    name: r.name,
                    names: r.names,
                    chain: r.chain,
                    private_key: r.private_key,
                    manual: r.source == "manual",
                    not_before: r.not_before,
                    not_after: r.not_after,
                })
                .collect(),
            settings,
        };
        self.scheduler
            .publish_edge(&app.app_ref(), &edge)
            .await
            .map_err(DomainError::Publish)
    }

    async fn record_cert(
        &self,
        app_id: &str,
        source: &'static str,
        chain: &str,
        key: &str,
        inspected: &certs::Inspected,
    ) -> Result<CertRecord, DomainError> {
        let (app_id, chain, key, inspected) = (
            app_id.to_owned(),
            chain.to_owned(),
            key.to_owned(),
            inspected.clone(),
        );
        Ok(self
            .store
            .call(move |db| {
                db.add_cert(&NewCert {
                    app_id: &app_id,
                    source,
                    chain: &chain,
                    private_key: &key,
                    names: &inspected.names,
                    issuer: &inspected.issuer,
                    not_before: inspected.not_before,
                    not_after: inspected.not_after,
                })
            })
            .await?)
    }

    /// Orders and renews ACM certificates until `stop` turns true: each round orders what is
    /// due, then sleeps until the next renewal or retry is (at most an hour), or until woken.
    pub async fn renew_forever(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let CertificateAuthority::Acme(acme) = &self.authority else {
            return;
        };
        loop {
            let next = match self.acm_round(acme).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "ACM round failed");
                    Duration::from_secs(60)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(next) => {}
                () = self.wake.notified() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Orders the certificates that are due; returns how long until the next one is.
    async fn acm_round(&self, acme: &acme::Acme) -> anyhow::Result<Duration> {
        let apps = self
            .store
            .call(|db| {
                let mut apps = Vec::new();
                for id in db.acm_apps()? {
                    apps.push((db.app_by_id(&id)?, db.domains(&id)?, db.certs(&id)?));
                }
                Ok::<_, StoreError>(apps)
            })
            .await?;
        let mut soonest = i64::MAX;
        for (app, domains, certs) in apps {
            for domain in domains {
                let now = crate::unix_now();
                if domain.hostname.starts_with("*.") {
                    if domain.acm_status.is_none() {
                        let host = domain.hostname.clone();
                        self.store
                            .call(move |db| {
                                db.set_acm_outcome(
                                    &host,
                                    &AcmOutcome::Failed {
                                        error: "a wildcard name needs ACME's DNS-01 challenge, which paas does not answer; upload a certificate for it with `paas certs:add`",
                                        next_at: i64::MAX,
                                    },
                                )
                            })
                            .await?;
                    }
                    continue;
                }
                let current = certs
                    .iter()
                    .filter(|c| c.source == "acm" && c.names == [domain.hostname.clone()])
                    .max_by_key(|c| c.not_after);
                let due_at = current
                    .map_or(now, |c| certs::renew_at(c.not_before, c.not_after))
                    .max(domain.acm_next_at);
                if due_at > now {
                    soonest = soonest.min(due_at);
                    continue;
                }
                // ACM turned off, or the domain removed, since the round began: no order.
                let (id, host) = (app.id.clone(), domain.hostname.clone());
                let still = self
                    .store
                    .call(move |db| {
                        Ok::<_, StoreError>(
                            db.router_settings(&id)?.acm
                                && db.domain(&host)?.is_some_and(|d| d.app_id == id),
                        )
                    })
                    .await?;
                if !still {
                    continue;
                }
                let next = self
                    .order(acme, &app, &domain.hostname, domain.acm_failures)
                    .await?;
                soonest = soonest.min(next);
            }
        }
        let wait = soonest.saturating_sub(crate::unix_now()).clamp(1, 3600);
        Ok(Duration::from_secs(wait.unsigned_abs()))
    }

    /// Orders a certificate for `host` and records the outcome; returns when to look at it again
    /// (unix seconds).
    async fn order(
        &self,
        acme: &acme::Acme,
        app: &AppRecord,
        host: &str,
        failures: u32,
    ) -> anyhow::Result<i64> {
        let set = |outcome: AcmOutcome<'static>| {
            let host = host.to_owned();
            self.store
                .call(move |db| db.set_acm_outcome(&host, &outcome))
        };
        set(AcmOutcome::Pending).await?;
        self.logs.emit(
            &app.id,
            "paas",
            "acm",
            format!(
                "Ordering a certificate for {host} from {}",
                acme.directory()
            ),
        );
        let ordered = acme.order(host).await.and_then(|(chain, key)| {
            certs::inspect(&chain, &key)
                .map(|inspected| (chain, key, inspected))
                .map_err(|e| anyhow::anyhow!("the ACME server's certificate cannot be served: {e}"))
        });
        match ordered {
            Ok((chain, key, inspected)) => {
                self.record_cert(&app.id, "acm", &chain, &key, &inspected)
                    .await?;
                set(AcmOutcome::Issued).await?;
                self.publish(app).await?;
                self.logs.emit(
                    &app.id,
                    "paas",
                    "acm",
                    format!(
                        "Certificate for {host} issued by {}, valid until {}",
                        inspected.issuer,
                        crate::rfc3339(inspected.not_after)
                    ),
                );
                Ok(certs::renew_at(inspected.not_before, inspected.not_after))
            }
            Err(e) => {
                let error = format!("{e:#}");
                let wait = (FIRST_BACKOFF << failures.min(20)).min(MAX_BACKOFF);
                let next_at = crate::unix_now() + wait;
                self.logs.emit(
                    &app.id,
                    "paas",
                    "acm",
                    format!(
                        "Certificate order for {host} failed (trying again in {wait} s): {error}"
                    ),
                );
                let host = host.to_owned();
                self.store
                    .call(move |db| {
                        db.set_acm_outcome(
                            &host,
                            &AcmOutcome::Failed {
                                error: &error,
                                next_at,
                            },
                        )
                    })
                    .await?;
                Ok(next_at)
            }
        }
    }
}

/// A certificate as the API shows it: which of `hosts` it is served for, and its state.
fn view(record: &CertRecord, hosts: &[String]) -> Certificate {
    let now = crate::unix_now();
    let state = if record.not_after <= now {
        "expired"
    } else if certs::renew_at(record.not_before, record.not_after) <= now {
        "expiring"
    } else {
        "active"
    };
    Certificate {
        name: record.name.clone(),
        source: record.source.clone(),
        names: record.names.clone(),
        domains: hosts
            .iter()
            .filter(|h| {
                record
                    .names
                    .iter()
                    .any(|n| crate::router::name_matches(n, h))
            })
            .cloned()
            .collect(),
        issuer: record.issuer.clone(),
        not_before: crate::rfc3339(record.not_before),
        not_after: crate::rfc3339(record.not_after),
        state: state.to_owned(),
    }
}
