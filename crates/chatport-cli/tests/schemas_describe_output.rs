//! The committed JSON Schemas (`schemas/`) describe what the tools write: every record that
//! `extract` and `transform` write for the sample export and the corpora validates against
//! its schema with an independent JSON Schema validator (the `jsonschema` crate), and a
//! record that breaks its schema is refused by both that validator and `chatport validate`
//! (which checks records through the Rust types the schemas are generated from).

mod common;

use common::*;
use jsonschema::Validator;
use serde_json::Value;
use std::path::Path;

fn validator(name: &str) -> Validator {
    let schema = json(&repo().join("schemas").join(name));
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every schema problem of one record, as `file [line]: error at path`.
fn check(v: &Validator, value: &Value, at: &str, problems: &mut Vec<String>) {
    for e in v.iter_errors(value) {
        problems.push(format!("{at}: {e} at {}", e.instance_path()));
    }
}

fn check_jsonl(v: &Validator, path: &Path, root: &Path, problems: &mut Vec<String>) -> usize {
    let records = jsonl(path);
    let rel = path.strip_prefix(root).unwrap().display().to_string();
    for (i, r) in records.iter().enumerate() {
        check(v, r, &format!("{rel} [line {}]", i + 1), problems);
    }
    records.len()
}

/// Checks every file of a canonical directory; returns the number of records checked.
fn check_canonical(dir: &Path, problems: &mut Vec<String>) -> usize {
    check(
        &validator("canonical.manifest.schema.json"),
        &json(&dir.join("manifest.json")),
        "manifest.json",
        problems,
    );
    let mut n = 1;
    for (file, schema) in [
        ("users.jsonl", "canonical.user.schema.json"),
        ("conversations.jsonl", "canonical.conversation.schema.json"),
        ("files.jsonl", "canonical.file.schema.json"),
        ("warnings.jsonl", "canonical.warning.schema.json"),
    ] {
        n += check_jsonl(&validator(schema), &dir.join(file), dir, problems);
    }
    let message = validator("canonical.message.schema.json");
    for rel in files_under(&dir.join("messages")) {
        n += check_jsonl(&message, &dir.join("messages").join(rel), dir, problems);
    }
    n
}

/// Checks every file of a plan directory; returns the number of records checked.
fn check_plan(dir: &Path, problems: &mut Vec<String>) -> usize {
    check(
        &validator("plan.manifest.schema.json"),
        &json(&dir.join("manifest.json")),
        "manifest.json",
        problems,
    );
    let mut n = 1;
    n += check_jsonl(&validator("plan.container.schema.json"), &dir.join("containers.jsonl"), dir, problems);
    n += check_jsonl(&validator("plan.report.schema.json"), &dir.join("report.jsonl"), dir, problems);
    let op = validator("plan.operation.schema.json");
    for rel in files_under(&dir.join("ops")) {
        n += check_jsonl(&op, &dir.join("ops").join(rel), dir, problems);
    }
    n
}

fn extract(input: &Path, out: &Path) {
    chatport().args(["extract", "--no-progress"]).arg(input).arg("--out").arg(out).assert().success();
}

#[test]
fn every_record_extract_writes_validates_against_its_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let mut inputs = vec![sample()];
    for corpus in ["houstondatavis-slack-export", "slack-export-viewer-testarchive"] {
        inputs.push(repo().join("fixtures/corpora").join(corpus));
    }
    for (i, input) in inputs.iter().enumerate() {
        let out = tmp.path().join(format!("c{i}"));
        extract(input, &out);
        let mut problems = Vec::new();
        let n = check_canonical(&out, &mut problems);
        assert!(problems.is_empty(), "{}: {problems:#?}", input.display());
        assert!(n > 20, "{}: only {n} records checked", input.display());
    }
}

#[test]
fn every_record_transform_writes_validates_against_its_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let canonical = tmp.path().join("c");
    extract(&sample(), &canonical);
    for (to, extra) in [
        ("chat", vec!["--importer", "admin@example.com"]),
        ("teams", vec!["--fallback-user", "00000000-0000-4000-8000-00000000f411"]),
    ] {
        let plan = tmp.path().join(format!("plan-{to}"));
        chatport()
            .arg("transform")
            .arg(&canonical)
            .args(["--to", to])
            .args(&extra)
            .arg("--out")
            .arg(&plan)
            .assert()
            .success();
        let mut problems = Vec::new();
        let n = check_plan(&plan, &mut problems);
        assert!(problems.is_empty(), "{to}: {problems:#?}");
        assert!(n > 20, "{to}: only {n} records checked");
    }
}

/// Rewrites line 1 of `messages/<first file>` with `edit`, refreshing the manifest's
/// checksum so that only the schema can object.
fn tamper_first_message(dir: &Path, edit: impl Fn(&mut Value)) -> Value {
    let rel = format!("messages/{}", files_under(&dir.join("messages"))[0]);
    let path = dir.join(&rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut first: Value = serde_json::from_str(&lines[0]).unwrap();
    edit(&mut first);
    lines[0] = serde_json::to_string(&first).unwrap();
    let new = lines.join("\n") + "\n";
    std::fs::write(&path, &new).unwrap();
    let mut manifest = json(&dir.join("manifest.json"));
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["path"] == rel.as_str() {
            f["bytes"] = new.len().into();
            f["sha256"] = sha256_hex(new.as_bytes()).into();
        }
    }
    std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    first
}

fn sha256_hex(bytes: &[u8]) -> String {
    // `sha256sum`, not our own code, computes the reference checksum.
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// A change made to a record.
type Edit = dyn Fn(&mut Value);

#[test]
fn a_record_that_breaks_its_schema_is_refused_by_both() {
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    extract(&sample(), &pristine);
    chatport().arg("validate").arg(&pristine).assert().success();
    let message = validator("canonical.message.schema.json");
    let edits: Vec<(&str, Box<Edit>)> = vec![
        ("an unknown top-level field", Box::new(|m| m["surprise"] = 1.into())),
        ("a kind outside the enum", Box::new(|m| m["kind"] = "gossip".into())),
        ("a required field missing", Box::new(|m| drop(m.as_object_mut().unwrap().remove("ts")))),
        ("a string where an object goes", Box::new(|m| m["source"] = "somewhere".into())),
        ("a negative record index", Box::new(|m| m["source"]["record"] = (-1).into())),
    ];
    for (i, (what, edit)) in edits.iter().enumerate() {
        let dir = tmp.path().join(format!("t{i}"));
        copy_dir(&pristine, &dir);
        let record = tamper_first_message(&dir, edit);
        assert!(!message.is_valid(&record), "{what}: the schema accepts {record}");
        let o = chatport().arg("validate").arg(&dir).output().unwrap();
        let report = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{what}: validate accepts it: {report}");
        assert!(report.contains("schema"), "{what}: {report}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for rel in files_under(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), dest).unwrap();
    }
}
