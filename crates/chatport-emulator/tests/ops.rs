//! Token endpoints, quotas, fault injection, durability and the admin endpoints.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn google_token_endpoint_checks_the_assertion() {
    let e = Emu::start().await;
    let aud = e.url("/token");
    let (s, v) = e.google_token_raw(Some(ADA), &[IMPORT], &aud).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].as_i64().unwrap() > 3000);
    // Google's real audience is accepted too.
    assert_eq!(
        e.google_token_raw(Some(ADA), &[IMPORT], "https://oauth2.googleapis.com/token").await.0,
        StatusCode::OK
    );
    let (s, v) = e.google_token_raw(Some(ADA), &[IMPORT], "https://evil.example/token").await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (s, v) = e.google_token_raw(Some("nobody@example.com"), &[IMPORT], &aud).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (s, v) = e.google_token_raw(Some(EVE_EXTERNAL), &[IMPORT], &aud).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "external users cannot be impersonated"
    );
    let (s, v) = e.google_token_raw(Some(ADA), &["https://www.googleapis.com/auth/drive"], &aud).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
    // Expired assertion.
    let old = creds().google_assertion(Some(ADA), &[IMPORT], &aud, 1_600_000_000).unwrap();
    let (s, v) = e
        .token_form(
            "/token",
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &old)],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    // Signed by a key the emulator does not trust, claiming our service account.
    let mut impostor = chatport_emulator::TestCredentials::generate().unwrap();
    impostor.client_email = creds().client_email.clone();
    impostor.private_key_id = creds().private_key_id.clone();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let forged = impostor.google_assertion(Some(ADA), &[IMPORT], &aud, now).unwrap();
    let (s, v) = e
        .token_form(
            "/token",
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &forged)],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{v}");
    let (s, v) = e.token_form("/token", &[("grant_type", "client_credentials")]).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")));
}

#[tokio::test]
async fn delegation_limits_scopes() {
    let e = Emu::start_with(|c| {
        c.google_service_accounts[0].delegated_scopes = vec![IMPORT.to_string()];
    })
    .await;
    assert_eq!(e.google_token_raw(Some(ADA), &[IMPORT], &e.url("/token")).await.0, StatusCode::OK);
    let (s, v) = e.google_token_raw(Some(ADA), &[IMPORT, MEMBERSHIPS], &e.url("/token")).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized_client")));
}

