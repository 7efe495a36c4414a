//! Microsoft certificate credentials (issue 5 part 1) over real HTTP against the emulator:
//! a load authenticated with a certificate-signed client assertion succeeds; a key that
//! does not belong to the certificate, a certificate the app does not know, an expired
//! assertion, a bad signature and a wrong audience are refused with clear AADSTS errors;
//! and neither the logs nor the state store ever hold the secret or PEM contents.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chatport_emulator::{start, EmulatorConfig, RunningEmulator, TestCredentials};
use chatport_load::{load, ClientOptions, Endpoints, LoadError, LoadOptions};
use chatport_model::plan::{
    Action, Actor, Container, ContainerKind, Destination, Operation, OperationId, PlanCounts, PlanManifest,
    PLAN_FORMAT_VERSION,
};
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{json, Value};

/// A Teams plan: one team, one channel, `messages` messages.
fn write_plan(dir: &Path, messages: usize) {
    std::fs::create_dir_all(dir.join("ops")).unwrap();
    let base = 1_600_000_000_000_000i64;
    let fmt = |m: i64| chatport_model::ts::format_rfc3339(m, 3);
    let op = |id: &str, seq: u64, container: &str, action: Action| Operation {
        id: OperationId(id.into()),
        seq,
        container: container.into(),
        actor: Actor::App,
        action,
        source: None,
    };
    let line = |o: &Operation| format!("{}\n", serde_json::to_string(o).unwrap());
    let team = op(
        "team/create",
        0,
        "team",
        Action::TeamsCreateTeam {
            team: json!({
                "@microsoft.graph.teamCreationMode": "migration",
                "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
                "displayName": "Cert", "createdDateTime": fmt(base),
            }),
        },
    );
    std::fs::write(dir.join("ops/team.jsonl"), line(&team)).unwrap();
    let mut text = line(&op(
        "ch/create",
        0,
        "ch",
        Action::TeamsCreateChannel {
            channel: json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "general talk",
                "membershipType": "standard", "createdDateTime": fmt(base + 1000)}),
        },
    ));
    for m in 0..messages {
        text.push_str(&line(&op(
            &format!("ch/msg/{m}"),
            m as u64 + 1,
            "ch",
            Action::TeamsPostMessage {
                reply_to: None,
                message: json!({
                    "createdDateTime": fmt(base + 2_000_000 + m as i64 * 1000),
                    "from": {"user": {"id": "11111111-2222-3333-4444-555555555555", "displayName": "A", "userIdentityType": "aadUser"}},
                    "body": {"contentType": "html", "content": format!("<p>message {m}</p>")},
                }),
                hosted_contents: Vec::new(),
                files: Vec::new(),
            },
        )));
    }
    std::fs::write(dir.join("ops/ch.jsonl"), text).unwrap();
    let container = |id: &str, kind, parent: Option<&str>, ops: u64, msgs: u64| Container {
        id: id.into(),
        kind,
        parent: parent.map(str::to_string),
        conversation: None,
        display_name: id.into(),
        create_time: fmt(base),
        ops_path: format!("ops/{id}.jsonl"),
        op_count: ops,
        message_count: msgs,
    };
    let containers = [
        container("team", ContainerKind::TeamsTeam, None, 1, 0),
        container("ch", ContainerKind::TeamsChannel, Some("team"), messages as u64 + 1, messages as u64),
    ];
    let text: String =
        containers.iter().map(|c| format!("{}\n", serde_json::to_string(c).unwrap())).collect();
    std::fs::write(dir.join("containers.jsonl"), text).unwrap();
    let manifest = PlanManifest {
        format_version: PLAN_FORMAT_VERSION,
        destination: Destination::Teams,
        canonical_sha256: "cert".into(),
        options: json!({}),
        counts: PlanCounts::default(),
        files: Vec::new(),
    };
    std::fs::write(dir.join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
}

