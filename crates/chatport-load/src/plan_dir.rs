//! Reading a plan directory: the manifest, the containers in plan order, and each
//! container's operations sorted by `seq`. Also reads blobs from the canonical directory.
//! Owns path safety (a plan cannot make the loader read outside its directories); does no
//! HTTP.

use std::path::{Path, PathBuf};

use chatport_model::jsonl::read_jsonl;
use chatport_model::plan::{BlobRef, Container, Operation, PlanManifest};

use crate::error::LoadError;

/// A plan read into memory.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: PlanManifest,
    /// Containers in plan order, each with its operations in `seq` order.
    pub containers: Vec<PlannedContainer>,
}

/// A container and its operations.
#[derive(Debug, Clone)]
pub struct PlannedContainer {
    /// The container record.
    pub container: Container,
    /// Its operations, sorted by `seq`.
    pub ops: Vec<Operation>,
    /// Chat: for each `thread.threadKey`, the first message operation that carries it —
    /// the one that opens the thread.
    pub thread_roots: std::collections::HashMap<String, String>,
}

impl PlannedContainer {
    /// A container with its operations (sorted by `seq` by the caller).
    pub fn new(container: Container, ops: Vec<Operation>) -> PlannedContainer {
        let thread_roots = thread_roots(&ops);
        PlannedContainer { container, ops, thread_roots }
    }

    /// The Chat message operation that opens the thread `key` in this container.
    pub fn thread_root(&self, key: &str) -> Option<&str> {
        self.thread_roots.get(key).map(String::as_str)
    }
}

/// The first Chat message operation of each thread key, in `seq` order.
fn thread_roots(ops: &[Operation]) -> std::collections::HashMap<String, String> {
    let mut roots = std::collections::HashMap::new();
    for op in ops {
        if let chatport_model::plan::Action::ChatCreateMessage { message, .. } = &op.action {
            if let Some(key) = message["thread"]["threadKey"].as_str() {
                roots.entry(key.to_string()).or_insert_with(|| op.id.0.clone());
            }
        }
    }
    roots
}

impl Plan {
    /// Reads `manifest.json`, `containers.jsonl` and every `ops/*.jsonl`.
    pub fn read(dir: &Path) -> Result<Plan, LoadError> {
        let manifest_path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|e| LoadError::Plan { path: manifest_path.clone(), detail: e.to_string() })?;
        let manifest: PlanManifest = serde_json::from_str(&text)
            .map_err(|e| LoadError::Plan { path: manifest_path.clone(), detail: e.to_string() })?;
        let containers_path = dir.join("containers.jsonl");
        let mut containers = Vec::new();
        let records = read_jsonl::<Container>(&containers_path)
            .map_err(|e| LoadError::Plan { path: containers_path.clone(), detail: e.to_string() })?;
        for record in records {
            let container = record
                .map_err(|e| LoadError::Plan { path: containers_path.clone(), detail: e.to_string() })?;
            if !chatport_model::jsonl_path_is_safe(&container.ops_path) {
                return Err(LoadError::Plan {
                    path: containers_path.clone(),
                    detail: format!("container {}: unsafe ops_path {:?}", container.id, container.ops_path),
                });
            }
            let ops_path = dir.join(&container.ops_path);
            let mut ops = Vec::new();
            let lines = read_jsonl::<Operation>(&ops_path)
                .map_err(|e| LoadError::Plan { path: ops_path.clone(), detail: e.to_string() })?;
            for op in lines {
                let op = op.map_err(|e| LoadError::Plan { path: ops_path.clone(), detail: e.to_string() })?;
                if op.container != container.id {
                    return Err(LoadError::Plan {
                        path: ops_path.clone(),
                        detail: format!("operation {} belongs to container {}", op.id, op.container),
                    });
                }
                ops.push(op);
            }
            ops.sort_by_key(|o| o.seq);
            containers.push(PlannedContainer::new(container, ops));
        }
        Ok(Plan { dir: dir.to_path_buf(), manifest, containers })
    }

    /// The container with this id.
    pub fn container(&self, id: &str) -> Option<&PlannedContainer> {
        self.containers.iter().find(|c| c.container.id == id)
    }

    /// A short identity of the plan, stored in the state database to refuse mixing plans.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.manifest.destination.as_str(), self.manifest.canonical_sha256)
    }
}

/// Reads a blob from the canonical directory and checks its size and SHA-256.
pub async fn read_blob(canonical: &Path, blob: &BlobRef, operation: &str) -> Result<Vec<u8>, LoadError> {
    let path = canonical.join(&blob.path);
    let err =
        |detail: String| LoadError::Blob { path: path.clone(), operation: operation.to_string(), detail };
    if !chatport_model::jsonl_path_is_safe(&blob.path) {
        return Err(err("unsafe blob path".into()));
    }
    let bytes = tokio::fs::read(&path).await.map_err(|e| err(e.to_string()))?;
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    if !blob.sha256.is_empty() && sha != blob.sha256 {
        return Err(err(format!("content SHA-256 {sha} differs from the plan's {}", blob.sha256)));
    }
    Ok(bytes)
}
