//! The metrics table: each app's figures per process type and minute, for 24 h.

use rusqlite::params;

use super::{Db, Result};

/// One stored minute of one process type: its figures as JSON (`metrics::Minute`).
#[derive(Debug, Clone)]
pub struct MetricsRow {
    pub app_id: String,
    pub process_type: String,
    /// The minute's start, unix seconds.
    pub minute: i64,
    pub data: String,
}

impl Db {
    /// Writes `rows`, replacing the minutes already stored (a minute is written as it fills), in
    /// one transaction. Rows of apps destroyed meanwhile are skipped.
    pub fn put_metrics(&mut self, rows: &[MetricsRow]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO metrics (app_id, process_type, minute, data)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM apps WHERE id = ?1)",
            )?;
            for row in rows {
                insert.execute(params![row.app_id, row.process_type, row.minute, row.data])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every minute from `since` (unix seconds) on.
    pub fn metrics_since(&self, since: i64) -> Result<Vec<MetricsRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT app_id, process_type, minute, data FROM metrics WHERE minute >= ?1",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok(MetricsRow {
                app_id: r.get(0)?,
                process_type: r.get(1)?,
                minute: r.get(2)?,
                data: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Drops the minutes before `before` (unix seconds).
    pub fn prune_metrics(&mut self, before: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM metrics WHERE minute < ?1", [before])?;
        Ok(())
    }
}
