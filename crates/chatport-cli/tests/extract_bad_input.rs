//! `chatport extract` on broken and hostile exports: each problem is named (file and
//! record) in `warnings.jsonl`, the rest is extracted, nothing is written outside `--out`,
//! and nothing panics.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn day(messages: &str) -> Vec<u8> {
    messages.as_bytes().to_vec()
}

fn good_entries() -> Vec<(String, Vec<u8>)> {
    vec![
        ("users.json".into(), br#"[{"id":"U1","name":"a"}]"#.to_vec()),
        (
            "channels.json".into(),
            br#"[{"id":"C1","name":"general","members":["U1"]},{"id":"C2","name":"other"}]"#.to_vec(),
        ),
        (
            "other/2024-01-01.json".into(),
            day(r#"[{"type":"message","user":"U1","text":"fine","ts":"1.000001"}]"#),
        ),
    ]
}

/// Runs extract and returns (exit code, warnings, manifest counts).
fn run(input: &Path, out: &Path, extra: &[&str]) -> (i32, Vec<Value>, Value) {
    let o = chatport()
        .args(["extract", "--no-progress"])
        .args(extra)
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let code = o.status.code().expect("no signal");
    assert_ne!(code, 101, "panic: {}", String::from_utf8_lossy(&o.stderr));
    if code == 2 {
        return (code, Vec::new(), Value::Null);
    }
    (code, jsonl(&out.join("warnings.jsonl")), json(&out.join("manifest.json"))["counts"].clone())
}

/// Runs extract with `--json`, checks it succeeded and returns its summary.
fn extract_json(input: &Path, out: &Path) -> Value {
    let o = chatport()
        .args(["extract", "--no-progress", "--json"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn has(warnings: &[Value], code: &str, file: &str) -> bool {
    warnings.iter().any(|w| w["code"] == code && w["file"] == file)
}

/// Writes `entries` as a stored (uncompressed) zip, then changes the first byte of the
/// text `CORRUPTME` inside it, so that entry fails its CRC check.
fn write_stored_zip_with_a_flipped_byte(zip: &Path, entries: &[(String, Vec<u8>)]) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(zip).unwrap());
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        z.start_file(name.as_str(), stored).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
    let mut bytes = std::fs::read(zip).unwrap();
    let at = bytes.windows(9).position(|w| w == b"CORRUPTME").expect("a CORRUPTME marker");
    bytes[at] = b'X';
    std::fs::write(zip, &bytes).unwrap();
}

#[test]
fn zip_slip_entries_are_refused_and_nothing_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    entries.push(("../evil.json".into(), b"[]".to_vec()));
    entries.push(("/tmp/abs-evil.json".into(), b"[]".to_vec()));
    entries.push(("general/../../escape/2024-01-01.json".into(), b"[]".to_vec()));
    entries.push(("__uploads/F1/../../../../up.txt".into(), b"x".to_vec()));
    let zip = tmp.path().join("e.zip");
    write_zip(&zip, &entries);
    let work = tmp.path().join("work");
    let out = work.join("out");
    let (code, w, counts) = run(&zip, &out, &[]);
    assert_eq!(code, 0);
    for bad in ["../evil.json", "/tmp/abs-evil.json", "general/../../escape/2024-01-01.json"] {
        assert!(has(&w, "unsafe_path", bad), "{bad}: {w:?}");
    }
    assert_eq!(counts["messages"], 1);
    assert_eq!(files_under(&work).iter().filter(|f| !f.starts_with("out/")).count(), 0);
    assert!(!tmp.path().join("evil.json").exists() && !Path::new("/tmp/abs-evil.json").exists());
}

#[test]
fn decompression_bomb_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    let mut bomb = b"[".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 20 << 20));
    bomb.push(b']');
    entries.push(("general/2024-01-01.json".into(), bomb));
    let zip = tmp.path().join("bomb.zip");
    write_zip(&zip, &entries);
    assert!(std::fs::metadata(&zip).unwrap().len() < 200_000, "compresses well");
    let out = tmp.path().join("out");
    let (code, w, counts) = run(&zip, &out, &["--max-json-bytes", "1000000"]);
    assert_eq!(code, 0);
    assert!(has(&w, "entry_too_large", "general/2024-01-01.json"), "{w:?}");
    assert_eq!(counts["messages"], 1, "the rest is extracted");
    // A total bound too.
    let out2 = tmp.path().join("out2");
    let (_, w2, _) = run(&zip, &out2, &["--max-total-bytes", "100"]);
    assert!(w2.iter().any(|w| w["code"] == "total_too_large"), "{w2:?}");
}

