//! Token endpoints and bearer-token resolution.
//!
//! `POST /token` is Google's JWT-bearer grant (RFC 7523): the RS256 assertion is verified
//! against a trusted service account's public key and `iss`, `aud`, `iat`/`exp`, `scope`
//! and `sub` are checked. `POST /{tenant}/oauth2/v2.0/token` is Microsoft's
//! client-credentials grant, with a client secret or a certificate-signed client assertion
//! (checked like Entra ID: thumbprint, signature, issuer, audience, time range). Both issue opaque bearer tokens (only their SHA-256 is
//! stored); every API call resolves its token here into the caller it acts as.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::chat::error::ChatError;
use crate::config::DirectoryUser;
use crate::graph::error::GraphError;
use crate::server::{App, Rejection};
use crate::state::{AccessToken, Record, TokenIdentity};
use crate::store::StoreFailure;
use crate::time::wall_now;

/// Lifetime of issued tokens, seconds.
const TOKEN_LIFETIME_SECS: i64 = 3599;
/// Clock skew tolerated on assertion `iat`/`exp`, seconds.
const SKEW_SECS: i64 = 300;

/// Google's audience for JWT-bearer assertions.
pub const GOOGLE_TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";

/// Token routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/token", post(google_token))
        .route("/:tenant/oauth2/v2.0/token", post(microsoft_token))
}

fn oauth_error(status: StatusCode, error: &str, description: &str, reason: &str) -> Response {
    let mut resp = (status, Json(json!({"error": error, "error_description": description}))).into_response();
    resp.extensions_mut().insert(Rejection(reason.to_string()));
    resp
}

fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn issue(app: &App, identity: TokenIdentity, prefix: &str) -> Result<String, StoreFailure> {
    let token = crate::ids::token(prefix);
    let record = AccessToken {
        token_hash: hash_token(&token),
        expires: wall_now().plus_secs(TOKEN_LIFETIME_SECS),
        identity,
    };
    app.commit(|st| {
        st.put(Record::Token(record));
        Ok::<_, StoreFailure>(())
    })
    .await?;
    Ok(token)
}

/// `POST /token`: Google OAuth 2.0 JWT-bearer grant.
async fn google_token(State(app): State<Arc<App>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let form = parse_form(&body);
    let bad =
        |error: &str, desc: &str, reason: &str| oauth_error(StatusCode::BAD_REQUEST, error, desc, reason);
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return bad("unsupported_grant_type", "Invalid grant_type.", "token.google.grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return bad("invalid_request", "Missing required parameter: assertion", "token.google.no_assertion");
    };
    let unverified = match crate::credentials::decode_unverified(assertion) {
        Ok(j) => j,
        Err(e) => return bad("invalid_grant", &e, "token.google.malformed"),
    };
    let iss = unverified.claims.get("iss").and_then(Value::as_str).unwrap_or_default().to_string();
    let trust = app.lock().trusted_google.get(&iss).cloned();
    let Some(trust) = trust else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
            "token.google.unknown_client",
        );
    };
    let jwt = match crate::credentials::verify_rs256(assertion, &trust.public_key_pem) {
        Ok(j) => j,
        Err(e) => return bad("invalid_grant", &e, "token.google.signature"),
    };
    if let Some(kid) = jwt.header.get("kid").and_then(Value::as_str) {
        if kid != trust.private_key_id {
            return bad("invalid_grant", "Invalid JWT Signature.", "token.google.kid");
        }
    }
    let claims = &jwt.claims;
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or_default();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let own = [format!("http://{host}/token"), format!("https://{host}/token")];
    let aud_ok = aud == GOOGLE_TOKEN_AUDIENCE
        || aud == "https://www.googleapis.com/oauth2/v4/token"
        || own.iter().any(|o| o == aud)
        || app.config.google_audiences.iter().any(|a| a == aud);
    if !aud_ok {
        return bad("invalid_grant", "Invalid JWT: Failed audience check.", "token.google.aud");
    }
    let now = wall_now().0 / crate::time::NANOS_PER_SEC;
    let (Some(iat), Some(exp)) =
        (claims.get("iat").and_then(Value::as_i64), claims.get("exp").and_then(Value::as_i64))
    else {
        return bad("invalid_grant", "Invalid JWT: iat and exp must be integers.", "token.google.times");
    };
    if exp <= now - SKEW_SECS || iat > now + SKEW_SECS || exp - iat > 3600 || exp <= iat {
        return bad(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
            "token.google.times",
        );
    }
    let scopes: Vec<String> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return bad("invalid_scope", "Empty or missing scope not allowed.", "token.google.no_scope");
    }
    if let Some(unknown) = scopes.iter().find(|s| !crate::chat::auth::is_known_scope(s)) {
        return bad(
            "invalid_scope",
            &format!("Invalid OAuth scope or ID token audience provided: {unknown}"),
            "token.google.unknown_scope",
        );
    }
    let user = match claims.get("sub").and_then(Value::as_str) {
        None => None,
        Some(sub) => {
            let found = {
                let st = app.lock();
                app.find_user(&st, sub)
            };
            match found {
                Some(u) if !u.external => {
                    if let Some(s) = scopes.iter().find(|s| !trust.delegated_scopes.contains(s)) {
                        return oauth_error(
                            StatusCode::UNAUTHORIZED,
                            "unauthorized_client",
                            &format!("Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested ({s})."),
                            "token.google.not_delegated",
                        );
                    }
                    Some(u.email)
                }
                _ => return bad("invalid_grant", "Invalid email or User ID", "token.google.unknown_user"),
            }
        }
    };
    let identity = TokenIdentity::Google {
        project: trust.project_id.clone(),
        client_email: trust.client_email.clone(),
        client_id: trust.client_id.clone(),
        user,
        scopes,
    };
    match issue(&app, identity, "ya29.emu-").await {
        Ok(token) => {
            Json(json!({"access_token": token, "expires_in": TOKEN_LIFETIME_SECS, "token_type": "Bearer"}))
                .into_response()
        }
        Err(StoreFailure(e)) => {
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "internal_failure", &e, "token.internal")
        }
    }
}

