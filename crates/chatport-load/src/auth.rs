//! Access tokens: Google service-account JWT-bearer assertions (RS256, signed here, `sub`
//! = the impersonated user) cached per user and scope until shortly before expiry, and
//! Microsoft client-credentials tokens (one per app) obtained with a client secret or with
//! a certificate-signed client assertion (RS256, `x5t`/`x5t#S256` thumbprints).
//!
//! Key material and secrets stay in this module's private fields: they are never logged,
//! printed (the `Debug` impls leave them out) or handed to the state store. Token endpoint
//! failures become [`TokenError`]s carrying the server's `error` and description only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::error::LoadError;

/// The Chat import scope (impersonated users).
pub const SCOPE_IMPORT: &str = "https://www.googleapis.com/auth/chat.import";
/// The Chat app scope (app authentication).
pub const SCOPE_BOT: &str = "https://www.googleapis.com/auth/chat.bot";
/// Google's token endpoint, the default `aud`.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Renew tokens this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);

/// A token endpoint refused or could not be reached.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{principal}: {detail}")]
pub struct TokenError {
    /// Who asked (service account, `sub`, or app id).
    pub principal: String,
    /// Token endpoint URL.
    pub endpoint: String,
    /// OAuth `error` code, when the server sent one.
    pub code: Option<String>,
    /// The server's error and description, or the transport failure.
    pub detail: String,
    /// True when it concerns only this impersonated user (unknown or suspended user), so
    /// the run can go on for others.
    pub user_specific: bool,
    /// True when the endpoint could not be reached or answered 5xx/429 (an outage worth
    /// waiting out), false when it refused or the request could not be made.
    pub outage: bool,
}

impl TokenError {
    /// The run-stopping form of this error.
    pub fn into_load_error(self) -> LoadError {
        LoadError::Auth { principal: self.principal, endpoint: self.endpoint, detail: self.detail }
    }
}

