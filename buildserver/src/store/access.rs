//! Access rows: API tokens (login and scoped), collaborators and the append-only audit log.
//! Who may do what is decided by the API's guard; here the rows stay consistent.

use paas_share::models::{AuditEntry, Collaborator, Role, TokenInfo};
use paas_share::{AppName, UserName};
use rusqlite::{OptionalExtension, Row, params};

use super::{Db, Grant, Result, StoreError, User, is_unique_violation, parse};
use crate::token::NewToken;

/// A token's expiry (an SQL expression over `t`, an `api_tokens` row): its own, else for a login
/// token `?max` seconds after it was made when the server sets a maximum age (`--token-max-age`).
macro_rules! expires_at {
    ($max:literal) => {
        concat!(
            "COALESCE(t.expires_at, CASE WHEN t.role IS NULL AND ",
            $max,
            " IS NOT NULL THEN strftime('%Y-%m-%dT%H:%M:%fZ', t.created_at, '+' || ",
            $max,
            " || ' seconds') END)"
        )
    };
}

/// Now, as the store writes times (RFC 3339 with milliseconds, which sort as text).
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// The token a request came with, as the store found it.
pub struct Authenticated {
    /// SHA-256 of the whole token, to compare with what was sent.
    pub sha256: Vec<u8>,
    /// Its user, with the token's grant.
    pub user: User,
    /// When it expired, if it has.
    pub expired: Option<String>,
    /// Whether `last_used_at` is over a minute old (so that a busy client writes once a minute).
    pub stale_use: bool,
}

/// One audit entry to append.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub actor: String,
    pub token_id: Option<String>,
    pub source: String,
    pub app_id: Option<String>,
    pub app: Option<String>,
    pub action: String,
    pub detail: serde_json::Value,
    /// `success`, `failure` or `denied`.
    pub outcome: &'static str,
    pub status: Option<u16>,
}

const TOKEN_COLUMNS: &str = concat!(
    "t.id, t.description, a.name, t.role, t.created_at, t.last_used_at, ",
    expires_at!("?2"),
    ", ",
    expires_at!("?2"),
    " <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
);

impl Db {
    // ---- tokens ----

    /// Token `token_id` with its user and grant, if it exists (login tokens expire `max_age`
    /// seconds after they were made, when set).
    pub fn token_owner(
        &self,
        token_id: &str,
        max_age: Option<u64>,
    ) -> Result<Option<Authenticated>> {
        let mut stmt = self.conn.prepare_cached(concat!(
            "SELECT t.token_sha256, u.id, u.name, u.admin, t.app_id, t.role, ",
            expires_at!("?2"),
            ", ",
            expires_at!("?2"),
            " <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ",
            "t.last_used_at IS NULL OR t.last_used_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-60 seconds') ",
            "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?1"
        ))?;
        Ok(stmt
            .query_row(params![token_id, max_age], |r| {
                let role: Option<String> = r.get(5)?;
                let past = r.get::<_, Option<bool>>(7)?.unwrap_or(false);
                Ok(Authenticated {
                    sha256: r.get(0)?,
                    user: User {
                        id: r.get(1)?,
                        name: parse(r, 2)?,
                        admin: r.get(3)?,
                        token: Some(Grant {
                            token_id: token_id.to_owned(),
                            app_id: r.get(4)?,
                            role: role.map(|_| parse(r, 5)).transpose()?,
                        }),
                    },
                    expired: if past { r.get(6)? } else { None },
                    stale_use: r.get(8)?,
                })
            })
            .optional()?)
    }

    /// Records that token `token_id` was used now.
    pub fn touch_token(&mut self, token_id: &str) -> Result<()> {
        self.conn.execute(
            &format!("UPDATE api_tokens SET last_used_at = {NOW} WHERE id = ?1"),
            [token_id],
        )?;
        Ok(())
    }