#[test]
fn broken_json_names_file_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    entries.push(("general/2024-01-01.json".into(), b"this is not json".to_vec()));
    entries.push((
        "general/2024-01-02.json".into(),
        day(r#"[{"type":"message","user":"U1","text":"kept","ts":"2.000001"},{"type":"message","ts":"#),
    ));
    entries.push(("general/2024-01-03.json".into(), day(r#"{"not": "an array"}"#)));
    entries.push(("users2.json".into(), b"[]".to_vec()));
    let zip = tmp.path().join("j.zip");
    write_zip(&zip, &entries);
    let out = tmp.path().join("out");
    let (code, w, counts) = run(&zip, &out, &[]);
    assert_eq!(code, 0);
    assert!(has(&w, "invalid_json", "general/2024-01-01.json"));
    let partial = w.iter().find(|w| w["file"] == "general/2024-01-02.json").unwrap();
    assert_eq!(partial["code"], "invalid_json");
    assert_eq!(partial["record"], 1, "names the record where it broke");
    assert!(has(&w, "invalid_json", "general/2024-01-03.json"));
    assert!(has(&w, "unexpected_entry", "users2.json"));
    assert_eq!(counts["messages"], 2, "the record before the break and the other channel");
}

#[test]
fn invalid_utf8_and_wrong_types_are_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("export");
    std::fs::create_dir_all(dir.join("general")).unwrap();
    for (name, bytes) in good_entries() {
        std::fs::create_dir_all(dir.join(&name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(&name), bytes).unwrap();
    }
    let mut bad = br#"[{"type":"message","user":"U1","text":"caf"#.to_vec();
    bad.extend([0xff, 0xfe]);
    bad.extend(br#"","ts":"3.000001"},{"type":"message","user":42,"text":"t","ts":"4.000001","reactions":"lots","thread_ts":7}]"#);
    std::fs::write(dir.join("general/2024-01-01.json"), bad).unwrap();
    let out = tmp.path().join("out");
    let (code, w, counts) = run(&dir, &out, &[]);
    assert_eq!(code, 0);
    assert!(has(&w, "invalid_utf8", "general/2024-01-01.json"), "{w:?}");
    let wrong: Vec<&Value> = w.iter().filter(|w| w["code"] == "wrong_type").collect();
    assert_eq!(wrong.len(), 3, "{wrong:?}");
    assert!(wrong.iter().all(|w| w["record"] == 1));
    assert_eq!(counts["messages"], 3);
    let msgs = jsonl(&out.join("messages/C1.jsonl"));
    assert!(msgs[0]["body"]["text"].as_str().unwrap().contains('\u{fffd}'));
    assert_eq!(msgs[1]["extra"]["user"], 42, "the wrong value is kept");
    assert_eq!(msgs[1]["extra"]["reactions"], "lots");
    assert_eq!(msgs[1]["extra"]["thread_ts"], 7);
    chatport().arg("validate").arg(&out).assert().success();
}

#[test]
fn missing_metadata_and_empty_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let only_folder = tmp.path().join("only");
    std::fs::create_dir_all(only_folder.join("general")).unwrap();
    std::fs::write(
        only_folder.join("general/2024-01-01.json"),
        r#"[{"type":"message","user":"U7","text":"hi <@U8>","ts":"1.000001"}]"#,
    )
    .unwrap();
    let out = tmp.path().join("o1");
    let (code, w, counts) = run(&only_folder, &out, &[]);
    assert_eq!(code, 0);
    assert!(has(&w, "missing_metadata", "users.json") && has(&w, "missing_metadata", "channels.json"));
    assert!(has(&w, "unlisted_conversation", "general"));
    assert_eq!(counts["users"], 2, "author and mention become placeholders");
    chatport().arg("validate").arg(&out).assert().success();

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, w, counts) = run(&empty, &tmp.path().join("o2"), &[]);
    assert_eq!(code, 0);
    assert!(w.iter().any(|w| w["code"] == "empty_export"));
    assert_eq!(counts["messages"], 0);

    let empty_zip = tmp.path().join("empty.zip");
    write_zip(&empty_zip, &[]);
    let (code, w, _) = run(&empty_zip, &tmp.path().join("o3"), &["--strict"]);
    assert_eq!(code, 1, "--strict fails on the warnings");
    assert!(w.iter().any(|w| w["code"] == "empty_export"));
}

#[test]
fn truncated_zip_is_recovered_as_far_as_it_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("full.zip");
    zip_dir(&sample(), &zip, "");
    let bytes = std::fs::read(&zip).unwrap();
    let cut = tmp.path().join("cut.zip");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = tmp.path().join("out");
    let (code, w, counts) = run(&cut, &out, &[]);
    assert_eq!(code, 0);
    let note = w.iter().find(|w| w["code"] == "unreadable_source").expect("a warning about the zip");
    assert_eq!(note["file"], "cut.zip");
    assert!(note["detail"].as_str().unwrap().contains("recovered"));
    let m = counts["messages"].as_u64().unwrap();
    assert!(m > 0 && m < 35, "some but not all messages: {m}");
    assert!(!out.join(".salvage").exists(), "the scratch folder is removed");
    chatport().arg("validate").arg(&out).assert().success();

    // Not a zip at all: a clear error naming the file.
    let junk = tmp.path().join("junk.zip");
    std::fs::write(&junk, b"definitely not a zip file").unwrap();
    let o = chatport()
        .args(["extract", "--no-progress"])
        .arg(&junk)
        .arg("--out")
        .arg(tmp.path().join("o"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("junk.zip") && err.contains("not a readable zip"), "{err}");
    assert!(!tmp.path().join("o").exists(), "nothing was read, so no output is left");
    // The first 100 bytes of a real zip: a local header and no more. Into a folder that
    // was there before: it stays, empty.
    std::fs::write(&junk, &bytes[..100]).unwrap();
    let kept = tmp.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    let o =
        chatport().args(["extract", "--no-progress"]).arg(&junk).arg("--out").arg(&kept).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_dir(&kept).unwrap().count(), 0);
}

#[test]
fn corrupt_entry_is_named_and_its_records_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    entries.push((
        "general/2024-01-01.json".into(),
        br#"[{"type":"message","user":"U1","text":"CORRUPTME","ts":"9.000001"}]"#.to_vec(),
    ));
    let zip = tmp.path().join("c.zip");
    write_stored_zip_with_a_flipped_byte(&zip, &entries);
    let out = tmp.path().join("out");
    let (code, w, counts) = run(&zip, &out, &[]);
    assert_eq!(code, 0);
    // The CRC is checked at the entry's end, after its records were read (a day file is
    // streamed, never held whole): they are kept, and the warning says how many.
    let crc = w.iter().find(|w| w["file"] == "general/2024-01-01.json").unwrap();
    assert_eq!(crc["code"], "unreadable_source", "{w:?}");
    let detail = crc["detail"].as_str().unwrap();
    assert!(detail.contains("CRC") && detail.contains("its 1 record(s) were kept"), "{detail}");
    assert_eq!(counts["messages"], 2);
}

