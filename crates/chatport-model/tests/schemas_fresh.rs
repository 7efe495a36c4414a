//! The committed `schemas/` must match the types. Regenerate with
//! `UPDATE_SCHEMAS=1 cargo test -p chatport-model --test schemas_fresh`.

use std::path::PathBuf;

#[test]
fn committed_schemas_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for (name, text) in chatport_model::schema::canonical_schemas() {
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == text => {}
            _ => stale.push(name),
        }
    }
    assert!(stale.is_empty(), "stale schemas (run with UPDATE_SCHEMAS=1): {stale:?}");
}
