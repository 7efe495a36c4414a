//! Local emulator of the Google Chat import-mode and Microsoft Graph Teams-migration APIs.
//!
//! One HTTP server serves, under their real paths, Google Chat v1 (`/v1/spaces…`,
//! `/upload/v1/…`), Microsoft Graph v1.0 (`/v1.0/teams…`, `/v1.0/drives…`) and both token
//! endpoints (`/token`, `/{tenant}/oauth2/v2.0/token`). It enforces the documented import
//! rules and quotas with the real status codes and error envelopes, injects seeded faults,
//! persists everything to SQLite under the data directory, and exposes `/__admin/…` for
//! tests (state dump, counters, clock, faults, users).
//!
//! Clients authenticate as they would for real: a Google service account signs an RS256
//! JWT assertion (`iss` = `client_email`, `aud` = the key file's `token_uri`, `scope`, and
//! `sub` = the user to impersonate, omitted for app auth) and posts it to `/token`; a
//! Microsoft app posts `client_id`, `client_secret` and
//! `scope=https://graph.microsoft.com/.default` to `/{tenant}/oauth2/v2.0/token`.
//! [`TestCredentials`] generates both and writes them in the real file formats.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chatport_emulator::EmulatorError> {
//! use chatport_emulator::{start, EmulatorConfig, TestCredentials};
//! let config = EmulatorConfig {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     data_dir: "/tmp/emulator".into(),
//!     auto_users_domain: Some("example.com".into()),
//!     ..EmulatorConfig::default()
//! };
//! let emulator = start(config).await?;
//! let creds = TestCredentials::generate()?;
//! creds.write("/tmp/creds".as_ref(), Some(&emulator.base_url()))?;
//! emulator.trust(&creds).await?;
//! // … point the loader at emulator.base_url() …
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod auth;
mod chat;
pub mod config;
pub mod credentials;
mod faults;
mod graph;
mod ids;
mod quota;
mod server;
mod state;
mod store;
pub mod time;

use std::path::PathBuf;

use clap::Args;

pub use config::{
    ChatQuotas, DirectoryUser, EmulatorConfig, FaultConfig, GraphQuotas, MicrosoftAppTrust, QuotaConfig,
    RuleConfig, ServiceAccountTrust, UniqueScope,
};
pub use credentials::{read_trusted_credentials, write_test_credentials, CredentialFiles, TestCredentials};
pub use server::{start, RunningEmulator};

/// Command-line options of `chatport emulate`.
#[derive(Debug, Args)]
pub struct EmulateArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory for the durable state (SQLite) and uploaded blobs.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// JSON configuration file (quotas, faults, rules, users, trusted credentials);
    /// flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write a test Google service-account key and Microsoft client secret into DIR
    /// (reusing them if already there) and accept them.
    #[arg(long, value_name = "DIR")]
    pub write_test_credentials: Option<PathBuf>,
    /// Accept the credentials found in DIR (files written by --write-test-credentials).
    #[arg(long, value_name = "DIR")]
    pub credentials: Option<PathBuf>,
    /// JSON file with an array of directory users ({"email", "display_name"?, "external"?}).
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// Treat any address in this domain as a known in-domain user.
    #[arg(long)]
    pub auto_users_domain: Option<String>,
    /// Emulated seconds per wall second (quotas, deadlines, operation delays).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Turn all quotas off (load benchmarks).
    #[arg(long)]
    pub no_quotas: bool,
    /// Days a Chat space may stay in import mode.
    #[arg(long)]
    pub import_mode_days: Option<i64>,
    /// Seed of the fault sequence.
    #[arg(long)]
    pub fault_seed: Option<u64>,
    /// Fraction of API requests answered 429.
    #[arg(long)]
    pub fault_429: Option<f64>,
    /// Fraction of API requests answered 500.
    #[arg(long)]
    pub fault_500: Option<f64>,
    /// Fraction of API requests answered 503.
    #[arg(long)]
    pub fault_503: Option<f64>,
    /// Fraction of API requests whose connection is dropped before processing.
    #[arg(long)]
    pub fault_drop_before: Option<f64>,
    /// Fraction of API requests whose connection is dropped after the write is applied.
    #[arg(long)]
    pub fault_drop_after: Option<f64>,
    /// Latency added to every API request, milliseconds.
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Extra random latency up to this many milliseconds.
    #[arg(long)]
    pub latency_jitter_ms: Option<u64>,
}