struct Setup {
    dir: tempfile::TempDir,
    emu: RunningEmulator,
    creds: TestCredentials,
}

impl Setup {
    async fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        write_plan(&dir.path().join("plan"), 3);
        let creds = TestCredentials::generate().unwrap();
        let emu = start(EmulatorConfig::local(dir.path().join("emu"), &creds)).await.unwrap();
        creds.write(&dir.path().join("creds"), Some(&emu.base_url())).unwrap();
        Setup { dir, emu, creds }
    }

    fn token_endpoint(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.emu.base_url(), self.creds.tenant_id)
    }

    /// Writes an app file using the certificate and key given inline.
    fn app_file(&self, name: &str, cert_pem: &str, key_pem: &str) -> PathBuf {
        let mut v = self.creds.microsoft_app_certificate_json(Some(&self.emu.base_url()));
        let m = v.as_object_mut().unwrap();
        m.remove("certificate");
        m.remove("private_key");
        m.insert("certificate_pem".into(), json!(cert_pem));
        m.insert("private_key_pem".into(), json!(key_pem));
        let path = self.dir.path().join(name);
        std::fs::write(&path, v.to_string()).unwrap();
        path
    }

    async fn load(&self, app_file: &Path) -> Result<chatport_load::LoadSummary, LoadError> {
        let opts = LoadOptions {
            client: ClientOptions {
                endpoints: Endpoints::single(&self.emu.base_url()),
                microsoft_app: Some(app_file.to_path_buf()),
                poll_interval: std::time::Duration::from_millis(10),
                ..ClientOptions::default()
            },
            dry_run: false,
        };
        load(&self.dir.path().join("plan"), self.dir.path(), &self.dir.path().join("state.db"), &opts).await
    }
}

/// The base64 body lines of a PEM block (what must never leak).
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines().filter(|l| !l.starts_with("-----") && l.len() > 40).map(str::to_string).collect()
}

