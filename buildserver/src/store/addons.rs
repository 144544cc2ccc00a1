//! The add-on tables: add-ons, where they are attached, and their backups. Attaching and
//! detaching change the app's config and record its release in the same transaction.

use paas_share::models::{Backup, ConfigPatch, Release};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{Db, Result, StoreError, User, is_unique_violation, new_id, patch_config};

/// An add-on row. `secrets` is the provider's JSON: passwords, never logged or shown.
#[derive(Debug, Clone)]
pub struct AddonRecord {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The app that owns it.
    pub app_id: String,
    pub app_name: String,
    pub port: u16,
    pub secrets: String,
    /// Still provisioning (its service has not yet accepted a connection).
    pub provisioning: bool,
    pub created_at: String,
}

/// An attachment as the store has it: the app's name, the attachment's (`DATABASE`), and the
/// value of its config var (`DATABASE_URL`) in the app's config now.
#[derive(Debug, Clone)]
pub struct Attached {
    pub app: String,
    pub name: String,
    pub value: Option<String>,
}

/// An add-on to record as provisioning.
pub struct NewAddon<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub app_id: &'a str,
    pub port: u16,
    pub secrets: &'a str,
}

const ADDON_COLUMNS: &str = "d.id, d.name, d.kind, d.app_id, a.name, d.port, d.secrets, \
     d.state = 'provisioning', d.created_at";

fn addon_row(r: &Row<'_>) -> rusqlite::Result<AddonRecord> {
    Ok(AddonRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        app_id: r.get(3)?,
        app_name: r.get(4)?,
        port: r.get(5)?,
        secrets: r.get(6)?,
        provisioning: r.get(7)?,
        created_at: r.get(8)?,
    })
}

fn backup_row(r: &Row<'_>) -> rusqlite::Result<Backup> {
    let number: u32 = r.get(0)?;
    Ok(Backup {
        id: format!("b{number:03}"),
        status: r.get(1)?,
        size: r.get(2)?,
        failure: r.get(3)?,
        created_at: r.get(4)?,
        finished_at: r.get(5)?,
    })
}

impl Db {
    /// Records add-on `new` as provisioning; `AlreadyExists` when its name (or port) is taken.
    pub fn create_addon(&mut self, new: &NewAddon<'_>) -> Result<AddonRecord> {
        let id = new_id();
        let inserted = self.conn.execute(
            "INSERT INTO addons (id, name, kind, app_id, port, secrets, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'provisioning')",
            params![id, new.name, new.kind, new.app_id, new.port, new.secrets],
        );
        if is_unique_violation(&inserted) {
            return Err(StoreError::AlreadyExists(format!(
                "add-on \"{}\"",
                new.name
            )));
        }
        inserted?;
        self.addon_by_id(&id)?.ok_or(StoreError::Gone)
    }

