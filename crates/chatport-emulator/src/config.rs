//! Emulator configuration: listen address, data directory, clock speed, quotas, faults,
//! the user directory, the trusted credentials, and every rule the API specification marks
//! UNCONFIRMED (made a switch here rather than hard-coded).
//!
//! Everything deserializes from the `--config` JSON file with defaults for missing fields;
//! command-line flags then override it. This module only describes settings; it applies none.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::EmulatorError;

/// Full configuration of one emulator instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Address to bind; port 0 picks a free port (see [`crate::RunningEmulator::addr`]).
    pub listen: SocketAddr,
    /// Directory holding `state.sqlite3` and uploaded blobs.
    pub data_dir: PathBuf,
    /// Emulated seconds per wall second; affects quotas, operation delays and the
    /// import-mode deadline, not token lifetimes.
    pub time_scale: f64,
    /// Token-bucket quotas.
    pub quotas: QuotaConfig,
    /// Seeded fault injection.
    pub faults: FaultConfig,
    /// Switches for rules the specification marks unconfirmed, and size limits.
    pub rules: RuleConfig,
    /// Known users. Impersonating or adding anyone else fails as it would for real.
    pub users: Vec<DirectoryUser>,
    /// When set, any address in this domain is also a known in-domain user.
    pub auto_users_domain: Option<String>,
    /// Google service accounts whose JWT assertions the token endpoint accepts.
    pub google_service_accounts: Vec<ServiceAccountTrust>,
    /// Microsoft Entra applications whose client secrets or certificate-signed client
    /// assertions the token endpoint accepts.
    pub microsoft_apps: Vec<MicrosoftAppTrust>,
    /// Extra `aud` values accepted in Google assertions, besides
    /// `https://oauth2.googleapis.com/token` and this emulator's own `/token` URL.
    pub google_audiences: Vec<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("emulator-data"),
            time_scale: 1.0,
            quotas: QuotaConfig::default(),
            faults: FaultConfig::default(),
            rules: RuleConfig::default(),
            users: Vec::new(),
            auto_users_domain: None,
            google_service_accounts: Vec::new(),
            microsoft_apps: Vec::new(),
            google_audiences: Vec::new(),
        }
    }
}

impl EmulatorConfig {
    /// An emulator on a free loopback port, keeping its state in `data_dir` and trusting
    /// `creds` (both its Google service account and its Microsoft app); the rest as
    /// [`Default`] (quotas on). What the demo, the examples and the tests start from.
    pub fn local(data_dir: PathBuf, creds: &crate::TestCredentials) -> EmulatorConfig {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            google_service_accounts: vec![creds.service_account_trust()],
            microsoft_apps: vec![creds.microsoft_trust()],
            ..EmulatorConfig::default()
        }
    }

    /// Reads a JSON configuration file; fields it does not mention keep their defaults.
    pub fn from_file(path: &Path) -> Result<EmulatorConfig, EmulatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| EmulatorError::Io { path: path.to_path_buf(), source })?;
        serde_json::from_str(&text)
            .map_err(|e| EmulatorError::Config { path: path.to_path_buf(), message: e.to_string() })
    }
}

/// A user the emulated Workspace domain / Entra tenant knows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DirectoryUser {
    /// Primary email / UPN, e.g. `ada@example.com`.
    pub email: String,
    /// Display name; defaults to the local part of the email.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Google numeric user id; derived from the email when absent.
    #[serde(default)]
    pub google_id: Option<String>,
    /// Entra object id (GUID); derived from the email when absent.
    #[serde(default)]
    pub aad_id: Option<String>,
    /// True for a user outside the domain (cannot be impersonated, needs
    /// `externalUserAllowed` to be added to a Chat space).
    #[serde(default)]
    pub external: bool,
}

impl DirectoryUser {
    /// An in-domain user with derived ids.
    pub fn new(email: &str) -> DirectoryUser {
        DirectoryUser {
            email: email.to_string(),
            display_name: None,
            google_id: None,
            aad_id: None,
            external: false,
        }
    }

