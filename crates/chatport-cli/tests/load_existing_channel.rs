//! `chatport load --existing-channel`: the flag names plan channels by conversation id,
//! container id or name; a dry run shows the bindings without touching a state file, and
//! a key that names no channel is a clear error.

mod common;

use common::*;

#[test]
fn existing_channel_bindings_are_resolved_and_bad_keys_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let canonical = tmp.path().join("canonical");
    chatport()
        .args(["extract", "--no-progress"])
        .arg(sample())
        .arg("--out")
        .arg(&canonical)
        .assert()
        .success();
    let plan = tmp.path().join("teams");
    let o = chatport()
        .args(["transform", "--to", "teams", "--now", "2026-11-24T00:00:00Z"])
        .arg(&canonical)
        .arg("--out")
        .arg(&plan)
        .args(["--fallback-user", "00000000-0000-4000-8000-00000000f411"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = tmp.path().join("state.db");
    let load = |extra: &[&str]| {
        chatport()
            .arg("load")
            .arg(&plan)
            .arg("--canonical")
            .arg(&canonical)
            .arg("--state")
            .arg(&state)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = load(&[
        "--dry-run",
        "--existing-channel",
        "random=T1/C1",
        "--existing-channel",
        "channel-g01priv=T1/C2",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("existing channel C1 of team T1"), "{stderr}");
    assert!(stderr.contains("team-g01priv: existing team T1 (not created)"), "{stderr}");
    assert!(!state.exists(), "a dry run writes no state");

    let o = load(&["--dry-run", "--existing-channel", "no-such-channel=T1/C1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("no-such-channel: no channel of the plan"), "{stderr}");

    let o = load(&["--dry-run", "--existing-channel", "random=T1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("expected KEY=TEAM_ID/CHANNEL_ID"), "{stderr}");
}
