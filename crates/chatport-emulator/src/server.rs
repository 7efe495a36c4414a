//! The HTTP server: shared application state ([`App`]), the router that mounts the Chat,
//! Graph, token and admin routes, the per-request layer (counters, fault injection,
//! latency), and the connection loop.
//!
//! Connections are served with hyper directly rather than `axum::serve` so that a fault
//! can drop a connection without sending a byte, before or after the request's write is
//! applied: the "lost response" a real network produces.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

use crate::config::{DirectoryUser, EmulatorConfig, FaultConfig};
use crate::faults::{Fault, FaultPlan};
use crate::quota::{Buckets, Draw, Exhausted};
use crate::state::{Record, State as EmuState};
use crate::store::{Store, StoreFailure};
use crate::time::{Clock, Timestamp, NANOS_PER_SEC};

/// Largest request body accepted (uploads included).
const MAX_BODY_BYTES: usize = 300 * 1024 * 1024;

/// Why a request was refused; error responses carry it as an extension so the counting
/// layer can tally rejections by reason.
#[derive(Debug, Clone)]
pub struct Rejection(pub String);

/// Request extension that closes the request's connection without an answer.
#[derive(Debug, Clone)]
pub struct ConnectionKiller(Arc<Notify>);

impl ConnectionKiller {
    fn kill(&self) {
        self.0.notify_one();
    }
}

/// Named counters (requests, statuses, rejections by reason, faults, 429s).
#[derive(Debug, Default)]
pub struct Counters {
    map: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    /// Adds one to a counter.
    pub fn inc(&self, name: &str) {
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        // Look up before inserting so the hot path allocates no key.
        match map.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                map.insert(name.to_string(), 1);
            }
        }
    }

    /// All counters.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        match self.map.lock() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Everything a handler needs.
#[derive(Debug)]
pub struct App {
    /// Effective configuration.
    pub config: EmulatorConfig,
    state: Mutex<EmuState>,
    /// Durable store.
    pub store: Store,
    /// Emulated clock.
    pub clock: Clock,
    /// Quota buckets.
    pub buckets: Buckets,
    /// Fault injection.
    pub faults: FaultPlan,
    /// Counters.
    pub counters: Counters,
    /// Configured users by lowercase email, Google id and Entra object id.
    directory: HashMap<String, DirectoryUser>,
}

/// Indexes configured users by every key a request may use for them.
fn index_directory(users: &[DirectoryUser]) -> HashMap<String, DirectoryUser> {
    let mut map = HashMap::new();
    for u in users {
        for key in [u.email.to_ascii_lowercase(), u.google_id(), u.aad_id()] {
            map.insert(key.to_ascii_lowercase(), u.clone());
        }
    }
    map
}

impl App {
    /// Locks the state. A panic while holding the lock cannot leave a half-applied record
    /// (records are applied whole), so a poisoned lock is still usable.
    pub fn lock(&self) -> MutexGuard<'_, EmuState> {
        match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    /// Runs `f` under the state lock, then waits until the records it put are durable.
    /// Records are queued while the lock is held, so they reach disk in apply order.
    pub async fn commit<T, E: From<StoreFailure>>(
        &self,
        f: impl FnOnce(&mut EmuState) -> Result<T, E>,
    ) -> Result<T, E> {
        let (out, rx) = {
            let mut st = self.lock();
            let out = f(&mut st);
            let pending = st.take_pending();
            (out, self.store.enqueue(pending))
        };
        Store::wait(rx).await?;
        out
    }

    /// Emulated time now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Whether quotas are enforced.
    pub fn quotas_on(&self) -> bool {
        self.config.quotas.enabled
    }

    /// Draws from quota buckets unless quotas are off.
    pub fn take_quota(&self, draws: &[Draw]) -> Result<(), Exhausted> {
        if !self.config.quotas.enabled {
            return Ok(());
        }
        self.buckets.take(self.clock.elapsed_scaled_nanos(), draws).inspect_err(|e| {
            self.counters.inc("throttled");
            let family = e.key.split(':').next().unwrap_or(&e.key);
            self.counters.inc(&format!("throttled.{family}"));
        })
    }

