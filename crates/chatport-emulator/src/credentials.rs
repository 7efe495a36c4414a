//! Test credentials and RS256 JWTs.
//!
//! Owns generating a throw-away Google service-account key and Microsoft client secret,
//! writing them in the real file formats, reading them back as the emulator's trusted
//! identities, and signing / verifying RS256 JWT assertions. The emulator only ever needs
//! the public half of a key; the private half exists for the client side (tests, demo).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{default_delegated_scopes, default_graph_roles, MicrosoftAppTrust, ServiceAccountTrust};
use crate::EmulatorError;

/// File name of the Google service-account key written by [`write_test_credentials`].
pub const GOOGLE_KEY_FILE: &str = "google-service-account.json";
/// File name of the Microsoft app credentials written by [`write_test_credentials`].
pub const MICROSOFT_APP_FILE: &str = "microsoft-app.json";
/// File name of the Microsoft app credentials using the test certificate instead of the
/// secret, written by [`write_test_credentials`].
pub const MICROSOFT_APP_CERT_FILE: &str = "microsoft-app-certificate.json";
/// File name of the test certificate (PEM) registered for the Microsoft app.
pub const MICROSOFT_CERT_FILE: &str = "microsoft-app-cert.pem";
/// File name of the test certificate's private key (PKCS#8 PEM).
pub const MICROSOFT_CERT_KEY_FILE: &str = "microsoft-app-cert-key.pem";
/// File name of the endpoint summary written by [`write_test_credentials`].
pub const ENDPOINTS_FILE: &str = "emulator-endpoints.json";

/// A generated credential set: a service-account key pair, a client secret and a
/// self-signed certificate registered for the same Microsoft app.
#[derive(Clone)]
pub struct TestCredentials {
    /// Service-account email (`iss` of assertions).
    pub client_email: String,
    /// Cloud project id.
    pub project_id: String,
    /// Numeric client id of the service account.
    pub client_id: String,
    /// Key id (`kid`).
    pub private_key_id: String,
    /// PKCS#8 PEM private key.
    pub private_key_pem: String,
    /// SubjectPublicKeyInfo PEM public key.
    pub public_key_pem: String,
    /// Microsoft tenant id.
    pub tenant_id: String,
    /// Microsoft application (client) id.
    pub ms_client_id: String,
    /// Microsoft client secret.
    pub ms_client_secret: String,
    /// Self-signed certificate (PEM) registered for the Microsoft app. It is issued for the
    /// service account's throw-away key, so a credential set costs one RSA key generation.
    pub ms_certificate_pem: String,
}

impl std::fmt::Debug for TestCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material or secrets.
        f.debug_struct("TestCredentials")
            .field("client_email", &self.client_email)
            .field("tenant_id", &self.tenant_id)
            .field("ms_client_id", &self.ms_client_id)
            .finish_non_exhaustive()
    }
}

/// Paths of the files written by [`TestCredentials::write`].
#[derive(Debug, Clone)]
pub struct CredentialFiles {
    /// Google service-account key JSON.
    pub google_key: PathBuf,
    /// Microsoft app JSON (`tenant_id`, `client_id`, `client_secret`, `token_endpoint`).
    pub microsoft_app: PathBuf,
    /// Microsoft app JSON using the certificate (`certificate`, `private_key` paths).
    pub microsoft_app_certificate: PathBuf,
    /// Base URLs of both APIs on this emulator (present when a base URL was given).
    pub endpoints: Option<PathBuf>,
}

/// Claims of a Google JWT-bearer assertion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// Service-account email.
    pub iss: String,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// Token endpoint URL.
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// User to impersonate (domain-wide delegation); absent for app auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