    /// The Google numeric id (configured or derived from the email).
    pub fn google_id(&self) -> String {
        self.google_id.clone().unwrap_or_else(|| {
            let digest = crate::ids::digest(&self.email.to_ascii_lowercase());
            let n = u64::from_be_bytes([
                digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
            ]);
            format!("1{:020}", n)
        })
    }

    /// The Entra object id (configured or derived from the email).
    pub fn aad_id(&self) -> String {
        self.aad_id
            .clone()
            .unwrap_or_else(|| crate::ids::guid_from(&crate::ids::digest(&self.email.to_ascii_lowercase())))
    }

    /// The display name (configured or the email's local part).
    pub fn display_name(&self) -> String {
        self.display_name
            .clone()
            .unwrap_or_else(|| self.email.split('@').next().unwrap_or(&self.email).to_string())
    }
}

/// A Google service account the emulator trusts (the public half of a key file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountTrust {
    /// `client_email` of the key file; the JWT `iss`.
    pub client_email: String,
    /// Cloud project the account belongs to (the "app" for Chat ownership and quotas).
    pub project_id: String,
    /// Numeric client id; the app's identity when it posts as itself.
    pub client_id: String,
    /// `private_key_id`; when an assertion carries `kid` it must match.
    pub private_key_id: String,
    /// SubjectPublicKeyInfo PEM of the signing key.
    pub public_key_pem: String,
    /// Scopes (full URLs) granted through domain-wide delegation; impersonation asking for
    /// any other scope fails with `unauthorized_client`.
    #[serde(default = "default_delegated_scopes")]
    pub delegated_scopes: Vec<String>,
}

/// Every Chat scope the emulator knows (full URLs), granted by default.
pub fn default_delegated_scopes() -> Vec<String> {
    crate::chat::auth::KNOWN_SCOPES.iter().map(|s| format!("https://www.googleapis.com/auth/{s}")).collect()
}

/// A Microsoft Entra application the emulator trusts. Its `Debug` form hides the secret.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MicrosoftAppTrust {
    /// Directory (tenant) id.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Client secret (empty: the app has no secret and must use its certificate).
    #[serde(default)]
    pub client_secret: String,
    /// Registered certificate (PEM) whose key signs client assertions; None: secret only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
    /// Application permissions put in the token's `roles`.
    #[serde(default = "default_graph_roles")]
    pub roles: Vec<String>,
}

impl std::fmt::Debug for MicrosoftAppTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicrosoftAppTrust")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &if self.client_secret.is_empty() { "" } else { "<redacted>" })
            .field("certificate_pem", &self.certificate_pem.as_ref().map(|_| "<certificate>"))
            .field("roles", &self.roles)
            .finish()
    }
}

/// The application permissions a migration app normally holds.
pub fn default_graph_roles() -> Vec<String> {
    [
        "Teamwork.Migrate.All",
        "Channel.Create",
        "Group.ReadWrite.All",
        "Files.ReadWrite.All",
        "TeamMember.ReadWrite.All",
        "ChannelMessage.Read.All",
        "Team.ReadBasic.All",
        "Channel.ReadBasic.All",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Token-bucket quotas. Chat limits are per minute, Graph limits per second, as documented.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// False turns every quota off (for load benchmarks).
    pub enabled: bool,
    /// Google Chat per-project and per-space limits.
    pub chat: ChatQuotas,
    /// Microsoft Graph per-channel and per-tenant limits.
    pub graph: GraphQuotas,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig { enabled: true, chat: ChatQuotas::default(), graph: GraphQuotas::default() }
    }
}

/// Google Chat quotas, requests per minute.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatQuotas {
    /// Per project: messages.create/patch/update/delete.
    pub message_writes: u32,
    /// Per project: messages.get/list.
    pub message_reads: u32,
    /// Per project: members.create/delete.
    pub membership_writes: u32,
    /// Per project: members.get/list.
    pub membership_reads: u32,
    /// Per project: spaces.create/patch/delete/completeImport.
    pub space_writes: u32,
    /// Per project: spaces.get/list.
    pub space_reads: u32,
    /// Per project: extra limit on spaces.create.
    pub space_creates: u32,
    /// Per project: media.upload.
    pub attachment_writes: u32,
    /// Per project: attachment and media reads.
    pub attachment_reads: u32,
    /// Per project: reactions.create/delete.
    pub reaction_writes: u32,
    /// Per project: reactions.list.
    pub reaction_reads: u32,
    /// Per space, all apps: writes (upload, space patch/delete, message and reaction writes).
    pub per_space_writes: u32,
    /// Per space, all apps: reads.
    pub per_space_reads: u32,
}

