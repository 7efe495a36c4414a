//! The committed `schemas/` must match the types. Regenerate with
//! `UPDATE_SCHEMAS=1 cargo test -p chatport-model --test schemas_fresh`.

use std::path::PathBuf;

#[test]
fn committed_schemas_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    let generated = chatport_model::schema::canonical_schemas();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    // A schema file no type generates any more (a renamed or removed record) is stale too.
    let mut strays: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json") && !generated.iter().any(|(name, _)| name == f))
        .collect();
    strays.sort();
    if update {
        for f in &strays {
            std::fs::remove_file(dir.join(f)).unwrap();
        }
    } else {
        assert!(strays.is_empty(), "schema files no type generates (run with UPDATE_SCHEMAS=1): {strays:?}");
    }
    for (name, text) in generated {
        let path = dir.join(name);
        if update {
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