#[derive(Deserialize)]
struct ServiceAccountFile {
    #[serde(rename = "type", default)]
    kind: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

/// Cache key of a Google token: the impersonated user (None = app) and the scope.
type TokenKey = (Option<String>, String);

/// A cached token and its expiry, behind its own lock.
type TokenSlot = Arc<Mutex<Option<(String, Instant)>>>;

/// A Google service account able to mint tokens.
pub struct GoogleAuth {
    client_email: String,
    key_id: Option<String>,
    signer: SigningKey<rsa::sha2::Sha256>,
    token_uri: String,
    http: reqwest::Client,
    /// One slot per (user, scope): a fetch holds only its own slot, so requests whose
    /// token is cached never wait for another user's fetch.
    cache: Mutex<HashMap<TokenKey, TokenSlot>>,
}

impl std::fmt::Debug for GoogleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleAuth")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl GoogleAuth {
    /// Reads a service-account key file.
    pub fn from_file(path: &Path, http: reqwest::Client) -> Result<GoogleAuth, LoadError> {
        let bad = |detail: String| LoadError::Credentials { path: path.to_path_buf(), detail };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        // serde's message could quote key material; say only what is wrong structurally.
        let file: ServiceAccountFile = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "not a service-account key JSON (line {}, column {}: {:?})",
                e.line(),
                e.column(),
                e.classify()
            ))
        })?;
        if !file.kind.is_empty() && file.kind != "service_account" {
            return Err(bad(format!("type is {:?}, expected \"service_account\"", file.kind)));
        }
        let key = parse_private_key(&file.private_key)
            .ok_or_else(|| bad("private_key is not an RSA key in PKCS#8 or PKCS#1 PEM".into()))?;
        Ok(GoogleAuth {
            client_email: file.client_email,
            key_id: file.private_key_id,
            signer: SigningKey::<rsa::sha2::Sha256>::new(key),
            token_uri: file.token_uri.unwrap_or_else(|| GOOGLE_TOKEN_URI.to_string()),
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The service account's e-mail.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// Forgets a cached token (after a 401).
    pub async fn invalidate(&self, sub: Option<&str>, scope: &str) {
        let slot = self.cache.lock().await.get(&(sub.map(str::to_string), scope.to_string())).cloned();
        if let Some(slot) = slot {
            *slot.lock().await = None;
        }
    }

    /// A bearer token for `sub` (None = the app itself) and `scope`.
    pub async fn token(&self, sub: Option<&str>, scope: &str) -> Result<String, TokenError> {
        let key = (sub.map(str::to_string), scope.to_string());
        let slot = self.cache.lock().await.entry(key).or_default().clone();
        let mut cache = slot.lock().await;
        if let Some((token, until)) = cache.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let principal = match sub {
            Some(s) => format!("service account {} impersonating {s}", self.client_email),
            None => format!("service account {}", self.client_email),
        };
        let fail = |code: Option<String>, detail: String, user_specific: bool| TokenError {
            principal: principal.clone(),
            endpoint: self.token_uri.clone(),
            code,
            detail,
            user_specific,
            outage: false,
        };
        let assertion = self.assertion(sub, scope).map_err(|d| fail(None, d, false))?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        let (status, body) = post_form(&self.http, &self.token_uri, &form)
            .await
            .map_err(|d| TokenError { outage: true, ..fail(None, d, false) })?;
        if status == 200 {
            let token = body["access_token"].as_str().unwrap_or_default().to_string();
            if token.is_empty() {
                return Err(fail(None, "token response without access_token".into(), false));
            }
            let secs = body["expires_in"].as_u64().unwrap_or(3600);
            let until = Instant::now() + Duration::from_secs(secs).saturating_sub(EXPIRY_MARGIN);
            *cache = Some((token.clone(), until));
            return Ok(token);
        }
        let code = body["error"].as_str().map(str::to_string);
        let desc = body["error_description"].as_str().unwrap_or_default();
        let detail = format!("HTTP {status}: {} {desc}", code.as_deref().unwrap_or("error"));
        // An unknown or suspended user is `invalid_grant` for that `sub` only; a bad key,
        // unknown client or missing delegation concerns every user.
        let user_specific = sub.is_some()
            && code.as_deref() == Some("invalid_grant")
            && (desc.contains("email") || desc.contains("User") || desc.contains("user"));
        Err(fail(code, detail, user_specific))
    }

    fn assertion(&self, sub: Option<&str>, scope: &str) -> Result<String, String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs() as i64;
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let mut claims = json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        if let Some(s) = sub {
            claims["sub"] = json!(s);
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string().as_bytes()),
            URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes())
        );
        let signature = self.signer.sign(signing_input.as_bytes()).to_bytes();
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

