//! Progress events for a live display (the CLI turns them into indicatif bars).
//!
//! The executor calls these from many tasks at once; implementations must be cheap and
//! must not block. Every method has an empty default so a display implements only what it
//! shows.

/// How one operation ended in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpOutcome {
    /// Sent and confirmed (or reconciled with what the destination already had).
    Done,
    /// Already done in an earlier run (skipped).
    AlreadyDone,
    /// Rejected by the destination, or blocked by a failed dependency.
    Failed,
}

/// Receives progress of a run.
pub trait Progress: Send + Sync {
    /// The run starts: containers and operations it will walk.
    fn run_started(&self, _containers: u64, _operations: u64) {}
    /// A container starts with `operations` to walk.
    fn container_started(&self, _container: &str, _operations: u64) {}
    /// An operation ended.
    fn operation_finished(&self, _container: &str, _operation: &str, _outcome: OpOutcome) {}
    /// A request is retried after `reason` (429, 503, timeout…).
    fn retry(&self, _container: &str, _operation: &str, _reason: &str) {}
    /// A container ended.
    fn container_finished(&self, _container: &str, _failed: u64) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
