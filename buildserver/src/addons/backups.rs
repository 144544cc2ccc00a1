//! PostgreSQL backups of an add-on: `pg_dump` files (`b001.dump`) in its `backups/` folder,
//! captured and restored by the provider's scripts in containers of the services image, listed
//! from the store, the newest [`Settings::backups_kept`](super::Settings) kept. A backup is
//! written beside its file and renamed into place when whole; one a server stop cut short is
//! marked failed at the next start and its file removed.

use std::os::unix::fs::OpenOptionsExt;

use paas_share::models::Backup;

use super::{
    AddonError, Addons, BACKUP_TIMEOUT, INTERRUPTED, Kind, provider_of, refused, secrets_of,
};
use crate::scheduler::{BackupFile, SERVICE_BACKUPS};
use crate::store::{AddonRecord, StoreError};

impl Addons {
    /// Captures a backup of add-on `record` now; returns it once it has ended (failed or not).
    pub async fn capture(&self, record: &AddonRecord) -> Result<Backup, AddonError> {
        let (_turn, record) = self.turn(record, Kind::Long("a backup")).await?;
        let record = &record;
        let provider = provider_of(record)?;
        let Some((script, _)) = provider.backup() else {
            return Err(refused(
                format!("{} add-ons have no backups", record.kind),
                "backups are for PostgreSQL add-ons",
            ));
        };
        let image = self.image().await?;
        let spec = self.spec(record, &secrets_of(record)?, &image)?;
        let id = record.id.clone();
        let number = self.store.call(move |db| db.start_backup(&id)).await?;
        let env = [(
            "PAAS_BACKUP".to_owned(),
            format!("{SERVICE_BACKUPS}/{}", backup_file(number)),
        )]
        .into();
        let outcome = self
            .task(&spec, script, env, BackupFile::Written, BACKUP_TIMEOUT)
            .await;
        let file = self
            .data
            .addon(&record.id)
            .join("backups")
            .join(backup_file(number));
        let ended = match outcome {
            Ok(()) => {
                regular_file_size(&file).map_err(|e| format!("the backup file is not there: {e}"))
            }
            Err(why) => Err(why),
        };
        self.logs.emit(
            &record.app_id,
            "paas",
            "api",
            match &ended {
                Ok(size) => format!(
                    "Add-on {} backup {} captured ({size} bytes)",
                    record.name,
                    backup_id(number)
                ),
                Err(why) => format!(
                    "Add-on {} backup {} failed: {}",
                    record.name,
                    backup_id(number),
                    why.lines().next().unwrap_or_default()
                ),
            },
        );
        let (id, kept) = (record.id.clone(), self.settings.backups_kept);
        let failure = ended.as_ref().err().cloned();
        let pruned = self
            .store
            .call(move |db| {
                db.finish_backup(&id, number, ended.as_ref().copied().map_err(String::as_str))?;
                db.prune_backups(&id, kept)
            })
            .await?;
        let backups = self.data.addon(&record.id).join("backups");
        for old in pruned
            .into_iter()
            .chain(failure.is_some().then_some(number))
        {
            let _ = std::fs::remove_file(backups.join(backup_file(old)));
            let _ = std::fs::remove_file(backups.join(format!("{}.partial", backup_file(old))));
        }
        if failure.is_some()
            && let Some(destroyed) = self.destroyed(record)
        {
            return Err(destroyed);
        }
        let id = record.id.clone();
        let backup = self
            .store
            .call(move |db| db.backups(&id))
            .await?
            .into_iter()
            .find(|b| b.id == backup_id(number))
            .ok_or(StoreError::Gone)?;
        Ok(backup)
    }

    pub async fn backups(&self, record: &AddonRecord) -> Result<Vec<Backup>, AddonError> {
        let id = record.id.clone();
        Ok(self.store.call(move |db| db.backups(&id)).await?)
    }

    /// The file of succeeded backup `backup` (`b003`), opened without following a symlink, and
    /// its size.
    pub async fn backup_file(
        &self,
        record: &AddonRecord,
        backup: &str,
    ) -> Result<(std::fs::File, u64), AddonError> {
        let number = self.succeeded_backup(record, backup).await?;
        let path = self
            .data
            .addon(&record.id)
            .join("backups")
            .join(backup_file(number));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| AddonError::Failed(format!("backup {backup} cannot be read: {e}")))?;
        let meta = file.metadata().map_err(anyhow::Error::from)?;
        if !meta.is_file() {
            return Err(AddonError::Failed(format!("backup {backup} is not a file")));
        }
        Ok((file, meta.len()))
    }

    async fn succeeded_backup(
        &self,
        record: &AddonRecord,
        backup: &str,
    ) -> Result<u32, AddonError> {
        let backups = self.backups(record).await?;
        let found = backups.iter().find(|b| b.id == backup).ok_or_else(|| {
            refused(
                format!("{} has no backup {backup}", record.name),
                format!("`paas pg:backups {}` lists its backups", record.name),
            )
        })?;
        if found.status != "succeeded" {
            return Err(refused(
                format!("backup {backup} {}", found.status),
                "only a backup that succeeded can be downloaded or restored",
            ));
        }
        backup
            .strip_prefix('b')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| AddonError::NotFound(backup.to_owned()))
    }

    /// Restores backup `backup` into add-on `record`, replacing what it has, all or nothing.
    pub async fn restore(&self, record: &AddonRecord, backup: &str) -> Result<(), AddonError> {
        let (_turn, record) = self.turn(record, Kind::Long("a restore")).await?;
        let record = &record;
        let provider = provider_of(record)?;
        let Some((_, script)) = provider.backup() else {
            return Err(refused(
                format!("{} add-ons have no backups", record.kind),
                "backups are for PostgreSQL add-ons",
            ));
        };
        let number = self.succeeded_backup(record, backup).await?;
        let image = self.image().await?;
        let spec = self.spec(record, &secrets_of(record)?, &image)?;
        let env = [(
            "PAAS_BACKUP".to_owned(),
            format!("{SERVICE_BACKUPS}/{}", backup_file(number)),
        )]
        .into();
        self.task(&spec, script, env, BackupFile::Read, BACKUP_TIMEOUT)
            .await
            .map_err(|why| {
                self.destroyed(record).unwrap_or_else(|| {
                    AddonError::Failed(format!("the restore failed and changed nothing: {why}"))
                })
            })?;
        self.logs.emit(
            &record.app_id,
            "paas",
            "api",
            format!("Add-on {} restored from backup {backup}", record.name),
        );
        Ok(())
    }

    /// Marks the backups a server stop cut short failed and removes their files.
    pub(super) async fn fail_interrupted_backups(&self) -> anyhow::Result<()> {
        let interrupted = self
            .store
            .call(|db| db.fail_running_backups(INTERRUPTED))
            .await?;
        for (addon_id, number) in interrupted {
            let backups = self.data.addon(&addon_id).join("backups");
            let _ = std::fs::remove_file(backups.join(format!("{}.partial", backup_file(number))));
            let _ = std::fs::remove_file(backups.join(backup_file(number)));
        }
        Ok(())
    }
}

fn backup_id(number: u32) -> String {
    format!("b{number:03}")
}

fn backup_file(number: u32) -> String {
    format!("{}.dump", backup_id(number))
}

/// The size of the regular file at `path` (a symlink is not one).
fn regular_file_size(path: &std::path::Path) -> std::io::Result<u64> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(meta.len())
}
