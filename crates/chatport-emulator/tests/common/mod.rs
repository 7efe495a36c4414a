//! Test harness: starts an emulator on 127.0.0.1:0 in a temporary directory, trusts a
//! generated credential set (one RSA key per test binary), and gets tokens over HTTP.

#![allow(dead_code)]

use std::sync::OnceLock;

use chatport_emulator::{start, DirectoryUser, EmulatorConfig, RunningEmulator, TestCredentials};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Scope `chat.import`.
pub const IMPORT: &str = "https://www.googleapis.com/auth/chat.import";
/// Scope `chat.bot`.
pub const BOT: &str = "https://www.googleapis.com/auth/chat.bot";
/// Scope `chat.spaces.readonly`.
pub const SPACES_RO: &str = "https://www.googleapis.com/auth/chat.spaces.readonly";
/// Scope `chat.memberships`.
pub const MEMBERSHIPS: &str = "https://www.googleapis.com/auth/chat.memberships";

/// An in-domain user.
pub const ADA: &str = "ada@example.com";
/// Another in-domain user.
pub const BOB: &str = "bob@example.com";
/// An external user.
pub const EVE_EXTERNAL: &str = "eve@partner.example";

/// The credential set of this test binary (one RSA key generation).
pub fn creds() -> &'static TestCredentials {
    static CREDS: OnceLock<TestCredentials> = OnceLock::new();
    CREDS.get_or_init(|| TestCredentials::generate().expect("generate test credentials"))
}

/// Port 0, quotas off, three users, the test credentials trusted.
pub fn base_config(dir: &std::path::Path) -> EmulatorConfig {
    let mut c = EmulatorConfig {
        users: vec![
            DirectoryUser::new(ADA),
            DirectoryUser::new(BOB),
            DirectoryUser { external: true, ..DirectoryUser::new(EVE_EXTERNAL) },
        ],
        ..EmulatorConfig::local(dir.to_path_buf(), creds())
    };
    c.quotas.enabled = false;
    c
}

/// A running emulator and an HTTP client.
pub struct Emu {
    /// Data directory.
    pub dir: tempfile::TempDir,
    /// The server (None after shutdown).
    pub emu: Option<RunningEmulator>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Client.
    pub http: reqwest::Client,
}

impl Emu {
    /// Starts with [`base_config`].
    pub async fn start() -> Emu {
        Emu::start_with(|_| {}).await
    }

    /// Starts with [`base_config`] changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut EmulatorConfig)) -> Emu {
        let dir = tempfile::tempdir().unwrap();
        let mut config = base_config(dir.path());
        tweak(&mut config);
        let emu = start(config).await.unwrap();
        let base = emu.base_url();
        Emu { dir, emu: Some(emu), base, http: reqwest::Client::new() }
    }

    /// Absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A Google token impersonating `sub` (None = app auth) with `scopes`.
    pub async fn google_token(&self, sub: Option<&str>, scopes: &[&str]) -> String {
        let (status, body) = self.google_token_raw(sub, scopes, &self.url("/token")).await;
        assert_eq!(status, StatusCode::OK, "token: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// The token endpoint's answer to an assertion for `sub` and `scopes` with audience `aud`.
    pub async fn google_token_raw(
        &self,
        sub: Option<&str>,
        scopes: &[&str],
        aud: &str,
    ) -> (StatusCode, Value) {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let assertion = creds().google_assertion(sub, scopes, aud, now).unwrap();
        self.token_form(
            "/token",
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)],
        )
        .await
    }

    /// Posts a form to a token endpoint.
    pub async fn token_form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self.http.post(self.url(path)).form(form).send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// User-impersonation token with chat.import.
    pub async fn user(&self, email: &str) -> String {
        self.google_token(Some(email), &[IMPORT]).await
    }

    /// App-auth token with chat.bot.
    pub async fn app(&self) -> String {
        self.google_token(None, &[BOT]).await
    }

    /// Microsoft client-credentials token.
    pub async fn graph_token(&self) -> String {
        let c = creds();
        let (status, body) = self
            .token_form(
                &format!("/{}/oauth2/v2.0/token", c.tenant_id),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &c.ms_client_id),
                    ("client_secret", &c.ms_client_secret),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "graph token: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Sends a request with a bearer token; returns status and JSON (or null).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// GET an admin endpoint.
    pub async fn admin(&self, path: &str) -> Value {
        self.http.get(self.url(&format!("/__admin{path}"))).send().await.unwrap().json().await.unwrap()
    }

    /// Moves the emulated clock forward.
    pub async fn advance_clock(&self, secs: f64) {
        let resp = self
            .http
            .post(self.url("/__admin/clock"))
            .json(&json!({"advance_seconds": secs}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    /// One admin counter (0 when absent).
    pub async fn counter(&self, name: &str) -> u64 {
        self.admin("/counters").await[name].as_u64().unwrap_or(0)
    }

    /// Stops the server.
    pub async fn shutdown(&mut self) {
        if let Some(e) = self.emu.take() {
            e.shutdown().await;
        }
    }

    /// Creates an import-mode SPACE as ADA; returns its id (without `spaces/`).
    pub async fn import_space(&self, token: &str, name: &str, create_time: &str) -> String {
        let (s, v) = self
            .post("/v1/spaces", token, json!({"spaceType": "SPACE", "displayName": name, "importMode": true, "createTime": create_time}))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["name"].as_str().unwrap().trim_start_matches("spaces/").to_string()
    }
}

/// Asserts a Google error envelope with the given HTTP status and rpc status.
pub fn assert_google_error(status: StatusCode, body: &Value, code: u16, rpc: &str) {
    assert_eq!(status.as_u16(), code, "{body}");
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    assert_eq!(body["error"]["status"], json!(rpc), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// Asserts a Graph error envelope with the given HTTP status and code.
pub fn assert_graph_error(status: StatusCode, body: &Value, code: u16, graph_code: &str) {
    assert_eq!(status.as_u16(), code, "{body}");
    assert_eq!(body["error"]["code"], json!(graph_code), "{body}");
    assert!(body["error"]["innerError"]["request-id"].is_string(), "{body}");
}

/// An RFC 3339 time `secs` seconds before now.
pub fn ago(secs: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    chatport_emulator::time::Timestamp((now - secs) * 1_000_000_000).to_rfc3339()
}