impl TestCredentials {
    /// Generates a fresh 2048-bit RSA key and a random client secret.
    pub fn generate() -> Result<TestCredentials, EmulatorError> {
        let mut rng = rand::thread_rng();
        let key =
            RsaPrivateKey::new(&mut rng, 2048).map_err(|e| EmulatorError::Credentials(e.to_string()))?;
        let private_key_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| EmulatorError::Credentials(e.to_string()))?
            .to_string();
        let public_key_pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| EmulatorError::Credentials(e.to_string()))?;
        let tenant_id = crate::ids::random_guid();
        let ms_client_id = crate::ids::random_guid();
        let ms_certificate_pem = self_signed_certificate(&private_key_pem, &ms_client_id)?;
        Ok(TestCredentials {
            client_email: "chatport-importer@chatport-emulator.iam.gserviceaccount.com".into(),
            project_id: "chatport-emulator".into(),
            client_id: "100000000000000000001".into(),
            private_key_id: hex::encode(&crate::ids::digest(&public_key_pem)[..20]),
            private_key_pem,
            public_key_pem,
            tenant_id,
            ms_client_id,
            ms_client_secret: crate::ids::token("emu~"),
            ms_certificate_pem,
        })
    }

    /// The service account as the emulator trusts it (public key only).
    pub fn service_account_trust(&self) -> ServiceAccountTrust {
        ServiceAccountTrust {
            client_email: self.client_email.clone(),
            project_id: self.project_id.clone(),
            client_id: self.client_id.clone(),
            private_key_id: self.private_key_id.clone(),
            public_key_pem: self.public_key_pem.clone(),
            delegated_scopes: default_delegated_scopes(),
        }
    }

    /// The Microsoft app as the emulator trusts it.
    pub fn microsoft_trust(&self) -> MicrosoftAppTrust {
        MicrosoftAppTrust {
            tenant_id: self.tenant_id.clone(),
            client_id: self.ms_client_id.clone(),
            client_secret: self.ms_client_secret.clone(),
            certificate_pem: Some(self.ms_certificate_pem.clone()),
            roles: default_graph_roles(),
        }
    }

    /// The Google key file contents. `token_uri` is `{base_url}/token` when a base URL is
    /// given, else Google's real token endpoint.
    pub fn google_key_json(&self, base_url: Option<&str>) -> Value {
        let token_uri = match base_url {
            Some(base) => format!("{}/token", base.trim_end_matches('/')),
            None => "https://oauth2.googleapis.com/token".to_string(),
        };
        json!({
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": self.private_key_pem,
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        })
    }

    /// The Microsoft app file contents.
    pub fn microsoft_app_json(&self, base_url: Option<&str>) -> Value {
        let login = base_url
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| "https://login.microsoftonline.com".to_string());
        json!({
            "tenant_id": self.tenant_id,
            "client_id": self.ms_client_id,
            "client_secret": self.ms_client_secret,
            "token_endpoint": format!("{login}/{}/oauth2/v2.0/token", self.tenant_id),
            "scope": "https://graph.microsoft.com/.default",
        })
    }

    /// The Microsoft app file using the certificate: PEM paths relative to the file.
    pub fn microsoft_app_certificate_json(&self, base_url: Option<&str>) -> Value {
        let mut v = self.microsoft_app_json(base_url);
        if let Some(m) = v.as_object_mut() {
            m.remove("client_secret");
            m.insert("certificate".into(), json!(MICROSOFT_CERT_FILE));
            m.insert("private_key".into(), json!(MICROSOFT_CERT_KEY_FILE));
        }
        v
    }

    /// Writes the key file, the Microsoft app files (secret and certificate variants, with
    /// the certificate and its key as PEM files) and (with a base URL) the endpoints
    /// file into `dir`, creating it. Key files are written with owner-only permissions.
    pub fn write(&self, dir: &Path, base_url: Option<&str>) -> Result<CredentialFiles, EmulatorError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| EmulatorError::Io { path: dir.to_path_buf(), source })?;
        let google_key = dir.join(GOOGLE_KEY_FILE);
        write_private(&google_key, &self.google_key_json(base_url))?;
        let microsoft_app = dir.join(MICROSOFT_APP_FILE);
        write_private(&microsoft_app, &self.microsoft_app_json(base_url))?;
        write_private_text(&dir.join(MICROSOFT_CERT_FILE), &self.ms_certificate_pem)?;
        write_private_text(&dir.join(MICROSOFT_CERT_KEY_FILE), &self.private_key_pem)?;
        let microsoft_app_certificate = dir.join(MICROSOFT_APP_CERT_FILE);
        write_private(&microsoft_app_certificate, &self.microsoft_app_certificate_json(base_url))?;
        let endpoints = match base_url {
            Some(base) => {
                let base = base.trim_end_matches('/');
                let path = dir.join(ENDPOINTS_FILE);
                write_private(
                    &path,
                    &json!({
                        "chat_base_url": format!("{base}/v1"),
                        "chat_upload_base_url": format!("{base}/upload/v1"),
                        "google_token_uri": format!("{base}/token"),
                        "graph_base_url": format!("{base}/v1.0"),
                        "microsoft_token_endpoint": format!("{base}/{}/oauth2/v2.0/token", self.tenant_id),
                        "admin_base_url": format!("{base}/__admin"),
                    }),
                )?;
                Some(path)
            }
            None => None,
        };
        Ok(CredentialFiles { google_key, microsoft_app, microsoft_app_certificate, endpoints })
    }

    /// Signs a JWT-bearer assertion for this service account, as a client library would:
    /// `sub` impersonates a user (None = app auth), `aud` is the token URL, `iat` is
    /// seconds since the epoch and the assertion lives one hour.
    pub fn google_assertion(
        &self,
        sub: Option<&str>,
        scopes: &[&str],
        aud: &str,
        iat: i64,
    ) -> Result<String, EmulatorError> {
        let claims = AssertionClaims {
            iss: self.client_email.clone(),
            scope: scopes.join(" "),
            aud: aud.to_string(),
            iat,
            exp: iat + 3600,
            sub: sub.map(str::to_string),
        };
        sign_rs256(&self.private_key_pem, &self.private_key_id, &claims)
    }
}

