//! Opening the data directory and running the HTTP server.
//!
//! [`Server::open`] opens the control plane and the event store (creating the first
//! organisation, project and owner service account in an empty directory), and
//! [`Server::run`] serves until the shutdown future resolves, then closes the store so
//! that its write-ahead log is checkpointed.
//!
//! Connections are served by hyper directly (HTTP/1.1, as the TLS listener's ALPN
//! says), not through `axum::serve`, for what a server facing the internet needs and
//! `axum::serve` does not offer ([`HttpLimits`]):
//! - a cap on open connections, HTTP and HTTPS together: a connection over it is
//!   closed as soon as it is accepted (plain HTTP first gets a `503` with
//!   `Retry-After: 1`, written without waiting), so the process keeps file descriptors
//!   for the store and the clients it serves; waiting in the accept queue instead
//!   would leave refused clients hanging with no answer;
//! - a timeout on reading each request's head (hyper's, which also closes kept-alive
//!   connections idle that long), so a client sending half a request cannot hold a
//!   connection;
//! - an idle timeout on reading request bodies;
//! - per-request deadlines by API family ([`router::deadline`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use sextant_metadata::{Bootstrap, Metadata};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::add_extension::AddExtension;
use tower_http::timeout::RequestBodyTimeout;

use crate::config::{Config, DEFAULT_MAX_CONNECTIONS, HttpLimits};
use crate::limits::Limiter;
use crate::state::{AppState, Stores};
use crate::tls::{self, TlsListener};
use crate::{metrics, router};

/// Failures while starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The control plane could not be opened.
    #[error(transparent)]
    Metadata(#[from] sextant_metadata::MetadataError),
    /// The event store could not be opened or closed.
    #[error(transparent)]
    Storage(#[from] sextant_storage::StorageError),
    /// The HTTPS certificate could not be loaded or created.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The geolocation database could not be read.
    #[error("cannot read the GeoIP or places database {path}: {reason}")]
    GeoIp {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The sockets the server answers on: plain HTTP, and HTTPS when configured.
pub struct Listeners {
    /// The HTTP listener.
    pub http: TcpListener,
    /// The HTTPS listener.
    pub https: Option<TlsListener>,
    /// In self-signed mode, the certificate clients should trust.
    pub ca_certificate: Option<PathBuf>,
    /// One permit per open connection, HTTP and HTTPS together.
    connections: Arc<Semaphore>,
}

impl Listeners {
    /// Binds the addresses `config` names (port 0 picks a free port) and prepares TLS.
    pub async fn bind(config: &Config) -> Result<Listeners, ServeError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Io { context: format!("cannot listen on {addr}"), source })
        };
        let connections = Arc::new(Semaphore::new(connection_cap(config.http.max_connections)));
        let http = bind(config.listen).await?;
        let (https, ca_certificate) = match &config.tls {
            None => (None, None),
            Some(tls_config) => {
                let prepared = tls::prepare(&tls_config.settings, &config.data_dir)?;
                let tcp = bind(tls_config.listen).await?;
                let listener = TlsListener::new(tcp, prepared.server_config, connections.clone())
                    .map_err(|source| ServeError::Io { context: "cannot start the HTTPS listener".into(), source })?;
                (Some(listener), prepared.ca_certificate)
            }
        };
        Ok(Listeners { http, https, ca_certificate, connections })
    }
}

/// How many connections may be open at once: `configured`, or three quarters of the
/// file descriptor limit (raised to the hard limit first) and at most
/// [`DEFAULT_MAX_CONNECTIONS`]; the rest of the descriptors stay for the store's files.
fn connection_cap(configured: Option<usize>) -> usize {
    let descriptors = raise_fd_limit();
    let share = descriptors.map(|n| usize::try_from(n / 4 * 3).unwrap_or(usize::MAX));
    let cap = match configured {
        Some(n) => {
            if let Some(share) = share.filter(|&share| n > share) {
                tracing::warn!(
                    max_connections = n,
                    descriptors = descriptors.unwrap_or_default(),
                    "max_connections is above three quarters of the file descriptor limit ({share}); \
                     the process may run out of descriptors before reaching it"
                );
            }
            n
        }
        None => share.unwrap_or(DEFAULT_MAX_CONNECTIONS).clamp(64, DEFAULT_MAX_CONNECTIONS),
    };
    let cap = cap.clamp(1, Semaphore::MAX_PERMITS);
    tracing::info!(max_connections = cap, "connection cap");
    cap
}

