//! Microsoft Graph migration rules over real HTTP.

mod common;

use base64::Engine;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Creates a migration-mode team, polls its operation, returns (team id, General channel id).
async fn migration_team(e: &Emu, token: &str, created: &str) -> (String, String) {
    let resp = e
        .http
        .post(e.url("/v1.0/teams"))
        .bearer_auth(token)
        .json(&json!({
            "@microsoft.graph.teamCreationMode": "migration",
            "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
            "displayName": "Imported", "description": "from Slack", "createdDateTime": created
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/teams('"), "{location}");
    let (s, op) = e.get(&format!("/v1.0{location}"), token).await;
    assert_eq!(s, StatusCode::OK, "{op}");
    assert_eq!(op["status"], "succeeded");
    let team = op["targetResourceId"].as_str().unwrap().to_string();
    let (_, channels) = e.get(&format!("/v1.0/teams/{team}/channels"), token).await;
    let general = channels["value"][0]["id"].as_str().unwrap().to_string();
    (team, general)
}

async fn migration_channel(e: &Emu, token: &str, team: &str, name: &str, created: &str) -> String {
    let (s, v) = e.post(&format!("/v1.0/teams/{team}/channels"), token, json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": name, "membershipType": "standard", "createdDateTime": created})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn message(created: &str, html: &str) -> Value {
    json!({
        "createdDateTime": created,
        "from": {"user": {"id": "6f4b2a1e-0000-4000-8000-000000000001", "displayName": "Ada", "userIdentityType": "aadUser"}},
        "body": {"contentType": "html", "content": html}
    })
}

fn enc(channel: &str) -> String {
    channel.replace(':', "%3A").replace('@', "%40")
}

#[tokio::test]
async fn team_creation_rules() {
    let e = Emu::start().await;
    let t = e.graph_token().await;
    let base = json!({"@microsoft.graph.teamCreationMode": "migration", "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')", "displayName": "T"});
    let mut future = base.clone();
    future["createdDateTime"] = json!("2999-01-01T00:00:00.000Z");
    let (s, v) = e.post("/v1.0/teams", &t, future).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let mut not_migration = base.clone();
    not_migration.as_object_mut().unwrap().remove("@microsoft.graph.teamCreationMode");
    not_migration["createdDateTime"] = json!("2020-01-01T00:00:00.000Z");
    let (s, v) = e.post("/v1.0/teams", &t, not_migration).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let mut edu = base.clone();
    edu["template@odata.bind"] = json!("https://graph.microsoft.com/v1.0/teamsTemplates('educationClass')");
    let (s, v) = e.post("/v1.0/teams", &t, edu).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let (s, v) = e.get(&format!("/v1.0/teams/{team}"), &t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["createdDateTime"], "2020-01-01T00:00:00.000Z");
    let (_, ch) = e.get(&format!("/v1.0/teams/{team}/channels/{}", enc(&general)), &t).await;
    assert_eq!(ch["migrationMode"], "inProgress");
    let (s, v) = e.post("/v1.0/teams", "bogus-token", base).await;
    assert_graph_error(s, &v, 401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn operation_polling_takes_configured_polls() {
    let e = Emu::start_with(|c| c.rules.graph_operation_polls = 2).await;
    let t = e.graph_token().await;
    let resp = e.http.post(e.url("/v1.0/teams")).bearer_auth(&t).json(&json!({"@microsoft.graph.teamCreationMode": "migration", "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')", "displayName": "Slow"})).send().await.unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let (_, op) = e.get(&format!("/v1.0{location}"), &t).await;
    assert_eq!(op["status"], "inProgress");
    let team = op["targetResourceId"].as_str().unwrap().to_string();
    let (s, v) = e.get(&format!("/v1.0/teams/{team}"), &t).await;
    assert_graph_error(s, &v, 404, "NotFound");
    // The older /teams/{id}/operations/{id} form works too.
    let op_id = op["id"].as_str().unwrap();
    let (_, op) = e.get(&format!("/v1.0/teams/{team}/operations/{op_id}"), &t).await;
    assert_eq!(op["status"], "succeeded");
    assert_eq!(e.get(&format!("/v1.0/teams/{team}"), &t).await.0, StatusCode::OK);
}

#[tokio::test]
async fn channel_rules() {
    let e = Emu::start().await;
    let t = e.graph_token().await;
    let (team, _) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let path = format!("/v1.0/teams/{team}/channels");
    for body in [
        json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "x", "createdDateTime": "2999-01-01T00:00:00.000Z"}),
        json!({"displayName": "y", "createdDateTime": "2020-01-02T00:00:00.000Z"}),
        json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "bad/name"}),
        json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "General"}),
        json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "z".repeat(51)}),
    ] {
        let (s, v) = e.post(&path, &t, body).await;
        assert_graph_error(s, &v, 400, "BadRequest");
    }
    let resp = e.http.post(e.url(&path)).bearer_auth(&t).json(&json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "random", "createdDateTime": "2020-01-02T00:00:00.000Z"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let created: Value = resp.json().await.unwrap();
    // The Location (OData form) and the raw, unencoded channel id both resolve.
    let (s, by_location) = e.get(&format!("/v1.0{location}"), &t).await;
    assert_eq!(s, StatusCode::OK, "{by_location}");
    assert_eq!(by_location["id"], created["id"]);
    let raw = created["id"].as_str().unwrap();
    let (s, v) = e.get(&format!("/v1.0/teams/{team}/channels/{raw}"), &t).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["createdDateTime"], "2020-01-02T00:00:00.000Z");
    let (s, v) = e
        .post(
            &path,
            &t,
            json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "RANDOM"}),
        )
        .await;
    assert_graph_error(s, &v, 400, "BadRequest");
}