fn write_private(path: &Path, value: &Value) -> Result<(), EmulatorError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| EmulatorError::Credentials(e.to_string()))?;
    write_private_text(path, &text)
}

fn write_private_text(path: &Path, text: &str) -> Result<(), EmulatorError> {
    let io = |source| EmulatorError::Io { path: path.to_path_buf(), source };
    std::fs::write(path, text).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

/// Generates test credentials and writes them into `dir` (see [`TestCredentials::write`]).
/// Give the emulator's base URL (e.g. `http://127.0.0.1:8080`) so `token_uri` points at it.
pub fn write_test_credentials(dir: &Path, base_url: Option<&str>) -> Result<TestCredentials, EmulatorError> {
    let creds = TestCredentials::generate()?;
    creds.write(dir, base_url)?;
    Ok(creds)
}

/// Reads the credential files in `dir` and returns the identities the emulator should
/// trust: the service account (public key derived from the key file) and the Microsoft app.
pub fn read_trusted_credentials(
    dir: &Path,
) -> Result<(ServiceAccountTrust, MicrosoftAppTrust), EmulatorError> {
    let creds = TestCredentials::read(dir)?;
    Ok((creds.service_account_trust(), creds.microsoft_trust()))
}

impl TestCredentials {
    /// Reads a credential set back from the files [`TestCredentials::write`] produced.
    pub fn read(dir: &Path) -> Result<TestCredentials, EmulatorError> {
        let read = |name: &str| -> Result<Value, EmulatorError> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|source| EmulatorError::Io { path: path.clone(), source })?;
            serde_json::from_str(&text).map_err(|e| EmulatorError::Config { path, message: e.to_string() })
        };
        let field = |v: &Value, name: &str, file: &str| -> Result<String, EmulatorError> {
            v.get(name).and_then(Value::as_str).map(str::to_string).ok_or_else(|| EmulatorError::Config {
                path: dir.join(file),
                message: format!("missing string field `{name}`"),
            })
        };
        let g = read(GOOGLE_KEY_FILE)?;
        let private_key_pem = field(&g, "private_key", GOOGLE_KEY_FILE)?;
        let key = RsaPrivateKey::from_pkcs8_pem(&private_key_pem).map_err(|e| EmulatorError::Config {
            path: dir.join(GOOGLE_KEY_FILE),
            message: format!("private_key is not a PKCS#8 RSA key: {e}"),
        })?;
        let public_key_pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| EmulatorError::Credentials(e.to_string()))?;
        let m = read(MICROSOFT_APP_FILE)?;
        let ms_client_id = field(&m, "client_id", MICROSOFT_APP_FILE)?;
        // Older credential directories have no certificate: issue one for the same key.
        let cert_path = dir.join(MICROSOFT_CERT_FILE);
        let ms_certificate_pem = if cert_path.exists() {
            std::fs::read_to_string(&cert_path)
                .map_err(|source| EmulatorError::Io { path: cert_path.clone(), source })?
        } else {
            self_signed_certificate(&private_key_pem, &ms_client_id)?
        };
        Ok(TestCredentials {
            client_email: field(&g, "client_email", GOOGLE_KEY_FILE)?,
            project_id: field(&g, "project_id", GOOGLE_KEY_FILE)?,
            client_id: field(&g, "client_id", GOOGLE_KEY_FILE)?,
            private_key_id: field(&g, "private_key_id", GOOGLE_KEY_FILE)?,
            private_key_pem,
            public_key_pem,
            tenant_id: field(&m, "tenant_id", MICROSOFT_APP_FILE)?,
            ms_client_id,
            ms_client_secret: field(&m, "client_secret", MICROSOFT_APP_FILE)?,
            ms_certificate_pem,
        })
    }
}