impl Default for ChatQuotas {
    fn default() -> Self {
        ChatQuotas {
            message_writes: 3000,
            message_reads: 3000,
            membership_writes: 300,
            membership_reads: 3000,
            space_writes: 60,
            space_reads: 3000,
            space_creates: 35,
            attachment_writes: 600,
            attachment_reads: 3000,
            reaction_writes: 600,
            reaction_reads: 3000,
            per_space_writes: 60,
            per_space_reads: 900,
        }
    }
}

/// Microsoft Graph quotas, requests per second (per app per tenant unless noted).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphQuotas {
    /// Message and reply imports into one channel.
    pub channel_import: f64,
    /// Any request on one team or channel.
    pub team_or_channel: f64,
    /// POST channel message, per tenant.
    pub post_channel_message: f64,
    /// POST /teams, per tenant.
    pub post_team: f64,
    /// POST/PUT channel, per tenant.
    pub post_channel: f64,
    /// GET channel message, per tenant.
    pub get_channel_message: f64,
    /// GET team or channel, per tenant.
    pub get_team_channel: f64,
    /// Other GET calls, per tenant.
    pub other_get: f64,
    /// Other calls, per tenant.
    pub other: f64,
    /// Any Teams call, per tenant, per 10 seconds.
    pub any_per_10s: f64,
}

impl Default for GraphQuotas {
    fn default() -> Self {
        GraphQuotas {
            channel_import: 5.0,
            team_or_channel: 4.0,
            post_channel_message: 50.0,
            post_team: 10.0,
            post_channel: 30.0,
            get_channel_message: 20.0,
            get_team_channel: 30.0,
            other_get: 30.0,
            other: 30.0,
            any_per_10s: 15_000.0,
        }
    }
}

/// Seeded fault injection; each fraction is the probability for one API request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the fault sequence: the n-th API request gets the same fault on every run.
    pub seed: u64,
    /// Fraction answered 429 (Chat `RESOURCE_EXHAUSTED`, Graph `TooManyRequests`).
    pub rate_429: f64,
    /// Fraction answered 500.
    pub rate_500: f64,
    /// Fraction answered 503.
    pub rate_503: f64,
    /// Fraction whose connection is dropped before the request is processed.
    pub drop_before: f64,
    /// Fraction whose connection is dropped after the write is applied and durable.
    pub drop_after: f64,
    /// Fraction of requests processed (write applied and durable) and then answered 502,
    /// as a gateway that lost the backend's answer does.
    pub applied_then_502: f64,
    /// Latency added to every API request, in milliseconds.
    pub latency_ms: u64,
    /// Extra random latency, up to this many milliseconds.
    pub latency_jitter_ms: u64,
    /// `Retry-After` seconds sent with injected 429/503 answers.
    pub retry_after_secs: u64,
    /// Whether token endpoints are subject to faults too.
    pub include_token_endpoints: bool,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            rate_429: 0.0,
            rate_500: 0.0,
            rate_503: 0.0,
            drop_before: 0.0,
            drop_after: 0.0,
            applied_then_502: 0.0,
            latency_ms: 0,
            latency_jitter_ms: 0,
            retry_after_secs: 1,
            include_token_endpoints: false,
        }
    }
}

/// Where Graph checks `createdDateTime` uniqueness.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UniqueScope {
    /// Unique among all messages and replies of the channel (newer docs).
    Channel,
    /// Unique among the messages of one thread (older docs).
    Thread,
}

