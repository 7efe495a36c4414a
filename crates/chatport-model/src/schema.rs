//! JSON Schemas of the canonical format, generated from the Rust types (schemars). The
//! committed copies live in the repository's `schemas/` folder; a test fails when they are
//! stale.

use crate::canonical::{Conversation, FileRecord, Manifest, Message, User, Warning};
use crate::plan::{Container, Operation, PlanManifest, ReportEntry};
use schemars::schema_for;

/// Every canonical and plan schema as `(file name, pretty JSON with a final newline)`, sorted by
/// file name.
pub fn canonical_schemas() -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("canonical.conversation.schema.json", schema_for!(Conversation)),
        ("canonical.file.schema.json", schema_for!(FileRecord)),
        ("canonical.manifest.schema.json", schema_for!(Manifest)),
        ("canonical.message.schema.json", schema_for!(Message)),
        ("canonical.user.schema.json", schema_for!(User)),
        ("canonical.warning.schema.json", schema_for!(Warning)),
        ("plan.container.schema.json", schema_for!(Container)),
        ("plan.manifest.schema.json", schema_for!(PlanManifest)),
        ("plan.operation.schema.json", schema_for!(Operation)),
        ("plan.report.schema.json", schema_for!(ReportEntry)),
    ]
    .into_iter()
    .map(|(name, schema)| {
        let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
        text.push('\n');
        (name, text)
    })
    .collect::<Vec<_>>();
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}