    /// Finds a directory user by email, Google id or Entra object id.
    pub fn find_user(&self, st: &EmuState, key: &str) -> Option<DirectoryUser> {
        let lower = key.to_ascii_lowercase();
        if let Some(u) = self.directory.get(&lower) {
            return Some(u.clone());
        }
        let matches = |u: &DirectoryUser| {
            u.email.to_ascii_lowercase() == lower || u.google_id() == key || u.aad_id() == lower
        };
        if let Some(u) = st.extra_users.values().find(|u| matches(u)) {
            return Some(u.clone());
        }
        let domain = self.config.auto_users_domain.as_deref()?;
        let (_, user_domain) = lower.rsplit_once('@')?;
        user_domain.eq_ignore_ascii_case(domain).then(|| DirectoryUser::new(&lower))
    }
}

/// Builds the full router.
pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .merge(crate::chat::routes())
        .merge(crate::graph::routes())
        .merge(crate::auth::routes())
        .fallback(crate::graph::fallback)
        .layer(axum::middleware::from_fn_with_state(app.clone(), api_layer));
    Router::new()
        .nest("/__admin", admin_routes())
        .merge(api)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Chat,
    Graph,
    Token,
}

fn surface(path: &str) -> Surface {
    if path.starts_with("/v1/") || path.starts_with("/upload/") || path == "/v1" {
        Surface::Chat
    } else if path == "/token" || path.contains("/oauth2/") {
        Surface::Token
    } else {
        Surface::Graph
    }
}

/// Error answer for an injected fault, in the envelope of the API addressed.
fn fault_response(app: &App, surface: Surface, status: u16) -> Response {
    let retry = app.faults.config().retry_after_secs;
    match surface {
        Surface::Chat => {
            let err = match status {
                429 => crate::chat::error::ChatError::resource_exhausted("injected"),
                503 => crate::chat::error::ChatError::unavailable(),
                _ => crate::chat::error::ChatError::internal("injected fault"),
            };
            let mut resp = err.into_response();
            if status != 500 && app.config.rules.chat_retry_after_header {
                if let Ok(v) = retry.to_string().parse() {
                    resp.headers_mut().insert("retry-after", v);
                }
            }
            resp
        }
        Surface::Graph => {
            let err = match status {
                429 => crate::graph::error::GraphError::throttled("injected", retry),
                503 => crate::graph::error::GraphError::unavailable(retry),
                _ => crate::graph::error::GraphError::internal("injected fault"),
            };
            err.into_response()
        }
        Surface::Token => {
            let code = axum::http::StatusCode::from_u16(status)
                .unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE);
            let mut resp = (
                code,
                Json(json!({"error": "temporarily_unavailable", "error_description": "injected fault"})),
            )
                .into_response();
            resp.extensions_mut().insert(Rejection("fault.token".into()));
            resp
        }
    }
}

/// Counts every API request and applies fault injection and latency.
async fn api_layer(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let surface = surface(req.uri().path());
    app.counters.inc("requests");
    app.counters.inc(match surface {
        Surface::Chat => "requests.chat",
        Surface::Graph => "requests.graph",
        Surface::Token => "requests.token",
    });
    let faultable = surface != Surface::Token || app.faults.config().include_token_endpoints;
    let (fault, latency) = if faultable { app.faults.next() } else { (Fault::None, 0) };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    if fault != Fault::None {
        app.counters.inc(&format!("faults.{}", fault.name()));
    }
    let killer = req.extensions().get::<ConnectionKiller>().cloned();
    let response = match (fault, killer) {
        (Fault::None, _) => next.run(req).await,
        (Fault::TooManyRequests, _) => fault_response(&app, surface, 429),
        (Fault::Internal, _) => fault_response(&app, surface, 500),
        (Fault::Unavailable, _) => fault_response(&app, surface, 503),
        (Fault::DropBefore, Some(killer)) => {
            killer.kill();
            std::future::pending::<()>().await;
            fault_response(&app, surface, 503)
        }
        (Fault::DropAfter, Some(killer)) => {
            // The handler runs to completion (its records are durable) before the drop.
            let _ = next.run(req).await;
            killer.kill();
            std::future::pending::<()>().await;
            fault_response(&app, surface, 503)
        }
        (Fault::AppliedThen502, _) => {
            let _ = next.run(req).await;
            let mut resp = fault_response(&app, surface, 502);
            *resp.status_mut() = axum::http::StatusCode::BAD_GATEWAY;
            resp
        }
        // Without a connection to drop (not served by our loop) a 503 is the closest.
        (Fault::DropBefore | Fault::DropAfter, None) => fault_response(&app, surface, 503),
    };
    let status = response.status().as_u16();
    app.counters.inc(&format!("status.{status}"));
    if status == 429 {
        app.counters.inc("responses.429");
    }
    if let Some(Rejection(reason)) = response.extensions().get::<Rejection>() {
        app.counters.inc("rejections");
        app.counters.inc(&format!("rejections.{reason}"));
    }
    response
}