/// Rules the specification leaves open, plus size limits. Defaults follow the issue and
/// the specification's recommendations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Days a Chat space may stay in import mode (current docs 90, older 30).
    pub import_mode_days: i64,
    /// Chat message `createTime` unique in a space, even after deletion (import guide).
    pub chat_unique_message_create_time: bool,
    /// A Chat reply's `createTime` must not precede its thread's first message.
    pub chat_reply_not_before_root: bool,
    /// Chat message size limit in bytes (whole message).
    pub chat_max_message_bytes: usize,
    /// Chat attachment size limit in bytes.
    pub chat_max_upload_bytes: usize,
    /// File extensions Chat refuses to upload.
    pub chat_blocked_extensions: Vec<String>,
    /// At most one membership per user per Chat space (a second create is 409).
    pub chat_one_membership_per_user: bool,
    /// spaces.members.list shows historical memberships while the space is in import
    /// mode (undocumented: false models a Chat that lists joined members only).
    pub chat_list_historical_memberships: bool,
    /// Send `Retry-After` on Chat 429 answers (Google does not document one).
    pub chat_retry_after_header: bool,
    /// Scope of Graph `createdDateTime` uniqueness.
    pub graph_unique_created_scope: UniqueScope,
    /// Team completeMigration fails (400) while a channel is still migrating; when false
    /// the remaining channels are completed implicitly.
    pub graph_strict_team_completion: bool,
    /// Graph message size limit in bytes, excluding base64 hostedContents.
    pub graph_max_message_bytes: usize,
    /// Status of a successful message import (201 documented, examples show 200).
    pub graph_message_create_status: u16,
    /// Polls of a team-creation operation answered `inProgress` before `succeeded`.
    pub graph_operation_polls: u32,
    /// The first N team creations end with their operation `failed` and no team (Graph
    /// reports provisioning failures this way); 0 in normal use.
    pub graph_failed_team_creations: u32,
    /// Seconds (emulated time) after a team's creation during which its channels' files
    /// folders answer 404, as a new team's SharePoint site is still provisioning.
    pub graph_files_folder_delay_secs: f64,
    /// `from.user.id` of an imported message must be a known directory user.
    pub graph_strict_from_user: bool,
    /// Largest decoded hostedContent accepted, in bytes.
    pub graph_max_hosted_content_bytes: usize,
    /// Most hostedContents in one message.
    pub graph_max_hosted_contents: usize,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            import_mode_days: 90,
            chat_unique_message_create_time: true,
            chat_reply_not_before_root: true,
            chat_max_message_bytes: 32_000,
            chat_max_upload_bytes: 200 * 1024 * 1024,
            chat_blocked_extensions: [
                "ade", "adp", "apk", "appx", "bat", "cab", "chm", "cmd", "com", "cpl", "dll", "dmg", "exe",
                "hta", "ins", "isp", "iso", "jar", "js", "jse", "lib", "lnk", "mde", "msc", "msi", "msix",
                "msp", "mst", "nsh", "pif", "ps1", "scr", "sct", "shb", "sys", "vb", "vbe", "vbs", "vxd",
                "wsc", "wsf", "wsh",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            chat_one_membership_per_user: true,
            chat_list_historical_memberships: true,
            chat_retry_after_header: false,
            graph_unique_created_scope: UniqueScope::Channel,
            graph_strict_team_completion: true,
            graph_max_message_bytes: 28_000,
            graph_message_create_status: 201,
            graph_operation_polls: 0,
            graph_failed_team_creations: 0,
            graph_files_folder_delay_secs: 0.0,
            graph_strict_from_user: false,
            graph_max_hosted_content_bytes: 4 * 1024 * 1024,
            graph_max_hosted_contents: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_client_secret() {
        let app = MicrosoftAppTrust {
            tenant_id: "t".into(),
            client_id: "c".into(),
            client_secret: "s3cr3t-value".into(),
            certificate_pem: Some("-----BEGIN CERTIFICATE-----".into()),
            roles: default_graph_roles(),
        };
        let shown = format!("{app:?}");
        assert!(!shown.contains("s3cr3t-value") && !shown.contains("BEGIN"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("client_id"), "{shown}");
    }
}
