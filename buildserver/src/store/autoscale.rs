//! The autoscaler's tables: each autoscaled process type's range and targets, and its last
//! decisions (at most [`DECISIONS_KEPT`] per app).

use paas_share::models::{AutoscaleDecision, AutoscaleRule, AutoscaleSettings};
use rusqlite::{Row, params};

use super::{Db, Result};

/// Decisions kept per app; older ones go as new ones are recorded.
pub const DECISIONS_KEPT: u32 = 20;

fn rule(row: &Row<'_>) -> rusqlite::Result<(String, AutoscaleRule)> {
    Ok((
        row.get(0)?,
        AutoscaleRule {
            process_type: row.get(1)?,
            settings: AutoscaleSettings {
                min: row.get(2)?,
                max: row.get(3)?,
                p95_ms: row.get(4)?,
                cpu_percent: row.get(5)?,
            },
            updated_at: row.get(6)?,
        },
    ))
}

const RULE_COLUMNS: &str =
    "app_id, process_type, min, max, p95_ms, cpu_percent, updated_at FROM autoscale";

impl Db {
    /// Sets (or replaces) how `process_type` of the app is autoscaled; the caller has checked
    /// `settings`.
    pub fn put_autoscale(
        &mut self,
        app_id: &str,
        process_type: &str,
        settings: &AutoscaleSettings,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO autoscale (app_id, process_type, min, max, p95_ms, cpu_percent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (app_id, process_type) DO UPDATE SET min = excluded.min,
                 max = excluded.max, p95_ms = excluded.p95_ms, cpu_percent = excluded.cpu_percent,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            params![
                app_id,
                process_type,
                settings.min,
                settings.max,
                settings.p95_ms,
                settings.cpu_percent
            ],
        )?;
        Ok(())
    }

    /// Stops autoscaling `process_type`; `false` when it was not autoscaled.
    pub fn delete_autoscale(&mut self, app_id: &str, process_type: &str) -> Result<bool> {
        let deleted = self.conn.execute(
            "DELETE FROM autoscale WHERE app_id = ?1 AND process_type = ?2",
            params![app_id, process_type],
        )?;
        Ok(deleted > 0)
    }

    /// The app's autoscaled types, by name.
    pub fn autoscale_rules(&self, app_id: &str) -> Result<Vec<AutoscaleRule>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RULE_COLUMNS} WHERE app_id = ?1 ORDER BY process_type"
        ))?;
        let rows = stmt.query_map([app_id], rule)?;
        Ok(rows
            .map(|r| r.map(|(_, rule)| rule))
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Every app's autoscaled types: (app id, rule).
    pub fn all_autoscale_rules(&self) -> Result<Vec<(String, AutoscaleRule)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RULE_COLUMNS} ORDER BY app_id, process_type"
        ))?;
        let rows = stmt.query_map([], rule)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a decision, keeping the app's last [`DECISIONS_KEPT`].
    pub fn add_autoscale_decision(
        &mut self,
        app_id: &str,
        process_type: &str,
        from: u32,
        to: u32,
        reason: &str,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO autoscale_decisions (app_id, process_type, from_count, to_count, reason)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![app_id, process_type, from, to, reason],
        )?;
        tx.execute(
            "DELETE FROM autoscale_decisions WHERE app_id = ?1 AND id NOT IN
                 (SELECT id FROM autoscale_decisions WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2)",
            params![app_id, DECISIONS_KEPT],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The app's last decisions, newest first.
    pub fn autoscale_decisions(&self, app_id: &str) -> Result<Vec<AutoscaleDecision>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, process_type, from_count, to_count, reason FROM autoscale_decisions
             WHERE app_id = ?1 ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([app_id], |r| {
            Ok(AutoscaleDecision {
                at: r.get(0)?,
                process_type: r.get(1)?,
                from: r.get(2)?,
                to: r.get(3)?,
                reason: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