    /// A scoped token of `user`'s: `role` at most, on `app_id` only if given, for `expires_in`
    /// seconds if given.
    pub fn create_token(
        &mut self,
        user: &User,
        new: &NewToken,
        description: &str,
        app_id: Option<&str>,
        role: Role,
        expires_in: Option<u64>,
    ) -> Result<TokenInfo> {
        self.conn.execute(
            "INSERT INTO api_tokens (id, user_id, token_sha256, description, app_id, role, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6,
                     CASE WHEN ?7 IS NOT NULL THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || ?7 || ' seconds') END)",
            params![
                new.id,
                user.id,
                new.sha256.as_slice(),
                description,
                app_id,
                role.as_str(),
                expires_in
            ],
        )?;
        let mut tokens = self.tokens(user, None)?;
        tokens.retain(|t| t.id == new.id);
        tokens.pop().ok_or(StoreError::Gone)
    }

    /// `user`'s tokens, oldest first; `current` is marked as such.
    pub fn tokens(&self, user: &User, max_age: Option<u64>) -> Result<Vec<TokenInfo>> {
        let current = user.token.as_ref().map(|t| t.token_id.clone());
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t LEFT JOIN apps a ON a.id = t.app_id
             WHERE t.user_id = ?1 ORDER BY t.created_at, t.id"
        ))?;
        let rows = stmt.query_map(params![user.id, max_age], |r| {
            let id: String = r.get(0)?;
            Ok(TokenInfo {
                current: current.as_deref() == Some(id.as_str()),
                id,
                description: r.get(1)?,
                app: r
                    .get::<_, Option<String>>(2)?
                    .map(|_| parse(r, 2))
                    .transpose()?,
                role: r
                    .get::<_, Option<String>>(3)?
                    .map(|_| parse(r, 3))
                    .transpose()?,
                created_at: r.get(4)?,
                last_used_at: r.get(5)?,
                expires_at: r.get(6)?,
                expired: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes `user`'s token `id`: None when they have none of that id, else the app (id and
    /// name) it was limited to, if any.
    pub fn revoke_token(
        &mut self,
        user: &User,
        id: &str,
    ) -> Result<Option<Option<(String, String)>>> {
        let tx = self.conn.transaction()?;
        let found: Option<Option<(String, String)>> = tx
            .query_row(
                "SELECT a.id, a.name FROM api_tokens t LEFT JOIN apps a ON a.id = t.app_id
                 WHERE t.id = ?1 AND t.user_id = ?2",
                params![id, user.id],
                |r| {
                    let app: Option<String> = r.get(0)?;
                    Ok(match app {
                        Some(app) => Some((app, r.get(1)?)),
                        None => None,
                    })
                },
            )
            .optional()?;
        tx.execute(
            "DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2",
            params![id, user.id],
        )?;
        tx.commit()?;
        Ok(found)
    }

    // ---- dashboard sessions ----

    /// A session of token `token_id` for `seconds`, found by `id` (the SHA-256 of its cookie).
    pub fn create_session(
        &mut self,
        id: &str,
        token_id: &str,
        csrf: &str,
        seconds: u64,
    ) -> Result<()> {
        self.conn.execute(
            &format!("DELETE FROM sessions WHERE expires_at <= {NOW}"),
            [],
        )?;
        self.conn.execute(
            "INSERT INTO sessions (id, token_id, csrf, expires_at)
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || ?4 || ' seconds'))",
            params![id, token_id, csrf, seconds],
        )?;
        Ok(())
    }

    /// The token and CSRF token of session `id`, if it exists and has not expired.
    pub fn session(&self, id: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT token_id, csrf FROM sessions WHERE id = ?1 AND expires_at > {NOW}"
                ),
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Ends session `id`.
    pub fn delete_session(&mut self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM sessions WHERE id = ?1", [id])?;
        Ok(())
    }

    // ---- collaborators ----

    /// Who may use app `app_id`: its owner (as `admin`), then collaborators by name.
    pub fn collaborators(&self, app_id: &str) -> Result<Vec<Collaborator>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT u.name, 'admin', 1, a.created_at, u.admin
             FROM apps a JOIN users u ON u.id = a.owner_id WHERE a.id = ?1
             UNION ALL
             SELECT * FROM (SELECT u.name, c.role, 0, c.created_at, u.admin
                 FROM collaborators c JOIN users u ON u.id = c.user_id
                 WHERE c.app_id = ?1 ORDER BY u.name)",
        )?;
        let rows = stmt.query_map([app_id], Self::collaborator_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn collaborator_row(r: &Row<'_>) -> rusqlite::Result<Collaborator> {
        Ok(Collaborator {
            user: parse(r, 0)?,
            role: parse(r, 1)?,
            owner: r.get(2)?,
            created_at: r.get(3)?,
            server_admin: r.get(4)?,
        })
    }

    /// The owner's or a collaborator's row for `user` on app `app_id`.
    pub fn collaborator(&self, app_id: &str, user: &UserName) -> Result<Option<Collaborator>> {
        Ok(self
            .collaborators(app_id)?
            .into_iter()
            .find(|c| &c.user == user))
    }

    /// Gives `user` `role` on app `app_id` (adding them, or changing the role they have, with
    /// `update`). Fails with [`StoreError::AlreadyExists`] when adding one who is there already.
    pub fn set_collaborator(
        &mut self,
        app_id: &str,
        user: &User,
        role: Role,
        update: bool,
    ) -> Result<Collaborator> {
        let written = if update {
            self.conn.execute(
                "UPDATE collaborators SET role = ?3 WHERE app_id = ?1 AND user_id = ?2",
                params![app_id, user.id, role.as_str()],
            )
        } else {
            self.conn.execute(
                "INSERT INTO collaborators (app_id, user_id, role) VALUES (?1, ?2, ?3)",
                params![app_id, user.id, role.as_str()],
            )
        };
        if is_unique_violation(&written) {
            return Err(StoreError::AlreadyExists(format!(
                "collaborator \"{}\"",
                user.name
            )));
        }
        if written? == 0 {
            return Err(StoreError::Gone);
        }
        self.collaborator(app_id, &user.name)?
            .ok_or(StoreError::Gone)
    }

    /// Removes collaborator `user` from app `app_id`; false when they were not one.
    pub fn remove_collaborator(&mut self, app_id: &str, user: &User) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM collaborators WHERE app_id = ?1 AND user_id = ?2",
            params![app_id, user.id],
        )? == 1)
    }

    // ---- audit ----

    /// Appends an entry to the audit log.
    pub fn record_audit(&mut self, entry: &AuditRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit (actor, token_id, source, app_id, app, action, detail, outcome, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                entry.actor,
                entry.token_id,
                entry.source,
                entry.app_id,
                entry.app,
                entry.action,
                entry.detail.to_string(),
                entry.outcome,
                entry.status,
            ],
        )?;
        Ok(())
    }

    /// The newest `limit` entries (oldest first) of app `app_id` (of the whole server with None)
    /// made in the last `since` seconds.
    pub fn audit(&self, app_id: Option<&str>, since: u64, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT * FROM (SELECT id, at, actor, token_id, source, app, action, detail, outcome, status
             FROM audit
             WHERE (?1 IS NULL OR app_id = ?1)
               AND at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || ?2 || ' seconds')
             ORDER BY id DESC LIMIT ?3) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![app_id, since, limit], |r| {
            let detail: String = r.get(7)?;
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                token: r.get(3)?,
                source: r.get(4)?,
                app: r.get(5)?,
                action: r.get(6)?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                outcome: r.get(8)?,
                status: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The id of app `name`, whoever may see it (to file an audit entry of a refused request
    /// under the app it named; for the router's 404 versus 503 and the 503's log line).
    pub fn app_id_named(&self, name: &AppName) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM apps WHERE name = ?1",
                [name.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(db: &mut Db, name: &str) -> User {
        db.create_user(
            &UserName::parse(name).expect("works"),
            false,
            &crate::token::generate(),
        )
        .expect("works")
    }

    #[test]
    fn collaborators_see_apps_with_their_role_and_tokens_narrow_it() {
        let dir = tempfile::tempdir().expect("works");
        let mut db = Db::open(&dir.path().join("db")).expect("works");
        let (owner, other) = (user(&mut db, "owner"), user(&mut db, "other"));
        let name = AppName::parse("shared").expect("works");
        let app = db.create_app(&owner, &name, None).expect("works");
        db.create_app(&owner, &AppName::parse("private").expect("works"), None)
            .expect("works");
        assert!(db.app_role(&other, &name).expect("works").is_none());
        db.set_collaborator(&app.id, &other, Role::Deployer, false)
            .expect("works");
        assert!(matches!(
            db.set_collaborator(&app.id, &other, Role::Viewer, false),
            Err(StoreError::AlreadyExists(_))
        ));
        assert_eq!(
            db.app_role(&other, &name).expect("works").expect("works").1,
            Role::Deployer
        );
        assert_eq!(db.apps(&other).expect("works").len(), 1);
        assert_eq!(db.apps(&owner).expect("works").len(), 2);
        let scoped = User {
            token: Some(Grant {
                token_id: "t".into(),
                app_id: Some(app.id.clone()),
                role: Some(Role::Viewer),
            }),
            ..owner.clone()
        };
        assert_eq!(db.apps(&scoped).expect("works").len(), 1);
        assert_eq!(
            db.app_role(&scoped, &name)
                .expect("works")
                .expect("works")
                .1,
            Role::Viewer
        );
        let names: Vec<_> = db
            .collaborators(&app.id)
            .expect("works")
            .into_iter()
            .map(|c| (c.user.to_string(), c.role, c.owner))
            .collect();
        assert_eq!(
            names,
            [
                ("owner".to_owned(), Role::Admin, true),
                ("other".to_owned(), Role::Deployer, false)
            ]
        );
        assert!(db.remove_collaborator(&app.id, &other).expect("works"));
        assert!(db.app_role(&other, &name).expect("works").is_none());
    }

    #[test]
    fn the_audit_log_is_append_only() {
        let dir = tempfile::tempdir().expect("works");
        let mut db = Db::open(&dir.path().join("db")).expect("works");
        let entry = AuditRecord {
            actor: "someone".into(),
            token_id: None,
            source: "127.0.0.1".into(),
            app_id: None,
            app: None,
            action: "app.create".into(),
            detail: serde_json::json!({"keys": ["A"]}),
            outcome: "success",
            status: Some(201),
        };
        db.record_audit(&entry).expect("works");
        for sql in ["UPDATE audit SET actor = 'x'", "DELETE FROM audit"] {
            let refused = db.conn.execute(sql, []).expect_err("refused").to_string();
            assert!(refused.contains("append-only"), "{refused}");
        }
        let entries = db.audit(None, 60, 10).expect("works");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].detail["keys"][0], "A");
    }
}
