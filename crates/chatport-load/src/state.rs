//! The durable state store (SQLite): for every operation id, whether its request may have
//! been sent (`intent`), what the destination answered (`done` + resource names) or why
//! it was refused (`failed`).
//!
//! The executor writes the intent *before* each call and the result right after it, so a
//! process killed at any instant leaves either no row (never sent), an intent (maybe
//! applied: reconcile before re-sending) or a result. Writes are synchronous and short
//! (WAL journal), so they are atomic with respect to the async task being dropped.
//! Credentials and tokens are never written here. It also keeps the existing Teams
//! channels (and teams) containers are bound to (`--existing-channel`), so a resumed
//! run loads into the same ones.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::error::LoadError;

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    /// The request may have been sent; no answer was recorded.
    Intent,
    /// Done; the result holds the destination's names.
    Done,
    /// Refused by the destination (a re-run tries again).
    Failed,
}

impl OpStatus {
    fn as_str(self) -> &'static str {
        match self {
            OpStatus::Intent => "intent",
            OpStatus::Done => "done",
            OpStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> OpStatus {
        match s {
            "done" => OpStatus::Done,
            "failed" => OpStatus::Failed,
            _ => OpStatus::Intent,
        }
    }
}

/// The stored record of one operation.
#[derive(Debug, Clone)]
pub struct OpRecord {
    /// Status.
    pub status: OpStatus,
    /// Times a request was started for it.
    pub attempts: u32,
    /// Destination names (done), or partial progress (intent, e.g. a team's async
    /// operation location).
    pub result: Option<Value>,
    /// The server's message (failed).
    pub error: Option<String>,
}

/// The SQLite state store.
pub struct StateStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl StateStore {
    /// Opens (creating) the database and checks it belongs to the plan `identity`.
    pub fn open(path: &Path, identity: &str) -> Result<StateStore, LoadError> {
        let err = |e: rusqlite::Error| LoadError::State { path: path.to_path_buf(), detail: e.to_string() };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| LoadError::State { path: path.to_path_buf(), detail: e.to_string() })?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS ops (
                 op_id TEXT PRIMARY KEY,
                 container TEXT NOT NULL,
                 action TEXT NOT NULL,
                 status TEXT NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 result TEXT,
                 error TEXT,
                 updated_at INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS ops_container ON ops(container);
             CREATE TABLE IF NOT EXISTS targets (
                 container TEXT PRIMARY KEY,
                 team_id TEXT NOT NULL,
                 channel_id TEXT
             );",
        )
        .map_err(err)?;
        let stored: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'plan'", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        match stored {
            None => {
                conn.execute("INSERT INTO meta(key, value) VALUES ('plan', ?1)", params![identity])
                    .map_err(err)?;
            }
            Some(s) if s == identity => {}
            Some(s) => {
                return Err(LoadError::StateMismatch {
                    path: path.to_path_buf(),
                    detail: format!("stored {s}, this plan {identity}"),
                })
            }
        }
        Ok(StateStore { path: path.to_path_buf(), conn: Mutex::new(conn) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn err(&self, e: rusqlite::Error) -> LoadError {
        LoadError::State { path: self.path.clone(), detail: e.to_string() }
    }

    /// The record of an operation.
    pub fn get(&self, op_id: &str) -> Result<Option<OpRecord>, LoadError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT status, attempts, result, error FROM ops WHERE op_id = ?1",
            params![op_id],
            |r| {
                let status: String = r.get(0)?;
                let attempts: u32 = r.get(1)?;
                let result: Option<String> = r.get(2)?;
                let error: Option<String> = r.get(3)?;
                Ok(OpRecord {
                    status: OpStatus::parse(&status),
                    attempts,
                    result: result.and_then(|s| serde_json::from_str(&s).ok()),
                    error,
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Records that a request for the operation is about to be sent (keeps any partial
    /// result; counts the attempt).
    pub fn record_intent(&self, op_id: &str, container: &str, action: &str) -> Result<(), LoadError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO ops(op_id, container, action, status, attempts, updated_at)
             VALUES (?1, ?2, ?3, 'intent', 1, ?4)
             ON CONFLICT(op_id) DO UPDATE SET status = 'intent', attempts = attempts + 1,
                 error = NULL, updated_at = ?4",
            params![op_id, container, action, now_millis()],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records intent like [`StateStore::record_intent`], but synced to disk before it
    /// returns (`synchronous=FULL` for this one commit). The store otherwise runs with
    /// `synchronous=NORMAL`, which survives a killed process but may lose the last
    /// commits on an OS crash or power loss; for a write with no server-side uniqueness
    /// to fall back on (`POST /teams`), a lost intent would mean a second team.
    pub fn record_intent_durable(&self, op_id: &str, container: &str, action: &str) -> Result<(), LoadError> {
        let conn = self.lock();
        conn.execute_batch("PRAGMA synchronous=FULL").map_err(|e| self.err(e))?;
        let written = conn.execute(
            "INSERT INTO ops(op_id, container, action, status, attempts, updated_at)
             VALUES (?1, ?2, ?3, 'intent', 1, ?4)
             ON CONFLICT(op_id) DO UPDATE SET status = 'intent', attempts = attempts + 1,
                 error = NULL, updated_at = ?4",
            params![op_id, container, action, now_millis()],
        );
        let restored = conn.execute_batch("PRAGMA synchronous=NORMAL");
        written.map_err(|e| self.err(e))?;
        restored.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The connection's `synchronous` level (0 off, 1 normal, 2 full).
    #[cfg(test)]
    fn synchronous_level(&self) -> Result<i64, LoadError> {
        self.lock().query_row("PRAGMA synchronous", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// Records partial progress of an operation still in flight.
    pub fn record_partial(&self, op_id: &str, result: &Value) -> Result<(), LoadError> {
        self.update(op_id, OpStatus::Intent, Some(result), None)
    }

    /// Drops what an earlier attempt of the operation stored (a partial result that
    /// turned out to lead nowhere, such as a failed team-creation operation), so the
    /// next run starts the operation afresh.
    pub fn clear_result(&self, op_id: &str) -> Result<(), LoadError> {
        let conn = self.lock();
        conn.execute(
            "UPDATE ops SET result = NULL, updated_at = ?2 WHERE op_id = ?1",
            params![op_id, now_millis()],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records the operation as done with the destination's names.
    pub fn record_done(
        &self,
        op_id: &str,
        container: &str,
        action: &str,
        result: &Value,
    ) -> Result<(), LoadError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO ops(op_id, container, action, status, attempts, result, updated_at)
             VALUES (?1, ?2, ?3, 'done', 0, ?4, ?5)
             ON CONFLICT(op_id) DO UPDATE SET status = 'done', result = ?4, error = NULL, updated_at = ?5",
            params![op_id, container, action, result.to_string(), now_millis()],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records the operation as refused by the destination.
    pub fn record_failed(
        &self,
        op_id: &str,
        container: &str,
        action: &str,
        error: &str,
    ) -> Result<(), LoadError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO ops(op_id, container, action, status, attempts, error, updated_at)
             VALUES (?1, ?2, ?3, 'failed', 0, ?4, ?5)
             ON CONFLICT(op_id) DO UPDATE SET status = 'failed', error = ?4, updated_at = ?5",
            params![op_id, container, action, error, now_millis()],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn update(
        &self,
        op_id: &str,
        status: OpStatus,
        result: Option<&Value>,
        error: Option<&str>,
    ) -> Result<(), LoadError> {
        let conn = self.lock();
        match result {
            Some(r) => conn.execute(
                "UPDATE ops SET status = ?2, result = ?3, error = ?4, updated_at = ?5 WHERE op_id = ?1",
                params![op_id, status.as_str(), r.to_string(), error, now_millis()],
            ),
            None => conn.execute(
                "UPDATE ops SET status = ?2, error = ?3, updated_at = ?4 WHERE op_id = ?1",
                params![op_id, status.as_str(), error, now_millis()],
            ),
        }
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// An existing destination a plan container is loaded into instead of a new one: a
/// Teams channel (`startMigration` instead of creating it) or, when every channel of a
/// planned team goes to channels of one existing team, that team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The existing team.
    pub team_id: String,
    /// The existing channel (none for a team container).
    pub channel_id: Option<String>,
}

impl StateStore {
    /// The existing destination bound to a container, if any.
    pub fn target(&self, container: &str) -> Result<Option<Target>, LoadError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT team_id, channel_id FROM targets WHERE container = ?1",
            params![container],
            |r| Ok(Target { team_id: r.get(0)?, channel_id: r.get(1)? }),
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Every bound container, by container id.
    pub fn targets(&self) -> Result<Vec<(String, Target)>, LoadError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT container, team_id, channel_id FROM targets ORDER BY container")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, Target { team_id: r.get(1)?, channel_id: r.get(2)? })))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Binds containers to existing destinations, all or none.
    pub fn set_targets(&self, targets: &[(String, Target)]) -> Result<(), LoadError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        for (container, t) in targets {
            tx.execute(
                "INSERT INTO targets(container, team_id, channel_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT(container) DO UPDATE SET team_id = ?2, channel_id = ?3",
                params![container, t.team_id, t.channel_id],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_intent_is_recorded_and_the_store_returns_to_normal_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("s.db"), "teams:x").unwrap();
        assert_eq!(store.synchronous_level().unwrap(), 1);
        store.record_intent_durable("team/create", "team", "teams_create_team").unwrap();
        store.record_intent_durable("team/create", "team", "teams_create_team").unwrap();
        let r = store.get("team/create").unwrap().unwrap();
        assert_eq!(r.status, OpStatus::Intent);
        assert_eq!(store.synchronous_level().unwrap(), 1);
        // Survives reopening (a new connection reads it from the WAL).
        drop(store);
        let again = StateStore::open(&dir.path().join("s.db"), "teams:x").unwrap();
        assert_eq!(again.get("team/create").unwrap().unwrap().status, OpStatus::Intent);
    }
}