fn aad_error(status: StatusCode, error: &str, code: u32, description: &str, reason: &str) -> Response {
    let now = wall_now().to_rfc3339();
    let mut resp = (
        status,
        Json(json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": now,
            "trace_id": crate::ids::random_guid(),
            "correlation_id": crate::ids::random_guid(),
        })),
    )
        .into_response();
    resp.extensions_mut().insert(Rejection(reason.to_string()));
    resp
}

/// `POST /{tenant}/oauth2/v2.0/token`: Microsoft client-credentials grant.
async fn microsoft_token(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = parse_form(&body);
    let bad = StatusCode::BAD_REQUEST;
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return aad_error(
            bad,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
            "token.ms.grant_type",
        );
    }
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let trust = {
        let st = app.lock();
        let tenant_known = st.trusted_microsoft.values().any(|t| t.tenant_id == tenant);
        if !tenant_known {
            drop(st);
            return aad_error(
                bad,
                "invalid_request",
                90002,
                &format!("Tenant '{tenant}' not found."),
                "token.ms.tenant",
            );
        }
        st.trusted_microsoft.get(&format!("{tenant}/{client_id}")).cloned()
    };
    let Some(trust) = trust else {
        return aad_error(
            bad,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
            "token.ms.client",
        );
    };
    match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(_), Some(_)) => {
            return aad_error(
                bad,
                "invalid_request",
                7000218,
                "The request body must contain only one of the following parameters: 'client_assertion' or 'client_secret'.",
                "token.ms.both_credentials",
            );
        }
        (None, None) => {
            return aad_error(
                bad,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                "token.ms.no_credential",
            );
        }
        (Some(secret), None) => {
            if trust.client_secret.is_empty() || *secret != trust.client_secret {
                return aad_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                    "token.ms.secret",
                );
            }
        }
        (None, Some(assertion)) => {
            let audiences = [
                format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
                format!("{}/{tenant}/oauth2/v2.0/token", crate::graph::origin(&headers)),
            ];
            let now = wall_now().0 / crate::time::NANOS_PER_SEC
                + app.clock.offset_nanos() / crate::time::NANOS_PER_SEC;
            let kind = form.get("client_assertion_type").map(String::as_str);
            if let Err((code, description, reason)) =
                check_client_assertion(&trust, kind, assertion, &audiences, now)
            {
                return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", code, &description, reason);
            }
        }
    }
    if form.get("scope").map(String::as_str) != Some("https://graph.microsoft.com/.default") {
        return aad_error(bad, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", "token.ms.scope");
    }
    let identity = TokenIdentity::Microsoft {
        tenant: trust.tenant_id.clone(),
        client_id: trust.client_id.clone(),
        roles: trust.roles.clone(),
    };
    match issue(&app, identity, "eyJ0eXAiOiJKV1QiLCJlbXUiOnRydWV9.").await {
        Ok(token) => Json(json!({"token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECS, "ext_expires_in": TOKEN_LIFETIME_SECS, "access_token": token})).into_response(),
        Err(StoreFailure(e)) => aad_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 50000, &e, "token.internal"),
    }
}

/// An assertion refused: AADSTS code, description, rejection reason for the counters.
type AssertionRefusal = (u32, String, &'static str);

/// Checks a certificate-signed client assertion as Entra ID does: the assertion type, a
/// JWT whose `x5t#S256` or `x5t` names a certificate registered for the app, a valid
/// signature by that certificate's key, the certificate's validity, `iss` = `sub` =
/// client id, `aud` = the token endpoint, and `nbf`/`exp` around `now` (5 minutes of
/// skew). Replayed `jti`s are not tracked.
fn check_client_assertion(
    trust: &crate::config::MicrosoftAppTrust,
    kind: Option<&str>,
    assertion: &str,
    audiences: &[String],
    now: i64,
) -> Result<(), AssertionRefusal> {
    if kind != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return Err((
            50027,
            "Invalid client_assertion_type: expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.".into(),
            "token.ms.assertion_type",
        ));
    }
    let decoded = crate::credentials::decode_unverified(assertion).map_err(|e| {
        (50027, format!("JWT token is invalid or malformed ({e})."), "token.ms.assertion_malformed")
    })?;
    let header_thumb = |name: &str| decoded.header.get(name).and_then(Value::as_str).map(str::to_string);
    let (sent_s256, sent_sha1) = (header_thumb("x5t#S256"), header_thumb("x5t"));
    let shown = sent_s256.clone().or_else(|| sent_sha1.clone()).unwrap_or_default();
    let shown = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        shown.trim_end_matches('='),
    )
    .map(hex::encode_upper)
    .unwrap_or(shown);
    let not_registered = || {
        (
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. \
                 [Reason - The key was not found., Thumbprint of key used by client: '{shown}']"
            ),
            "token.ms.assertion_unknown_key",
        )
    };
    let cert = match trust.certificate_pem.as_deref().map(crate::credentials::certificate_info) {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            return Err((
                50000,
                format!("The registered certificate is unusable: {e}"),
                "token.ms.cert_config",
            ))
        }
        None => return Err(not_registered()),
    };
    let matches = match (&sent_s256, &sent_sha1) {
        (Some(s), _) => *s.trim_end_matches('=') == cert.x5t_s256,
        (None, Some(s)) => *s.trim_end_matches('=') == cert.x5t,
        (None, None) => false,
    };
    if !matches {
        return Err(not_registered());
    }
    if now < cert.not_before || now > cert.not_after {
        return Err((
            700027,
            format!("Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '{shown}']"),
            "token.ms.cert_expired",
        ));
    }
    let verified = crate::credentials::verify_rsa_jwt(assertion, &cert.public_key).map_err(|e| {
        (
            700027,
            format!("Client assertion failed signature validation. [Reason - {e}]"),
            "token.ms.assertion_signature",
        )
    })?;
    let claim = |name: &str| verified.claims.get(name);
    let text = |name: &str| claim(name).and_then(Value::as_str).unwrap_or_default();
    if text("iss") != trust.client_id || text("sub") != trust.client_id {
        return Err((
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.".into(),
            "token.ms.assertion_issuer",
        ));
    }
    if !audiences.iter().any(|a| a == text("aud")) {
        return Err((
            700023,
            format!("Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials . (aud was '{}')", text("aud")),
            "token.ms.assertion_audience",
        ));
    }
    let exp = claim("exp").and_then(Value::as_i64);
    let nbf = claim("nbf").and_then(Value::as_i64);
    let in_range = exp.is_some_and(|e| now <= e + SKEW_SECS) && nbf.is_none_or(|n| n - SKEW_SECS <= now);
    if !in_range {
        let fmt = |t: Option<i64>| {
            t.map(|t| crate::time::Timestamp(t.saturating_mul(crate::time::NANOS_PER_SEC)).to_rfc3339())
                .unwrap_or_else(|| "(missing)".into())
        };
        return Err((
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
                fmt(Some(now)),
                fmt(nbf),
                fmt(exp)
            ),
            "token.ms.assertion_time",
        ));
    }
    Ok(())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