/// Collects every log line (all levels) written while a load runs.
#[derive(Clone, Default)]
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_certificate_credential_loads_and_leaks_nothing() {
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // A current-thread runtime keeps every task (emulator and loader) under this subscriber.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (setup, summary, state_bytes) = tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let setup = Setup::new().await;
            let app = setup.dir.path().join("creds/microsoft-app-certificate.json");
            let app_text = std::fs::read_to_string(&app).unwrap();
            assert!(!app_text.contains("client_secret"), "the certificate variant carries no secret");
            let summary = setup.load(&app).await.expect("load with a certificate credential");
            let mut state_bytes = Vec::new();
            for entry in std::fs::read_dir(setup.dir.path()).unwrap() {
                let p = entry.unwrap().path();
                if p.file_name().unwrap().to_string_lossy().starts_with("state.db") {
                    state_bytes.extend(std::fs::read(&p).unwrap());
                }
            }
            (setup, summary, state_bytes)
        })
    });
    assert!(summary.is_complete(), "{:#?}", summary.failures);
    assert_eq!(summary.done, 5, "team, channel and three messages");
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("load finished"), "the subscriber saw the run");
    let state = String::from_utf8_lossy(&state_bytes);
    let mut secrets = pem_body_lines(&setup.creds.private_key_pem);
    secrets.extend(pem_body_lines(&setup.creds.ms_certificate_pem));
    secrets.push(setup.creds.ms_client_secret.clone());
    secrets.push("PRIVATE KEY".into());
    secrets.push("BEGIN CERTIFICATE".into());
    secrets.push("client_assertion=".into());
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "the logs contain credential material {s:.12}…");
        assert!(!state.contains(s.as_str()), "the state store contains credential material {s:.12}…");
    }
    let summary_json = serde_json::to_string(&summary).unwrap();
    assert!(secrets.iter().all(|s| !summary_json.contains(s.as_str())));
    rt.block_on(setup.emu.shutdown());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_that_is_not_the_certificates_is_refused_before_sending() {
    let setup = Setup::new().await;
    let other = TestCredentials::generate().unwrap();
    let app = setup.app_file("mismatch.json", &setup.creds.ms_certificate_pem, &other.private_key_pem);
    let err = setup.load(&app).await.unwrap_err().to_string();
    assert!(err.contains("the private key does not belong to the certificate"), "{err}");
    assert!(err.contains("mismatch.json"), "names the file: {err}");
    assert!(pem_body_lines(&other.private_key_pem).iter().all(|l| !err.contains(l.as_str())));
    setup.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unregistered_certificate_is_refused_with_its_thumbprint() {
    let setup = Setup::new().await;
    let other = TestCredentials::generate().unwrap();
    let app = setup.app_file("other-cert.json", &other.ms_certificate_pem, &other.private_key_pem);
    let err = setup.load(&app).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LoadError::Auth { .. }), "{text}");
    assert!(text.contains("AADSTS700027"), "{text}");
    assert!(text.contains("not registered on application"), "{text}");
    assert!(text.contains("certificate credential"), "says which credential kind: {text}");
    setup.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assertion_outside_its_time_range_is_refused() {
    let setup = Setup::new().await;
    // The service's clock is two hours ahead of ours: our fresh assertion has expired there.
    let r = reqwest::Client::new()
        .post(format!("{}/__admin/clock", setup.emu.base_url()))
        .json(&json!({"advance_seconds": 7200}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let err = setup.load(&setup.dir.path().join("creds/microsoft-app-certificate.json")).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("AADSTS700024"), "{text}");
    assert!(text.contains("not within its valid time range"), "{text}");
    setup.emu.shutdown().await;
}

/// Signs `claims` with `key_pem` (RS256) under a header naming `thumb` as `x5t#S256`.
fn assertion(key_pem: &str, thumb: &str, claims: &Value) -> String {
    use rsa::pkcs8::DecodePrivateKey;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(key_pem).unwrap();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t#S256": thumb});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(key).sign(input.as_bytes()).to_bytes();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_endpoint_checks_signature_audience_and_issuer() {
    let setup = Setup::new().await;
    let other = TestCredentials::generate().unwrap();
    let der = x509_der(&setup.creds.ms_certificate_pem);
    let (_, thumb) = chatport_load::auth::certificate_thumbprints(&der);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let client = setup.creds.ms_client_id.clone();
    let claims = |aud: &str, iss: &str| {
        json!({"aud": aud, "iss": iss, "sub": iss, "jti": "7d0c5b0e-1f1e-4c55-9d6a-000000000001",
               "nbf": now, "iat": now, "exp": now + 600})
    };
    let endpoint = setup.token_endpoint();
    let post = |assertion: String| {
        let endpoint = endpoint.clone();
        let client = client.clone();
        async move {
            let r = reqwest::Client::new()
                .post(&endpoint)
                .form(&[
                    ("client_id", client.as_str()),
                    ("scope", "https://graph.microsoft.com/.default"),
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    // The registered thumbprint, but signed by another key.
    let (status, body) = post(assertion(&other.private_key_pem, &thumb, &claims(&endpoint, &client))).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS700027: Client assertion failed signature validation"),
        "{body}"
    );
    // The right key, another audience.
    let (status, body) = post(assertion(
        &setup.creds.private_key_pem,
        &thumb,
        &claims("https://login.microsoftonline.com/common/oauth2/token", &client),
    ))
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS700023"), "{body}");
    // The right key, another issuer.
    let (status, body) =
        post(assertion(&setup.creds.private_key_pem, &thumb, &claims(&endpoint, "someone-else"))).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS700021"), "{body}");
    // And the well-formed one is accepted.
    let (status, body) =
        post(assertion(&setup.creds.private_key_pem, &thumb, &claims(&endpoint, &client))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    setup.emu.shutdown().await;
}

/// The DER bytes of a PEM certificate.
fn x509_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}