    /// Marks the add-on provisioned: its service accepted connections.
    pub fn addon_created(&mut self, id: &str) -> Result<()> {
        self.conn
            .execute("UPDATE addons SET state = 'created' WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn addon_by_id(&self, id: &str) -> Result<Option<AddonRecord>> {
        self.addon_where("d.id", id)
    }

    pub fn addon_by_name(&self, name: &str) -> Result<Option<AddonRecord>> {
        self.addon_where("d.name", name)
    }

    /// The add-on whose `column` (a fixed column name, never input) is `value`.
    fn addon_where(&self, column: &'static str, value: &str) -> Result<Option<AddonRecord>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {ADDON_COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id
                     WHERE {column} = ?1"
                ),
                [value],
                addon_row,
            )
            .optional()?)
    }

    /// The add-ons app `app_id` owns or has attached, by name.
    pub fn addons_of_app(&self, app_id: &str) -> Result<Vec<AddonRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ADDON_COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id
             WHERE d.app_id = ?1
                OR d.id IN (SELECT addon_id FROM addon_attachments WHERE app_id = ?1)
             ORDER BY d.name"
        ))?;
        let rows = stmt.query_map([app_id], addon_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every add-on (the daemon starts their services).
    pub fn all_addons(&self) -> Result<Vec<AddonRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ADDON_COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id ORDER BY d.name"
        ))?;
        let rows = stmt.query_map([], addon_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The ports add-ons hold (dynos never get them).
    pub fn addon_ports(&self) -> Result<Vec<u16>> {
        let mut stmt = self.conn.prepare_cached("SELECT port FROM addons")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes the add-on's rows: its own, its backups', and its attachments' (the caller
    /// detached it from other apps first; its owner is going).
    pub fn delete_addon(&mut self, id: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM addon_attachments WHERE addon_id = ?1", [id])?;
        tx.execute("DELETE FROM addons WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Where the add-on is attached, by app name: each app, the attachment's name, and what the
    /// app's config holds in its var now.
    pub fn attachments(&self, addon_id: &str) -> Result<Vec<Attached>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.name, t.name, (SELECT c.value FROM config_vars c
                 WHERE c.app_id = t.app_id AND c.key = t.name || '_URL')
             FROM addon_attachments t JOIN apps a ON a.id = t.app_id
             WHERE t.addon_id = ?1 ORDER BY a.name, t.name",
        )?;
        let rows = stmt.query_map([addon_id], |r| {
            Ok(Attached {
                app: r.get(0)?,
                name: r.get(1)?,
                value: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The attachment names app `app_id` has (of any add-on).
    pub fn attachment_names(&self, app_id: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM addon_attachments WHERE app_id = ?1")?;
        let rows = stmt.query_map([app_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Attaches the add-on to the app as `name`: config var `<name>_URL` = `url` and one
    /// release, in one transaction. `AlreadyExists` when the app has an attachment of that name
    /// or of this add-on already.
    pub fn attach_addon(
        &mut self,
        addon_id: &str,
        app_id: &str,
        user: &User,
        name: &str,
        url: &str,
        description: &str,
    ) -> Result<Release> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO addon_attachments (addon_id, app_id, name) VALUES (?1, ?2, ?3)",
            params![addon_id, app_id, name],
        );
        if is_unique_violation(&inserted) {
            return Err(StoreError::AlreadyExists(format!("attachment {name}")));
        }
        inserted?;
        let patch: ConfigPatch = [(format!("{name}_URL"), Some(url.to_owned()))].into();
        let version = patch_config(&tx, app_id, user, &patch, description, None)?;
        tx.commit()?;
        self.release(app_id, version)?.ok_or(StoreError::Gone)
    }

    /// Detaches the add-on from the app: its attachment and config var go, with one release, in
    /// one transaction; `None` when it was not attached there.
    pub fn detach_addon(
        &mut self,
        addon_id: &str,
        app_id: &str,
        user: &User,
        description: &str,
    ) -> Result<Option<Release>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let name: Option<String> = tx
            .query_row(
                "DELETE FROM addon_attachments WHERE addon_id = ?1 AND app_id = ?2 RETURNING name",
                params![addon_id, app_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(name) = name else {
            return Ok(None);
        };
        let patch: ConfigPatch = [(format!("{name}_URL"), None)].into();
        let version = patch_config(&tx, app_id, user, &patch, description, None)?;
        tx.commit()?;
        self.release(app_id, version)
    }

    /// Records the add-on's new secrets (after its service took them).
    pub fn set_addon_secrets(&mut self, addon_id: &str, secrets: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE addons SET secrets = ?2 WHERE id = ?1",
            params![addon_id, secrets],
        )?;
        Ok(())
    }

    /// The apps the add-on is attached to, with the attachment's name.
    pub fn attachment_apps(&self, addon_id: &str) -> Result<Vec<(super::AppRecord, String)>> {
        let ids: Vec<(String, String)> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT app_id, name FROM addon_attachments WHERE addon_id = ?1 ORDER BY app_id",
            )?;
            let rows = stmt.query_map([addon_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        ids.into_iter()
            .map(|(app_id, name)| Ok((self.app_by_id(&app_id)?, name)))
            .collect()
    }

    /// Makes the attachment of the add-on to the app as `name` follow the app's config: there
    /// when config var `<name>_URL` is, gone when it is not (a failed release put the config back
    /// as it was).
    pub fn sync_attachment(&mut self, addon_id: &str, app_id: &str, name: &str) -> Result<()> {
        let config = super::read_config(&self.conn, app_id)?;
        if config.contains_key(&format!("{name}_URL")) {
            self.conn.execute(
                "INSERT OR IGNORE INTO addon_attachments (addon_id, app_id, name) VALUES (?1, ?2, ?3)",
                params![addon_id, app_id, name],
            )?;
        } else {
            self.conn.execute(
                "DELETE FROM addon_attachments WHERE addon_id = ?1 AND app_id = ?2 AND name = ?3",
                params![addon_id, app_id, name],
            )?;
        }
        Ok(())
    }

    /// Records backup N+1 of the add-on as running; returns N+1.
    pub fn start_backup(&mut self, addon_id: &str) -> Result<u32> {
        Ok(self.conn.query_row(
            "INSERT INTO addon_backups (addon_id, number, status)
             SELECT ?1, COALESCE(MAX(number), 0) + 1, 'running' FROM addon_backups
             WHERE addon_id = ?1
             RETURNING number",
            [addon_id],
            |r| r.get(0),
        )?)
    }

    /// Records how backup `number` ended: its size, or why it failed.
    pub fn finish_backup(
        &mut self,
        addon_id: &str,
        number: u32,
        outcome: std::result::Result<u64, &str>,
    ) -> Result<()> {
        let (status, size, failure) = match outcome {
            Ok(size) => ("succeeded", Some(size), None),
            Err(why) => ("failed", None, Some(why)),
        };
        self.conn.execute(
            "UPDATE addon_backups SET status = ?3, size = ?4, failure = ?5,
                 finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE addon_id = ?1 AND number = ?2",
            params![addon_id, number, status, size, failure],
        )?;
        Ok(())
    }

    /// The add-on's backups, newest first.
    pub fn backups(&self, addon_id: &str) -> Result<Vec<Backup>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT number, status, size, failure, created_at, finished_at FROM addon_backups
             WHERE addon_id = ?1 ORDER BY number DESC",
        )?;
        let rows = stmt.query_map([addon_id], backup_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets the add-on's succeeded backups beyond the newest `keep`; returns their numbers
    /// (their files go too).
    pub fn prune_backups(&mut self, addon_id: &str, keep: u32) -> Result<Vec<u32>> {
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM addon_backups WHERE addon_id = ?1 AND number IN (
                 SELECT number FROM addon_backups WHERE addon_id = ?1 AND status != 'running'
                 ORDER BY number DESC LIMIT -1 OFFSET ?2)
             RETURNING number",
        )?;
        let rows = stmt.query_map(params![addon_id, keep], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks every backup still running as failed with `reason` (the server stopped under it);
    /// returns `(addon_id, number)` of each.
    pub fn fail_running_backups(&mut self, reason: &str) -> Result<Vec<(String, u32)>> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE addon_backups SET status = 'failed', failure = ?1,
                 finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE status = 'running' RETURNING addon_id, number",
        )?;
        let rows = stmt.query_map([reason], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::{Db, NewAddon};
    use crate::store::StoreError;

    /// A fresh store with a user and an app, as the store's own tests make it: the app by id.
    fn db_with_app() -> (tempfile::TempDir, Db, crate::store::User, String) {
        let (dir, db, user, app) = crate::store::tests::demo_app();
        (dir, db, user, app.id)
    }

    fn addon(db: &mut Db, app_id: &str, name: &str, port: u16) -> super::AddonRecord {
        db.create_addon(&NewAddon {
            name,
            kind: "postgresql",
            app_id,
            port,
            secrets: "{}",
        })
        .expect("addon")
    }

    #[test]
    fn names_and_ports_are_one_addon_each() {
        let (_dir, mut db, _, app) = db_with_app();
        let first = addon(&mut db, &app, "shop-db", 20001);
        assert!(first.provisioning);
        let taken = |r: Result<super::AddonRecord, StoreError>| {
            matches!(r, Err(StoreError::AlreadyExists(_)))
        };
        let again = NewAddon {
            name: "shop-db",
            kind: "redis",
            app_id: &app,
            port: 20002,
            secrets: "{}",
        };
        assert!(taken(db.create_addon(&again)));
        let same_port = NewAddon {
            name: "other",
            port: 20001,
            ..again
        };
        assert!(taken(db.create_addon(&same_port)));
        db.addon_created(&first.id).expect("created");
        assert!(
            !db.addon_by_name("shop-db")
                .expect("read")
                .expect("there")
                .provisioning
        );
        assert_eq!(db.addon_ports().expect("ports"), vec![20001]);
    }

    #[test]
    fn an_attachment_and_its_config_var_come_and_go_together() {
        let (_dir, mut db, user, app) = db_with_app();
        let record = addon(&mut db, &app, "shop-db", 20001);
        let release = db
            .attach_addon(
                &record.id,
                &app,
                &user,
                "DATABASE",
                "postgres://x",
                "Attach",
            )
            .expect("attach");
        assert_eq!(release.config_vars["DATABASE_URL"], "postgres://x");
        assert!(matches!(
            db.attach_addon(&record.id, &app, &user, "OTHER", "postgres://x", "Attach"),
            Err(StoreError::AlreadyExists(_))
        ));
        assert_eq!(db.attachment_names(&app).expect("names"), vec!["DATABASE"]);
        // A failed release put the config back without the var: the attachment follows it.
        db.update_config(
            &app,
            &user,
            &[("DATABASE_URL".to_owned(), None)].into(),
            "x",
            None,
        )
        .expect("unset");
        db.sync_attachment(&record.id, &app, "DATABASE")
            .expect("sync");
        assert!(db.attachments(&record.id).expect("list").is_empty());
        // And back.
        db.update_config(
            &app,
            &user,
            &[("DATABASE_URL".to_owned(), Some("postgres://x".to_owned()))].into(),
            "x",
            None,
        )
        .expect("set");
        db.sync_attachment(&record.id, &app, "DATABASE")
            .expect("sync");
        assert_eq!(db.attachments(&record.id).expect("list").len(), 1);
        let release = db
            .detach_addon(&record.id, &app, &user, "Detach")
            .expect("detach")
            .expect("was attached");
        assert!(!release.config_vars.contains_key("DATABASE_URL"));
        assert!(
            db.detach_addon(&record.id, &app, &user, "Detach")
                .expect("detach")
                .is_none()
        );
    }

    #[test]
    fn backups_are_numbered_kept_to_a_count_and_failed_when_cut_short() {
        let (_dir, mut db, _, app) = db_with_app();
        let record = addon(&mut db, &app, "shop-db", 20001);
        for _ in 0..4 {
            let number = db.start_backup(&record.id).expect("start");
            db.finish_backup(&record.id, number, Ok(10))
                .expect("finish");
        }
        let running = db.start_backup(&record.id).expect("start");
        assert_eq!(running, 5);
        let mut pruned = db.prune_backups(&record.id, 2).expect("prune");
        pruned.sort_unstable();
        assert_eq!(pruned, vec![1, 2]);
        let ids: Vec<String> = db
            .backups(&record.id)
            .expect("list")
            .into_iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(
            ids,
            ["b005", "b004", "b003"],
            "the running one is never pruned"
        );
        assert_eq!(
            db.fail_running_backups("interrupted").expect("fail"),
            vec![(record.id.clone(), 5)]
        );
        let newest = &db.backups(&record.id).expect("list")[0];
        assert_eq!(
            (newest.status.as_str(), newest.failure.as_deref()),
            ("failed", Some("interrupted"))
        );
        assert_eq!(
            db.start_backup(&record.id).expect("start"),
            6,
            "numbers are never reused"
        );
    }
}
