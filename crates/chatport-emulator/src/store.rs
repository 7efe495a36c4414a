//! Durable storage under `--data`: records in SQLite (`state.sqlite3`, table `records`, an
//! append-only log of record versions replayed in `seq` order, compacted at start-up) and
//! uploaded bytes as content-addressed blob files.
//!
//! Appending (rather than upserting into a keyed index) keeps each commit to a few
//! sequential pages, which matters at tens of thousands of writes per second.
//!
//! One writer thread owns the SQLite connection and commits batches of records in a single
//! transaction (group commit), so many concurrent requests cost one commit. A request is
//! answered only after the batch holding its records has committed: nothing acknowledged
//! is lost when the process is killed. The queue to the writer is bounded in practice by
//! the number of in-flight requests, each of which waits for its batch.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::state::{Record, State};
use crate::EmulatorError;

/// Most records committed in one transaction.
const MAX_BATCH_RECORDS: usize = 4096;

enum Job {
    Write(Vec<Record>, oneshot::Sender<Result<(), String>>),
    Close(oneshot::Sender<()>),
}

/// Handle to the writer thread.
#[derive(Debug)]
pub struct Store {
    tx: mpsc::UnboundedSender<Job>,
    blob_dir: PathBuf,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    checkpointer: std::sync::Mutex<Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Write(r, _) => write!(f, "Write({} records)", r.len()),
            Job::Close(_) => write!(f, "Close"),
        }
    }
}

/// A write that could not be made durable.
#[derive(Debug, Clone)]
pub struct StoreFailure(pub String);

impl Store {
    /// Opens (creating) the database in `data_dir`, loads every record into a fresh
    /// [`State`], and starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<(Store, State), EmulatorError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EmulatorError::Io { path, source }
        };
        std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
        let blob_dir = data_dir.join("blobs");
        std::fs::create_dir_all(&blob_dir).map_err(io(&blob_dir))?;
        let db_path = data_dir.join("state.sqlite3");
        let db =
            |e: rusqlite::Error| EmulatorError::Database { path: db_path.clone(), message: e.to_string() };
        let conn = Connection::open(&db_path).map_err(db)?;
        // WAL without fsync on commit survives a killed process (not a power cut). The
        // writer never checkpoints; a separate thread does, so fsyncs stay off its path.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             PRAGMA wal_autocheckpoint=0;
             CREATE TABLE IF NOT EXISTS records (
                 seq INTEGER PRIMARY KEY,
                 kind TEXT NOT NULL,
                 key TEXT NOT NULL,
                 body TEXT NOT NULL
             );",
        )
        .map_err(db)?;
        let mut state = State::default();
        let mut rows_read = 0u64;
        let mut distinct = std::collections::HashSet::new();
        {
            let mut stmt = conn.prepare("SELECT kind, key, body FROM records ORDER BY seq").map_err(db)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
                })
                .map_err(db)?;
            for row in rows {
                let (kind, key, body) = row.map_err(db)?;
                let record: Record = serde_json::from_str(&body).map_err(|e| EmulatorError::Database {
                    path: db_path.clone(),
                    message: format!("unreadable record {kind} {key}: {e}"),
                })?;
                state.apply(record);
                rows_read += 1;
                distinct.insert((kind, key));
            }
        }
        // Drop superseded versions when they outnumber the live records.
        if rows_read > 2 * distinct.len() as u64 + 1000 {
            conn.execute(
                "DELETE FROM records WHERE seq NOT IN (SELECT MAX(seq) FROM records GROUP BY kind, key)",
                [],
            )
            .map_err(db)?;
        }
        let next_seq: i64 =
            conn.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM records", [], |r| r.get(0)).map_err(db)?;
        let checkpoint_conn = Connection::open(&db_path).map_err(db)?;
        let (stop_checkpoints, stop_rx) = std::sync::mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("emulator-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, stop_rx))
            .map_err(io(data_dir))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("emulator-store".into())
            .spawn(move || writer_loop(conn, rx, next_seq))
            .map_err(io(data_dir))?;
        let store = Store {
            tx,
            blob_dir,
            thread: std::sync::Mutex::new(Some(thread)),
            checkpointer: std::sync::Mutex::new(Some((stop_checkpoints, checkpointer))),
        };
        Ok((store, state))
    }

    /// Queues records for the writer; the receiver resolves once they are committed.
    /// Call while still holding the state lock so records reach disk in apply order.
    pub fn enqueue(&self, records: Vec<Record>) -> oneshot::Receiver<Result<(), String>> {
        let (done, rx) = oneshot::channel();
        if records.is_empty() {
            let _ = done.send(Ok(()));
        } else if let Err(mpsc::error::SendError(Job::Write(_, done))) =
            self.tx.send(Job::Write(records, done))
        {
            let _ = done.send(Err("the store is closed".into()));
        }
        rx
    }

    /// Waits for a queued write.
    pub async fn wait(rx: oneshot::Receiver<Result<(), String>>) -> Result<(), StoreFailure> {
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreFailure(e)),
            Err(_) => Err(StoreFailure("the store stopped".into())),
        }
    }

    /// Flushes queued writes and stops the writer thread.
    pub async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Job::Close(done)).is_ok() {
            let _ = rx.await;
        }
        let handle = self.thread.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        let checkpointer = self.checkpointer.lock().ok().and_then(|mut h| h.take());
        if let Some((stop, handle)) = checkpointer {
            let _ = stop.send(());
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    /// Writes bytes as a content-addressed blob and returns their SHA-256 (hex).
    pub async fn put_blob(&self, bytes: &[u8]) -> Result<String, StoreFailure> {
        let sha = hex::encode(Sha256::digest(bytes));
        let path = self.blob_path(&sha);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(sha);
        }
        let fail = |e: std::io::Error| StoreFailure(format!("writing blob {}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(fail)?;
        }
        let tmp = path.with_extension(format!("tmp{}", crate::ids::random_from(b"0123456789", 8)));
        tokio::fs::write(&tmp, bytes).await.map_err(fail)?;
        tokio::fs::rename(&tmp, &path).await.map_err(fail)?;
        Ok(sha)
    }

    /// Reads a blob.
    pub async fn get_blob(&self, sha: &str) -> Result<Vec<u8>, StoreFailure> {
        tokio::fs::read(self.blob_path(sha))
            .await
            .map_err(|e| StoreFailure(format!("reading blob {sha}: {e}")))
    }

    /// Path of a scratch file for an upload session.
    pub fn session_path(&self, id: &str) -> PathBuf {
        self.blob_dir.join("sessions").join(format!("{id}.part"))
    }

    fn blob_path(&self, sha: &str) -> PathBuf {
        let prefix = sha.get(..2).unwrap_or("xx");
        self.blob_dir.join(prefix).join(sha)
    }
}