fn admin_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/state", get(admin_state))
        .route("/counters", get(admin_counters))
        .route("/clock", get(admin_clock).post(admin_advance_clock))
        .route("/faults", get(admin_faults).put(admin_set_faults))
        .route("/users", get(admin_users).post(admin_add_user))
}

async fn admin_state(State(app): State<Arc<App>>) -> Json<Value> {
    Json(app.lock().dump())
}

async fn admin_counters(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!(app.counters.snapshot()))
}

fn clock_json(app: &App) -> Value {
    json!({
        "now": app.now().to_rfc3339(),
        "offset_seconds": app.clock.offset_nanos() as f64 / NANOS_PER_SEC as f64,
        "time_scale": app.clock.scale(),
    })
}

async fn admin_clock(State(app): State<Arc<App>>) -> Json<Value> {
    Json(clock_json(&app))
}

fn admin_error(status: u16, message: String) -> Response {
    let code = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    (code, Json(json!({"error": message}))).into_response()
}

/// `POST /__admin/clock {"advance_seconds": N}` moves the emulated clock forward.
async fn admin_advance_clock(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let Some(secs) = parsed.ok().and_then(|v| v.get("advance_seconds").and_then(Value::as_f64)) else {
        return admin_error(400, "body must be {\"advance_seconds\": <non-negative number>}".into());
    };
    // At most about a century at a time, so the clock cannot overflow.
    if !(0.0..=3.2e9).contains(&secs) {
        return admin_error(400, "advance_seconds must be a number between 0 and 3.2e9".into());
    }
    let nanos = (secs * NANOS_PER_SEC as f64) as i64;
    let result = app
        .commit(|st| {
            let offset = app.clock.advance(nanos);
            st.put(Record::ClockOffset(offset));
            Ok::<_, StoreFailure>(())
        })
        .await;
    match result {
        Ok(()) => Json(clock_json(&app)).into_response(),
        Err(StoreFailure(e)) => admin_error(500, e),
    }
}

async fn admin_faults(State(app): State<Arc<App>>) -> Json<FaultConfig> {
    Json(app.faults.config())
}

/// `PUT /__admin/faults` replaces the fault configuration (sequence restarts at 0).
async fn admin_set_faults(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<FaultConfig>(&body) {
        Ok(config) => {
            app.faults.replace(config.clone());
            Json(config).into_response()
        }
        Err(e) => admin_error(400, format!("invalid fault configuration: {e}")),
    }
}

async fn admin_users(State(app): State<Arc<App>>) -> Json<Value> {
    let st = app.lock();
    let users: Vec<Value> = app.config.users.iter().chain(st.extra_users.values()).map(user_json).collect();
    Json(json!({"users": users, "auto_users_domain": app.config.auto_users_domain}))
}

fn user_json(u: &DirectoryUser) -> Value {
    json!({
        "email": u.email,
        "display_name": u.display_name(),
        "google_id": u.google_id(),
        "aad_id": u.aad_id(),
        "external": u.external,
    })
}