/// Raises the soft limit on open files toward the hard one (as Go's runtime does: the
/// soft limit is often 1024, far below what a server needs) and returns it; `None`
/// where it cannot be read.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn raise_fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `getrlimit` writes only the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    // Linux refuses more than `fs.nr_open` (2^20 by default) and macOS more than its
    // per-process maximum, whatever the hard limit says: try smaller values then.
    for wanted in [limit.rlim_max, 1 << 20, 10_240] {
        if wanted <= limit.rlim_cur || wanted > limit.rlim_max {
            continue;
        }
        let raised = libc::rlimit { rlim_cur: wanted, rlim_max: limit.rlim_max };
        // SAFETY: `setrlimit` reads only the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = wanted;
            break;
        }
    }
    Some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn raise_fd_limit() -> Option<u64> {
    None
}

/// The file, inside the data directory, where first-start credentials are written.
pub const BOOTSTRAP_FILE: &str = "bootstrap.json";

/// An opened data directory, ready to serve.
pub struct Server {
    state: AppState,
    http: HttpLimits,
    /// What the first start created, with secrets; `None` on later starts.
    pub bootstrap: Option<Bootstrap>,
}

impl Server {
    /// The application this server serves: every route and its middleware, as
    /// [`Server::run`] serves it (in-process tests call it with `tower::ServiceExt`).
    pub fn app(&self) -> router::App {
        router::router_with_deadlines(self.state.clone(), self.http.deadlines)
    }

