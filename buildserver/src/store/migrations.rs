//! The schema, as an append-only list of migrations. `PRAGMA user_version` records how many have
//! run; a migration is never edited once it has shipped, only followed by a new one.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the foundation (users, tokens, keys, apps, config, builds, releases, formation).
    r#"
    CREATE TABLE users (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        admin      INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;

    -- A token is `paas_<id>_<secret>`; only its SHA-256 is kept.
    CREATE TABLE api_tokens (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        token_sha256 BLOB NOT NULL,
        created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;

    -- A key belongs to one user: the SSH server maps a verified key to its owner.
    CREATE TABLE ssh_keys (
        fingerprint TEXT PRIMARY KEY,
        user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        algorithm   TEXT NOT NULL,
        public_key  TEXT NOT NULL,
        comment     TEXT NOT NULL,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;
    CREATE INDEX ssh_keys_user ON ssh_keys (user_id);

    CREATE TABLE apps (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        owner_id   TEXT NOT NULL REFERENCES users (id),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;
    CREATE INDEX apps_owner ON apps (owner_id);

    -- The app's current config; each release keeps its own snapshot.
    CREATE TABLE config_vars (
        app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (app_id, key)
    ) STRICT;

    CREATE TABLE builds (
        id             TEXT PRIMARY KEY,
        app_id         TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        user_id        TEXT NOT NULL REFERENCES users (id),
        status         TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        source_version TEXT NOT NULL,
        created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;
    CREATE INDEX builds_app ON builds (app_id);

    CREATE TABLE releases (
        app_id        TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        version       INTEGER NOT NULL CHECK (version > 0),
        build_id      TEXT REFERENCES builds (id),
        image         TEXT,
        process_types TEXT NOT NULL,
        config_vars   TEXT NOT NULL,
        description   TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        user_id       TEXT NOT NULL REFERENCES users (id),
        created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (app_id, version)
    ) STRICT;

    -- DESIGN §3.4: a release is immutable; only its rollout status moves.
    CREATE TRIGGER releases_immutable
    BEFORE UPDATE OF app_id, version, build_id, image, process_types, config_vars, description,
                     user_id, created_at ON releases
    BEGIN
        SELECT RAISE(ABORT, 'releases are immutable');
    END;

    -- Process type → dyno count: app state, not part of a release.
    CREATE TABLE formation (
        app_id       TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        process_type TEXT NOT NULL,
        quantity     INTEGER NOT NULL CHECK (quantity >= 0),
        PRIMARY KEY (app_id, process_type)
    ) STRICT;
    "#,
    // 2: what a build produced: its buildpack, process types, output and timings.
    r#"
    ALTER TABLE builds ADD COLUMN buildpack TEXT;
    ALTER TABLE builds ADD COLUMN process_types TEXT;
    ALTER TABLE builds ADD COLUMN failure TEXT;
    ALTER TABLE builds ADD COLUMN output TEXT NOT NULL DEFAULT '';
    ALTER TABLE builds ADD COLUMN finished_at TEXT;
    "#,
    // 3: release states pending → deploying → succeeded | failed, why one failed, and the release
    // phase's output. SQLite
    // cannot change a CHECK constraint: the table is made anew and the rows copied.
    r#"
    DROP TRIGGER releases_immutable;
    CREATE TABLE releases_new (
        app_id        TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        version       INTEGER NOT NULL CHECK (version > 0),
        build_id      TEXT REFERENCES builds (id),
        image         TEXT,
        process_types TEXT NOT NULL,
        config_vars   TEXT NOT NULL,
        description   TEXT NOT NULL,
        status        TEXT NOT NULL
                      CHECK (status IN ('pending', 'deploying', 'succeeded', 'failed')),
        failure       TEXT,
        -- What the release phase printed (capped), for `paas releases:output`.
        release_output TEXT NOT NULL DEFAULT '',
        user_id       TEXT NOT NULL REFERENCES users (id),
        created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (app_id, version)
    ) STRICT;
    INSERT INTO releases_new (app_id, version, build_id, image, process_types, config_vars,
                              description, status, user_id, created_at)
        SELECT app_id, version, build_id, image, process_types, config_vars, description, status,
               user_id, created_at
        FROM releases;
    DROP TABLE releases;
    ALTER TABLE releases_new RENAME TO releases;
    -- DESIGN §3.4: a release is immutable; only its state (and why it failed) moves.
    CREATE TRIGGER releases_immutable
    BEFORE UPDATE OF app_id, version, build_id, image, process_types, config_vars, description,
                     user_id, created_at ON releases
    BEGIN
        SELECT RAISE(ABORT, 'releases are immutable');
    END;
    "#,
    // 4: the Idempotency-Key of the request that made a release (a config change, rollback or
    // retry) and a digest of that request, so that the same request sent again gets this release.
    r#"
    ALTER TABLE releases ADD COLUMN idempotency_key TEXT;
    ALTER TABLE releases ADD COLUMN request_digest TEXT;
    CREATE UNIQUE INDEX releases_idempotency_key ON releases (app_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    "#,
    // 5: the stack an app builds on (`paas stack:set`); NULL follows the server's default.
    r#"
    ALTER TABLE apps ADD COLUMN stack TEXT;
    "#,
    // 6: add-ons (backing services), where they are attached, and their backups. An add-on's
    // secrets (passwords) are kept here, in the 0600 database, never in a log.
    r#"
    CREATE TABLE addons (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        kind       TEXT NOT NULL,
        app_id     TEXT NOT NULL REFERENCES apps (id),
        port       INTEGER NOT NULL UNIQUE,
        -- The provider's credentials, as JSON.
        secrets    TEXT NOT NULL,
        -- `provisioning` until its service first accepted connections: one still provisioning
        -- when the server starts is removed.
        state      TEXT NOT NULL CHECK (state IN ('provisioning', 'created')),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;
    CREATE TABLE addon_attachments (
        addon_id TEXT NOT NULL REFERENCES addons (id),
        app_id   TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        name     TEXT NOT NULL,
        PRIMARY KEY (app_id, name),
        UNIQUE (addon_id, app_id)
    ) STRICT;
    CREATE TABLE addon_backups (
        addon_id    TEXT NOT NULL REFERENCES addons (id) ON DELETE CASCADE,
        number      INTEGER NOT NULL CHECK (number > 0),
        status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        size        INTEGER,
        failure     TEXT,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        finished_at TEXT,
        PRIMARY KEY (addon_id, number)
    ) STRICT;
    "#,
    // 7: custom domains, the TLS certificates the router serves (the private key is kept here, in
    // the 0600 database, never in a log or an answer) and each app's router settings.
    r#"
    CREATE TABLE domains (
        hostname   TEXT PRIMARY KEY,
        app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        -- ACM's state for it: NULL (no order yet), 'pending', 'issued' or 'failing'; the last
        -- failure, how many orders failed in a row, and when to order again (unix seconds).
        acm_status TEXT CHECK (acm_status IN ('pending', 'issued', 'failing')),
        acm_error  TEXT,
        acm_failures INTEGER NOT NULL DEFAULT 0,
        acm_next_at INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;
    CREATE TABLE certificates (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        app_id      TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        source      TEXT NOT NULL CHECK (source IN ('acm', 'manual')),
        chain       TEXT NOT NULL,
        private_key TEXT NOT NULL,
        -- The DNS names it covers, as a JSON array.
        names       TEXT NOT NULL,
        issuer      TEXT NOT NULL,
        -- Unix seconds.
        not_before  INTEGER NOT NULL,
        not_after   INTEGER NOT NULL,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;
    CREATE TABLE app_router (
        app_id          TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
        acm             INTEGER NOT NULL DEFAULT 0,
        redirect_https  INTEGER NOT NULL DEFAULT 0,
        maintenance     INTEGER NOT NULL DEFAULT 0,
        timeout_seconds INTEGER,
        max_body_bytes  INTEGER
    ) STRICT;
    "#,
    // 8: each app's figures, minute by minute (JSON of `metrics::Minute`), for 24 h.
    r#"
    CREATE TABLE metrics (
        app_id       TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        process_type TEXT NOT NULL,
        -- The minute's start, unix seconds.
        minute       INTEGER NOT NULL,
        data         TEXT NOT NULL,
        PRIMARY KEY (app_id, process_type, minute)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX metrics_minute ON metrics (minute);
    "#,
    // 9: autoscaling: each autoscaled process type's range and targets, and the autoscaler's
    // last decisions (a few per app).
    r#"
    CREATE TABLE autoscale (
        app_id       TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        process_type TEXT NOT NULL,
        min          INTEGER NOT NULL CHECK (min >= 1),
        max          INTEGER NOT NULL CHECK (max >= min),
        p95_ms       INTEGER CHECK (p95_ms > 0),
        cpu_percent  INTEGER CHECK (cpu_percent > 0),
        updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (app_id, process_type),
        CHECK (p95_ms IS NOT NULL OR cpu_percent IS NOT NULL)
    ) STRICT;
    CREATE TABLE autoscale_decisions (
        id           INTEGER PRIMARY KEY,
        app_id       TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        process_type TEXT NOT NULL,
        at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        from_count   INTEGER NOT NULL,
        to_count     INTEGER NOT NULL,
        reason       TEXT NOT NULL
    ) STRICT;
    CREATE INDEX autoscale_decisions_app ON autoscale_decisions (app_id, id);
    "#,
    // 10: alerts: a trigger, the webhook it calls with its signing secret (kept here, in the 0600
    // database, never in a log; shown once), and how the last delivery went.
    r#"
    CREATE TABLE alerts (
        id          TEXT PRIMARY KEY,
        app_id      TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        trigger     TEXT NOT NULL,
        webhook     TEXT NOT NULL,
        secret      TEXT NOT NULL,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        last_at     TEXT,
        last_ok     INTEGER,
        last_status TEXT
    ) STRICT;
    CREATE INDEX alerts_app ON alerts (app_id);
    "#,
    // 11: log drains: where each app's log is forwarded (the URL may hold a token: never logged).
    r#"
    CREATE TABLE drains (
        id         TEXT PRIMARY KEY,
        app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        url        TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (app_id, url)
    ) STRICT;
    "#,
    // 12: flow control in each app's router settings: a rate and burst, a concurrency cap and a
    // rate per client address (NULL: no limit).
    r#"
    ALTER TABLE app_router ADD COLUMN rate_per_s INTEGER;
    ALTER TABLE app_router ADD COLUMN burst INTEGER;
    ALTER TABLE app_router ADD COLUMN concurrency INTEGER;
    ALTER TABLE app_router ADD COLUMN per_ip_per_s INTEGER;
    "#,
    // 13: canaries: each app's canary while it runs (its release stays `deploying` meanwhile),
    // and how the app's canaries run.
    r#"
    CREATE TABLE canaries (
        app_id           TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
        release          INTEGER NOT NULL,
        baseline         INTEGER NOT NULL,
        weight           INTEGER NOT NULL CHECK (weight BETWEEN 1 AND 99),
        duration_seconds INTEGER,
        max_5xx_points   REAL NOT NULL,
        max_p95_factor   REAL NOT NULL,
        started_at       INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE canary_settings (
        app_id           TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
        weight           INTEGER CHECK (weight BETWEEN 1 AND 99),
        duration_seconds INTEGER,
        max_5xx_points   REAL NOT NULL,
        max_p95_factor   REAL NOT NULL
    ) STRICT;
    "#,
    // 14: the canary `paas canary:start` set for an app's next push (taken by that push).
    r#"
    CREATE TABLE canary_next (
        app_id           TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
        weight           INTEGER NOT NULL CHECK (weight BETWEEN 1 AND 99),
        duration_seconds INTEGER,
        max_5xx_points   REAL NOT NULL,
        max_p95_factor   REAL NOT NULL
    ) STRICT;
    "#,
    // 15: access. Collaborators and their role on an app (its owner is not one: it has `admin`).
    // Tokens get a description, an expiry, when they were last used, and for scoped tokens an app
    // and a most-they-may role (NULL: a login token, everything its user may). The audit log is
    // append-only: the triggers refuse to change or remove an entry, and it names apps and users
    // by their name at the time, so that it outlives them.
    r#"
    CREATE TABLE collaborators (
        app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role       TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (app_id, user_id)
    ) STRICT;
    CREATE INDEX collaborators_user ON collaborators (user_id);
    ALTER TABLE api_tokens ADD COLUMN description TEXT NOT NULL DEFAULT 'login';
    ALTER TABLE api_tokens ADD COLUMN app_id TEXT REFERENCES apps (id) ON DELETE CASCADE;
    ALTER TABLE api_tokens ADD COLUMN role TEXT CHECK (role IN ('viewer', 'deployer', 'admin'));
    ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
    ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;
    CREATE TABLE audit (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        actor    TEXT NOT NULL,
        token_id TEXT,
        source   TEXT NOT NULL,
        app_id   TEXT,
        app      TEXT,
        action   TEXT NOT NULL,
        detail   TEXT NOT NULL DEFAULT '{}',
        outcome  TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
        status   INTEGER
    ) STRICT;
    CREATE INDEX audit_app ON audit (app_id, id);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    -- Dashboard sessions: the SHA-256 of the cookie's secret, the token signed in with (revoking
    -- it ends the session), and the session's CSRF token.
    CREATE TABLE sessions (
        id         TEXT PRIMARY KEY,
        token_id   TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
        csrf       TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) STRICT;
    "#,
];