/// `POST /__admin/users` adds a directory user (persisted).
async fn admin_add_user(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let user = match serde_json::from_slice::<DirectoryUser>(&body) {
        Ok(u) if u.email.contains('@') => u,
        Ok(_) => return admin_error(400, "email must contain @".into()),
        Err(e) => return admin_error(400, format!("invalid user: {e}")),
    };
    let json = user_json(&user);
    let result = app
        .commit(|st| {
            st.put(Record::User(user));
            Ok::<_, StoreFailure>(())
        })
        .await;
    match result {
        Ok(()) => (axum::http::StatusCode::CREATED, Json(json)).into_response(),
        Err(StoreFailure(e)) => admin_error(500, e),
    }
}

/// A started emulator. Dropping it does not stop the server; call
/// [`RunningEmulator::shutdown`].
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    app: Arc<App>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base of every API (`/v1`, `/upload/v1`, `/v1.0`, `/token`,
    /// `/{tenant}/oauth2/v2.0/token`, `/__admin`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Trusts a Google service account from now on (persisted).
    pub async fn trust_google(
        &self,
        trust: crate::config::ServiceAccountTrust,
    ) -> Result<(), crate::EmulatorError> {
        self.app
            .commit(|st| {
                st.put(Record::TrustedGoogle(trust));
                Ok::<_, StoreFailure>(())
            })
            .await
            .map_err(|StoreFailure(e)| crate::EmulatorError::Store(e))
    }

    /// Trusts a Microsoft app from now on (persisted).
    pub async fn trust_microsoft(
        &self,
        trust: crate::config::MicrosoftAppTrust,
    ) -> Result<(), crate::EmulatorError> {
        self.app
            .commit(|st| {
                st.put(Record::TrustedMicrosoft(trust));
                Ok::<_, StoreFailure>(())
            })
            .await
            .map_err(|StoreFailure(e)| crate::EmulatorError::Store(e))
    }

    /// Trusts both halves of a generated credential set.
    pub async fn trust(&self, creds: &crate::TestCredentials) -> Result<(), crate::EmulatorError> {
        self.trust_google(creds.service_account_trust()).await?;
        self.trust_microsoft(creds.microsoft_trust()).await
    }

    /// Adds a directory user (persisted).
    pub async fn add_user(&self, user: DirectoryUser) -> Result<(), crate::EmulatorError> {
        self.app
            .commit(|st| {
                st.put(Record::User(user));
                Ok::<_, StoreFailure>(())
            })
            .await
            .map_err(|StoreFailure(e)| crate::EmulatorError::Store(e))
    }

    /// Stops accepting, closes connections, and flushes the store.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.app.store.close().await;
    }
}

/// Binds, loads state from the data directory, and starts serving in the background.
pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, crate::EmulatorError> {
    let (store, state) = Store::open(&config.data_dir)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| crate::EmulatorError::Bind { addr: config.listen.to_string(), source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| crate::EmulatorError::Bind { addr: config.listen.to_string(), source })?;
    let clock = Clock::new(config.time_scale, state.clock_offset);
    let faults = FaultPlan::new(config.faults.clone());
    let trusted_google = config.google_service_accounts.clone();
    let trusted_ms = config.microsoft_apps.clone();
    let directory = index_directory(&config.users);
    let app = Arc::new(App {
        directory,
        config,
        state: Mutex::new(state),
        store,
        clock,
        buckets: Buckets::default(),
        faults,
        counters: Counters::default(),
    });
    app.commit(|st| {
        for t in trusted_google {
            st.put(Record::TrustedGoogle(t));
        }
        for t in trusted_ms {
            st.put(Record::TrustedMicrosoft(t));
        }
        Ok::<_, StoreFailure>(())
    })
    .await
    .map_err(|StoreFailure(e)| crate::EmulatorError::Store(e))?;
    let router = router(app.clone());
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, router, rx));
    Ok(RunningEmulator { addr, app, shutdown: tx, task })
}

async fn accept_loop(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_connection(stream, router.clone(), shutdown.clone()));
                }
                // Out of file descriptors and similar: back off briefly, keep serving.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
        }
        while conns.try_join_next().is_some() {}
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let killer = ConnectionKiller(Arc::new(Notify::new()));
    let k = killer.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(k.clone());
        let router = router.clone();
        async move { router.oneshot(req.map(axum::body::Body::new)).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = killer.0.notified() => {}
        _ = shutdown.changed() => {}
    }
}