    /// Opens the data directory named by `config`.
    pub async fn open(config: &Config) -> Result<Server, ServeError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|source| ServeError::Io { context: format!("cannot create {}", dir.display()), source })?;
        // Every project's events and the control plane's secrets: the owner's alone,
        // however the directory was made.
        crate::files::make_private(dir)
            .map_err(|source| ServeError::Io { context: format!("cannot restrict {}", dir.display()), source })?;
        let metadata = match &config.metadata_url {
            Some(url) => Metadata::connect(&url.0).await?,
            None => Metadata::open(&dir.join("metadata.sqlite")).await?,
        };
        // Whether the control plane's connection is encrypted is worth one line: a
        // PostgreSQL URL without `sslmode=verify-full` may fall back to plain text.
        let encrypted = metadata.transport_encrypted().await.unwrap_or(false);
        tracing::info!(backend = metadata.backend().name(), encrypted, "control plane open");
        let bootstrap = metadata.bootstrap().await?;
        if let Some(b) = &bootstrap {
            write_bootstrap(dir, b)?;
        }
        let options = StoreOptions {
            memory_limit: config.duckdb_memory_limit.clone(),
            min_free_bytes: config.min_free_disk_mb.saturating_mul(1 << 20),
        };
        let events_dir = dir.to_path_buf();
        let store = tokio::task::spawn_blocking(move || DuckDbStore::open(&events_dir, &options))
            .await
            .map_err(|e| sextant_storage::StorageError::Unavailable(e.to_string()))??;
        let store = Arc::new(store);
        let stores = Stores { events: store.clone(), profiles: store.clone(), lookups: store.clone(), reports: store };
        let limiter = Limiter::new(config.rate_limits.clone());
        let mut state = AppState::new(
            metadata,
            stores,
            metrics::handle(),
            limiter,
            config.api_token_ttl_seconds,
            config.regions.clone(),
        );
        let geo_error = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |reason| ServeError::GeoIp { path, reason }
        };
        let mut geo = crate::geoip::Geo::default();
        if let Some(path) = &config.geoip_database {
            geo.addresses = Some(crate::geoip::MaxMind::open(path).map_err(geo_error(path))?);
        }
        if let Some(path) = &config.places_database {
            geo.places = Some(crate::geoip::open_places(path).map_err(geo_error(path))?);
        }
        if geo.addresses.is_some() || geo.places.is_some() {
            state.geo = Some(Arc::new(geo));
        }
        state.jql = sextant_jql::Limits {
            memory_bytes: usize::try_from(config.jql_memory_mb << 20).unwrap_or(usize::MAX),
            output_bytes: usize::try_from(config.jql_output_mb << 20).unwrap_or(usize::MAX),
            // Past the request's deadline the answer is a 503 anyway; without one, the
            // script still stops after the default.
            time: config.http.deadlines.jql.unwrap_or(crate::config::DEFAULT_JQL_DEADLINE),
        };
        let gdpr_dir = dir.join("gdpr");
        let gdpr = crate::gdpr_queue::GdprJobs::open(gdpr_dir.clone(), config.gdpr_archive_ttl_seconds)
            .map_err(|source| ServeError::Io { context: format!("cannot open {}", gdpr_dir.display()), source })?;
        state.gdpr = Arc::new(gdpr);
        let pipelines_dir = config.pipelines_dir.clone().unwrap_or_else(|| dir.join("pipelines"));
        state.pipelines = Arc::new(crate::pipeline_queue::PipelineRunner::new(
            pipelines_dir,
            config.pipeline_poll_seconds,
            config.pipeline_sync_seconds,
        ));
        let imports_dir = config.imports_dir.clone().unwrap_or_else(|| dir.join("imports"));
        let mut warehouse = crate::warehouse_queue::WarehouseRunner::new(imports_dir, config.warehouse_poll_seconds);
        warehouse.allowed_hosts = config.warehouse_hosts.clone();
        state.warehouse = Arc::new(warehouse);
        let backups_dir = config.backups_dir.clone().unwrap_or_else(|| dir.join("backups"));
        state.backups = Arc::new(crate::backup_queue::Backups::new(backups_dir, dir.clone()));
        let key = dir.join("secrets.key");
        let secrets = crate::secrets::SecretBox::open(&key)
            .map_err(|source| ServeError::Io { context: format!("cannot open {}", key.display()), source })?;
        state.secrets = Arc::new(secrets);
        state.dictionary = Arc::new(crate::dictionary::Dictionary::load(&state.metadata).await?);
        state.opt_outs = Arc::new(crate::opt_outs::OptOuts::load(&state.metadata).await?);
        state.limiter.load_project_limits(state.metadata.project_limits().await?);
        crate::lookup_repair::repair(&state.metadata, state.lookups.as_ref(), config.metadata_url.is_none()).await;
        Ok(Server { state, http: config.http, bootstrap })
    }

    /// Serves on `listeners` until `shutdown` resolves, then closes the store.
    ///
    /// On shutdown the listeners stop accepting, idle connections are closed, and the
    /// requests in flight are answered (a streaming export runs to its end) before the
    /// store is closed.
    pub async fn run(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let state = self.state.clone();
        let shutdown = shutdown.boxed().shared();
        let app = self.app();
        let serving = Serving::new(app, &self.http);
        let graceful = GracefulShutdown::new();
        let Listeners { http, https, connections, .. } = listeners;
        let served_http = serve_http(http, &serving, &connections, &graceful, shutdown.clone());
        let served_https = async {
            if let Some(listener) = https {
                serve_https(listener, &serving, &graceful, shutdown.clone()).await;
            }
        };
        let flushing = tokio::spawn(flush_dictionary(state.clone()));
        let rereading = tokio::spawn(reread_shared_settings(state.clone()));
        // Resumes the GDPR jobs a stopped server left unfinished, then takes new ones.
        let gdpr_jobs = tokio::spawn(crate::gdpr_jobs::run(state.clone()));
        // Writes the partitions running pipelines owe, resuming those a stop left.
        let pipeline_jobs = tokio::spawn(crate::pipeline_jobs::run(state.clone()));
        // Runs the warehouse imports due, going on from their watermarks after a stop.
        let warehouse_jobs = tokio::spawn(crate::warehouse_jobs::run(state.clone()));
        tokio::join!(served_http, served_https);
        graceful.shutdown().await;
        state.set_not_ready();
        flushing.abort();
        rereading.abort();
        gdpr_jobs.abort();
        pipeline_jobs.abort();
        warehouse_jobs.abort();
        state.dictionary.flush(&state.metadata).await;
        let closed = state.store.close().await;
        state.metadata.close().await;
        closed?;
        Ok(())
    }
}

/// Writes the Lexicon's counted type violations to the control plane now and then.
async fn flush_dictionary(state: AppState) {
    let mut every = tokio::time::interval(crate::dictionary::FLUSH_EVERY);
    loop {
        every.tick().await;
        state.dictionary.flush(&state.metadata).await;
    }
}

/// Reads the projects' own rate limits, their Lexicon schemas, their opt-out lists and
/// the versions of their feature flags again now and then, so
/// a change made through another server sharing the control plane, or by `sextant
/// project configure` on the control plane directly, applies here too (within
/// [`crate::state::TOKEN_TTL`], as a token's).
async fn reread_shared_settings(state: AppState) {
    let mut every = tokio::time::interval(crate::state::TOKEN_TTL);
    loop {
        every.tick().await;
        match state.metadata.project_limits().await {
            Ok(all) => state.limiter.load_project_limits(all),
            Err(e) => tracing::warn!(error = %e, "cannot read the projects' rate limits; keeping the last ones"),
        }
        if let Err(e) = state.dictionary.refresh(&state.metadata).await {
            tracing::warn!(error = %e, "cannot read the Lexicon schemas again; keeping the last ones");
        }
        if let Err(e) = state.opt_outs.refresh(&state.metadata).await {
            tracing::warn!(error = %e, "cannot read the opt-out lists again; keeping the last ones");
        }
        if let Err(e) = state.flags.refresh(&state.metadata).await {
            tracing::warn!(error = %e, "cannot read the feature flags' versions; keeping the flags read");
        }
    }
}

