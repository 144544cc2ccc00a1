//! The canaries' tables: each app's canary while it runs, and how its canaries run.

use paas_share::models::{Canary, CanarySettings};
use rusqlite::{OptionalExtension, Row, params};

use super::{Db, Result};

const CANARY_COLUMNS: &str = "app_id, release, baseline, weight, duration_seconds, max_5xx_points,
    max_p95_factor, started_at FROM canaries";

fn canary(row: &Row<'_>) -> rusqlite::Result<(String, Canary)> {
    Ok((
        row.get(0)?,
        Canary {
            release: row.get(1)?,
            baseline: row.get(2)?,
            weight: row.get(3)?,
            duration_seconds: row.get(4)?,
            max_5xx_points: row.get(5)?,
            max_p95_factor: row.get(6)?,
            started_at: row.get(7)?,
        },
    ))
}

/// The two tables of canary settings, with the same columns.
#[derive(Clone, Copy)]
enum Settings {
    /// `canary:config`: how the app's canaries run.
    App,
    /// `canary:start`: the next push's canary.
    NextPush,
}

impl Settings {
    fn table(self) -> &'static str {
        match self {
            Self::App => "canary_settings",
            Self::NextPush => "canary_next",
        }
    }
}

impl Db {
    /// Records the app's canary; `false` (and nothing recorded) when one runs already.
    pub fn insert_canary(&mut self, app_id: &str, canary: &Canary) -> Result<bool> {
        let inserted = self.conn.execute(
            "INSERT INTO canaries (app_id, release, baseline, weight, duration_seconds,
             max_5xx_points, max_p95_factor, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (app_id) DO NOTHING",
            params![
                app_id,
                canary.release,
                canary.baseline,
                canary.weight,
                canary.duration_seconds,
                canary.max_5xx_points,
                canary.max_p95_factor,
                canary.started_at
            ],
        )?;
        Ok(inserted == 1)
    }

    /// The app's canary, if one runs.
    pub fn canary(&self, app_id: &str) -> Result<Option<Canary>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {CANARY_COLUMNS} WHERE app_id = ?1"),
                [app_id],
                canary,
            )
            .optional()?
            .map(|(_, c)| c))
    }

    /// Every app's canary: (app id, canary).
    pub fn canaries(&self) -> Result<Vec<(String, Canary)>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {CANARY_COLUMNS} ORDER BY app_id"))?;
        Ok(stmt
            .query_map([], canary)?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets the app's canary (promoted or aborted).
    pub fn delete_canary(&mut self, app_id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM canaries WHERE app_id = ?1", [app_id])?;
        Ok(())
    }

    /// How the app's canaries run (the defaults until set).
    pub fn canary_settings(&self, app_id: &str) -> Result<CanarySettings> {
        Ok(self
            .read_settings(Settings::App, app_id)?
            .unwrap_or_default())
    }

    /// Sets how the app's canaries run; the caller has checked `settings`.
    pub fn set_canary_settings(&mut self, app_id: &str, settings: &CanarySettings) -> Result<()> {
        self.write_settings(Settings::App, app_id, settings)
    }

    /// Sets the canary of the app's next push (its weight must be there).
    pub fn set_next_canary(&mut self, app_id: &str, next: &CanarySettings) -> Result<()> {
        self.write_settings(Settings::NextPush, app_id, next)
    }

    /// The canary of the app's next push, if one is set.
    pub fn next_canary(&self, app_id: &str) -> Result<Option<CanarySettings>> {
        self.read_settings(Settings::NextPush, app_id)
    }

    fn read_settings(&self, which: Settings, app_id: &str) -> Result<Option<CanarySettings>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT weight, duration_seconds, max_5xx_points, max_p95_factor
                     FROM {} WHERE app_id = ?1",
                    which.table()
                ),
                [app_id],
                |r| {
                    Ok(CanarySettings {
                        weight: r.get(0)?,
                        duration_seconds: r.get(1)?,
                        max_5xx_points: r.get(2)?,
                        max_p95_factor: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    fn write_settings(
        &mut self,
        which: Settings,
        app_id: &str,
        settings: &CanarySettings,
    ) -> Result<()> {
        self.conn.execute(
            &format!(
                "INSERT INTO {} (app_id, weight, duration_seconds, max_5xx_points,
                 max_p95_factor) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (app_id) DO UPDATE SET weight = ?2, duration_seconds = ?3,
                 max_5xx_points = ?4, max_p95_factor = ?5",
                which.table()
            ),
            params![
                app_id,
                settings.weight,
                settings.duration_seconds,
                settings.max_5xx_points,
                settings.max_p95_factor
            ],
        )?;
        Ok(())
    }

    /// Forgets the canary of the app's next push.
    pub fn delete_next_canary(&mut self, app_id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM canary_next WHERE app_id = ?1", [app_id])?;
        Ok(())
    }
}
