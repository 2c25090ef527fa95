//! The embedded backend: one SQLite file in WAL mode under `EMO_DATA_DIR`, safe for several
//! processes at once (the local server and `cargo lambda watch` functions can share it).
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool.

mod blobs;
mod jobs;
mod queue;
mod users;

pub use blobs::{BLOB_ROUTE, LocalBlobStore, with_request_base};
pub use jobs::LocalJobStore;
pub use queue::LocalJobQueue;
pub use users::LocalUserStore;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rusqlite::Connection;

/// A shared handle on the database file; cheap to clone.
#[derive(Clone)]
pub struct LocalDb {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    phone         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS wechat_tokens (
    name       TEXT    PRIMARY KEY,
    token      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_attempts (
    phone        TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_checks (
    phone          TEXT    PRIMARY KEY,
    checking       INTEGER NOT NULL,
    checking_until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS client_requests (
    bound     TEXT    NOT NULL,
    window_no INTEGER NOT NULL,
    client    TEXT    NOT NULL,
    used      INTEGER NOT NULL,
    PRIMARY KEY (bound, window_no, client)
);
CREATE TABLE IF NOT EXISTS jobs (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    rev        INTEGER NOT NULL,
    data       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user_id, created_at);
CREATE TABLE IF NOT EXISTS job_traces (
    trace_id TEXT PRIMARY KEY,
    job_id   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_traces_by_job ON job_traces (job_id);
CREATE TABLE IF NOT EXISTS job_durations (
    n     INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT    NOT NULL,
    secs  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS job_durations_by_model ON job_durations (model, n);
CREATE TABLE IF NOT EXISTS job_quota (
    user_id INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    used    INTEGER NOT NULL,
    PRIMARY KEY (user_id, day)
);
CREATE TABLE IF NOT EXISTS task_slots (
    model   TEXT    NOT NULL,
    slot    INTEGER NOT NULL,
    holder  TEXT    NOT NULL,
    until   INTEGER NOT NULL,
    user_id INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (model, slot)
);
CREATE TABLE IF NOT EXISTS create_locks (
    model   TEXT    PRIMARY KEY,
    holder  TEXT,
    free_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    body          TEXT    NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    receipt       TEXT
);
CREATE INDEX IF NOT EXISTS queue_by_visibility ON queue (visible_at);
CREATE INDEX IF NOT EXISTS queue_by_receipt ON queue (receipt);
";

/// Columns added after the first release, for data dirs made before them: (table, column,
/// declaration). Added once, when missing; never removed.
const ADDED_COLUMNS: [(&str, &str, &str); 5] = [
    // The WeChat openid bound to the account (unique where set) and its unionid.
    ("users", "openid", "TEXT"),
    ("users", "unionid", "TEXT"),
    ("task_slots", "user_id", "INTEGER NOT NULL DEFAULT 0"),
    // Set while the job is in progress (its `updated_at`), NULL once it ended: the sweep's index.
    ("jobs", "unattended_since", "INTEGER"),
    // The job's microseconds within `created_at`: the list's order within a second.
    ("jobs", "created_micros", "INTEGER NOT NULL DEFAULT 0"),
];

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, decl) in ADDED_COLUMNS {
        let mut stmt = conn.prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
        ))?;
        if !stmt.exists([column])? {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    conn.execute_batch(
        "CREATE UNIQUE INDEX IF NOT EXISTS users_by_openid ON users (openid)
         WHERE openid IS NOT NULL;
         CREATE INDEX IF NOT EXISTS jobs_unattended ON jobs (unattended_since)
         WHERE unattended_since IS NOT NULL;
         CREATE INDEX IF NOT EXISTS jobs_by_user_order
           ON jobs (user_id, created_at, created_micros, id);",
    )
}

impl LocalDb {
    /// Opens (creating if needed) `emo.db` in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data dir {}", dir.display()))?;
        let path = dir.join("emo.db");
        let conn =
            Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        // Another process may hold the write lock for a moment: wait rather than fail.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("cannot create the schema in {}", path.display()))?;
        migrate(&conn)
            .with_context(|| format!("cannot update the schema in {}", path.display()))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn call<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| anyhow::anyhow!("sqlite connection poisoned"))?;
            f(&mut guard)
        })
        .await
        .context("sqlite task panicked")?
    }
}