fn parse_private_key(pem: &str) -> Option<RsaPrivateKey> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    RsaPrivateKey::from_pkcs8_pem(pem).ok().or_else(|| RsaPrivateKey::from_pkcs1_pem(pem).ok())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MicrosoftAppFile {
    tenant_id: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    certificate: Option<PathBuf>,
    #[serde(default)]
    private_key: Option<PathBuf>,
    #[serde(default)]
    certificate_pem: Option<String>,
    #[serde(default)]
    private_key_pem: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// The `client_assertion_type` of a certificate-signed client assertion.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a client assertion is valid (Microsoft suggests 5–10 minutes after `nbf`).
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// A certificate credential: the key that signs client assertions and the thumbprints of
/// the certificate Entra ID knows the app by.
struct CertificateCredential {
    signer: SigningKey<rsa::sha2::Sha256>,
    /// Base64url SHA-1 thumbprint of the certificate's DER (`x5t`).
    x5t: String,
    /// Base64url SHA-256 thumbprint of the certificate's DER (`x5t#S256`).
    x5t_s256: String,
}

/// How the app proves who it is.
enum AppSecret {
    /// A client secret.
    Secret(String),
    /// A certificate: each token request carries a fresh signed client assertion.
    Certificate(Box<CertificateCredential>),
}

/// Thumbprints of a certificate (DER bytes): `(x5t, x5t#S256)`, base64url without padding.
pub fn certificate_thumbprints(der: &[u8]) -> (String, String) {
    use sha1::Digest as _;
    let sha1 = sha1::Sha1::digest(der);
    let sha256 = <rsa::sha2::Sha256 as rsa::sha2::Digest>::digest(der);
    (URL_SAFE_NO_PAD.encode(sha1), URL_SAFE_NO_PAD.encode(sha256))
}

impl CertificateCredential {
    /// Builds the credential from PEM texts, checking that the key belongs to the
    /// certificate. Errors never quote the PEM contents.
    fn from_pem(certificate_pem: &str, private_key_pem: &str) -> Result<CertificateCredential, String> {
        use rsa::pkcs8::DecodePublicKey;
        use x509_cert::der::{DecodePem, Encode};
        let cert = x509_cert::Certificate::from_pem(certificate_pem.as_bytes()).map_err(|_| {
            "the certificate is not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)".to_string()
        })?;
        let der = cert.to_der().map_err(|_| "the certificate cannot be re-encoded as DER".to_string())?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|_| "the certificate's public key cannot be read".to_string())?;
        let public = rsa::RsaPublicKey::from_public_key_der(&spki)
            .map_err(|_| "the certificate's public key is not an RSA key (RS256 needs RSA)".to_string())?;
        let key = parse_private_key(private_key_pem)
            .ok_or_else(|| "the private key is not an RSA key in PKCS#8 or PKCS#1 PEM".to_string())?;
        if key.to_public_key() != public {
            return Err("the private key does not belong to the certificate".into());
        }
        let (x5t, x5t_s256) = certificate_thumbprints(&der);
        Ok(CertificateCredential { signer: SigningKey::<rsa::sha2::Sha256>::new(key), x5t, x5t_s256 })
    }

    /// A client assertion for `client_id` at `token_endpoint`, issued at `now` (seconds
    /// since the epoch): RS256, `x5t` and `x5t#S256` in the header, `aud`/`iss`/`sub`/
    /// `jti`/`nbf`/`iat`/`exp` claims as the Microsoft identity platform documents them.
    fn assertion(&self, client_id: &str, token_endpoint: &str, now: i64) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t, "x5t#S256": self.x5t_s256});
        let claims = json!({
            "aud": token_endpoint,
            "iss": client_id,
            "sub": client_id,
            "jti": random_guid(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string().as_bytes()),
            URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes())
        );
        let signature = self.signer.sign(signing_input.as_bytes()).to_bytes();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A random version-4 GUID (for `jti`).
fn random_guid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A Microsoft Entra application using client credentials (a secret or a certificate).
pub struct MicrosoftAuth {
    client_id: String,
    secret: AppSecret,
    token_endpoint: String,
    scope: String,
    http: reqwest::Client,
    cache: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for MicrosoftAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicrosoftAuth")
            .field("client_id", &self.client_id)
            .field("credential", &self.credential_kind())
            .field("token_endpoint", &self.token_endpoint)
            .finish_non_exhaustive()
    }
}

