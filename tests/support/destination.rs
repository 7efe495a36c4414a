//! Shared by the whole-pipeline tests (`tests/pipeline_kill9.rs`) and the loader's
//! (`crates/chatport-load/tests/pipeline.rs`), each including it by `#[path]`: the checks
//! that an emulator's destination holds exactly what a plan creates, no more (a duplicate)
//! and no less (a gap), read from its `/__admin/state`.

use serde_json::Value;
use std::path::Path;

/// Items of an admin-state list that pass `pred`.
pub fn count(v: &Value, pred: impl Fn(&Value) -> bool) -> usize {
    v.as_array().map_or(0, |a| a.iter().filter(|x| pred(x)).count())
}

/// Operations of the plan with action `action`, counted from its `ops/` files.
pub fn planned(plan: &Path, action: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(plan.join("ops")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for line in text.lines() {
            let op: Value = serde_json::from_str(line).unwrap();
            if op["action"]["type"].as_str() == Some(action) {
                n += 1;
            }
        }
    }
    n
}

/// Asserts that the Chat state holds exactly the plan's spaces, messages and reactions,
/// with no repeated client id. `label` starts each failure message.
pub fn assert_chat_exact(state: &Value, plan: &Path, label: &str) {
    let chat = &state["chat"];
    let live = |x: &Value| x["deleted"].as_bool() != Some(true);
    assert_eq!(count(&chat["spaces"], live), planned(plan, "chat_create_space"), "{label}: spaces");
    assert_eq!(
        count(&chat["messages"], |m| live(m) && m["delete_time"].is_null()),
        planned(plan, "chat_create_message"),
        "{label}: messages"
    );
    assert_eq!(count(&chat["reactions"], live), planned(plan, "chat_create_reaction"), "{label}: reactions");
    let mut ids: Vec<&str> =
        chat["messages"].as_array().unwrap().iter().filter_map(|m| m["client_id"].as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "{label}: duplicate client ids");
}

/// Asserts that the Teams state holds exactly the plan's messages, channels and teams (an
/// orphan team, whose creation answer was lost and which was created again, is a
/// duplicate). Returns the number of teams.
pub fn assert_teams_exact(state: &Value, plan: &Path, label: &str) -> usize {
    let g = &state["graph"];
    assert_eq!(count(&g["messages"], |_| true), planned(plan, "teams_post_message"), "{label}: messages");
    let channels = count(&g["channels"], |c| {
        c["is_general"].as_bool() != Some(true) && c["deleted"].as_bool() != Some(true)
    });
    assert_eq!(channels, planned(plan, "teams_create_channel"), "{label}: channels");
    let teams = count(&g["teams"], |t| t["deleted"].as_bool() != Some(true));
    assert_eq!(teams, planned(plan, "teams_create_team"), "{label}: teams (an orphan team is a duplicate)");
    teams
}
