//! Google Chat import-mode rules over real HTTP.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn space_create_time_bounds_and_direct_message() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let ok = e.post("/v1/spaces", &ada, json!({"spaceType": "SPACE", "displayName": "ok", "importMode": true, "createTime": "2015-06-01T10:00:00.123456Z"})).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(ok.1["createTime"], "2015-06-01T10:00:00.123456Z");
    assert_eq!(ok.1["importMode"], true);
    assert!(ok.1["importModeExpireTime"].is_string());
    let (s, v) = e.post("/v1/spaces", &ada, json!({"spaceType": "SPACE", "displayName": "old", "importMode": true, "createTime": "1999-12-31T23:59:59Z"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.post("/v1/spaces", &ada, json!({"spaceType": "SPACE", "displayName": "future", "importMode": true, "createTime": "2999-01-01T00:00:00Z"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.post("/v1/spaces", &ada, json!({"spaceType": "DIRECT_MESSAGE", "importMode": true})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.post("/v1/spaces", &ada, json!({"spaceType": "GROUP_CHAT", "importMode": true})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn display_names_and_request_ids() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let (s, v) = e.post("/v1/spaces", &ada, json!({"spaceType": "SPACE", "importMode": true})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e
        .post(
            "/v1/spaces",
            &ada,
            json!({"spaceType": "SPACE", "displayName": "x".repeat(129), "importMode": true}),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let first = e
        .post(
            "/v1/spaces?requestId=r-1",
            &ada,
            json!({"spaceType": "SPACE", "displayName": "Engineering", "importMode": true}),
        )
        .await;
    assert_eq!(first.0, StatusCode::OK);
    let (s, v) = e
        .post(
            "/v1/spaces",
            &ada,
            json!({"spaceType": "SPACE", "displayName": "engineering", "importMode": true}),
        )
        .await;
    assert_google_error(s, &v, 409, "ALREADY_EXISTS");
    // The same requestId returns the same space instead of a conflict.
    let again = e
        .post(
            "/v1/spaces?requestId=r-1",
            &ada,
            json!({"spaceType": "SPACE", "displayName": "Engineering", "importMode": true}),
        )
        .await;
    assert_eq!(again.0, StatusCode::OK);
    assert_eq!(again.1["name"], first.1["name"]);
}

#[tokio::test]
async fn import_only_fields_rejected_outside_import_mode() {
    let e = Emu::start().await;
    let both = e
        .google_token(
            Some(ADA),
            &[
                IMPORT,
                "https://www.googleapis.com/auth/chat.spaces.create",
                "https://www.googleapis.com/auth/chat.messages",
                MEMBERSHIPS,
            ],
        )
        .await;
    let (s, v) = e
        .post(
            "/v1/spaces",
            &both,
            json!({"spaceType": "SPACE", "displayName": "n1", "createTime": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.post("/v1/spaces", &both, json!({"spaceType": "SPACE", "displayName": "normal"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["name"].as_str().unwrap().to_string();
    let ok = e.post(&format!("/v1/{id}/messages"), &both, json!({"text": "now"})).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    let (s, v) = e
        .post(
            &format!("/v1/{id}/messages"),
            &both,
            json!({"text": "old", "createTime": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e
        .post(
            &format!("/v1/{id}/members"),
            &both,
            json!({"member": {"name": format!("users/{BOB}"), "type": "HUMAN"}, "deleteTime": ago(10)}),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let ok = e
        .post(
            &format!("/v1/{id}/members"),
            &both,
            json!({"member": {"name": format!("users/{BOB}"), "type": "HUMAN"}}),
        )
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(ok.1["state"], "JOINED");
}

#[tokio::test]
async fn message_create_time_bounds_and_uniqueness() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "times", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}/messages");
    let ok = e.post(&path, &ada, json!({"text": "hi", "createTime": "2020-01-02T03:04:05.123456789Z"})).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(ok.1["createTime"], "2020-01-02T03:04:05.123456789Z");
    assert_eq!(ok.1["sender"]["type"], "HUMAN");
    let (s, v) = e.post(&path, &ada, json!({"text": "early", "createTime": "2019-12-31T23:59:59Z"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.post(&path, &ada, json!({"text": "future", "createTime": "2999-01-01T00:00:00Z"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e
        .post(&path, &ada, json!({"text": "same time", "createTime": "2020-01-02T03:04:05.123456789Z"}))
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    // Still unique after the first message is deleted.
    let name = ok.1["name"].as_str().unwrap().to_string();
    let (s, _) = e.call(Method::DELETE, &format!("/v1/{name}"), &ada, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) =
        e.post(&path, &ada, json!({"text": "reuse", "createTime": "2020-01-02T03:04:05.123456789Z"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.post(&path, &ada, json!({"text": "bad time", "createTime": "yesterday"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    assert!(e.counter("rejections.chat.message.create_time_not_unique").await >= 2);
}

#[tokio::test]
async fn client_message_ids() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let app = e.app().await;
    let sp = e.import_space(&ada, "ids", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}/messages");
    let ok = e
        .post(
            &format!("{path}?messageId=client-slk-1&requestId=req-1"),
            &ada,
            json!({"text": "a", "createTime": "2020-02-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(ok.1["name"], format!("spaces/{sp}/messages/client-slk-1"));
    assert_eq!(ok.1["clientAssignedMessageId"], "client-slk-1");
    for bad in ["client-UPPER", "client-a.b", "slk-1", "client-", &format!("client-{}", "a".repeat(57))] {
        let (s, v) = e.post(&format!("{path}?messageId={bad}"), &ada, json!({"text": "x"})).await;
        assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    }
    // Same requestId: the same message comes back unchanged (a retry).
    let retry = e
        .post(
            &format!("{path}?messageId=client-slk-1&requestId=req-1"),
            &ada,
            json!({"text": "a", "createTime": "2020-02-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(retry.0, StatusCode::OK);
    assert_eq!(retry.1["name"], ok.1["name"]);
    // Same id without the requestId: 409, and the existing message can be read by its alias.
    let (s, v) = e
        .post(
            &format!("{path}?messageId=client-slk-1"),
            &ada,
            json!({"text": "other", "createTime": "2020-02-02T00:00:00Z"}),
        )
        .await;
    assert_google_error(s, &v, 409, "ALREADY_EXISTS");
    let (s, v) = e.get(&format!("/v1/spaces/{sp}/messages/client-slk-1"), &app).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["text"], "a");
    let (s, _) = e.call(Method::DELETE, &format!("/v1/spaces/{sp}/messages/client-slk-1"), &ada, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = e
        .post(
            &format!("{path}?messageId=client-slk-1"),
            &ada,
            json!({"text": "again", "createTime": "2020-02-03T00:00:00Z"}),
        )
        .await;
    assert_google_error(s, &v, 409, "ALREADY_EXISTS");
}

#[tokio::test]
async fn threads_and_reply_options() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "threads", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}/messages");
    let fallback = format!("{path}?messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
    let root = e.post(&fallback, &ada, json!({"text": "root", "createTime": "2020-01-05T00:00:00Z", "thread": {"threadKey": "1578182400.000100"}})).await;
    assert_eq!(root.0, StatusCode::OK, "{}", root.1);
    let thread = root.1["thread"]["name"].as_str().unwrap().to_string();
    let reply = e.post(&fallback, &ada, json!({"text": "reply", "createTime": "2020-01-05T00:00:01Z", "thread": {"threadKey": "1578182400.000100"}})).await;
    assert_eq!(reply.0, StatusCode::OK);
    assert_eq!(reply.1["thread"]["name"], thread.as_str());
    assert_eq!(reply.1["threadReply"], true);
    let by_name = e
        .post(
            &format!("{path}?messageReplyOption=REPLY_MESSAGE_OR_FAIL"),
            &ada,
            json!({"text": "r2", "createTime": "2020-01-05T00:00:02Z", "thread": {"name": thread}}),
        )
        .await;
    assert_eq!(by_name.0, StatusCode::OK);
    assert_eq!(by_name.1["thread"]["name"], thread.as_str());
    let (s, v) = e.post(&format!("{path}?messageReplyOption=REPLY_MESSAGE_OR_FAIL"), &ada, json!({"text": "r3", "createTime": "2020-01-05T00:00:03Z", "thread": {"name": format!("spaces/{sp}/threads/nope")}})).await;
    assert_google_error(s, &v, 404, "NOT_FOUND");
    let fell_back = e.post(&fallback, &ada, json!({"text": "r4", "createTime": "2020-01-05T00:00:04Z", "thread": {"name": format!("spaces/{sp}/threads/nope")}})).await;
    assert_eq!(fell_back.0, StatusCode::OK);
    assert_ne!(fell_back.1["thread"]["name"], thread.as_str());
    // Without a reply option the thread is ignored: a new thread starts.
    let ignored = e
        .post(
            &path,
            &ada,
            json!({"text": "r5", "createTime": "2020-01-05T00:00:05Z", "thread": {"name": thread}}),
        )
        .await;
    assert_eq!(ignored.0, StatusCode::OK);
    assert_ne!(ignored.1["thread"]["name"], thread.as_str());
    let (s, v) = e.post(&format!("{path}?messageReplyOption=SOMETIMES"), &ada, json!({"text": "x"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    // A reply older than its thread's first message.
    let (s, v) = e
        .post(
            &fallback,
            &ada,
            json!({"text": "early reply", "createTime": "2020-01-04T00:00:00Z", "thread": {"name": thread}}),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn message_size_limit() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "sizes", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}/messages");
    let ok =
        e.post(&path, &ada, json!({"text": "a".repeat(31_900), "createTime": "2020-01-02T00:00:00Z"})).await;
    assert_eq!(ok.0, StatusCode::OK);
    let (s, v) =
        e.post(&path, &ada, json!({"text": "a".repeat(32_001), "createTime": "2020-01-03T00:00:00Z"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.post(&path, &ada, json!({"text": "", "createTime": "2020-01-04T00:00:00Z"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn authentication_kind_per_method_in_import_mode() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let app = e.app().await;
    let sp = e.import_space(&ada, "auth", "2020-01-01T00:00:00Z").await;
    let (s, v) = e
        .post("/v1/spaces", &app, json!({"spaceType": "SPACE", "displayName": "by app", "importMode": true}))
        .await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    assert_eq!(e.get(&format!("/v1/spaces/{sp}"), &app).await.0, StatusCode::OK);
    let (s, v) = e.get(&format!("/v1/spaces/{sp}"), &ada).await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    // App auth may create messages (attributed to the app) but not list them.
    let by_app = e
        .post(
            &format!("/v1/spaces/{sp}/messages?messageId=client-app-1"),
            &app,
            json!({"text": "*Ghost*: hi", "createTime": "2020-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(by_app.0, StatusCode::OK, "{}", by_app.1);
    assert_eq!(by_app.1["sender"]["type"], "BOT");
    let (s, v) = e.get(&format!("/v1/spaces/{sp}/messages"), &app).await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    assert_eq!(e.get(&format!("/v1/spaces/{sp}/messages"), &ada).await.0, StatusCode::OK);
    // messages.get: app only.
    let (s, v) = e.get(&format!("/v1/spaces/{sp}/messages/client-app-1"), &ada).await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    assert_eq!(e.get(&format!("/v1/spaces/{sp}/messages/client-app-1"), &app).await.0, StatusCode::OK);
    // Reactions and memberships: user only.
    let (s, v) = e
        .post(
            &format!("/v1/spaces/{sp}/messages/client-app-1/reactions"),
            &app,
            json!({"emoji": {"unicode": "🙂"}}),
        )
        .await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    let (s, v) = e
        .post(
            &format!("/v1/spaces/{sp}/members"),
            &app,
            json!({"member": {"name": format!("users/{BOB}")}, "deleteTime": ago(60)}),
        )
        .await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    // A user token without chat.import cannot touch an import-mode space.
    let no_import = e.google_token(Some(ADA), &["https://www.googleapis.com/auth/chat.messages"]).await;
    let (s, v) = e
        .post(
            &format!("/v1/spaces/{sp}/messages"),
            &no_import,
            json!({"text": "x", "createTime": "2020-01-03T00:00:00Z"}),
        )
        .await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    // No token, bad token.
    let (s, v) = e.get(&format!("/v1/spaces/{sp}"), "").await;
    assert_google_error(s, &v, 401, "UNAUTHENTICATED");
    let (s, v) = e.get(&format!("/v1/spaces/{sp}"), "ya29.forged").await;
    assert_google_error(s, &v, 401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn historical_memberships() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "members", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}/members");
    let bob = json!({"name": format!("users/{BOB}"), "type": "HUMAN"});
    let cases = [
        json!({"member": bob}),
        json!({"member": bob, "deleteTime": "2019-06-01T00:00:00Z"}),
        json!({"member": bob, "deleteTime": "2999-01-01T00:00:00Z"}),
        json!({"member": bob, "createTime": "2019-06-01T00:00:00Z", "deleteTime": "2021-01-01T00:00:00Z"}),
        json!({"member": bob, "createTime": "2021-01-01T00:00:00Z", "deleteTime": "2021-01-01T00:00:00Z"}),
    ];
    for body in cases {
        let (s, v) = e.post(&path, &ada, body.clone()).await;
        assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    }
    let (s, v) = e
        .post(
            &path,
            &ada,
            json!({"member": {"name": "users/nobody@example.com"}, "deleteTime": "2021-01-01T00:00:00Z"}),
        )
        .await;
    assert_google_error(s, &v, 404, "NOT_FOUND");
    let (s, v) = e.post(&path, &ada, json!({"member": {"name": format!("users/{EVE_EXTERNAL}")}, "deleteTime": "2021-01-01T00:00:00Z"})).await;
    assert_google_error(s, &v, 400, "FAILED_PRECONDITION");
    let ok = e.post(&path, &ada, json!({"member": bob, "deleteTime": "2021-01-01T00:00:00Z"})).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(ok.1["createTime"], "2020-12-31T23:59:59.999999Z");
    assert_eq!(ok.1["deleteTime"], "2021-01-01T00:00:00Z");
    let (s, v) = e.post(&path, &ada, json!({"member": bob, "createTime": "2021-02-01T00:00:00Z", "deleteTime": "2021-03-01T00:00:00Z"})).await;
    assert_google_error(s, &v, 409, "ALREADY_EXISTS");
    let listed = e.get(&path, &ada).await;
    assert_eq!(listed.1["memberships"].as_array().map(Vec::len), Some(1), "{}", listed.1);
    // After completion historical members are hidden and current members can be added.
    let (s, v) = e.post(&format!("/v1/spaces/{sp}:completeImport"), &ada, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["space"]["importMode"], false);
    let listed = e.get(&path, &ada).await;
    assert!(listed.1.get("memberships").is_none(), "{}", listed.1);
    let (s, v) = e.post(&path, &ada, json!({"member": bob, "deleteTime": "2021-01-01T00:00:00Z"})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let current = e.post(&path, &ada, json!({"member": bob})).await;
    assert_eq!(current.0, StatusCode::OK, "{}", current.1);
    assert_eq!(current.1["state"], "JOINED");
}

#[tokio::test]
async fn import_mode_expires_on_the_configurable_clock() {
    let e = Emu::start_with(|c| c.rules.import_mode_days = 30).await;
    let ada = e.user(ADA).await;
    let app = e.app().await;
    let expiring = e.import_space(&ada, "expiring", "2020-01-01T00:00:00Z").await;
    let completed = e.import_space(&ada, "completed", "2020-01-01T00:00:00Z").await;
    let (s, v) = e.get(&format!("/v1/spaces/{expiring}"), &app).await;
    assert_eq!(s, StatusCode::OK);
    let deadline =
        chatport_emulator::time::Timestamp::parse(v["importModeExpireTime"].as_str().unwrap()).unwrap();
    let now = chatport_emulator::time::wall_now();
    assert!((deadline.0 - now.0 - 30 * 86_400 * 1_000_000_000).abs() < 120 * 1_000_000_000);
    assert_eq!(
        e.post(&format!("/v1/spaces/{completed}:completeImport"), &ada, json!({})).await.0,
        StatusCode::OK
    );
    e.advance_clock(29.0 * 86_400.0).await;
    assert_eq!(e.get(&format!("/v1/spaces/{expiring}"), &app).await.0, StatusCode::OK);
    e.advance_clock(2.0 * 86_400.0).await;
    let (s, v) = e.get(&format!("/v1/spaces/{expiring}"), &app).await;
    assert_google_error(s, &v, 404, "NOT_FOUND");
    let (s, v) = e.post(&format!("/v1/spaces/{expiring}/messages"), &ada, json!({"text": "late"})).await;
    assert_google_error(s, &v, 404, "NOT_FOUND");
    // The completed space stays (read as a user: the app is no member of it).
    let reader = e.google_token(Some(ADA), &["https://www.googleapis.com/auth/chat.spaces.readonly"]).await;
    assert_eq!(e.get(&format!("/v1/spaces/{completed}"), &reader).await.0, StatusCode::OK);
    let (s, v) = e.get(&format!("/v1/spaces/{completed}"), &app).await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    // The name of an expired space is free again.
    let again = e
        .post(
            "/v1/spaces",
            &ada,
            json!({"spaceType": "SPACE", "displayName": "expiring", "importMode": true}),
        )
        .await;
    assert_eq!(again.0, StatusCode::OK, "{}", again.1);
}

#[tokio::test]
async fn import_space_invisible_until_completed_and_owned_by_its_app() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "hidden", "2020-01-01T00:00:00Z").await;
    let lister = e.google_token(Some(BOB), &[SPACES_RO]).await;
    let (s, v) = e.get("/v1/spaces", &lister).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("spaces").is_none(), "{v}");
    // Another app (project) cannot import into it.
    let other = chatport_emulator::TestCredentials::generate().unwrap();
    let mut trust = other.service_account_trust();
    trust.client_email = "other@other-project.iam.gserviceaccount.com".into();
    trust.project_id = "other-project".into();
    e.emu.as_ref().unwrap().trust_google(trust).await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut other_creds = other.clone();
    other_creds.client_email = "other@other-project.iam.gserviceaccount.com".into();
    let assertion = other_creds.google_assertion(Some(ADA), &[IMPORT], &e.url("/token"), now).unwrap();
    let (s, tok) = e
        .token_form(
            "/token",
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    let other_token = tok["access_token"].as_str().unwrap();
    let (s, v) = e
        .post(
            &format!("/v1/spaces/{sp}/messages"),
            other_token,
            json!({"text": "x", "createTime": "2020-02-01T00:00:00Z"}),
        )
        .await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    let (s, v) = e.post(&format!("/v1/spaces/{sp}:completeImport"), other_token, json!({})).await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    // Complete, add Bob as a current member: now he sees it.
    assert_eq!(e.post(&format!("/v1/spaces/{sp}:completeImport"), &ada, json!({})).await.0, StatusCode::OK);
    let (s, v) = e.post(&format!("/v1/spaces/{sp}:completeImport"), &ada, json!({})).await;
    assert_google_error(s, &v, 400, "FAILED_PRECONDITION");
    assert_eq!(
        e.post(
            &format!("/v1/spaces/{sp}/members"),
            &ada,
            json!({"member": {"name": format!("users/{BOB}")}})
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, v) = e.get("/v1/spaces", &lister).await;
    assert_eq!(v["spaces"][0]["name"], format!("spaces/{sp}"), "{v}");
    // Historical createTime no longer accepted.
    let (s, v) = e
        .post(
            &format!("/v1/spaces/{sp}/messages"),
            &ada,
            json!({"text": "x", "createTime": "2020-03-01T00:00:00Z"}),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn list_paging_order_and_filters() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "list", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}/messages");
    for i in 1..=5 {
        let r = e
            .post(
                &path,
                &ada,
                json!({"text": format!("m{i}"), "createTime": format!("2020-01-0{i}T00:00:00Z")}),
            )
            .await;
        assert_eq!(r.0, StatusCode::OK);
    }
    let mut texts = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let url = match &token {
            Some(t) => format!("{path}?pageSize=2&pageToken={t}"),
            None => format!("{path}?pageSize=2"),
        };
        let (s, v) = e.get(&url, &ada).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        for m in v["messages"].as_array().unwrap() {
            texts.push(m["text"].as_str().unwrap().to_string());
        }
        match v["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(texts, ["m1", "m2", "m3", "m4", "m5"]);
    let (_, v) = e.get(&format!("{path}?orderBy=create_time%20DESC"), &ada).await;
    assert_eq!(v["messages"][0]["text"], "m5");
    let filter = "create_time%20%3E%20%222020-01-02T00:00:00Z%22%20AND%20create_time%20%3C%20%222020-01-05T00:00:00Z%22";
    let (_, v) = e.get(&format!("{path}?filter={filter}"), &ada).await;
    let got: Vec<&str> =
        v["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(got, ["m3", "m4"]);
    let (s, v) = e.get(&format!("{path}?filter=text%20%3D%20m1"), &ada).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.get(&format!("{path}?pageSize=-1"), &ada).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.get(&format!("{path}?orderBy=text"), &ada).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn patch_and_delete_messages() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let bob = e.user(BOB).await;
    let sp = e.import_space(&ada, "edits", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}/messages");
    let fallback = format!("{path}?messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
    let root = e
        .post(
            &format!("{path}?messageId=client-root"),
            &ada,
            json!({"text": "root", "createTime": "2020-01-02T00:00:00Z"}),
        )
        .await;
    let thread = root.1["thread"]["name"].as_str().unwrap().to_string();
    let reply = e
        .post(
            &format!("{fallback}&messageId=client-reply"),
            &bob,
            json!({"text": "reply", "createTime": "2020-01-02T00:00:01Z", "thread": {"name": thread}}),
        )
        .await;
    assert_eq!(reply.0, StatusCode::OK);
    let (s, v) =
        e.call(Method::PATCH, &format!("{path}/client-root"), &ada, Some(json!({"text": "edited"}))).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("{path}/client-root?updateMask=text"),
            &ada,
            Some(json!({"text": "edited"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["text"], "edited");
    assert!(v["lastUpdateTime"].is_string());
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("{path}/client-root?updateMask=text"),
            &bob,
            Some(json!({"text": "hijack"})),
        )
        .await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    let (s, v) = e
        .call(
            Method::PUT,
            &format!("{path}/client-root?updateMask=text"),
            &ada,
            Some(json!({"text": "x".repeat(32_001)})),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.call(Method::DELETE, &format!("{path}/client-root"), &ada, None).await;
    assert_google_error(s, &v, 400, "FAILED_PRECONDITION");
    let (s, _) = e.call(Method::DELETE, &format!("{path}/client-root?force=true"), &ada, None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = e.get(&path, &ada).await;
    assert!(v.get("messages").is_none(), "{v}");
    let (_, v) = e.get(&format!("{path}?showDeleted=true"), &ada).await;
    let listed = v["messages"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|m| m["deleteTime"].is_string() && m.get("text").is_none()));
}

#[tokio::test]
async fn reactions() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let bob = e.user(BOB).await;
    let app = e.app().await;
    let sp = e.import_space(&ada, "reactions", "2020-01-01T00:00:00Z").await;
    let m = e
        .post(
            &format!("/v1/spaces/{sp}/messages?messageId=client-m"),
            &ada,
            json!({"text": "hi", "createTime": "2020-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(m.0, StatusCode::OK);
    let path = format!("/v1/spaces/{sp}/messages/client-m/reactions");
    let r = e.post(&path, &bob, json!({"emoji": {"unicode": "👍"}})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert!(r.1["user"]["name"].as_str().unwrap().starts_with("users/1"));
    let (s, v) = e.post(&path, &bob, json!({"emoji": {"unicode": "👍"}})).await;
    assert_google_error(s, &v, 409, "ALREADY_EXISTS");
    let (s, v) = e.post(&path, &bob, json!({})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    assert_eq!(e.post(&path, &ada, json!({"emoji": {"unicode": "👍"}})).await.0, StatusCode::OK);
    let (_, v) = e.get(&format!("/v1/spaces/{sp}/messages/client-m"), &app).await;
    assert_eq!(v["emojiReactionSummaries"][0]["reactionCount"], 2, "{v}");
    let (s, v) = e.get(&path, &ada).await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    let name = r.1["name"].as_str().unwrap();
    let (s, v) = e.call(Method::DELETE, &format!("/v1/{name}"), &ada, None).await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    assert_eq!(e.call(Method::DELETE, &format!("/v1/{name}"), &bob, None).await.0, StatusCode::OK);
    let (s, v) = e
        .post(
            &format!("/v1/spaces/{sp}/messages/client-missing/reactions"),
            &bob,
            json!({"emoji": {"unicode": "👍"}}),
        )
        .await;
    assert_google_error(s, &v, 404, "NOT_FOUND");
}

fn multipart(meta: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "emu-boundary-1234";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/related; boundary={boundary}"), body)
}

#[tokio::test]
async fn media_upload_and_attachments() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let app = e.app().await;
    let sp = e.import_space(&ada, "files", "2020-01-01T00:00:00Z").await;
    let upload = |meta: &'static str, bytes: Vec<u8>, query: &'static str| {
        let (ct, body) = multipart(meta, "application/pdf", &bytes);
        e.http
            .post(e.url(&format!("/upload/v1/spaces/{sp}/attachments:upload?uploadType={query}")))
            .bearer_auth(&ada)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let resp = upload(r#"{"filename": "report.pdf"}"#, b"%PDF-1.4 test".to_vec(), "multipart").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let data_ref: serde_json::Value = resp.json().await.unwrap();
    let attachment_ref = data_ref["attachmentDataRef"].clone();
    assert!(attachment_ref["attachmentUploadToken"].is_string());
    let resp = upload(r#"{"filename": "setup.exe"}"#, b"MZ".to_vec(), "multipart").await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = upload(r#"{}"#, b"x".to_vec(), "multipart").await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = upload(r#"{"filename": "a.pdf"}"#, b"x".to_vec(), "media").await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let path = format!("/v1/spaces/{sp}/messages");
    let m = e.post(&path, &ada, json!({"text": "see file", "createTime": "2020-01-02T00:00:00Z", "attachment": [{"attachmentDataRef": attachment_ref}]})).await;
    assert_eq!(m.0, StatusCode::OK, "{}", m.1);
    assert_eq!(m.1["attachment"][0]["contentName"], "report.pdf");
    assert_eq!(m.1["attachment"][0]["source"], "UPLOADED_CONTENT");
    let (s, v) = e.post(&path, &ada, json!({"text": "forged", "createTime": "2020-01-03T00:00:00Z", "attachment": [{"attachmentDataRef": {"resourceName": "spaces/x/attachments/y", "attachmentUploadToken": "z"}}]})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e.post(&path, &ada, json!({"text": "drive", "createTime": "2020-01-04T00:00:00Z", "attachment": [{"driveDataRef": {"driveFileId": "abc"}}]})).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    // Download is not available in import mode; after completion it returns the bytes.
    let resource = attachment_ref["resourceName"].as_str().unwrap();
    let (s, _) = e.get(&format!("/v1/media/{resource}?alt=media"), &app).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(e.post(&format!("/v1/spaces/{sp}:completeImport"), &ada, json!({})).await.0, StatusCode::OK);
    let reader = e.google_token(Some(ADA), &["https://www.googleapis.com/auth/chat.messages.readonly"]).await;
    let bytes = e
        .http
        .get(e.url(&format!("/v1/media/{resource}?alt=media")))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"%PDF-1.4 test");
}

#[tokio::test]
async fn space_patch_rules() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "patch-me", "2020-01-01T00:00:00Z").await;
    e.import_space(&ada, "taken", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}");
    let (s, v) = e.call(Method::PATCH, &path, &ada, Some(json!({"displayName": "new"}))).await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("{path}?updateMask=displayName"),
            &ada,
            Some(json!({"displayName": "TAKEN"})),
        )
        .await;
    assert_google_error(s, &v, 409, "ALREADY_EXISTS");
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("{path}?updateMask=access_settings.audience"),
            &ada,
            Some(json!({"accessSettings": {"audience": "audiences/default"}})),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("{path}?updateMask=space_history_state,display_name"),
            &ada,
            Some(json!({"displayName": "x", "spaceHistoryState": "HISTORY_OFF"})),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("{path}?updateMask=display_name,space_details"),
            &ada,
            Some(json!({"displayName": "renamed", "spaceDetails": {"description": "d"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["displayName"], "renamed");
    assert_eq!(v["spaceDetails"]["description"], "d");
    let (s, _) = e.call(Method::DELETE, &path, &ada, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = e.get(&path, &e.app().await).await;
    assert_google_error(s, &v, 404, "NOT_FOUND");
}

#[tokio::test]
async fn chat_import_scope_for_members_ends_at_the_deadline() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "late members", "2020-01-01T00:00:00Z").await;
    assert_eq!(e.post(&format!("/v1/spaces/{sp}:completeImport"), &ada, json!({})).await.0, StatusCode::OK);
    e.advance_clock(91.0 * 86_400.0).await;
    let path = format!("/v1/spaces/{sp}/members");
    let (s, v) = e.post(&path, &ada, json!({"member": {"name": format!("users/{BOB}")}})).await;
    assert_google_error(s, &v, 403, "PERMISSION_DENIED");
    let memberships = e.google_token(Some(ADA), &[MEMBERSHIPS]).await;
    let (s, v) = e.post(&path, &memberships, json!({"member": {"name": format!("users/{BOB}")}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn update_with_allow_missing_creates_client_id_messages() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "upsert", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}/messages");
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("{path}/client-new?updateMask=text&allowMissing=true"),
            &ada,
            Some(json!({"text": "created", "createTime": "2020-01-02T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], format!("spaces/{sp}/messages/client-new"));
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("{path}/client-other?updateMask=text"),
            &ada,
            Some(json!({"text": "x"})),
        )
        .await;
    assert_google_error(s, &v, 404, "NOT_FOUND");
    let system = e.post(&path, &ada, json!({"text": "sys", "createTime": "2020-01-03T00:00:00Z"})).await;
    assert_eq!(system.0, StatusCode::OK);
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("{path}/nope.nope?updateMask=text&allowMissing=true"),
            &ada,
            Some(json!({"text": "x"})),
        )
        .await;
    assert_google_error(s, &v, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn upload_size_limit() {
    let e = Emu::start_with(|c| c.rules.chat_max_upload_bytes = 10).await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "small files", "2020-01-01T00:00:00Z").await;
    let send = |bytes: Vec<u8>| {
        let (ct, body) = multipart(r#"{"filename": "a.bin"}"#, "application/octet-stream", &bytes);
        e.http
            .post(e.url(&format!("/upload/v1/spaces/{sp}/attachments:upload?uploadType=multipart")))
            .bearer_auth(&ada)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(send(vec![1; 10]).await.unwrap().status(), StatusCode::OK);
    let resp = send(vec![1; 11]).await.unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_google_error(status, &body, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn mentions_by_email_come_back_by_user_id() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "mentions", "2020-01-01T00:00:00Z").await;
    let body = json!({"text": format!("hi <users/{BOB}> and <users/nobody-known>"), "createTime": "2020-01-02T00:00:00Z"});
    let (s, v) = e.post(&format!("/v1/spaces/{sp}/messages"), &ada, body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let text = v["text"].as_str().unwrap();
    assert!(!text.contains(BOB), "{text}");
    assert!(text.starts_with("hi <users/") && text.ends_with("> and <users/nobody-known>"), "{text}");
}

#[tokio::test]
async fn group_chats_are_unthreaded() {
    // messageReplyOption is supported in named spaces only: a group chat ignores it and
    // the threadKey, and every message stands alone.
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let (s, v) = e
        .post(
            "/v1/spaces",
            &ada,
            json!({"spaceType": "GROUP_CHAT", "importMode": true, "createTime": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let sp = v["name"].as_str().unwrap().to_string();
    let path = format!("/v1/{sp}/messages?messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
    let mut threads = Vec::new();
    for (i, at) in ["2020-01-02T00:00:00Z", "2020-01-03T00:00:00Z"].iter().enumerate() {
        let body = json!({"text": format!("m{i}"), "createTime": at, "thread": {"threadKey": "k"}});
        let (s, v) = e.post(&path, &ada, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v.get("threadReply").is_none(), "{v}");
        threads.push(v["thread"]["name"].as_str().unwrap().to_string());
    }
    assert_ne!(threads[0], threads[1]);
}
