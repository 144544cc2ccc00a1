//! Add-ons (DESIGN §5): backing services (PostgreSQL, Redis) that apps reach through a config var
//! (`DATABASE_URL`), as Heroku's add-ons. Each kind is a [`provider::Provider`]; each add-on is a
//! service the scheduler runs from the services image (stack `services`, built the first time an
//! add-on needs it), with its own volume under `<data>/addons/<id>/` (0700), a port of its own and
//! generated passwords kept in the store.
//!
//! Attaching, detaching and rotating credentials change config vars, so each makes one release
//! of each app concerned through the release controller (its release phase runs, and a rollback
//! restores that release's config). Provisioning is all or nothing: an add-on whose service did
//! not come up leaves no container, folder or row, also when the daemon is killed half way (the
//! next start removes what a provisioning left). Backups are `pg_dump` files beside the volume,
//! the newest [`Settings::backups_kept`] kept.

pub mod provider;

mod backups;
mod postgres;
mod redis;
mod turns;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use paas_share::models::{Addon, AddonAttachment, CreateAddon, Release, Role};
use paas_share::{AddonName, AttachmentName};
use tokio::sync::mpsc;

use crate::build::stack::{self, SERVICE_UID, SERVICES, Stack};
use crate::container::Exit;
use crate::data_dir::DataDir;
use crate::logs::Logs;
use crate::oci::Layout;
use crate::registry::Registry;
use crate::release::{Controller, ReleaseError};
use crate::scheduler::{BackupFile, Deployment, Scheduler, ServiceSpec};
use crate::store::{AddonRecord, AppRecord, NewAddon, Store, StoreError, User};
use provider::{Provider, Secrets, task_env};
pub use turns::Busy;
use turns::{Kind, Turns};

/// How long a one-shot task (initdb, a rotation) may run.
const TASK_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a backup or a restore may run.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);
/// What a backup still running when the server started is marked failed with.
const INTERRUPTED: &str = "interrupted: the server stopped during the backup";

/// Colours of further attachments' names, as Heroku's `HEROKU_POSTGRESQL_<COLOR>`.
const COLORS: &[&str] = &[
    "AMBER", "BLUE", "BRONZE", "CHARCOAL", "COBALT", "CRIMSON", "GOLD", "GRAY", "GREEN", "IVORY",
    "JADE", "MAROON", "NAVY", "OLIVE", "ORANGE", "PINK", "PURPLE", "RED", "SILVER", "TEAL",
    "WHITE", "YELLOW",
];
/// Words of generated add-on names (`postgresql-shaped-12345`).
const WORDS: &[&str] = &[
    "amorphous",
    "angular",
    "clear",
    "concave",
    "convex",
    "cubic",
    "curved",
    "flat",
    "fluffy",
    "opaque",
    "regular",
    "rigid",
    "round",
    "shaped",
    "silky",
    "slippery",
    "smooth",
    "solid",
    "spherical",
    "symmetrical",
    "tapered",
    "vertical",
];

/// The operator's settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a service has to accept connections when it starts.
    pub ready_within: Duration,
    /// How many backups of each add-on are kept (`--addon-backups-kept`).
    pub backups_kept: u32,
}

/// Why an add-on request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AddonError {
    #[error("there is no add-on kind {0:?}: use postgresql or redis")]
    UnknownKind(String),
    #[error("there is no add-on {0}")]
    NotFound(String),
    #[error("{message}")]
    Refused { message: String, hint: String },
    #[error("{0}")]
    Failed(String),
    /// The app has an attachment of that name (another add-on's).
    #[error("{0}")]
    NameTaken(String),
    /// Another operation holds the add-on (a backup, a restore): this one was not started.
    #[error("{addon} is busy with {}", busy.what)]
    Busy { addon: String, busy: Busy },
    /// The add-on (or its app) was destroyed while this operation ran: its task was stopped.
    #[error("add-on {0} was destroyed meanwhile")]
    Destroyed(String),
    /// Part of what was asked happened and part did not: a release it needed failed (the
    /// message says what was kept or left).
    #[error("{message}")]
    Incomplete { message: String, hint: String },
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn refused(message: impl Into<String>, hint: impl Into<String>) -> AddonError {
    AddonError::Refused {
        message: message.into(),
        hint: hint.into(),
    }
}

/// Who may reach an add-on for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Users of the app that owns it: everything (its data, backups, credentials, destroy).
    Owner,
    /// Also users of an app it is attached to (whose config has its URL anyway): to see it and
    /// detach it from their app.
    Attached,
}

/// Every add-on of the server. One operation at a time per add-on ([`turns`]).
pub struct Addons {
    store: Store,
    data: DataDir,
    layout: Arc<Layout>,
    scheduler: Arc<dyn Scheduler>,
    releases: Arc<Controller>,
    /// Where the services image is pushed, when there is one (a scheduler on other machines
    /// pulls it from there).
    registry: Option<Arc<Registry>>,
    logs: Logs,
    settings: Settings,
    /// One making of the services image at a time, and the digest last pushed to the registry
    /// (pushed again only when the stack changed).
    image: tokio::sync::Mutex<Option<String>>,
    turns: Turns,
    /// Add-ons being destroyed, by id: their running task (a restore waiting for a lock, a long
    /// backup) is stopped rather than waited for.
    destroying: crate::scheduler::Destroying,
}

