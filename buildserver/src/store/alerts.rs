//! The alerts table: each alert's trigger, webhook and signing secret, and its last delivery.

use paas_share::models::AlertDelivery;
use rusqlite::{Row, params};

use super::{Db, Result, new_id};

/// An alert row. `secret` is never logged (not even by `Debug`).
#[derive(Clone)]
pub struct AlertRecord {
    pub id: String,
    pub app_id: String,
    /// As given: `crash`, `deploy-failed`, `p95>300ms`, `5xx>2%`.
    pub trigger: String,
    pub webhook: String,
    pub secret: String,
    pub created_at: String,
    pub last_delivery: Option<AlertDelivery>,
}

impl std::fmt::Debug for AlertRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertRecord")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("trigger", &self.trigger)
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str =
    "id, app_id, trigger, webhook, secret, created_at, last_at, last_ok, last_status FROM alerts";

fn alert(row: &Row<'_>) -> rusqlite::Result<AlertRecord> {
    let last_at: Option<String> = row.get(6)?;
    Ok(AlertRecord {
        id: row.get(0)?,
        app_id: row.get(1)?,
        trigger: row.get(2)?,
        webhook: row.get(3)?,
        secret: row.get(4)?,
        created_at: row.get(5)?,
        last_delivery: match last_at {
            Some(at) => Some(AlertDelivery {
                at,
                ok: row.get(7)?,
                status: row.get(8)?,
            }),
            None => None,
        },
    })
}

impl Db {
    /// Records an alert; its id is new.
    pub fn add_alert(
        &mut self,
        app_id: &str,
        trigger: &str,
        webhook: &str,
        secret: &str,
    ) -> Result<AlertRecord> {
        let id = new_id();
        self.conn.execute(
            "INSERT INTO alerts (id, app_id, trigger, webhook, secret) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, app_id, trigger, webhook, secret],
        )?;
        Ok(self
            .conn
            .query_row(&format!("SELECT {COLUMNS} WHERE id = ?1"), [&id], alert)?)
    }

    /// The app's alerts, oldest first.
    pub fn alerts(&self, app_id: &str) -> Result<Vec<AlertRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} WHERE app_id = ?1 ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([app_id], alert)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every app's alerts.
    pub fn all_alerts(&self) -> Result<Vec<AlertRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} ORDER BY app_id, created_at, id"))?;
        let rows = stmt.query_map([], alert)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes the app's alert `id`; `false` when it has none of that id.
    pub fn delete_alert(&mut self, app_id: &str, id: &str) -> Result<bool> {
        let deleted = self.conn.execute(
            "DELETE FROM alerts WHERE app_id = ?1 AND id = ?2",
            params![app_id, id],
        )?;
        Ok(deleted > 0)
    }

    /// Records how the alert's last delivery went (nothing if it was removed meanwhile).
    pub fn set_alert_delivery(&mut self, id: &str, delivery: &AlertDelivery) -> Result<()> {
        self.conn.execute(
            "UPDATE alerts SET last_at = ?2, last_ok = ?3, last_status = ?4 WHERE id = ?1",
            params![id, delivery.at, delivery.ok, delivery.status],
        )?;
        Ok(())
    }
}