fn lookup(app: &App, headers: &HeaderMap) -> Result<TokenIdentity, &'static str> {
    let token = bearer(headers).ok_or("missing")?;
    let st = app.lock();
    let record = st.tokens.get(&hash_token(token)).ok_or("invalid")?;
    if record.expires < wall_now() {
        return Err("expired");
    }
    Ok(record.identity.clone())
}

/// The Google identity a Chat request acts as.
#[derive(Debug, Clone)]
pub struct GoogleCaller {
    /// Project (app) of the service account.
    pub project: String,
    /// Service-account client id (the app's user id when it acts as itself).
    pub client_id: String,
    /// Impersonated user (user auth); None for app auth.
    pub user: Option<DirectoryUser>,
    /// Granted scopes (full URLs).
    pub scopes: Vec<String>,
}

/// Resolves the bearer token of a Chat request.
pub fn google_caller(app: &App, headers: &HeaderMap) -> Result<GoogleCaller, ChatError> {
    let identity = lookup(app, headers).map_err(|why| match why {
        "missing" => ChatError::unauthenticated("chat.auth.missing_token", "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential."),
        "expired" => ChatError::unauthenticated("chat.auth.expired_token", "Request had invalid authentication credentials. The access token expired."),
        _ => ChatError::unauthenticated("chat.auth.invalid_token", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."),
    })?;
    match identity {
        TokenIdentity::Google { project, client_id, user, scopes, .. } => {
            let user = match user {
                None => None,
                Some(email) => {
                    let st = app.lock();
                    Some(app.find_user(&st, &email).ok_or_else(|| {
                        ChatError::unauthenticated(
                            "chat.auth.user_gone",
                            "The impersonated user no longer exists.",
                        )
                    })?)
                }
            };
            Ok(GoogleCaller { project, client_id, user, scopes })
        }
        TokenIdentity::Microsoft { .. } => Err(ChatError::unauthenticated(
            "chat.auth.foreign_token",
            "Request had invalid authentication credentials: not a Google access token.",
        )),
    }
}

/// The Microsoft app a Graph request acts as.
#[derive(Debug, Clone)]
pub struct GraphCaller {
    /// Tenant.
    pub tenant: String,
    /// Application id.
    pub client_id: String,
    /// Application permissions.
    pub roles: Vec<String>,
}

impl GraphCaller {
    /// Fails with 403 unless the token carries one of `roles`.
    pub fn require(&self, roles: &[&str]) -> Result<(), GraphError> {
        if roles.iter().any(|r| self.roles.iter().any(|have| have == r)) {
            Ok(())
        } else {
            Err(GraphError::forbidden(
                "graph.auth.missing_role",
                format!(
                    "Missing role permissions on the request. API requires one of '{}'.",
                    roles.join(", ")
                ),
            ))
        }
    }
}

/// Resolves the bearer token of a Graph request.
pub fn graph_caller(app: &App, headers: &HeaderMap) -> Result<GraphCaller, GraphError> {
    let identity = lookup(app, headers).map_err(|why| match why {
        "missing" => GraphError::unauthorized("graph.auth.missing_token", "Access token is empty."),
        "expired" => GraphError::unauthorized(
            "graph.auth.expired_token",
            "Lifetime validation failed, the token is expired.",
        ),
        _ => GraphError::unauthorized("graph.auth.invalid_token", "IDX14100: JWT is not well formed."),
    })?;
    match identity {
        TokenIdentity::Microsoft { tenant, client_id, roles } => Ok(GraphCaller { tenant, client_id, roles }),
        TokenIdentity::Google { .. } => Err(GraphError::unauthorized(
            "graph.auth.foreign_token",
            "Invalid audience: not a Microsoft Graph access token.",
        )),
    }
}
