//! The drains table: where each app's log is forwarded.

use rusqlite::{Row, params};

use super::{Db, Result, StoreError, is_unique_violation, new_id};

/// A drain row. The URL may hold a token: it is never logged (not even by `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct DrainRecord {
    pub id: String,
    pub app_id: String,
    pub url: String,
    pub created_at: String,
}

impl std::fmt::Debug for DrainRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrainRecord")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, app_id, url, created_at FROM drains";

fn drain(row: &Row<'_>) -> rusqlite::Result<DrainRecord> {
    Ok(DrainRecord {
        id: row.get(0)?,
        app_id: row.get(1)?,
        url: row.get(2)?,
        created_at: row.get(3)?,
    })
}

impl Db {
    /// Records a drain; [`StoreError::AlreadyExists`] when the app drains to `url` already.
    pub fn add_drain(&mut self, app_id: &str, url: &str) -> Result<DrainRecord> {
        let id = new_id();
        let inserted = self.conn.execute(
            "INSERT INTO drains (id, app_id, url) VALUES (?1, ?2, ?3)",
            params![id, app_id, url],
        );
        if is_unique_violation(&inserted) {
            return Err(StoreError::AlreadyExists("a drain to that URL".to_owned()));
        }
        inserted?;
        Ok(self
            .conn
            .query_row(&format!("SELECT {COLUMNS} WHERE id = ?1"), [&id], drain)?)
    }

    /// The app's drains, oldest first.
    pub fn drains(&self, app_id: &str) -> Result<Vec<DrainRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} WHERE app_id = ?1 ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([app_id], drain)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every app's drains.
    pub fn all_drains(&self) -> Result<Vec<DrainRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} ORDER BY app_id, created_at, id"))?;
        let rows = stmt.query_map([], drain)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes the app's drain `id`; `false` when it has none of that id.
    pub fn delete_drain(&mut self, app_id: &str, id: &str) -> Result<bool> {
        let deleted = self.conn.execute(
            "DELETE FROM drains WHERE app_id = ?1 AND id = ?2",
            params![app_id, id],
        )?;
        Ok(deleted > 0)
    }
}