/// The shutdown signal, shared by the accept loops.
type ShutdownSignal = Shared<BoxFuture<'static, ()>>;

/// What every connection is served with.
struct Serving {
    app: router::App,
    http1: hyper::server::conn::http1::Builder,
    /// `Duration::MAX` when there is none.
    body_idle_timeout: Duration,
}

impl Serving {
    fn new(app: router::App, limits: &HttpLimits) -> Serving {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        Serving { app, http1, body_idle_timeout: limits.body_idle_timeout.unwrap_or(Duration::MAX) }
    }

    /// Serves one connection in its own task until it closes, then frees its permit.
    fn spawn<I>(
        &self,
        io: I,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
        graceful: &GracefulShutdown,
        scheme: crate::regions::Scheme,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // `ConnectInfo` as `into_make_service_with_connect_info` gives it (ingestion
        // reads the client's address from it), and each request body behind the idle
        // timeout.
        let app = AddExtension::new(AddExtension::new(self.app.clone(), ConnectInfo(peer)), scheme);
        let service = TowerToHyperService::new(RequestBodyTimeout::new(app, self.body_idle_timeout));
        let connection = graceful.watch(self.http1.serve_connection(TokioIo::new(io), service));
        ::metrics::gauge!("sextant_connections_open").increment(1.0);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Header read timeouts, clients gone mid-request, broken bodies.
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            ::metrics::gauge!("sextant_connections_open").decrement(1.0);
            drop(permit);
        });
    }
}

/// Accepts plain HTTP connections until `shutdown` resolves.
async fn serve_http(
    listener: TcpListener,
    serving: &Serving,
    connections: &Arc<Semaphore>,
    graceful: &GracefulShutdown,
    mut shutdown: ShutdownSignal,
) {
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(%error, "cannot accept an HTTP connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            refuse(stream, peer);
            continue;
        };
        let _ = stream.set_nodelay(true);
        serving.spawn(stream, peer, permit, graceful, crate::regions::Scheme { https: false });
    }
}

/// Takes handshaken HTTPS connections until `shutdown` resolves (the listener took
/// their permits).
async fn serve_https(
    mut listener: TlsListener,
    serving: &Serving,
    graceful: &GracefulShutdown,
    mut shutdown: ShutdownSignal,
) {
    loop {
        let (stream, peer, permit) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        serving.spawn(stream, peer, permit, graceful, crate::regions::Scheme { https: true });
    }
}

/// The body of the answer to a connection over the cap.
const REFUSED_BODY: &str = "too many open connections; retry later";

/// Answers a plain HTTP connection over the cap with `503` and closes it, without
/// waiting for anything: the socket is fresh, so its send buffer takes the short
/// answer at once. What the client already sent is read first, so that closing does
/// not reset the connection before the answer is read (best effort).
fn refuse(stream: TcpStream, peer: SocketAddr) {
    use std::io::{Read, Write};
    ::metrics::counter!("sextant_connections_refused_total", "listener" => "http").increment(1);
    tracing::debug!(%peer, "HTTP connection refused: too many open connections");
    // Off the runtime's reactor: a plain non-blocking socket.
    let Ok(stream) = stream.into_std() else { return };
    let mut scratch = [0u8; 4096];
    for _ in 0..4 {
        match (&stream).read(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{REFUSED_BODY}",
        REFUSED_BODY.len()
    );
    let _ = (&stream).write_all(answer.as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Writes the first-start credentials to `dir/bootstrap.json`, readable by the owner
/// only, whole or not at all.
fn write_bootstrap(dir: &Path, bootstrap: &Bootstrap) -> Result<(), ServeError> {
    let path = dir.join(BOOTSTRAP_FILE);
    let text = serde_json::to_string_pretty(bootstrap).unwrap_or_default();
    crate::files::write_atomically(&path, text.as_bytes(), 0o600)
        .map_err(|source| ServeError::Io { context: format!("cannot write {}", path.display()), source })
}