/// Signs claims as a compact RS256 JWT with the given PKCS#8 PEM key.
pub fn sign_rs256<C: Serialize>(
    private_key_pem: &str,
    kid: &str,
    claims: &C,
) -> Result<String, EmulatorError> {
    let key = RsaPrivateKey::from_pkcs8_pem(private_key_pem)
        .map_err(|e| EmulatorError::Credentials(e.to_string()))?;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string().as_bytes());
    let claims = serde_json::to_value(claims).map_err(|e| EmulatorError::Credentials(e.to_string()))?;
    let signing_input = format!("{}.{}", enc(&header), enc(&claims));
    let signature: Signature = SigningKey::<Sha256>::new(key).sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
}

/// A JWT whose RS256 signature checked out.
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    /// Decoded header.
    pub header: Value,
    /// Decoded claims.
    pub claims: Value,
}

/// Splits a compact JWT and decodes header and claims without checking the signature.
pub fn decode_unverified(jwt: &str) -> Result<VerifiedJwt, String> {
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("the assertion is not a compact JWT (three dot-separated parts)".into());
    };
    let decode = |s: &str, what: &str| -> Result<Value, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| format!("JWT {what} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("JWT {what} is not JSON"))
    };
    Ok(VerifiedJwt { header: decode(h, "header")?, claims: decode(c, "claims")? })
}

/// Verifies a compact RS256 JWT against a SubjectPublicKeyInfo PEM key.
pub fn verify_rs256(jwt: &str, public_key_pem: &str) -> Result<VerifiedJwt, String> {
    let decoded = decode_unverified(jwt)?;
    if decoded.header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("the JWT header must say alg RS256".into());
    }
    let (signing_input, sig) = jwt.rsplit_once('.').ok_or("malformed JWT")?;
    let sig_bytes = URL_SAFE_NO_PAD
        .decode(sig.trim_end_matches('='))
        .map_err(|_| "JWT signature is not base64url".to_string())?;
    let key = RsaPublicKey::from_public_key_pem(public_key_pem)
        .map_err(|e| format!("trusted key unusable: {e}"))?;
    let signature =
        Signature::try_from(sig_bytes.as_slice()).map_err(|_| "Invalid JWT Signature.".to_string())?;
    VerifyingKey::<Sha256>::new(key)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| "Invalid JWT Signature.".to_string())?;
    Ok(decoded)
}

/// Issues a self-signed X.509 certificate (PEM) for a PKCS#8 RSA key, as an administrator
/// would before uploading it to the app registration.
pub fn self_signed_certificate(private_key_pem: &str, client_id: &str) -> Result<String, EmulatorError> {
    let fail =
        |e: rcgen::Error| EmulatorError::Credentials(format!("cannot issue the test certificate: {e}"));
    let key = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(private_key_pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(fail)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("chatport emulator app {client_id}"));
    Ok(params.self_signed(&key).map_err(fail)?.pem())
}

/// What the token endpoint needs of a registered certificate.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    /// Base64url SHA-1 thumbprint of the DER (`x5t`).
    pub x5t: String,
    /// Base64url SHA-256 thumbprint of the DER (`x5t#S256`).
    pub x5t_s256: String,
    /// The certified public key.
    pub public_key: RsaPublicKey,
    /// Validity start, seconds since the epoch.
    pub not_before: i64,
    /// Validity end, seconds since the epoch.
    pub not_after: i64,
}