impl Addons {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        data: DataDir,
        layout: Arc<Layout>,
        scheduler: Arc<dyn Scheduler>,
        releases: Arc<Controller>,
        registry: Option<Arc<Registry>>,
        logs: Logs,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            data,
            layout,
            scheduler,
            releases,
            registry,
            logs,
            settings,
            image: tokio::sync::Mutex::new(None),
            turns: Turns::default(),
            destroying: crate::scheduler::Destroying::default(),
        }
    }

    /// The add-on as the API shows it.
    pub async fn view(&self, record: &AddonRecord) -> Result<Addon, AddonError> {
        let id = record.id.clone();
        let url = provider_of(record)?.url(&secrets_of(record)?, &self.host(record)?, record.port);
        let attachments = self
            .store
            .call(move |db| db.attachments(&id))
            .await?
            .into_iter()
            .map(|a| AddonAttachment {
                config: match &a.value {
                    Some(value) if *value == url => "current",
                    Some(_) => "changed",
                    None => "missing",
                }
                .to_owned(),
                app: a.app,
                config_var: format!("{}_URL", a.name),
                name: a.name,
            })
            .collect();
        let state = if record.provisioning {
            "provisioning".to_owned()
        } else {
            let spec = self.spec(record, &secrets_of(record)?, "")?;
            self.scheduler
                .service_state(&spec)
                .await
                .unwrap_or_else(|| "down".to_owned())
        };
        Ok(Addon {
            name: record.name.clone(),
            kind: record.kind.clone(),
            plan: provider_of(record)?.plan().to_owned(),
            state,
            app: record.app_name.clone(),
            attachments,
            created_at: record.created_at.clone(),
        })
    }

    /// The add-ons app `app` owns or has attached.
    pub async fn list(&self, app: &AppRecord) -> Result<Vec<Addon>, AddonError> {
        let id = app.id.clone();
        let records = self.store.call(move |db| db.addons_of_app(&id)).await?;
        let mut addons = Vec::new();
        for record in &records {
            addons.push(self.view(record).await?);
        }
        Ok(addons)
    }

    /// Add-on `name`, if `user` may reach it as `access` asks: through the app that owns it, or
    /// (for [`Access::Attached`]) also through an app it is attached to. To others it is "not
    /// found", as if it did not exist. With the role the user has on the app it was reached by.
    pub async fn find(
        &self,
        user: &User,
        name: &str,
        access: Access,
    ) -> Result<(AddonRecord, Role), AddonError> {
        let (who, wanted) = (user.clone(), name.to_owned());
        // The add-on, and whether the user reaches it through its owner (else only through an
        // app it is attached to).
        let found = self
            .store
            .call(move |db| {
                let Some(record) = db.addon_by_name(&wanted)? else {
                    return Ok::<_, StoreError>(None);
                };
                let role_on = |app: &str| -> Result<Option<Role>, StoreError> {
                    let app = paas_share::AppName::parse(app).map_err(|_| StoreError::Gone)?;
                    Ok(db.app_role(&who, &app)?.map(|(_, role)| role))
                };
                if let Some(role) = role_on(&record.app_name)? {
                    return Ok(Some((record, true, role)));
                }
                for attached in db.attachments(&record.id)? {
                    if let Some(role) = role_on(&attached.app)? {
                        return Ok(Some((record, false, role)));
                    }
                }
                Ok(None)
            })
            .await?;
        match found {
            Some((record, true, role)) => Ok((record, role)),
            Some((record, false, role)) if access == Access::Attached => Ok((record, role)),
            Some((record, false, _)) => Err(refused(
                format!(
                    "only users of {}, which owns {}, may do that",
                    record.app_name, record.name
                ),
                "from an app it is attached to, you may see it (paas addons:info) and detach it from that app",
            )),
            None => Err(AddonError::NotFound(name.to_owned())),
        }
    }

    /// Provisions an add-on of `request.kind` owned by `app` and attaches it there (one release).
    /// Returns once its service accepts connections; on failure nothing of it is left.
    pub async fn create(
        &self,
        app: &AppRecord,
        user: &User,
        request: CreateAddon,
    ) -> Result<(Addon, Release), AddonError> {
        let provider = provider::provider(&request.kind)
            .ok_or_else(|| AddonError::UnknownKind(paas_share::names::excerpt(&request.kind)))?;
        let name = match &request.name {
            Some(name) => Some(
                AddonName::parse(name)
                    .map_err(|e| refused(e.to_string(), "for example: --name orders-db"))?,
            ),
            None => None,
        };
        let attach_as = self
            .attachment_name(app, provider, request.attach_as.as_deref())
            .await?;
        let image = self.image().await?;
        let secrets = Secrets::generate();
        let secrets_json = serde_json::to_string(&secrets).expect("secrets serialize");
        let (app_id, kind) = (app.id.clone(), provider.kind());
        let record = self
            .store
            .call(move |db| {
                let taken = db.addon_ports()?;
                let port = loop {
                    let port = crate::scheduler::local::free_port().map_err(anyhow::Error::from)?;
                    if !taken.contains(&port) {
                        break port;
                    }
                };
                // A generated name taken already: another one.
                for attempt in 0.. {
                    let name = match &name {
                        Some(name) => name.as_str().to_owned(),
                        None => generated_name(kind),
                    };
                    let new = NewAddon {
                        name: &name,
                        kind,
                        app_id: &app_id,
                        port,
                        secrets: &secrets_json,
                    };
                    match db.create_addon(&new) {
                        Err(StoreError::AlreadyExists(_)) if request.name.is_none() && attempt < 5 => {}
                        Err(StoreError::AlreadyExists(what)) => {
                            return Err(refused(
                                format!("{what} exists already"),
                                "pick another name with --name, or leave it out for a generated one",
                            ));
                        }
                        other => return Ok(other?),
                    }
                }
                unreachable!("the loop returns")
            })
            .await?;
        let _turn = self
            .turns
            .take(&record.id, Kind::Long("its provisioning"))
            .await
            .map_err(|busy| AddonError::Busy {
                addon: record.name.clone(),
                busy,
            })?;
        self.logs.emit(
            &app.id,
            "paas",
            "api",
            format!(
                "Add-on {} ({}) created by {}",
                record.name,
                provider.plan(),
                user.name
            ),
        );
        if let Err(e) = self.provision(&record, &secrets, &image).await {
            self.remove(&record).await;
            return Err(e);
        }
        let mut attach_as = attach_as;
        let mut attempts = 0;
        let release = loop {
            match self
                .attach_as(&record, provider, &secrets, app, user, &attach_as)
                .await
            {
                Ok(release) => break release,
                // Another add-on took the default name meanwhile (two creates at once): the
                // next free one.
                Err(AddonError::NameTaken(_)) if request.attach_as.is_none() && attempts < 3 => {
                    attempts += 1;
                    attach_as = self.attachment_name(app, provider, None).await?;
                }
                // An add-on the app does not get is not kept: nothing is left half made.
                Err(e) => {
                    self.remove(&record).await;
                    self.logs.emit(
                        &app.id,
                        "paas",
                        "api",
                        format!("Add-on {} removed: it could not be attached", record.name),
                    );
                    return Err(match e {
                        AddonError::Release(e) => AddonError::Incomplete {
                            message: format!(
                                "{} was made and removed again: attaching it to {} failed ({})",
                                record.name,
                                app.name,
                                release_failure(&e)
                            ),
                            hint: format!(
                                "{} keeps its previous config; fix what failed (`paas releases` says what) and create the add-on again",
                                app.name
                            ),
                        },
                        e => e,
                    });
                }
            }
        };
        // Provisioned and attached: from here on a server start keeps it (one cut short before
        // this is removed, as a failed create is).
        let id = record.id.clone();
        self.store.call(move |db| db.addon_created(&id)).await?;
        let record = self.reload(&record).await?;
        Ok((self.view(&record).await?, release))
    }

    /// The volume, then the service (initialised by the provider first), up.
    async fn provision(
        &self,
        record: &AddonRecord,
        secrets: &Secrets,
        image: &str,
    ) -> Result<(), AddonError> {
        let dir = self.data.addon(&record.id);
        tokio::task::spawn_blocking(move || make_folders(&dir))
            .await
            .map_err(anyhow::Error::from)?
            .map_err(|e| anyhow::anyhow!("making the add-on's folders: {e}"))?;
        let spec = self.spec(record, secrets, image)?;
        self.scheduler
            .start_service(&spec, self.settings.ready_within)
            .await
            .map_err(|e| AddonError::Failed(format!("{e:#}")))
    }

    /// Removes what a provisioning made: the service, its folder, its row.
    async fn remove(&self, record: &AddonRecord) {
        match secrets_of(record).and_then(|secrets| self.spec(record, &secrets, "")) {
            Ok(spec) => self.scheduler.remove_service(&spec).await,
            Err(e) => {
                tracing::error!(addon = %record.name, error = %e, "cannot stop the add-on's service")
            }
        }
        let dir = self.data.addon(&record.id);
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        let id = record.id.clone();
        if let Err(e) = self.store.call(move |db| db.delete_addon(&id)).await {
            tracing::error!(error = %anyhow::Error::from(e), addon = %record.name, "cannot remove the add-on's row");
        }
    }

    /// Attaches add-on `record` to `app` as `name` (or the default name): one release there.
    pub async fn attach(
        &self,
        record: &AddonRecord,
        app: &AppRecord,
        user: &User,
        name: Option<&str>,
    ) -> Result<(AddonAttachment, Release), AddonError> {
        let (_turn, record) = self.turn(record, Kind::Short).await?;
        let record = &record;
        let id = record.id.clone();
        let attached = self.store.call(move |db| db.attachments(&id)).await?;
        if let Some(there) = attached.iter().find(|a| a.app == app.name.as_str()) {
            return Err(refused(
                format!(
                    "{} is attached to {} already, as {}_URL",
                    record.name, app.name, there.name
                ),
                format!(
                    "an add-on is attached to an app once; to rename it, detach it first (paas addons:detach {} -a {})",
                    record.name, app.name
                ),
            ));
        }
        let provider = provider_of(record)?;
        let name = self.attachment_name(app, provider, name).await?;
        let secrets = secrets_of(record)?;
        let release = self
            .attach_as(record, provider, &secrets, app, user, &name)
            .await?;
        Ok((
            AddonAttachment {
                app: app.name.to_string(),
                config_var: format!("{name}_URL"),
                name: name.to_string(),
                config: "current".to_owned(),
            },
            release,
        ))
    }

    async fn attach_as(
        &self,
        record: &AddonRecord,
        provider: &dyn Provider,
        secrets: &Secrets,
        app: &AppRecord,
        user: &User,
        name: &AttachmentName,
    ) -> Result<Release, AddonError> {
        let url = provider.url(secrets, &self.host(record)?, record.port);
        let description = format!("Attach {} ({name}_URL)", record.name);
        let (addon_id, app_id, who, attachment) = (
            record.id.clone(),
            app.id.clone(),
            user.clone(),
            name.to_string(),
        );
        let made = self
            .releases
            .run_recorded(app, user, move |db| {
                db.attach_addon(&addon_id, &app_id, &who, &attachment, &url, &description)
                    .map_err(ReleaseError::from)
            })
            .await;
        self.keep_attachments_true(record, app, name.as_str(), &made)
            .await;
        match made {
            Err(ReleaseError::Store(StoreError::AlreadyExists(_))) => Err(AddonError::NameTaken(
                format!("{} has an attachment named {name} already", app.name),
            )),
            made => Ok(made?),
        }
    }

    /// A release that failed has put the app's config back as it was: the attachment rows follow
    /// it, so that `addons` says what the app's config has.
    async fn keep_attachments_true(
        &self,
        record: &AddonRecord,
        app: &AppRecord,
        name: &str,
        made: &Result<Release, ReleaseError>,
    ) {
        if !matches!(made, Err(ReleaseError::NotDeployed(..))) {
            return;
        }
        let (addon_id, app_id, name) = (record.id.clone(), app.id.clone(), name.to_owned());
        let fixed = self
            .store
            .call(move |db| db.sync_attachment(&addon_id, &app_id, &name))
            .await;
        if let Err(e) = fixed {
            tracing::error!(error = %anyhow::Error::from(e), "cannot bring the attachment in line with the config");
        }
    }

    /// Detaches add-on `record` from `app`: one release there.
    pub async fn detach(
        &self,
        record: &AddonRecord,
        app: &AppRecord,
        user: &User,
    ) -> Result<Release, AddonError> {
        let (_turn, record) = self.turn(record, Kind::Short).await?;
        let record = &record;
        self.detach_now(record, app, user).await
    }

    async fn detach_now(
        &self,
        record: &AddonRecord,
        app: &AppRecord,
        user: &User,
    ) -> Result<Release, AddonError> {
        let id = record.id.clone();
        let name = self
            .store
            .call(move |db| db.attachments(&id))
            .await?
            .into_iter()
            .find(|a| a.app == app.name.as_str())
            .map(|a| a.name)
            .ok_or_else(|| {
                refused(
                    format!("{} is not attached to {}", record.name, app.name),
                    "`paas addons -a APP` lists what an app has attached",
                )
            })?;
        let description = format!("Detach {} ({name}_URL)", record.name);
        let (addon_id, app_id, who, addon, app_name) = (
            record.id.clone(),
            app.id.clone(),
            user.clone(),
            record.name.clone(),
            app.name.clone(),
        );
        let made = self
            .releases
            .run_recorded(app, user, move |db| {
                db.detach_addon(&addon_id, &app_id, &who, &description)?
                    .ok_or_else(|| ReleaseError::Refused {
                        message: format!("{addon} is not attached to {app_name}"),
                        hint: "`paas addons -a APP` lists what an app has attached",
                    })
            })
            .await;
        self.keep_attachments_true(record, app, &name, &made).await;
        Ok(made?)
    }

    /// Destroys add-on `record`: its service, volume, backups and row. Refused while it is
    /// attached to an app (its owner too), unless `force` (it is detached first, one release per
    /// app). A task it runs (a backup, a restore) is stopped rather than waited for.
    pub async fn destroy(
        &self,
        record: &AddonRecord,
        user: &User,
        force: bool,
    ) -> Result<(), AddonError> {
        // Refused before its running task is stopped for nothing.
        self.attachments_unless_forced(record, force).await?;
        self.destroying.begin(&record.id);
        let destroyed = self.destroy_now(record, user, force).await;
        self.destroying.end(&record.id);
        destroyed
    }

    /// The apps `record` is attached to; refused when there are some and not `force`.
    async fn attachments_unless_forced(
        &self,
        record: &AddonRecord,
        force: bool,
    ) -> Result<Vec<crate::store::Attached>, AddonError> {
        let id = record.id.clone();
        let attachments = self.store.call(move |db| db.attachments(&id)).await?;
        if !attachments.is_empty() && !force {
            let apps: Vec<String> = attachments
                .iter()
                .map(|a| format!("{} ({}_URL)", a.app, a.name))
                .collect();
            return Err(refused(
                format!("{} is attached to {}", record.name, apps.join(", ")),
                format!(
                    "detach it first (paas addons:detach {} -a APP), or pass --force to detach it everywhere and destroy it",
                    record.name
                ),
            ));
        }
        Ok(attachments)
    }

    async fn destroy_now(
        &self,
        record: &AddonRecord,
        user: &User,
        force: bool,
    ) -> Result<(), AddonError> {
        let (_turn, record) = self.turn(record, Kind::Last).await?;
        let record = &record;
        for attachment in self.attachments_unless_forced(record, force).await? {
            let (who, app_name) = (user.clone(), attachment.app.clone());
            let app = self
                .store
                .call(move |db| {
                    let name =
                        paas_share::AppName::parse(&app_name).map_err(|_| StoreError::Gone)?;
                    Ok::<_, StoreError>(
                        db.app_role(&who, &name)?
                            .filter(|(_, role)| *role == Role::Admin)
                            .map(|(app, _)| app),
                    )
                })
                .await?;
            let Some(app) = app else {
                return Err(refused(
                    format!(
                        "{} is attached to {}, which you cannot change",
                        record.name, attachment.app
                    ),
                    format!(
                        "ask that app's owner to detach it (paas addons:detach {})",
                        record.name
                    ),
                ));
            };
            self.detach_now(record, &app, user)
                .await
                .map_err(|e| match e {
                    AddonError::Release(e) => AddonError::Incomplete {
                        message: format!(
                            "{} is kept: detaching it from {} failed ({})",
                            record.name,
                            app.name,
                            release_failure(&e)
                        ),
                        hint: format!(
                            "fix that app's release (`paas releases -a {}`), then destroy again",
                            app.name
                        ),
                    },
                    e => e,
                })?;
        }
        self.logs.emit(
            &record.app_id,
            "paas",
            "api",
            format!("Add-on {} destroyed by {}", record.name, user.name),
        );
        self.remove(record).await;
        Ok(())
    }

    /// Before app `app` is destroyed: destroys the add-ons it owns (Heroku does the same), or
    /// refuses when one of them is attached to another app.
    pub async fn destroy_owned(&self, app: &AppRecord) -> Result<(), AddonError> {
        let id = app.id.clone();
        let owned: Vec<AddonRecord> = self
            .store
            .call(move |db| db.addons_of_app(&id))
            .await?
            .into_iter()
            .filter(|r| r.app_id == app.id)
            .collect();
        for record in &owned {
            let id = record.id.clone();
            let elsewhere: Vec<crate::store::Attached> = self
                .store
                .call(move |db| db.attachments(&id))
                .await?
                .into_iter()
                .filter(|a| a.app != app.name.as_str())
                .collect();
            if let Some(other) = elsewhere.first() {
                let first = match self.turns.busy(&record.id) {
                    Some(busy) => {
                        format!("wait for {} on it to end, then detach it there", busy.what)
                    }
                    None => "detach it there first".to_owned(),
                };
                return Err(refused(
                    format!(
                        "add-on {} of {} is attached to {} too",
                        record.name, app.name, other.app
                    ),
                    format!(
                        "{first}: paas addons:detach {} -a {}",
                        record.name, other.app
                    ),
                ));
            }
        }
        for record in &owned {
            self.destroying.begin(&record.id);
        }
        for record in &owned {
            let _turn = self.turns.take(&record.id, Kind::Last).await;
            self.remove(record).await;
            self.destroying.end(&record.id);
        }
        Ok(())
    }

    /// New passwords for add-on `record`: the service takes them, then each app it is attached
    /// to gets its new URL (one release each).
    pub async fn rotate(
        &self,
        record: &AddonRecord,
        user: &User,
    ) -> Result<Vec<Release>, AddonError> {
        let (_turn, record) = self
            .turn(record, Kind::Long("a credential rotation"))
            .await?;
        let record = &record;
        let provider = provider_of(record)?;
        let old = secrets_of(record)?;
        let new = old.rotated();
        let image = self.image().await?;
        let spec = self.spec(record, &new, &image)?;
        match provider.rotate() {
            Some(script) => {
                let env = [
                    ("PAAS_OLD_PASSWORD", old.password.clone()),
                    ("PAAS_OLD_ADMIN_PASSWORD", old.admin_password.clone()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
                self.task(&spec, script, env, BackupFile::None, TASK_TIMEOUT)
                    .await
                    .map_err(|why| {
                        self.destroyed(record).unwrap_or_else(|| {
                            AddonError::Failed(format!("the credentials were not changed: {why}"))
                        })
                    })?;
            }
            None => {
                self.scheduler
                    .start_service(&spec, self.settings.ready_within)
                    .await
                    .map_err(|e| AddonError::Failed(format!("{e:#}")))?;
            }
        }
        let (id, json) = (
            record.id.clone(),
            serde_json::to_string(&new).expect("secrets serialize"),
        );
        self.store
            .call(move |db| db.set_addon_secrets(&id, &json))
            .await?;
        self.logs.emit(
            &record.app_id,
            "paas",
            "api",
            format!(
                "Add-on {} credentials rotated by {}",
                record.name, user.name
            ),
        );
        let id = record.id.clone();
        let mut attached = self.store.call(move |db| db.attachment_apps(&id)).await?;
        // The owning app first, then the others by name; every one is tried, whatever the
        // others' releases do.
        attached.sort_by_key(|(app, _)| (app.id != record.app_id, app.name.clone()));
        let url = provider.url(&new, &self.host(record)?, record.port);
        let mut releases = Vec::new();
        let mut stale = Vec::new();
        let mut stale_apps = Vec::new();
        for (app, name) in attached {
            let patch: paas_share::models::ConfigPatch =
                [(format!("{name}_URL"), Some(url.clone()))].into();
            let (app_id, who, description) = (
                app.id.clone(),
                user.clone(),
                format!("Rotate {} credentials", record.name),
            );
            let made = self
                .releases
                .run_recorded(&app, user, move |db| {
                    Ok(db.update_config(&app_id, &who, &patch, &description, None)?)
                })
                .await;
            match made {
                Ok(release) => releases.push(release),
                Err(e) => {
                    stale.push(format!("{} ({})", app.name, release_failure(&e)));
                    stale_apps.push(app.name.to_string());
                }
            }
        }
        if stale.is_empty() {
            return Ok(releases);
        }
        Err(AddonError::Incomplete {
            message: format!(
                "{}'s credentials were rotated, but the release of the new URL failed for {}: its config still holds the old credentials, which no longer work",
                record.name,
                stale.join(", ")
            ),
            hint: format!(
                "fix what failed, then run `paas releases:retry -a {}` before any other release of it (the failed release has the new URL; later ones would carry the old credentials), or detach and attach {} again there",
                stale_apps.join(" / "),
                record.name
            ),
        })
    }

    /// What a one-off dyno of the add-on's client (`psql`, `redis-cli`) runs: the services image,
    /// under the owning app, with no config vars of its own; the command, and the environment
    /// that connects it as the app (see [`Provider::client`]).
    pub async fn client(
        &self,
        record: &AddonRecord,
    ) -> Result<(Deployment, String, BTreeMap<String, String>), AddonError> {
        let provider = provider_of(record)?;
        let image = self.image().await?;
        let (command, env) =
            provider.client(&secrets_of(record)?, &self.host(record)?, record.port);
        Ok((
            Deployment {
                app: app_of(record)?,
                // No release of the app: a session of the services image.
                release: 0,
                image,
                image_repository: Some(crate::scheduler::SERVICES_REPOSITORY),
                process_types: BTreeMap::new(),
                release_command: None,
                formation: BTreeMap::new(),
                config_vars: BTreeMap::new(),
            },
            command.to_owned(),
            env,
        ))
    }

    /// At the daemon's start: removes what provisionings cut short left, marks backups cut short
    /// failed, and starts every add-on's service (one that does not come up is logged and left
    /// to its restarts).
    pub async fn start_all(&self) -> anyhow::Result<()> {
        let records = self.store.call(|db| db.all_addons()).await?;
        self.fail_interrupted_backups().await?;
        let (cut_short, created): (Vec<_>, Vec<_>) =
            records.into_iter().partition(|r| r.provisioning);
        for record in &cut_short {
            tracing::warn!(addon = %record.name, "removing an add-on whose provisioning the last stop cut short");
            self.remove(record).await;
        }
        if created.is_empty() {
            return Ok(());
        }
        let image = self.image().await?;
        let starts = created.iter().map(|record| {
            let image = image.clone();
            async move {
                let spec = self.spec(record, &secrets_of(record)?, &image)?;
                self.scheduler
                    .start_service(&spec, self.settings.ready_within)
                    .await
                    .map_err(AddonError::from)
            }
        });
        for (record, started) in created
            .iter()
            .zip(futures_util::future::join_all(starts).await)
        {
            if let Err(e) = started {
                tracing::error!(addon = %record.name, error = %e, "add-on service did not start");
            }
        }
        Ok(())
    }

    /// The services image's manifest digest in the layout, made from stack `services` (built
    /// now, taking minutes, if it is not installed). Made again each time it is asked for
    /// (links and two small blobs, present ones kept), so that garbage collection never leaves
    /// it half there and a rebuilt stack is used from then on; pushed once per digest.
    async fn image(&self) -> Result<String, AddonError> {
        let mut pushed = self.image.lock().await;
        let (data, layout) = (self.data.clone(), Arc::clone(&self.layout));
        let made = tokio::task::spawn_blocking(
            move || -> anyhow::Result<(crate::oci::Descriptor, Vec<String>)> {
                let stack = match Stack::open(&data, SERVICES)? {
                    Some(stack) => stack,
                    None => {
                        tracing::info!("building the services image (stack services) for add-ons: this takes a few minutes, once");
                        stack::build(&data, stack::Recipe::Services, false)?
                    }
                };
                let (stack_layout, layers) = stack.layers(|line| tracing::info!("{line}"))?;
                for layer in &layers {
                    layout.share_blob(&stack_layout, &layer.digest)?;
                }
                // An image of the stack's layers alone: what runs is the provider's script.
                let image = crate::oci::image::AppImage {
                    commit: SERVICES,
                    buildpack: SERVICES,
                    process_types: &BTreeMap::new(),
                    stack_layers: &layers,
                    app_layers: &[],
                };
                let digests = layers.iter().map(|l| l.digest.clone()).collect();
                Ok((image.store(&layout)?, digests))
            },
        )
        .await
        .map_err(anyhow::Error::from)?;
        let (manifest, layers) = made.map_err(|e| {
            AddonError::Failed(format!("the services image could not be made: {e:#}"))
        })?;
        if let Some(registry) = &self.registry
            && pushed.as_deref() != Some(manifest.digest.as_str())
        {
            // Blobs the registry has are skipped: after the first, a few HEAD requests.
            registry
                .push(
                    &self.layout,
                    &manifest,
                    crate::scheduler::SERVICES_REPOSITORY,
                    &["latest".to_owned()],
                    &layers,
                )
                .await
                .map_err(|e| {
                    AddonError::Failed(format!("the services image could not be pushed: {e}"))
                })?;
            *pushed = Some(manifest.digest.clone());
        }
        Ok(manifest.digest)
    }

    /// How the scheduler runs add-on `record` from `image` (empty when only its id, name and
    /// app matter: to stop it or read its state).
    fn spec(
        &self,
        record: &AddonRecord,
        secrets: &Secrets,
        image: &str,
    ) -> Result<ServiceSpec, AddonError> {
        let provider = provider_of(record)?;
        let dir = self.data.addon(&record.id);
        Ok(ServiceSpec {
            id: record.id.clone(),
            name: record.name.clone(),
            app: app_of(record)?,
            image: image.to_owned(),
            args: provider::script_args(provider.service()),
            init: provider.init().map(provider::script_args),
            env: task_env(secrets, &self.host(record)?, record.port),
            port: record.port,
            volume: dir.join("volume"),
            backups: dir.join("backups"),
            readiness: provider.readiness(),
        })
    }

    /// Where apps reach add-on `record`.
    fn host(&self, record: &AddonRecord) -> Result<String, AddonError> {
        Ok(self.scheduler.service_host(&app_of(record)?, &record.name))
    }

    /// Runs `script` in a container of the add-on's image with its volume, `env` over its
    /// secrets; its output goes to the owning app's log. `Err` says why it failed, with its last
    /// lines.
    async fn task(
        &self,
        spec: &ServiceSpec,
        script: &'static str,
        env: BTreeMap<String, String>,
        backup: crate::scheduler::BackupFile,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut spec = spec.clone();
        spec.env.extend(env);
        let (tx, mut rx) = mpsc::channel::<String>(256);
        let run = self.scheduler.run_service_task(
            &spec,
            provider::script_args(script),
            backup,
            timeout,
            tx,
        );
        // Stopped (its container killed) when the add-on is destroyed meanwhile.
        let run = self.destroying.unless(&spec.id, run);
        tokio::pin!(run);
        let mut last: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        let keep = |last: &mut std::collections::VecDeque<String>, line: String| {
            self.logs.emit(&spec.app.id, "app", &spec.name, &line);
            if last.len() == 20 {
                last.pop_front();
            }
            last.push_back(line);
        };
        let outcome = loop {
            tokio::select! {
                Some(line) = rx.recv() => keep(&mut last, line),
                outcome = &mut run => break outcome,
            }
        };
        while let Ok(line) = rx.try_recv() {
            keep(&mut last, line);
        }
        let lines = if last.is_empty() {
            String::new()
        } else {
            format!("\n{}", Vec::from(last).join("\n"))
        };
        match outcome {
            Some(Ok(o)) if o.exit == Exit::Code(0) => Ok(()),
            Some(Ok(o)) if o.oom_killed => Err(format!("it ran out of memory{lines}")),
            Some(Ok(o)) => Err(match o.exit {
                Exit::Code(code) => format!("it exited with status {code}{lines}"),
                Exit::Signal(signal) => format!("it was killed by signal {signal}{lines}"),
                Exit::TimedOut => format!("it ran longer than {}s{lines}", timeout.as_secs()),
            }),
            Some(Err(e)) => Err(format!("{e:#}")),
            None => Err("the add-on is being destroyed".to_owned()),
        }
    }

    /// The attachment name to use on `app`: `wanted` (checked), else the provider's default if
    /// the app has no attachment or config var of that name, else the first free colour.
    async fn attachment_name(
        &self,
        app: &AppRecord,
        provider: &dyn Provider,
        wanted: Option<&str>,
    ) -> Result<AttachmentName, AddonError> {
        let id = app.id.clone();
        let (names, config) = self
            .store
            .call(move |db| Ok::<_, StoreError>((db.attachment_names(&id)?, db.config_vars(&id)?)))
            .await?;
        let free = |name: &str| {
            !names.iter().any(|n| n == name) && !config.contains_key(&format!("{name}_URL"))
        };
        if let Some(wanted) = wanted {
            let name = AttachmentName::parse(wanted).map_err(|e| {
                refused(
                    e.to_string(),
                    "for example: --as ANALYTICS_DB (the app gets ANALYTICS_DB_URL)",
                )
            })?;
            // An add-on's attachment holds it (its config var cannot be unset), else the user's var.
            if names.iter().any(|n| n == name.as_str()) {
                return Err(refused(
                    format!("{} has an add-on attached as {name} already", app.name),
                    "give another name with --as, or detach that add-on first (`paas addons` \
                     lists them, `paas addons:detach ADDON`)",
                ));
            }
            if !free(name.as_str()) {
                return Err(refused(
                    format!("{} has config var {name}_URL already", app.name),
                    "give another name with --as, or unset that config var first",
                ));
            }
            return Ok(name);
        }
        std::iter::once(provider.default_attachment().to_owned())
            .chain(
                COLORS
                    .iter()
                    .map(|c| format!("{}_{c}", provider.attachment_prefix())),
            )
            .find(|n| free(n))
            .map(|n| AttachmentName::parse(&n).expect("our names are valid"))
            .ok_or_else(|| {
                refused(
                    "the app has every attachment name taken",
                    "name it with --as",
                )
            })
    }

    /// [`AddonError::Destroyed`] while the add-on is being destroyed: then that is why its
    /// task stopped, whatever the task said.
    fn destroyed(&self, record: &AddonRecord) -> Option<AddonError> {
        self.destroying
            .began(&record.id)
            .then(|| AddonError::Destroyed(record.name.clone()))
    }

    /// Waits for the add-on's turn for an operation of `kind` (refused while another holds it
    /// for long) and reads it again: what an operation acts on is the add-on as the one before it
    /// left it (its new credentials after a rotation).
    async fn turn(
        &self,
        record: &AddonRecord,
        kind: Kind,
    ) -> Result<(turns::Turn, AddonRecord), AddonError> {
        let turn = self
            .turns
            .take(&record.id, kind)
            .await
            .map_err(|busy| AddonError::Busy {
                addon: record.name.clone(),
                busy,
            })?;
        Ok((turn, self.reload(record).await?))
    }

    /// The add-on as the store has it now ("not found" once destroyed).
    async fn reload(&self, record: &AddonRecord) -> Result<AddonRecord, AddonError> {
        let id = record.id.clone();
        self.store
            .call(move |db| db.addon_by_id(&id))
            .await?
            .ok_or_else(|| AddonError::NotFound(record.name.clone()))
    }
}

/// How a release failed, for a sentence about it: `release v4: the release phase failed: …`.
fn release_failure(e: &ReleaseError) -> String {
    match e {
        ReleaseError::NotDeployed(version, why) => format!("release v{version}: {why}"),
        other => other.to_string(),
    }
}

fn provider_of(record: &AddonRecord) -> Result<&'static dyn Provider, AddonError> {
    provider::provider(&record.kind).ok_or_else(|| {
        anyhow::anyhow!("add-on {} has unknown kind {}", record.name, record.kind).into()
    })
}