/// Errors of the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A configuration or credential file is invalid.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The state database could not be opened or read.
    #[error("state database {}: {message}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Generating or using key material failed.
    #[error("credentials: {0}")]
    Credentials(String),
    /// A write could not be made durable.
    #[error("state store: {0}")]
    Store(String),
    /// A command-line value is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl EmulateArgs {
    /// The configuration these options describe: the `--config` file (or defaults), then
    /// every flag given.
    pub fn to_config(&self) -> Result<EmulatorConfig, EmulatorError> {
        let mut c = match &self.config {
            Some(path) => EmulatorConfig::from_file(path)?,
            None => EmulatorConfig::default(),
        };
        if let Some(listen) = &self.listen {
            c.listen = listen.parse().map_err(|_| {
                EmulatorError::InvalidArgument(format!(
                    "--listen {listen}: expected HOST:PORT, e.g. 127.0.0.1:8080"
                ))
            })?;
        }
        if let Some(d) = &self.data {
            c.data_dir = d.clone();
        }
        if let Some(path) = &self.users {
            let text = std::fs::read_to_string(path)
                .map_err(|source| EmulatorError::Io { path: path.clone(), source })?;
            let users: Vec<DirectoryUser> = serde_json::from_str(&text)
                .map_err(|e| EmulatorError::Config { path: path.clone(), message: e.to_string() })?;
            c.users.extend(users);
        }
        if let Some(d) = &self.auto_users_domain {
            c.auto_users_domain = Some(d.clone());
        }
        if let Some(s) = self.time_scale {
            if !(s.is_finite() && s > 0.0) {
                return Err(EmulatorError::InvalidArgument("--time-scale must be a positive number".into()));
            }
            c.time_scale = s;
        }
        if self.no_quotas {
            c.quotas.enabled = false;
        }
        if let Some(d) = self.import_mode_days {
            c.rules.import_mode_days = d;
        }
        let f = &mut c.faults;
        let rate = |name: &str, v: Option<f64>, slot: &mut f64| -> Result<(), EmulatorError> {
            if let Some(v) = v {
                if !(0.0..=1.0).contains(&v) {
                    return Err(EmulatorError::InvalidArgument(format!("--{name} must be between 0 and 1")));
                }
                *slot = v;
            }
            Ok(())
        };
        rate("fault-429", self.fault_429, &mut f.rate_429)?;
        rate("fault-500", self.fault_500, &mut f.rate_500)?;
        rate("fault-503", self.fault_503, &mut f.rate_503)?;
        rate("fault-drop-before", self.fault_drop_before, &mut f.drop_before)?;
        rate("fault-drop-after", self.fault_drop_after, &mut f.drop_after)?;
        if let Some(s) = self.fault_seed {
            f.seed = s;
        }
        if let Some(l) = self.latency_ms {
            f.latency_ms = l;
        }
        if let Some(l) = self.latency_jitter_ms {
            f.latency_jitter_ms = l;
        }
        if let Some(dir) = &self.credentials {
            let (g, m) = read_trusted_credentials(dir)?;
            c.google_service_accounts.push(g);
            c.microsoft_apps.push(m);
        }
        Ok(c)
    }
}

/// Runs the emulator until it is interrupted (Ctrl-C or SIGTERM).
pub fn run(args: EmulateArgs) -> Result<(), EmulatorError> {
    let config = args.to_config()?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(EmulatorError::Runtime)?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let emulator = start(config).await?;
        let base = emulator.base_url();
        if let Some(dir) = &args.write_test_credentials {
            // Reuse keys already there (so clients keep working) but point the files at
            // this run's address.
            let reuse = dir.join(credentials::GOOGLE_KEY_FILE).exists()
                && dir.join(credentials::MICROSOFT_APP_FILE).exists();
            let creds = if reuse { TestCredentials::read(dir)? } else { TestCredentials::generate()? };
            creds.write(dir, Some(&base))?;
            let (g, m) = (creds.service_account_trust(), creds.microsoft_trust());
            emulator.trust_google(g).await?;
            emulator.trust_microsoft(m).await?;
            eprintln!("test credentials in {}", dir.display());
        }
        eprintln!("chatport emulator listening on {base} (state in {})", data_dir.display());
        eprintln!("  Google Chat: {base}/v1   token: {base}/token");
        eprintln!("  Microsoft Graph: {base}/v1.0   token: {base}/{{tenant}}/oauth2/v2.0/token");
        eprintln!("  admin: {base}/__admin/state, /__admin/counters, /__admin/clock");
        wait_for_signal().await;
        emulator.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