#[test]
fn duplicate_messages_are_kept_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    let m = r#"{"type":"message","user":"U1","text":"twice","ts":"5.000001"}"#;
    entries.push(("general/2024-01-01.json".into(), format!("[{m},{m}]").into_bytes()));
    entries.push(("general/2024-01-02.json".into(), format!("[{m}]").into_bytes()));
    let zip = tmp.path().join("d.zip");
    write_zip(&zip, &entries);
    let out = tmp.path().join("out");
    let (code, w, counts) = run(&zip, &out, &[]);
    assert_eq!(code, 0);
    let dups: Vec<&Value> = w.iter().filter(|w| w["code"] == "duplicate_ts").collect();
    assert_eq!(dups.len(), 2, "{w:?}");
    assert_eq!(
        (dups[0]["file"].as_str(), dups[0]["record"].as_u64()),
        (Some("general/2024-01-01.json"), Some(1))
    );
    assert_eq!(
        (dups[1]["file"].as_str(), dups[1]["record"].as_u64()),
        (Some("general/2024-01-02.json"), Some(0))
    );
    assert_eq!(counts["messages"], 4, "all kept");
}

/// `users.json` is streamed record by record: a problem part-way keeps the records before
/// it (named by index), whether the file breaks, grows past the bound, has bytes that are
/// not UTF-8, or fails its CRC at the end.
#[test]
fn metadata_problems_keep_the_records_before_them() {
    let tmp = tempfile::tempdir().unwrap();
    let with_users = |users: Vec<u8>| {
        let mut entries = good_entries();
        entries[0].1 = users;
        entries
    };
    let extract = |name: &str, entries: &[(String, Vec<u8>)], extra: &[&str]| {
        let zip = tmp.path().join(format!("{name}.zip"));
        write_zip(&zip, entries);
        let out = tmp.path().join(name);
        let (code, w, counts) = run(&zip, &out, extra);
        assert_eq!(code, 0, "{name}");
        (w, counts, jsonl(&out.join("users.jsonl")))
    };
    let real = |users: &[Value]| -> Vec<String> {
        users
            .iter()
            .filter(|u| u["placeholder"] != true)
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // Broken after the second record.
    let (w, _, users) = extract(
        "broken",
        &with_users(br#"[{"id":"U1","name":"a"},{"id":"U2","name":"b"},{"id":"#.to_vec()),
        &[],
    );
    let broken = w.iter().find(|w| w["file"] == "users.json").unwrap();
    assert_eq!(
        (broken["code"].as_str(), broken["record"].as_u64()),
        (Some("invalid_json"), Some(2)),
        "{w:?}"
    );
    assert_eq!(real(&users), ["U1", "U2"]);

    // Past --max-json-bytes: the records wholly before the bound are kept.
    let mut big = br#"[{"id":"U1","name":"a"}"#.to_vec();
    for i in 2..5000 {
        big.extend(format!(r#",{{"id":"U{i}","name":"user {i}"}}"#).bytes());
    }
    big.push(b']');
    let (w, _, users) = extract("big", &with_users(big), &["--max-json-bytes", "50000"]);
    let bound = w.iter().find(|w| w["file"] == "users.json").unwrap();
    assert_eq!(bound["code"], "entry_too_large", "{w:?}");
    let kept = bound["record"].as_u64().unwrap();
    assert!(kept > 1000 && kept < 2000, "{bound}");
    assert_eq!(real(&users).len() as u64, kept, "{bound}");
    assert!(bound["detail"].as_str().unwrap().contains(&format!("the {kept} record(s) before were kept")));

    // Bytes that are not UTF-8, across a name in the second record (after a string with a
    // comma and a bracket): replaced, and named by their offset and record.
    let mut bad = br#"[{"id":"U1","name":"a, [b"},{"id":"U2","name":"caf"#.to_vec();
    let bad_at = bad.len();
    bad.extend([0xc3, 0xff]);
    bad.extend(br#""},{"id":"U3","name":"b"}]"#);
    let (w, counts, users) = extract("utf8", &with_users(bad), &[]);
    let utf8 = w.iter().find(|w| w["file"] == "users.json").unwrap();
    assert_eq!(utf8["code"], "invalid_utf8", "{w:?}");
    assert_eq!(utf8["record"], 1, "{utf8}");
    assert!(utf8["detail"].as_str().unwrap().contains(&format!("at byte {bad_at} (record 1)")), "{utf8}");
    assert_eq!(users[1]["name"], "caf\u{fffd}\u{fffd}");
    assert_eq!(real(&users), ["U1", "U2", "U3"]);
    assert_eq!(counts["users"], 3);

    // A CRC mismatch is found at the end: the records read are kept and the file named.
    let zip = tmp.path().join("crc.zip");
    write_stored_zip_with_a_flipped_byte(&zip, &with_users(br#"[{"id":"U1","name":"CORRUPTME"}]"#.to_vec()));
    let out = tmp.path().join("crc");
    let (code, w, _) = run(&zip, &out, &[]);
    assert_eq!(code, 0);
    let crc = w.iter().find(|w| w["file"] == "users.json").unwrap();
    assert_eq!(crc["code"], "unreadable_source", "{w:?}");
    assert!(crc["detail"].as_str().unwrap().contains("CRC"), "{crc}");
}

/// An export of replies whose thread roots are outside it warns once per reply: the
/// warnings go through each conversation's spool (more than one batch, more than one
/// copy chunk) and come out in order, counted in the summary.
#[test]
fn many_orphan_replies_are_each_named_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    let reply = |day: u64, i: u64| {
        format!(
            r#"{{"type":"message","user":"U1","text":"r","ts":"{}.{i:06}","thread_ts":"{}.000001"}}"#,
            1_700_000_000 + day * 86_400 + i,
            1_600_000_000 + day * 10_000 + i
        )
    };
    for (folder, days, per_day) in [("general", 3u64, 3000u64), ("other", 1, 10)] {
        for day in 0..days {
            let records: Vec<String> = (0..per_day).map(|i| reply(day, i)).collect();
            let name = format!("{folder}/2024-02-{:02}.json", day + 1);
            entries.retain(|(n, _)| *n != name);
            entries.push((name, format!("[{}]", records.join(",")).into_bytes()));
        }
    }
    let zip = tmp.path().join("orphans.zip");
    write_zip(&zip, &entries);
    let out = tmp.path().join("out");
    let summary = extract_json(&zip, &out);
    assert_eq!(summary["warnings_by_code"], serde_json::json!({"orphan_reply": 9010}));
    assert_eq!(summary["counts"]["warnings"], 9010);
    let w = jsonl(&out.join("warnings.jsonl"));
    let places: Vec<(String, u64)> =
        w.iter().map(|w| (w["file"].as_str().unwrap().to_owned(), w["record"].as_u64().unwrap())).collect();
    let mut expected = Vec::new();
    for (folder, days, per_day) in [("general", 3u64, 3000u64), ("other", 1, 10)] {
        for day in 0..days {
            expected.extend((0..per_day).map(|i| (format!("{folder}/2024-02-{:02}.json", day + 1), i)));
        }
    }
    assert_eq!(places, expected);
    assert!(!out.join(".spool").exists(), "the spool is removed");
    chatport().arg("validate").arg(&out).assert().success();
}

/// A day file larger than the parse chunk (128 KiB) is read in pieces: every message is
/// kept in order, and the warnings name the same records, byte and line as for a file read
/// whole: a duplicate `ts` and a thread root in an earlier piece, invalid UTF-8 late in the
/// file, and a broken end.
#[test]
fn a_large_day_file_is_read_in_pieces_with_every_record_and_warning_in_place() {
    let n = 4800;
    let ts = |i: usize| format!("{}.{:06}", 1_600_000_000 + i, i);
    let mut text = b"[\n".to_vec();
    for i in 0..n {
        if i > 0 {
            text.extend_from_slice(b",\n");
        }
        // Commas, brackets, braces and escaped quotes inside strings: no place to cut.
        let body = format!("msg {i}, with [brackets] {{braces}}, \\\"quotes\\\" ,] and a tail ,{{\\\\");
        let stamp = match i {
            1200 => ts(1199),
            1000 => ts(300),
            _ => ts(i),
        };
        let thread = match i {
            10 => format!(",\n        \"thread_ts\": \"{}\",\n        \"reply_count\": 1", ts(10)),
            4700 => format!(",\n        \"thread_ts\": \"{}\"", ts(10)),
            4710 => ",\n        \"thread_ts\": \"7.000001\"".to_owned(),
            _ => String::new(),
        };
        let record = format!(
            "    {{\n        \"type\": \"message\",\n        \"user\": \"U1\",\n        \"text\": \"{body}\",\n        \"ts\": \"{stamp}\"{thread}\n    }}"
        );
        let mut bytes = record.into_bytes();
        if i == 1500 {
            let at = bytes.windows(3).position(|w| w == b"msg").unwrap();
            bytes[at + 1] = 0xff;
        }
        text.extend_from_slice(&bytes);
    }
    let bad_at = text.iter().position(|b| *b == 0xff).unwrap();
    text.extend_from_slice(b",\n    {\"type\": \"message\", \"ts\": ");
    assert!(text.len() > 3 * (128 << 10), "several pieces: {}", text.len());
    let lossy = String::from_utf8_lossy(&text).into_owned();
    let whole_error = serde_json::from_str::<Vec<Value>>(&lossy).unwrap_err();

    let tmp = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    entries.push(("general/2024-01-01.json".into(), text));
    let zip = tmp.path().join("big.zip");
    write_zip(&zip, &entries);
    let out = tmp.path().join("out");
    let (code, w, counts) = run(&zip, &out, &[]);
    assert_eq!(code, 0);
    assert_eq!(counts["messages"], n as u64 + 1);

    let general = jsonl(&out.join("messages/C1.jsonl"));
    assert_eq!(general.len(), n);
    for (i, m) in general.iter().enumerate() {
        let text = m["body"]["text"].as_str().unwrap();
        let prefix = if i == 1500 { "m\u{fffd}g".to_owned() } else { "msg".to_owned() };
        assert_eq!(text, format!("{prefix} {i}, with [brackets] {{braces}}, \"quotes\" ,] and a tail ,{{\\"));
    }

    let here: Vec<(String, Option<u64>)> = w
        .iter()
        .filter(|w| w["file"] == "general/2024-01-01.json")
        .map(|w| (w["code"].as_str().unwrap().to_owned(), w["record"].as_u64()))
        .collect();
    let expected: Vec<(String, Option<u64>)> = [
        ("duplicate_ts", Some(1000)),
        ("duplicate_ts", Some(1200)),
        ("invalid_utf8", Some(1500)),
        ("invalid_json", Some(n as u64)),
        ("orphan_reply", Some(4710)),
    ]
    .iter()
    .map(|(c, r)| (c.to_string(), *r))
    .collect();
    let mut sorted = here.clone();
    sorted.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(sorted, expected_sorted, "{w:?}");
    let detail = |code: &str| {
        w.iter().find(|w| w["code"] == code).and_then(|w| w["detail"].as_str()).unwrap().to_owned()
    };
    assert!(
        detail("invalid_utf8").contains(&format!("invalid UTF-8 at byte {bad_at} (record 1500):")),
        "{}",
        detail("invalid_utf8")
    );
    let position = format!("at line {} column {}", whole_error.line(), whole_error.column());
    let broken = detail("invalid_json");
    assert!(
        broken.contains(&position) && broken.contains(&format!("after {n} record(s)")),
        "{broken} / {position}"
    );
}

/// A channel with more join/leave events than are held in memory (8,192): they are sorted
/// in runs spilled to the spool, and the intervals read back from the merged runs are the
/// ones computed here from the events directly, for listed and unlisted users alike.
#[test]
fn a_channel_with_many_joins_and_leaves_gets_every_interval() {
    let (days, per_day, users) = (5usize, 2_100usize, 60usize);
    let mut events: Vec<(String, u64, usize, bool)> = Vec::new();
    let mut entries = vec![
        (
            "users.json".to_owned(),
            serde_json::to_vec(
                &(0..50)
                    .map(|u| serde_json::json!({"id": format!("U{u:02}"), "name": format!("u{u}")}))
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
        ),
        ("channels.json".to_owned(), br#"[{"id":"C1","name":"general","members":["U00"]}]"#.to_vec()),
    ];
    for d in 0..days {
        let mut records = Vec::new();
        for k in d * per_day..(d + 1) * per_day {
            let mut user = format!("U{:02}", (k * 37) % users);
            let mut micros = 1_704_067_200_000_000u64 + k as u64 * 1_000_000;
            let mut join = (k * 13) % 5 < 3;
            // Every 7th event undoes the one before, at the same `ts`: read order decides.
            if let (0, Some((u, m, _, j))) = (k % 7, events.last()) {
                (user, micros, join) = (u.clone(), *m, !*j);
            }
            let ts = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
            let subtype = if join { "channel_join" } else { "channel_leave" };
            records.push(serde_json::json!({
                "type": "message", "subtype": subtype, "user": user, "ts": ts,
                "text": format!("<@{user}> has {}", if join { "joined" } else { "left" }),
            }));
            events.push((user, micros, k, join));
        }
        entries.push((format!("general/2024-01-0{}.json", d + 1), serde_json::to_vec(&records).unwrap()));
    }
    assert!(events.len() > 8_192);
    // The intervals: per user in id order, in time order (read order for one `ts`).
    events.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    let mut want: Vec<Value> = Vec::new();
    let mut open: Option<(String, String)> = None;
    let ts_text = |m: u64| format!("{}.{:06}", m / 1_000_000, m % 1_000_000);
    for (i, (user, micros, _, join)) in events.iter().enumerate() {
        if i > 0 && events[i - 1].0 != *user {
            if let Some((u, j)) = open.take() {
                want.push(serde_json::json!({"user": u, "joined": j}));
            }
        }
        match (join, open.take()) {
            (true, None) => open = Some((user.clone(), ts_text(*micros))),
            (true, Some(o)) => open = Some(o),
            (false, Some((u, j))) => {
                want.push(serde_json::json!({"user": u, "joined": j, "left": ts_text(*micros)}))
            }
            (false, None) => want.push(serde_json::json!({"user": user, "left": ts_text(*micros)})),
        }
    }
    if let Some((u, j)) = open.take() {
        want.push(serde_json::json!({"user": u, "joined": j}));
    }

    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("members.zip");
    write_zip(&zip, &entries);
    let out = tmp.path().join("out");
    let (code, _, counts) = run(&zip, &out, &[]);
    assert_eq!(code, 0);
    assert_eq!(counts["messages"], (days * per_day) as u64);
    assert_eq!(counts["memberships"], want.len() as u64);
    let conversations = jsonl(&out.join("conversations.jsonl"));
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["memberships"], Value::Array(want));
    assert!(!out.join(".spool").exists(), "the spool, spilled runs included, is removed");
    chatport().arg("validate").arg(&out).assert().success();
}

/// An extraction that fails part-way (here out of file descriptors, under every limit
/// too low to finish) exits 2 naming the file it could not write, its cause said once,
/// and leaves no scratch folder behind.
#[test]
fn a_failed_extraction_names_the_file_and_leaves_no_scratch() {
    let bin = assert_cmd::cargo::cargo_bin("chatport");
    let tmp = tempfile::tempdir().unwrap();
    let mut failed_in_output = 0;
    let mut finished = false;
    for limit in 5..64 {
        let out = tmp.path().join(format!("out-{limit}"));
        let o = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" extract --no-progress \"$1\" --out \"$2\""))
            .arg(&bin)
            .arg(sample())
            .arg(&out)
            .output()
            .unwrap();
        if o.status.success() {
            finished = true;
            break;
        }
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "limit {limit}: {err}");
        assert!(!out.join(".spool").exists(), "limit {limit}: the spool is left: {err}");
        assert!(!out.join(".salvage").exists(), "limit {limit}");
        if out.join("messages").exists() {
            failed_in_output += 1;
            let line = err.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
            assert!(line.contains(&out.display().to_string()), "limit {limit}: {err}");
            assert_eq!(line.matches("Too many open files").count(), 1, "limit {limit}: {err}");
        }
    }
    assert!(finished, "no limit let the extraction finish");
    assert!(failed_in_output > 0, "no limit failed after the output was started");
}

#[test]
fn a_repeated_entry_name_is_warned_and_the_first_entry_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    // The zip writer refuses a repeated name: the later entries are written as `.jsoo`
    // and renamed in the archive's bytes.
    entries.push(("users.jsoo".into(), br#"[{"id":"U1","name":"a"},{"id":"U2","name":"b"}]"#.to_vec()));
    entries.push((
        "other/2024-01-01.jsoo".into(),
        day(r#"[{"type":"message","user":"U1","text":"a","ts":"2.000001"},{"type":"message","user":"U1","text":"b","ts":"3.000001"}]"#),
    ));
    let zip = tmp.path().join("dup.zip");
    write_zip(&zip, &entries);
    let bytes = std::fs::read(&zip).unwrap();
    let mut renamed = bytes.clone();
    for at in (0..bytes.len() - 4).filter(|&i| &bytes[i..i + 5] == b".jsoo") {
        renamed[at + 4] = b'n';
    }
    std::fs::write(&zip, &renamed).unwrap();
    let (code, w, counts) = run(&zip, &tmp.path().join("out"), &[]);
    assert_eq!(code, 0);
    for name in ["users.json", "other/2024-01-01.json"] {
        assert!(has(&w, "duplicate_entry", name), "{name}: {w:?}");
    }
    assert_eq!(
        (counts["users"].as_u64(), counts["messages"].as_u64()),
        (Some(1), Some(1)),
        "the first entries"
    );
    let (code, ..) = run(&zip, &tmp.path().join("strict"), &["--strict"]);
    assert_eq!(code, 1, "--strict fails on the warning");
}

#[test]
fn a_symlink_entry_is_refused_as_unsafe() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("link.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in good_entries() {
        z.start_file(name.as_str(), options).unwrap();
        z.write_all(&bytes).unwrap();
    }
    z.add_symlink("__uploads/F1/secret.txt", "/etc/shadow", options).unwrap();
    z.add_symlink("other/2024-01-02.json", "../../../etc/passwd", options).unwrap();
    z.finish().unwrap();
    let out = tmp.path().join("out");
    let (code, w, counts) = run(&zip, &out, &[]);
    assert_eq!(code, 0);
    for name in ["__uploads/F1/secret.txt", "other/2024-01-02.json"] {
        assert!(has(&w, "unsafe_path", name), "{name}: {w:?}");
    }
    assert_eq!(counts["messages"], 1);
    assert!(!files_under(&out).iter().any(|f| f.starts_with("blobs/")), "no blob from a link");
}

#[test]
fn one_record_past_the_record_bound_is_not_held_whole() {
    // A day file of two messages, then 80 MiB of white space inside an unfinished value,
    // then one more message: within the default --max-json-bytes, but no real message is
    // longer than 64 MiB. The two messages before are kept and the read stops there, so
    // the extractor's peak memory stays near the bound, not the entry's size.
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    let mut bomb = br#"[{"type":"message","user":"U1","text":"a","ts":"2.000001"},{"type":"message","user":"U1","text":"b","ts":"3.000001"},{"text":"#.to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 80 << 20));
    bomb.extend_from_slice(br#""x"},{"type":"message","user":"U1","text":"c","ts":"4.000001"}]"#);
    entries.push(("general/2024-01-01.json".into(), bomb));
    let zip = tmp.path().join("bomb.zip");
    write_zip(&zip, &entries);
    let out = tmp.path().join("out");
    let summary = extract_json(&zip, &out);
    let w = jsonl(&out.join("warnings.jsonl"));
    let warning = w.iter().find(|w| w["code"] == "entry_too_large").expect("warned");
    assert_eq!(
        (warning["file"].as_str(), warning["record"].as_u64()),
        (Some("general/2024-01-01.json"), Some(2))
    );
    assert_eq!(json(&out.join("manifest.json"))["counts"]["messages"], 3, "1 + the 2 before the bound");
    let peak_mib = summary["peak_rss_kib"].as_u64().unwrap() >> 10;
    assert!(peak_mib < 64 + 48, "peak RSS {peak_mib} MiB for an 80 MiB record");
}