fn app_of(record: &AddonRecord) -> Result<crate::app::AppRef, AddonError> {
    Ok(crate::app::AppRef {
        id: record.app_id.clone(),
        name: paas_share::AppName::parse(&record.app_name).map_err(|_| StoreError::Gone)?,
    })
}

fn secrets_of(record: &AddonRecord) -> Result<Secrets, AddonError> {
    serde_json::from_str(&record.secrets)
        .map_err(|e| anyhow::anyhow!("add-on {}'s secrets are unreadable: {e}", record.name).into())
}

/// `postgresql-shaped-12345`
fn generated_name(kind: &str) -> String {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    let n = u32::from_le_bytes(bytes);
    let word = WORDS[(n as usize) % WORDS.len()];
    format!("{kind}-{word}-{}", 10_000 + (n >> 8) % 90_000)
}

/// `<addon>/` (0700), and in it `volume/` and `backups/`, 0700 and the services user's.
fn make_folders(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for sub in ["volume", "backups"] {
        let path: PathBuf = dir.join(sub);
        std::fs::create_dir_all(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
        let id = Some(nix::unistd::Uid::from_raw(SERVICE_UID));
        nix::unistd::chown(&path, id, Some(nix::unistd::Gid::from_raw(SERVICE_UID)))
            .map_err(std::io::Error::from)?;
    }
    Ok(())
}