#[tokio::test]
async fn message_import_rules() {
    let e = Emu::start().await;
    let t = e.graph_token().await;
    let (team, _) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let ch = migration_channel(&e, &t, &team, "dev", "2020-01-02T00:00:00.000Z").await;
    let path = format!("/v1.0/teams/{team}/channels/{}/messages", enc(&ch));
    let (s, root) = e.post(&path, &t, message("2020-01-03T10:00:00.123Z", "<p>hello</p>")).await;
    assert_eq!(s, StatusCode::CREATED, "{root}");
    assert_eq!(root["createdDateTime"], "2020-01-03T10:00:00.123Z");
    assert_eq!(root["replyToId"], Value::Null);
    // Not later than the channel's creation; in the future.
    let (s, v) = e.post(&path, &t, message("2020-01-02T00:00:00.000Z", "x")).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let (s, v) = e.post(&path, &t, message("2999-01-01T00:00:00.000Z", "x")).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    // Millisecond uniqueness: sub-millisecond digits are truncated, so this collides.
    let (s, v) = e.post(&path, &t, message("2020-01-03T10:00:00.123999Z", "dup")).await;
    assert_graph_error(s, &v, 409, "Conflict");
    // from is required; mentions and reactions are not importable.
    let mut no_from = message("2020-01-03T10:00:01.000Z", "x");
    no_from.as_object_mut().unwrap().remove("from");
    let (s, v) = e.post(&path, &t, no_from).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    // from.user.id is an AAD object id, not an e-mail or UPN.
    let mut by_email = message("2020-01-03T10:00:01.500Z", "x");
    by_email["from"]["user"]["id"] = json!("ada@example.com");
    let (s, v) = e.post(&path, &t, by_email).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    assert!(v.to_string().contains("object id"), "{v}");
    let mut mention = message("2020-01-03T10:00:02.000Z", "x");
    mention["mentions"] = json!([{"id": 0, "mentionText": "Ada"}]);
    let (s, v) = e.post(&path, &t, mention).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    // Size limit.
    let (s, v) = e.post(&path, &t, message("2020-01-03T10:00:03.000Z", &"a".repeat(28_001))).await;
    assert_graph_error(s, &v, 413, "RequestEntityTooLarge");
    // Replies: after the parent, parent must exist.
    let root_id = root["id"].as_str().unwrap();
    let (s, reply) =
        e.post(&format!("{path}/{root_id}/replies"), &t, message("2020-01-03T10:00:05.000Z", "re")).await;
    assert_eq!(s, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["replyToId"], root_id);
    let (s, v) = e
        .post(&format!("{path}/{root_id}/replies"), &t, message("2020-01-03T09:00:00.000Z", "too early"))
        .await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let (s, v) =
        e.post(&format!("{path}/999/replies"), &t, message("2020-01-03T10:00:06.000Z", "orphan")).await;
    assert_graph_error(s, &v, 404, "NotFound");
    // Reads.
    let (_, list) = e.get(&path, &t).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    let (_, replies) = e.get(&format!("{path}/{root_id}/replies"), &t).await;
    assert_eq!(replies["value"][0]["body"]["content"], "re");
    let (s, v) = e.get(&format!("{path}?$top=51"), &t).await;
    assert_graph_error(s, &v, 400, "BadRequest");
}

