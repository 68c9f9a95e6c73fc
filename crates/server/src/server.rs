//! Opening the data directory and running the HTTP server.
//!
//! [`Server::open`] opens the control plane and the event store (creating the first
//! organisation, project and owner service account in an empty directory), and
//! [`Server::run`] serves until the shutdown future resolves, then closes the store so
//! that its write-ahead log is checkpointed.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::ServiceExt;
use axum::serve::ListenerExt;
use futures::FutureExt;

use sextant_metadata::{Bootstrap, Metadata};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};
use tokio::net::TcpListener;

use crate::config::Config;
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
}

impl Listeners {
    /// Binds the addresses `config` names (port 0 picks a free port) and prepares TLS.
    pub async fn bind(config: &Config) -> Result<Listeners, ServeError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Io { context: format!("cannot listen on {addr}"), source })
        };
        let http = bind(config.listen).await?;
        let (https, ca_certificate) = match &config.tls {
            None => (None, None),
            Some(tls_config) => {
                let prepared = tls::prepare(&tls_config.settings, &config.data_dir)?;
                let tcp = bind(tls_config.listen).await?;
                let listener = TlsListener::new(tcp, prepared.server_config)
                    .map_err(|source| ServeError::Io { context: "cannot start the HTTPS listener".into(), source })?;
                (Some(listener), prepared.ca_certificate)
            }
        };
        Ok(Listeners { http, https, ca_certificate })
    }
}

/// The file, inside the data directory, where first-start credentials are written.
pub const BOOTSTRAP_FILE: &str = "bootstrap.json";

/// An opened data directory, ready to serve.
pub struct Server {
    state: AppState,
    /// What the first start created, with secrets; `None` on later starts.
    pub bootstrap: Option<Bootstrap>,
}

impl Server {
    /// Opens the data directory named by `config`.
    pub async fn open(config: &Config) -> Result<Server, ServeError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|source| ServeError::Io { context: format!("cannot create {}", dir.display()), source })?;
        let metadata = Metadata::open(&dir.join("metadata.sqlite")).await?;
        let bootstrap = metadata.bootstrap().await?;
        if let Some(b) = &bootstrap {
            write_bootstrap(dir, b)?;
        }
        let options = StoreOptions { memory_limit: config.duckdb_memory_limit.clone() };
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
        Ok(Server { state, bootstrap })
    }

    /// Serves on `listeners` until `shutdown` resolves, then closes the store.
    pub async fn run(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let state = self.state.clone();
        let shutdown = shutdown.boxed().shared();
        let app = router::router(self.state.clone());
        let make_service =
            || ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(app.clone());
        let http = axum::serve(listeners.http, make_service()).with_graceful_shutdown(shutdown.clone());
        let https = async {
            match listeners.https {
                // `tap_io` gives the listener axum's SocketAddr connect info.
                Some(listener) => {
                    axum::serve(listener.tap_io(|_| {}), make_service()).with_graceful_shutdown(shutdown).await
                }
                None => Ok(()),
            }
        };
        let (served_http, served_https) = tokio::join!(http.into_future(), https);
        state.set_not_ready();
        let closed = state.store.close().await;
        state.metadata.close().await;
        served_http.and(served_https).map_err(|source| ServeError::Io { context: "server failed".into(), source })?;
        closed?;
        Ok(())
    }
}

/// Writes the first-start credentials to `dir/bootstrap.json`, readable by the owner only.
fn write_bootstrap(dir: &Path, bootstrap: &Bootstrap) -> Result<(), ServeError> {
    use std::io::Write;
    let path = dir.join(BOOTSTRAP_FILE);
    let io = |source| ServeError::Io { context: format!("cannot write {}", path.display()), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io)?;
    let text = serde_json::to_string_pretty(bootstrap).unwrap_or_default();
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}