#[tokio::test]
async fn microsoft_token_endpoint_checks_the_client() {
    let e = Emu::start().await;
    let c = creds();
    let path = format!("/{}/oauth2/v2.0/token", c.tenant_id);
    let form = |secret: &str, scope: &str, client: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), client.to_string()),
            ("client_secret".to_string(), secret.to_string()),
            ("scope".to_string(), scope.to_string()),
        ]
    };
    let send = |path: String, f: Vec<(String, String)>| {
        let http = e.http.clone();
        let url = e.url(&path);
        async move {
            let r = http.post(url).form(&f).send().await.unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap())
        }
    };
    let graph = "https://graph.microsoft.com/.default";
    let (s, v) = send(path.clone(), form(&c.ms_client_secret, graph, &c.ms_client_id)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = send(path.clone(), form("wrong", graph, &c.ms_client_id)).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert!(v["error_description"].as_str().unwrap().starts_with("AADSTS7000215"));
    let (s, v) = send(
        path.clone(),
        form(&c.ms_client_secret, "https://graph.microsoft.com/User.Read", &c.ms_client_id),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
    let (s, v) =
        send(path.clone(), form(&c.ms_client_secret, graph, "00000000-0000-0000-0000-000000000000")).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unauthorized_client")));
    let (s, v) =
        send("/not-a-tenant/oauth2/v2.0/token".into(), form(&c.ms_client_secret, graph, &c.ms_client_id))
            .await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    // Tokens are not interchangeable between the two APIs.
    let google = e.user(ADA).await;
    let (s, v) = e.get("/v1.0/teams/x", &google).await;
    assert_graph_error(s, &v, 401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn chat_per_space_write_quota() {
    let e = Emu::start_with(|c| {
        c.quotas.enabled = true;
        c.quotas.chat.per_space_writes = 3;
        c.time_scale = 20.0; // 3 per emulated minute = 1 per wall second.
    })
    .await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "quota", "2020-01-01T00:00:00Z").await;
    let path = format!("/v1/spaces/{sp}/messages");
    for i in 0..3 {
        let (s, v) =
            e.post(&path, &ada, json!({"text": "x", "createTime": format!("2020-01-02T00:00:0{i}Z")})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = e.post(&path, &ada, json!({"text": "x", "createTime": "2020-01-02T00:00:05Z"})).await;
    assert_google_error(s, &v, 429, "RESOURCE_EXHAUSTED");
    // Another space has its own bucket.
    let other = e.import_space(&ada, "quota-2", "2020-01-01T00:00:00Z").await;
    assert_eq!(
        e.post(&format!("/v1/spaces/{other}/messages"), &ada, json!({"text": "x"})).await.0,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        e.post(&path, &ada, json!({"text": "x", "createTime": "2020-01-02T00:00:06Z"})).await.0,
        StatusCode::OK
    );
    assert!(e.counter("responses.429").await >= 1);
    assert!(e.counter("throttled.chat.space.writes").await >= 1);
}

#[tokio::test]
async fn graph_channel_import_quota_sends_retry_after() {
    let e = Emu::start_with(|c| {
        c.quotas.enabled = true;
        c.quotas.graph.channel_import = 5.0;
        c.quotas.graph.team_or_channel = 100.0;
        // A slow clock keeps the bucket from refilling while a loaded machine sends the six
        // requests (0.5 tokens per wall second).
        c.time_scale = 0.1;
    })
    .await;
    let t = e.graph_token().await;
    let resp = e.http.post(e.url("/v1.0/teams")).bearer_auth(&t).json(&json!({"@microsoft.graph.teamCreationMode": "migration", "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')", "displayName": "Q", "createdDateTime": "2020-01-01T00:00:00.000Z"})).send().await.unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let (_, op) = e.get(&format!("/v1.0{location}"), &t).await;
    let team = op["targetResourceId"].as_str().unwrap().to_string();
    let (_, chans) = e.get(&format!("/v1.0/teams/{team}/channels"), &t).await;
    let ch = chans["value"][0]["id"].as_str().unwrap().replace(':', "%3A").replace('@', "%40");
    let path = format!("/v1.0/teams/{team}/channels/{ch}/messages");
    let body = |ms: u32| json!({"createdDateTime": format!("2020-01-02T00:00:00.{ms:03}Z"), "from": {"user": {"id": "6f4b2a1e-0000-4000-8000-000000000001", "displayName": "A", "userIdentityType": "aadUser"}}, "body": {"contentType": "text", "content": "x"}});
    for i in 0..5 {
        assert_eq!(e.post(&path, &t, body(i)).await.0, StatusCode::CREATED);
    }
    let resp = e.http.post(e.url(&path)).bearer_auth(&t).json(&body(9)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "TooManyRequests");
}

#[tokio::test]
async fn injected_errors_use_each_api_envelope() {
    let e = Emu::start_with(|c| c.faults.rate_503 = 1.0).await;
    let ada = e.user(ADA).await; // token endpoints are not faulted by default
    let (s, v) = e.get("/v1/spaces", &ada).await;
    assert_google_error(s, &v, 503, "UNAVAILABLE");
    let (s, v) = e.get("/v1.0/teams/x", &ada).await;
    assert_graph_error(s, &v, 503, "ServiceUnavailable");
    assert!(e.counter("faults.503").await >= 2);
}

async fn status_sequence(seed: u64) -> Vec<u16> {
    let e = Emu::start_with(|c| {
        c.faults.seed = seed;
        c.faults.rate_429 = 0.2;
        c.faults.rate_500 = 0.2;
    })
    .await;
    let app = e.app().await;
    let mut out = Vec::new();
    for _ in 0..30 {
        out.push(e.get("/v1/spaces/none", &app).await.0.as_u16());
    }
    out
}

#[tokio::test]
async fn faults_are_seeded_and_replayable() {
    let a = status_sequence(42).await;
    let b = status_sequence(42).await;
    let c = status_sequence(43).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.contains(&429) && a.contains(&500) && a.contains(&404), "{a:?}");
}

#[tokio::test]
async fn dropped_connections_before_and_after_the_write() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let app = e.app().await;
    let sp = e.import_space(&ada, "drops", "2020-01-01T00:00:00Z").await;
    let set_faults = |cfg: Value| {
        let http = e.http.clone();
        let url = e.url("/__admin/faults");
        async move { assert_eq!(http.put(url).json(&cfg).send().await.unwrap().status(), StatusCode::OK) }
    };
    let create = |id: &'static str| {
        e.http
            .post(e.url(&format!("/v1/spaces/{sp}/messages?messageId={id}")))
            .bearer_auth(&ada)
            .json(&json!({"text": id, "createTime": if id.ends_with("before") { "2020-01-02T00:00:00Z" } else { "2020-01-03T00:00:00Z" }}))
            .send()
    };
    set_faults(json!({"drop_before": 1.0})).await;
    assert!(create("client-before").await.is_err(), "the connection must drop");
    set_faults(json!({"drop_after": 1.0})).await;
    assert!(create("client-after").await.is_err(), "the connection must drop");
    set_faults(json!({})).await;
    // Dropped before: nothing written. Dropped after: the write happened; a retry sees 409.
    assert_eq!(
        e.get(&format!("/v1/spaces/{sp}/messages/client-before"), &app).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(e.get(&format!("/v1/spaces/{sp}/messages/client-after"), &app).await.0, StatusCode::OK);
    let retry = create("client-after").await.unwrap();
    assert_eq!(retry.status(), StatusCode::CONFLICT);
    assert_eq!(e.counter("faults.drop_before").await, 1);
    assert_eq!(e.counter("faults.drop_after").await, 1);
}

#[tokio::test]
async fn latency_is_added() {
    let e = Emu::start_with(|c| c.faults.latency_ms = 150).await;
    let app = e.app().await;
    let t = std::time::Instant::now();
    e.get("/v1/spaces/none", &app).await;
    assert!(t.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn acknowledged_writes_are_on_disk_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = Emu::start_with(|c| c.data_dir = dir.path().to_path_buf()).await;
    let ada = e.user(ADA).await;
    let app = e.app().await;
    let graph = e.graph_token().await;
    let sp = e.import_space(&ada, "durable", "2020-01-01T00:00:00Z").await;
    let (s, _) = e
        .post(
            &format!("/v1/spaces/{sp}/messages?messageId=client-keep"),
            &ada,
            json!({"text": "keep me", "createTime": "2020-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Acknowledged means committed: the row is in SQLite while the server still runs.
    let conn = rusqlite::Connection::open(dir.path().join("state.sqlite3")).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM records WHERE kind = 'message' AND key = ?1",
            [format!("spaces/{sp}/messages/client-keep")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1);
    let resp = e.http.post(e.url("/v1.0/teams")).bearer_auth(&graph).json(&json!({"@microsoft.graph.teamCreationMode": "migration", "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')", "displayName": "Durable"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    e.advance_clock(3600.0).await;
    e.shutdown().await;

    let config = base_config(dir.path());
    let again = chatport_emulator::start(config).await.unwrap();
    let base = again.base_url();
    let http = reqwest::Client::new();
    // Tokens issued before the restart still work; state and clock offset are back.
    let resp = http
        .get(format!("{base}/v1/spaces/{sp}/messages/client-keep"))
        .bearer_auth(&app)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["text"], "keep me");
    let resp = http
        .post(format!("{base}/v1/spaces/{sp}/messages?messageId=client-keep"))
        .bearer_auth(&ada)
        .json(&json!({"text": "dup", "createTime": "2020-01-03T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = http
        .post(format!("{base}/v1/spaces/{sp}/messages"))
        .bearer_auth(&ada)
        .json(&json!({"text": "dup time", "createTime": "2020-01-02T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "createTime uniqueness survives restarts");
    let state: Value = http.get(format!("{base}/__admin/state")).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["graph"]["teams"][0]["display_name"], "Durable");
    assert!(state["clock_offset_nanos"].as_i64().unwrap() >= 3_600_000_000_000);
    again.shutdown().await;
}

#[tokio::test]
async fn admin_reports_state_and_counters() {
    let e = Emu::start().await;
    let ada = e.user(ADA).await;
    let sp = e.import_space(&ada, "admin", "2020-01-01T00:00:00Z").await;
    e.post(
        &format!("/v1/spaces/{sp}/messages"),
        &ada,
        json!({"text": "x", "createTime": "1999-01-01T00:00:00Z"}),
    )
    .await;
    let state = e.admin("/state").await;
    assert_eq!(state["chat"]["spaces"][0]["name"], format!("spaces/{sp}"));
    let counters = e.admin("/counters").await;
    assert!(counters["requests"].as_u64().unwrap() >= 3);
    assert_eq!(counters["rejections.chat.message.create_time_before_space"], 1);
    let clock = e.admin("/clock").await;
    assert!(clock["now"].is_string());
    let resp =
        e.http.post(e.url("/__admin/users")).json(&json!({"email": "new@example.com"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        e.google_token_raw(Some("new@example.com"), &[IMPORT], &e.url("/token")).await.0,
        StatusCode::OK
    );
    let resp =
        e.http.post(e.url("/__admin/clock")).json(&json!({"advance_seconds": -5})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn test_credentials_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let files = creds().write(dir.path(), Some("http://127.0.0.1:9")).unwrap();
    let key: Value = serde_json::from_str(&std::fs::read_to_string(&files.google_key).unwrap()).unwrap();
    assert_eq!(key["type"], "service_account");
    assert_eq!(key["token_uri"], "http://127.0.0.1:9/token");
    assert!(key["private_key"].as_str().unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    let app: Value = serde_json::from_str(&std::fs::read_to_string(&files.microsoft_app).unwrap()).unwrap();
    assert_eq!(app["client_secret"], creds().ms_client_secret.as_str());
    let (g, m) = chatport_emulator::read_trusted_credentials(dir.path()).unwrap();
    assert_eq!(g, creds().service_account_trust());
    assert_eq!(m, creds().microsoft_trust());
}

#[tokio::test]
async fn chat_project_space_creation_quota() {
    let e = Emu::start_with(|c| {
        c.quotas.enabled = true;
        c.quotas.chat.space_creates = 2;
    })
    .await;
    let ada = e.user(ADA).await;
    e.import_space(&ada, "one", "2020-01-01T00:00:00Z").await;
    e.import_space(&ada, "two", "2020-01-01T00:00:00Z").await;
    let (s, v) = e
        .post("/v1/spaces", &ada, json!({"spaceType": "SPACE", "displayName": "three", "importMode": true}))
        .await;
    assert_google_error(s, &v, 429, "RESOURCE_EXHAUSTED");
    assert!(e.counter("throttled.chat.project.space_creates").await >= 1);
}

#[tokio::test]
async fn configuration_file_and_flags() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: chatport_emulator::EmulateArgs,
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("emulator.json");
    std::fs::write(&file, r#"{"faults": {"seed": 9, "rate_500": 0.1}, "rules": {"import_mode_days": 30}, "users": [{"email": "x@example.com"}]}"#).unwrap();
    let cli = Cli::parse_from([
        "emulate",
        "--config",
        file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--fault-503",
        "0.2",
        "--time-scale",
        "10",
        "--no-quotas",
    ]);
    let c = cli.args.to_config().unwrap();
    assert_eq!((c.faults.seed, c.faults.rate_500, c.faults.rate_503), (9, 0.1, 0.2));
    assert_eq!(c.rules.import_mode_days, 30);
    assert_eq!(c.users[0].email, "x@example.com");
    assert_eq!(c.time_scale, 10.0);
    assert!(!c.quotas.enabled);
    let bad = Cli::parse_from(["emulate", "--fault-429", "2"]);
    assert!(bad.args.to_config().is_err());
    std::fs::write(&file, r#"{"faults": {"sed": 1}}"#).unwrap();
    let typo = Cli::parse_from(["emulate", "--config", file.to_str().unwrap()]);
    assert!(typo.args.to_config().is_err(), "unknown fields are rejected");
}

#[tokio::test]
async fn a_client_can_use_the_written_key_files() {
    let e = Emu::start_with(|c| {
        c.google_service_accounts.clear();
        c.microsoft_apps.clear();
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let written = chatport_emulator::write_test_credentials(dir.path(), Some(&e.base)).unwrap();
    // Not trusted yet: the emulator does not know this service account.
    let key: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("google-service-account.json")).unwrap(),
    )
    .unwrap();
    let token_uri = key["token_uri"].as_str().unwrap().to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = json!({"iss": key["client_email"], "scope": IMPORT, "aud": token_uri, "iat": now, "exp": now + 3600, "sub": ADA});
    let assertion = chatport_emulator::credentials::sign_rs256(
        key["private_key"].as_str().unwrap(),
        key["private_key_id"].as_str().unwrap(),
        &claims,
    )
    .unwrap();
    let form =
        [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
    let resp = e.http.post(&token_uri).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    e.emu.as_ref().unwrap().trust(&written).await.unwrap();
    let resp = e.http.post(&token_uri).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The Microsoft file carries everything a client needs.
    let app: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("microsoft-app.json")).unwrap())
            .unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app["client_id"].as_str().unwrap()),
        ("client_secret", app["client_secret"].as_str().unwrap()),
        ("scope", app["scope"].as_str().unwrap()),
    ];
    let resp = e.http.post(app["token_endpoint"].as_str().unwrap()).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let reread = chatport_emulator::TestCredentials::read(dir.path()).unwrap();
    assert_eq!(reread.service_account_trust(), written.service_account_trust());
}