fn writer_loop(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>, mut seq: i64) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        let mut count = 0;
        while count < MAX_BATCH_RECORDS {
            match rx.try_recv() {
                Ok(job) => {
                    if let Job::Write(r, _) = &job {
                        count += r.len();
                    }
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let result = write_batch(&mut conn, &jobs, &mut seq);
        let mut close = None;
        for job in jobs {
            match job {
                Job::Write(_, done) => {
                    let _ = done.send(result.clone());
                }
                Job::Close(done) => close = Some(done),
            }
        }
        if let Some(done) = close {
            let _ = done.send(());
            return;
        }
    }
}

/// Checkpoints the WAL into the database every 500 ms (and once more when stopped).
/// PASSIVE checkpoints never block the writer.
fn checkpoint_loop(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
    loop {
        let stopping = !matches!(
            stop.recv_timeout(std::time::Duration::from_millis(500)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if stopping {
            return;
        }
    }
}

fn write_batch(conn: &mut Connection, jobs: &[Job], seq: &mut i64) -> Result<(), String> {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    {
        let mut stmt = tx
            .prepare_cached("INSERT INTO records (seq, kind, key, body) VALUES (?1, ?2, ?3, ?4)")
            .map_err(|e| e.to_string())?;
        for job in jobs {
            if let Job::Write(records, _) = job {
                for record in records {
                    let body = serde_json::to_string(record).map_err(|e| e.to_string())?;
                    stmt.execute(params![*seq, record.kind(), record.key(), body])
                        .map_err(|e| e.to_string())?;
                    *seq += 1;
                }
            }
        }
    }
    tx.commit().map_err(|e| e.to_string())
}