#[tokio::test]
async fn uniqueness_scope_is_configurable() {
    let e = Emu::start_with(|c| c.rules.graph_unique_created_scope = chatport_emulator::UniqueScope::Thread)
        .await;
    let t = e.graph_token().await;
    let (team, _) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let ch = migration_channel(&e, &t, &team, "dev", "2020-01-02T00:00:00.000Z").await;
    let path = format!("/v1.0/teams/{team}/channels/{}/messages", enc(&ch));
    let (_, a) = e.post(&path, &t, message("2020-01-03T00:00:00.000Z", "a")).await;
    let (_, b) = e.post(&path, &t, message("2020-01-04T00:00:00.000Z", "b")).await;
    // Replies in different threads may share a millisecond; within one thread they may not.
    let at = "2020-01-05T00:00:00.000Z";
    assert_eq!(
        e.post(&format!("{path}/{}/replies", a["id"].as_str().unwrap()), &t, message(at, "ra")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        e.post(&format!("{path}/{}/replies", b["id"].as_str().unwrap()), &t, message(at, "rb")).await.0,
        StatusCode::CREATED
    );
    let (s, v) =
        e.post(&format!("{path}/{}/replies", b["id"].as_str().unwrap()), &t, message(at, "rb2")).await;
    assert_graph_error(s, &v, 409, "Conflict");
}

#[tokio::test]
async fn hosted_contents_and_reference_attachments() {
    let e = Emu::start().await;
    let t = e.graph_token().await;
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let path = format!("/v1.0/teams/{team}/channels/{}/messages", enc(&general));
    let png = b"\x89PNG\r\n\x1a\nfake-image";
    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
    let mut m = message("2020-01-02T00:00:00.000Z", r#"<p>pic</p><img src="../hostedContents/1/$value">"#);
    m["hostedContents"] =
        json!([{"@microsoft.graph.temporaryId": "1", "contentBytes": b64, "contentType": "image/png"}]);
    let (s, v) = e.post(&path, &t, m).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let content = v["body"]["content"].as_str().unwrap();
    let src = content.split("src=\"").nth(1).unwrap().split('"').next().unwrap();
    assert!(src.starts_with(&e.base) && src.ends_with("/$value"), "{src}");
    let bytes = e.http.get(src).bearer_auth(&t).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], png);
    let root_id = v["id"].as_str().unwrap().to_string();
    let (_, listed) = e.get(&format!("{path}/{root_id}/hostedContents"), &t).await;
    assert_eq!(listed["value"][0]["contentType"], "image/png", "{listed}");
    // A reply's inline image is served under the reply.
    let mut r = message("2020-01-02T00:00:01.000Z", r#"<img src="../hostedContents/9/$value">"#);
    r["hostedContents"] =
        json!([{"@microsoft.graph.temporaryId": "9", "contentBytes": b64, "contentType": "image/gif"}]);
    let (s, reply) = e.post(&format!("{path}/{root_id}/replies"), &t, r).await;
    assert_eq!(s, StatusCode::CREATED, "{reply}");
    let reply_id = reply["id"].as_str().unwrap();
    let (_, listed) = e.get(&format!("{path}/{root_id}/replies/{reply_id}/hostedContents"), &t).await;
    assert_eq!(listed["value"][0]["contentType"], "image/gif", "{listed}");
    let content = reply["body"]["content"].as_str().unwrap();
    let src = content.split("src=\"").nth(1).unwrap().split('"').next().unwrap();
    assert!(src.contains("/replies/"), "{src}");
    let bytes = e.http.get(src).bearer_auth(&t).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], png);
    // A reference without a matching hostedContent; a non-image; bad base64.
    let bad_ref = message("2020-01-03T00:00:00.000Z", r#"<img src="../hostedContents/2/$value">"#);
    let (s, v) = e.post(&path, &t, bad_ref).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let mut not_image = message("2020-01-03T00:00:01.000Z", r#"<img src="../hostedContents/1/$value">"#);
    not_image["hostedContents"] = json!([{"@microsoft.graph.temporaryId": "1", "contentBytes": "aGk=", "contentType": "application/pdf"}]);
    let (s, v) = e.post(&path, &t, not_image).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    // Reference attachments must match <attachment id> tags both ways.
    let att = json!([{"id": "153fa47d-18c9-4179-be08-9879815a9f90", "contentType": "reference", "contentUrl": "https://contoso.sharepoint.com/a.pdf", "name": "a.pdf"}]);
    let mut ok = message(
        "2020-01-04T00:00:00.000Z",
        r#"See <attachment id="153fa47d-18c9-4179-be08-9879815a9f90"></attachment>"#,
    );
    ok["attachments"] = att.clone();
    assert_eq!(e.post(&path, &t, ok).await.0, StatusCode::CREATED);
    let mut missing_tag = message("2020-01-05T00:00:00.000Z", "See file");
    missing_tag["attachments"] = att.clone();
    let (s, v) = e.post(&path, &t, missing_tag).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let mut file = message("2020-01-06T00:00:00.000Z", r#"<attachment id="x"></attachment>"#);
    file["attachments"] =
        json!([{"id": "x", "contentType": "application/pdf", "contentUrl": "https://x/y.pdf"}]);
    let (s, v) = e.post(&path, &t, file).await;
    assert_graph_error(s, &v, 400, "BadRequest");
}

#[tokio::test]
async fn completion_order_members_and_restart_of_migration() {
    let e = Emu::start().await;
    let t = e.graph_token().await;
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let ch = migration_channel(&e, &t, &team, "dev", "2020-01-02T00:00:00.000Z").await;
    let member = json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": [], "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{ADA}')")});
    let (s, v) = e.post(&format!("/v1.0/teams/{team}/members"), &t, member.clone()).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    // The team cannot complete while channels are migrating.
    let (s, v) = e.post(&format!("/v1.0/teams/{team}/completeMigration"), &t, json!({})).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    for c in [&general, &ch] {
        let (s, v) =
            e.post(&format!("/v1.0/teams/{team}/channels/{}/completeMigration", enc(c)), &t, json!({})).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    }
    let (s, v) =
        e.post(&format!("/v1.0/teams/{team}/channels/{}/completeMigration", enc(&ch)), &t, json!({})).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    assert_eq!(
        e.post(&format!("/v1.0/teams/{team}/completeMigration"), &t, json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    let (s, v) = e.post(&format!("/v1.0/teams/{team}/completeMigration"), &t, json!({})).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    // Members after completion; unknown users are not found.
    let (s, v) = e.post(&format!("/v1.0/teams/{team}/members"), &t, member).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["email"], ADA);
    let ghost = json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": [], "user@odata.bind": "https://graph.microsoft.com/v1.0/users('ghost@example.com')"});
    let (s, v) = e.post(&format!("/v1.0/teams/{team}/members"), &t, ghost).await;
    assert_graph_error(s, &v, 404, "NotFound");
    // No imports after completion ...
    let path = format!("/v1.0/teams/{team}/channels/{}/messages", enc(&ch));
    let (s, v) = e.post(&path, &t, message("2020-01-03T00:00:00.000Z", "late")).await;
    assert_graph_error(s, &v, 403, "Forbidden");
    // ... unless startMigration is called again (its time must be older than the channel's).
    let (s, v) = e
        .post(
            &format!("/v1.0/teams/{team}/channels/{}/startMigration", enc(&ch)),
            &t,
            json!({"conversationCreationDateTime": "2021-01-01T00:00:00.000Z"}),
        )
        .await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let (s, v) = e
        .post(
            &format!("/v1.0/teams/{team}/channels/{}/startMigration", enc(&ch)),
            &t,
            json!({"conversationCreationDateTime": "2019-06-01T00:00:00.000Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) =
        e.post(&format!("/v1.0/teams/{team}/channels/{}/startMigration", enc(&ch)), &t, json!({})).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let (s, v) =
        e.post(&path, &t, message("2019-07-01T00:00:00.000Z", "older than the old channel date")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn lenient_team_completion_completes_channels() {
    let e = Emu::start_with(|c| c.rules.graph_strict_team_completion = false).await;
    let t = e.graph_token().await;
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    assert_eq!(
        e.post(&format!("/v1.0/teams/{team}/completeMigration"), &t, json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, ch) = e.get(&format!("/v1.0/teams/{team}/channels/{}", enc(&general)), &t).await;
    assert_eq!(ch["migrationMode"], "completed");
}

#[tokio::test]
async fn files_folder_simple_and_session_uploads() {
    let e = Emu::start().await;
    let t = e.graph_token().await;
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let (s, folder) = e.get(&format!("/v1.0/teams/{team}/channels/{}/filesFolder", enc(&general)), &t).await;
    assert_eq!(s, StatusCode::OK, "{folder}");
    let drive = folder["parentReference"]["driveId"].as_str().unwrap().to_string();
    let folder_id = folder["id"].as_str().unwrap().to_string();
    let put = |name: &str, query: &str, bytes: &'static [u8]| {
        e.http
            .put(e.url(&format!("/v1.0/drives/{drive}/items/{folder_id}:/{name}:/content{query}")))
            .bearer_auth(&t)
            .body(bytes)
            .send()
    };
    let resp = put("notes.txt", "", b"hello").await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let item: Value = resp.json().await.unwrap();
    assert!(item["eTag"].as_str().unwrap().ends_with(",1\""), "{item}");
    assert!(item["webUrl"].as_str().unwrap().ends_with("notes.txt"));
    assert_eq!(put("notes.txt", "", b"hello again").await.unwrap().status(), StatusCode::OK);
    let resp = put("notes.txt", "?@microsoft.graph.conflictBehavior=fail", b"x").await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = put("notes.txt", "?@microsoft.graph.conflictBehavior=rename", b"x").await.unwrap();
    let renamed: Value = resp.json().await.unwrap();
    assert_eq!(renamed["name"], "notes 1.txt");
    // Upload session: chunks in multiples of 320 KiB, no Authorization header.
    let (s, session) = e
        .post(
            &format!("/v1.0/drives/{drive}/items/{folder_id}:/big.bin:/createUploadSession"),
            &t,
            json!({"item": {"@microsoft.graph.conflictBehavior": "fail"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{session}");
    let url = session["uploadUrl"].as_str().unwrap().to_string();
    let data: Vec<u8> = (0..(327_680 + 1000)).map(|i| (i % 251) as u8).collect();
    let chunk = |range: String, bytes: Vec<u8>, auth: bool| {
        let mut r = e.http.put(&url).header("content-range", range).body(bytes);
        if auth {
            r = r.bearer_auth(&t);
        }
        r.send()
    };
    let total = data.len();
    assert_eq!(
        chunk(format!("bytes 0-327679/{total}"), data[..327_680].to_vec(), true).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        chunk(format!("bytes 0-99999/{total}"), data[..100_000].to_vec(), false).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let resp = chunk(format!("bytes 0-327679/{total}"), data[..327_680].to_vec(), false).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["nextExpectedRanges"][0], "327680-");
    assert_eq!(
        chunk(format!("bytes 0-327679/{total}"), data[..327_680].to_vec(), false).await.unwrap().status(),
        StatusCode::RANGE_NOT_SATISFIABLE
    );
    let resp =
        chunk(format!("bytes 327680-{}/{total}", total - 1), data[327_680..].to_vec(), false).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let item: Value = resp.json().await.unwrap();
    assert_eq!(item["size"], total);
    let id = item["id"].as_str().unwrap();
    let back = e
        .http
        .get(e.url(&format!("/v1.0/drives/{drive}/items/{id}/content")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(back.to_vec(), data);
    let (s, _) = e.call(Method::DELETE, &format!("/v1.0/groups/{team}"), &t, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = e.get(&format!("/v1.0/teams/{team}"), &t).await;
    assert_graph_error(s, &v, 404, "NotFound");
}

#[tokio::test]
async fn strict_senders_hosted_limits_and_private_channel_members() {
    let e = Emu::start_with(|c| {
        c.rules.graph_strict_from_user = true;
        c.rules.graph_max_hosted_contents = 1;
    })
    .await;
    let t = e.graph_token().await;
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let path = format!("/v1.0/teams/{team}/channels/{}/messages", enc(&general));
    let (s, v) = e.post(&path, &t, message("2020-01-02T00:00:00.000Z", "who?")).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    let ada_id =
        e.admin("/users").await["users"].as_array().unwrap().iter().find(|u| u["email"] == ADA).unwrap()
            ["aad_id"]
            .as_str()
            .unwrap()
            .to_string();
    let mut ok = message("2020-01-02T00:00:00.000Z", "known sender");
    ok["from"]["user"]["id"] = json!(ada_id);
    assert_eq!(e.post(&path, &t, ok.clone()).await.0, StatusCode::CREATED);
    let mut two = ok.clone();
    two["createdDateTime"] = json!("2020-01-03T00:00:00.000Z");
    two["body"]["content"] =
        json!(r#"<img src="../hostedContents/1/$value"><img src="../hostedContents/2/$value">"#);
    two["hostedContents"] = json!([
        {"@microsoft.graph.temporaryId": "1", "contentBytes": "aGk=", "contentType": "image/png"},
        {"@microsoft.graph.temporaryId": "2", "contentBytes": "aGk=", "contentType": "image/png"}
    ]);
    let (s, v) = e.post(&path, &t, two).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    // Private channel members: after the channel's migration, and only team members.
    let (s, v) = e.post(&format!("/v1.0/teams/{team}/channels"), &t, json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "secret", "membershipType": "private"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let private = v["id"].as_str().unwrap().to_string();
    let member = |who: &str| json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": [], "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{who}')")});
    let cpath = format!("/v1.0/teams/{team}/channels/{}/members", enc(&private));
    let (s, v) = e.post(&cpath, &t, member(ADA)).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    for c in [&general, &private] {
        assert_eq!(
            e.post(&format!("/v1.0/teams/{team}/channels/{}/completeMigration", enc(c)), &t, json!({}))
                .await
                .0,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        e.post(&format!("/v1.0/teams/{team}/completeMigration"), &t, json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    let (s, v) = e.post(&cpath, &t, member(ADA)).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    assert_eq!(e.post(&format!("/v1.0/teams/{team}/members"), &t, member(ADA)).await.0, StatusCode::CREATED);
    let (s, v) = e.post(&cpath, &t, member(ADA)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, listed) = e.get(&cpath, &t).await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn member_binding_unescapes_odata_quotes() {
    let e = Emu::start().await;
    e.emu
        .as_ref()
        .unwrap()
        .add_user(chatport_emulator::DirectoryUser::new("o'brien@example.com"))
        .await
        .unwrap();
    let t = e.graph_token().await;
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    assert_eq!(
        e.post(&format!("/v1.0/teams/{team}/channels/{}/completeMigration", enc(&general)), &t, json!({}))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        e.post(&format!("/v1.0/teams/{team}/completeMigration"), &t, json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    let body = json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"], "user@odata.bind": "https://graph.microsoft.com/v1.0/users('o''brien@example.com')"});
    let (s, v) = e.post(&format!("/v1.0/teams/{team}/members"), &t, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["email"], "o'brien@example.com");
    assert_eq!(v["roles"][0], "owner");
}

#[tokio::test]
async fn teams_can_be_listed_by_display_name() {
    // Listing teams needs Team.ReadBasic.All (or a TeamSettings role), not the migration role.
    let e = Emu::start_with(|c| {
        for app in &mut c.microsoft_apps {
            app.roles.retain(|r| r != "Team.ReadBasic.All");
        }
    })
    .await;
    let t = e.graph_token().await;
    let (s, v) = e.get("/v1.0/teams", &t).await;
    assert_graph_error(s, &v, 403, "Forbidden");
    let e = Emu::start().await;
    let t = e.graph_token().await;
    let (team, _) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let (s, v) = e.get("/v1.0/teams?$filter=displayName%20eq%20'Imported'", &t).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["value"][0]["id"], team.as_str());
    // Like Graph's list, only id, displayName, description and visibility are filled.
    assert!(v["value"][0]["createdDateTime"].is_null(), "{v}");
    let (s, v) = e.get(&format!("/v1.0/teams/{team}"), &t).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["createdDateTime"], "2020-01-01T00:00:00.000Z");
    let (_, v) = e.get("/v1.0/teams?$filter=displayName%20eq%20'Other'", &t).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 0);
    let (s, v) = e.get("/v1.0/teams?$filter=startswith(displayName,'I')", &t).await;
    assert_graph_error(s, &v, 400, "BadRequest");
}

#[tokio::test]
async fn hosted_content_size_limit_is_413() {
    let e = Emu::start_with(|c| c.rules.graph_max_hosted_content_bytes = 16).await;
    let t = e.graph_token().await;
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let path = format!("/v1.0/teams/{team}/channels/{}/messages", enc(&general));
    let img = |bytes: &[u8], at: &str| {
        let mut m = message(at, r#"<img src="../hostedContents/1/$value">"#);
        m["hostedContents"] = json!([{"@microsoft.graph.temporaryId": "1", "contentBytes": base64::engine::general_purpose::STANDARD.encode(bytes), "contentType": "image/png"}]);
        m
    };
    assert_eq!(e.post(&path, &t, img(&[7u8; 16], "2020-01-02T00:00:00.000Z")).await.0, StatusCode::CREATED);
    let (s, v) = e.post(&path, &t, img(&[7u8; 17], "2020-01-03T00:00:00.000Z")).await;
    assert_graph_error(s, &v, 413, "RequestEntityTooLarge");
}

#[tokio::test]
async fn reads_need_their_own_permissions_not_the_migration_one() {
    // An app holding only the write permissions of a migration can import but not read
    // back: teams, channels and channel messages each need their documented read role.
    let e = Emu::start_with(|c| {
        for app in &mut c.microsoft_apps {
            app.roles = vec!["Teamwork.Migrate.All".into(), "Channel.Create".into()];
        }
    })
    .await;
    let t = e.graph_token().await;
    let resp = e
        .http
        .post(e.url("/v1.0/teams"))
        .bearer_auth(&t)
        .json(&json!({
            "@microsoft.graph.teamCreationMode": "migration",
            "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
            "displayName": "Imported", "createdDateTime": "2020-01-01T00:00:00.000Z"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let (_, op) = e.get(&format!("/v1.0{location}"), &t).await;
    let team = op["targetResourceId"].as_str().unwrap().to_string();
    let channel = migration_channel(&e, &t, &team, "imported", "2020-01-02T00:00:00.000Z").await;
    let messages = format!("/v1.0/teams/{team}/channels/{}/messages", enc(&channel));
    let (s, root) = e.post(&messages, &t, message("2020-01-03T00:00:00.000Z", "hi")).await;
    assert_eq!(s, StatusCode::CREATED, "{root}");
    let root = root["id"].as_str().unwrap().to_string();
    let denied = [
        (format!("/v1.0/teams/{team}"), "Team.ReadBasic.All"),
        (format!("/v1.0/teams/{team}/channels"), "Channel.ReadBasic.All"),
        (format!("/v1.0/teams/{team}/channels/{}", enc(&channel)), "Channel.ReadBasic.All"),
        (messages.clone(), "ChannelMessage.Read.All"),
        (format!("{messages}/{root}"), "ChannelMessage.Read.All"),
        (format!("{messages}/{root}/replies"), "ChannelMessage.Read.All"),
        (format!("{messages}/{root}/hostedContents"), "ChannelMessage.Read.All"),
    ];
    for (path, role) in &denied {
        let (s, v) = e.get(path, &t).await;
        assert_graph_error(s, &v, 403, "Forbidden");
        assert!(v["error"]["message"].as_str().unwrap().contains(role), "{path}: {v}");
    }
    // The least-privileged read roles are enough.
    let e = Emu::start_with(|c| {
        for app in &mut c.microsoft_apps {
            app.roles = [
                "Teamwork.Migrate.All",
                "Team.ReadBasic.All",
                "Channel.ReadBasic.All",
                "ChannelMessage.Read.All",
            ]
            .iter()
            .map(|r| r.to_string())
            .collect();
        }
    })
    .await;
    let t = e.graph_token().await;
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let messages = format!("/v1.0/teams/{team}/channels/{}/messages", enc(&general));
    for path in [format!("/v1.0/teams/{team}"), format!("/v1.0/teams/{team}/channels"), messages] {
        let (s, v) = e.get(&path, &t).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
    }
}

#[tokio::test]
async fn completing_general_first_closes_the_team_to_new_migration_channels() {
    let e = Emu::start().await;
    let t = e.graph_token().await;
    let (team, general) = migration_team(&e, &t, "2020-01-01T00:00:00.000Z").await;
    let (s, v) = e.get(&format!("/v1.0/teams/{team}/primaryChannel"), &t).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["id"], general.as_str());
    assert_eq!(v["displayName"], "General");
    assert_eq!(v["migrationMode"], "inProgress");
    // Before General completes, migration channels can be created.
    migration_channel(&e, &t, &team, "before", "2020-01-02T00:00:00.000Z").await;
    assert_eq!(
        e.post(&format!("/v1.0/teams/{team}/channels/{}/completeMigration", enc(&general)), &t, json!({}))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (s, v) = e.post(&format!("/v1.0/teams/{team}/channels"), &t, json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "after", "membershipType": "standard", "createdDateTime": "2020-01-03T00:00:00.000Z"})).await;
    assert_graph_error(s, &v, 400, "BadRequest");
    assert!(v["error"]["message"].as_str().unwrap().contains("General"), "{v}");
}