/// Reads a PEM certificate: thumbprints, RSA public key and validity.
pub fn certificate_info(pem: &str) -> Result<CertificateInfo, String> {
    use sha1::Digest as _;
    use x509_cert::der::{DecodePem, Encode};
    let cert = x509_cert::Certificate::from_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM X.509 certificate: {e}"))?;
    let der = cert.to_der().map_err(|e| format!("certificate cannot be encoded: {e}"))?;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().map_err(|e| e.to_string())?;
    let public_key =
        RsaPublicKey::from_public_key_der(&spki).map_err(|e| format!("certificate key is not RSA: {e}"))?;
    let validity = &cert.tbs_certificate.validity;
    Ok(CertificateInfo {
        x5t: URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der)),
        x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
        public_key,
        not_before: validity.not_before.to_unix_duration().as_secs() as i64,
        not_after: validity.not_after.to_unix_duration().as_secs() as i64,
    })
}

/// Verifies a compact JWT signed with RS256 or PS256 against `key`.
pub fn verify_rsa_jwt(jwt: &str, key: &RsaPublicKey) -> Result<VerifiedJwt, String> {
    let decoded = decode_unverified(jwt)?;
    let (signing_input, sig) = jwt.rsplit_once('.').ok_or("malformed JWT")?;
    let sig_bytes = URL_SAFE_NO_PAD
        .decode(sig.trim_end_matches('='))
        .map_err(|_| "JWT signature is not base64url".to_string())?;
    let ok = match decoded.header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Signature::try_from(sig_bytes.as_slice()).ok().is_some_and(|s| {
            VerifyingKey::<Sha256>::new(key.clone()).verify(signing_input.as_bytes(), &s).is_ok()
        }),
        Some("PS256") => rsa::pss::Signature::try_from(sig_bytes.as_slice()).ok().is_some_and(|s| {
            rsa::pss::VerifyingKey::<Sha256>::new(key.clone()).verify(signing_input.as_bytes(), &s).is_ok()
        }),
        _ => return Err("the JWT header must say alg RS256 or PS256".into()),
    };
    if ok {
        Ok(decoded)
    } else {
        Err("signature does not verify".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_variant_is_written_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let creds = TestCredentials::generate().unwrap();
        let files = creds.write(dir.path(), Some("http://127.0.0.1:9")).unwrap();
        let app: Value =
            serde_json::from_str(&std::fs::read_to_string(&files.microsoft_app_certificate).unwrap())
                .unwrap();
        assert!(app.get("client_secret").is_none(), "{app}");
        assert_eq!(app["certificate"], MICROSOFT_CERT_FILE);
        assert_eq!(app["private_key"], MICROSOFT_CERT_KEY_FILE);
        assert_eq!(
            app["token_endpoint"],
            format!("http://127.0.0.1:9/{}/oauth2/v2.0/token", creds.tenant_id)
        );
        let back = TestCredentials::read(dir.path()).unwrap();
        assert_eq!(back.ms_certificate_pem, creds.ms_certificate_pem);
        assert_eq!(back.microsoft_trust(), creds.microsoft_trust());
        // The certificate certifies the key the app signs with, and its thumbprints differ
        // from another certificate's.
        let info = certificate_info(&creds.ms_certificate_pem).unwrap();
        let key = RsaPrivateKey::from_pkcs8_pem(&creds.private_key_pem).unwrap();
        assert_eq!(info.public_key, key.to_public_key());
        assert!(info.not_before <= wall_secs() && wall_secs() <= info.not_after);
        let other = self_signed_certificate(&creds.private_key_pem, "another-app").unwrap();
        assert_ne!(certificate_info(&other).unwrap().x5t_s256, info.x5t_s256);
        assert_eq!(URL_SAFE_NO_PAD.decode(&info.x5t).unwrap().len(), 20, "SHA-1");
        assert_eq!(URL_SAFE_NO_PAD.decode(&info.x5t_s256).unwrap().len(), 32, "SHA-256");
        assert!(certificate_info("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
    }

    fn wall_secs() -> i64 {
        crate::time::wall_now().0 / crate::time::NANOS_PER_SEC
    }
}