impl MicrosoftAuth {
    /// Reads the app file: `tenant_id`, `client_id`, then either `client_secret` or a
    /// certificate (`certificate` and `private_key` PEM file paths, relative to the app
    /// file's directory, or `certificate_pem` and `private_key_pem` inline), and optional
    /// `token_endpoint` and `scope`.
    pub fn from_file(path: &Path, http: reqwest::Client) -> Result<MicrosoftAuth, LoadError> {
        let bad = |detail: String| LoadError::Credentials { path: path.to_path_buf(), detail };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        // serde's message could quote a secret; say only where the problem is.
        let file: MicrosoftAppFile = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "expected JSON with tenant_id, client_id and client_secret or certificate + private_key \
                 (line {}, column {}: {:?})",
                e.line(),
                e.column(),
                e.classify()
            ))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let pem = |inline: Option<String>,
                   file: Option<PathBuf>,
                   what: &str|
         -> Result<Option<String>, LoadError> {
            match (inline, file) {
                (Some(_), Some(_)) => {
                    Err(bad(format!("give {what} either inline (_pem) or as a file, not both")))
                }
                (Some(text), None) => Ok(Some(text)),
                (None, Some(f)) => {
                    let full = base.join(&f);
                    std::fs::read_to_string(&full)
                        .map(Some)
                        .map_err(|e| bad(format!("cannot read the {what} file {}: {e}", full.display())))
                }
                (None, None) => Ok(None),
            }
        };
        let cert = pem(file.certificate_pem, file.certificate, "certificate")?;
        let key = pem(file.private_key_pem, file.private_key, "private key")?;
        let secret = match (file.client_secret, cert, key) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(bad("give either client_secret or a certificate, not both".into()))
            }
            (Some(s), None, None) if !s.is_empty() => AppSecret::Secret(s),
            (None, Some(c), Some(k)) => {
                AppSecret::Certificate(Box::new(CertificateCredential::from_pem(&c, &k).map_err(bad)?))
            }
            (None, Some(_), None) => return Err(bad("a certificate needs its private_key".into())),
            (None, None, Some(_)) => return Err(bad("a private_key needs its certificate".into())),
            _ => return Err(bad("needs client_secret, or certificate and private_key".into())),
        };
        let token_endpoint = file.token_endpoint.unwrap_or_else(|| {
            format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", file.tenant_id)
        });
        Ok(MicrosoftAuth {
            client_id: file.client_id,
            secret,
            token_endpoint,
            scope: file.scope.unwrap_or_else(|| "https://graph.microsoft.com/.default".into()),
            http,
            cache: Mutex::new(None),
        })
    }

    /// `"secret"` or `"certificate"` (for logs; never the credential itself).
    pub fn credential_kind(&self) -> &'static str {
        match self.secret {
            AppSecret::Secret(_) => "secret",
            AppSecret::Certificate(_) => "certificate",
        }
    }

    /// Forgets the cached token (after a 401).
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    /// The app's bearer token.
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut cache = self.cache.lock().await;
        if let Some((token, until)) = cache.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let fail = |code: Option<String>, detail: String| TokenError {
            principal: format!("app {} ({} credential)", self.client_id, self.credential_kind()),
            endpoint: self.token_endpoint.clone(),
            code,
            detail,
            user_specific: false,
            outage: false,
        };
        let assertion;
        let mut form = vec![
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
            ("grant_type", "client_credentials"),
        ];
        match &self.secret {
            AppSecret::Secret(s) => form.push(("client_secret", s.as_str())),
            AppSecret::Certificate(c) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_err(|e| fail(None, format!("system clock before 1970: {e}")))?
                    .as_secs() as i64;
                assertion = c.assertion(&self.client_id, &self.token_endpoint, now);
                form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE));
                form.push(("client_assertion", assertion.as_str()));
            }
        }
        let (status, body) = post_form(&self.http, &self.token_endpoint, &form)
            .await
            .map_err(|d| TokenError { outage: true, ..fail(None, d) })?;
        if status == 200 {
            let token = body["access_token"].as_str().unwrap_or_default().to_string();
            if token.is_empty() {
                return Err(fail(None, "token response without access_token".into()));
            }
            let secs = body["expires_in"].as_u64().unwrap_or(3600);
            *cache = Some((
                token.clone(),
                Instant::now() + Duration::from_secs(secs).saturating_sub(EXPIRY_MARGIN),
            ));
            return Ok(token);
        }
        let code = body["error"].as_str().map(str::to_string);
        // Entra appends trace/correlation ids and a timestamp on further lines; the first
        // line carries the AADSTS code and the reason.
        let desc = body["error_description"].as_str().unwrap_or_default().lines().next().unwrap_or_default();
        Err(fail(code.clone(), format!("HTTP {status}: {} {desc}", code.as_deref().unwrap_or("error"))))
    }
}

/// POSTs a form to a token endpoint, retrying transport errors and 5xx a few times; an
/// `Err` is always an outage (unreachable, 5xx, 429).
async fn post_form(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Result<(u16, Value), String> {
    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        match http.post(url).form(form).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                if status >= 500 || status == 429 {
                    last = format!("HTTP {status} from the token endpoint");
                    continue;
                }
                return Ok((status, body));
            }
            Err(e) => last = format!("cannot reach the token endpoint: {}", without_url(&e)),
        }
    }
    Err(last)
}

/// A reqwest error's message without the URL (which never holds secrets here, but keeps
/// the messages short and uniform).
pub fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Both destinations' credentials, as far as the run needs them.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Google service account (Chat).
    pub google: Option<Arc<GoogleAuth>>,
    /// Microsoft app (Teams).
    pub microsoft: Option<Arc<MicrosoftAuth>>,
}
