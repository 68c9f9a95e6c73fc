//! Shared state handed to every handler.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_exporter_prometheus::PrometheusHandle;
use parking_lot::RwLock;
use sextant_metadata::Metadata;
use sextant_model::Project;
use sextant_storage::{EventStore, LookupStore, ProfileStore, ReportStore};

use crate::error::ApiError;
use crate::limits::Limiter;
use crate::regions::RegionHosts;

/// What handlers share: the control plane, the event and profile stores, and a token cache.
#[derive(Clone)]
pub struct AppState {
    /// The control plane.
    pub metadata: Metadata,
    /// The event store.
    pub store: Arc<dyn EventStore>,
    /// The profile store (the same database as events in the embedded backend).
    pub profiles: Arc<dyn ProfileStore>,
    /// Lookup-table rows (the same database again in the embedded backend).
    pub lookups: Arc<dyn LookupStore>,
    /// Report counts over events.
    pub reports: Arc<dyn ReportStore>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Rate and concurrency limits.
    pub limiter: Arc<Limiter>,
    /// Default lifetime of a personal API token, in seconds.
    pub api_token_ttl_seconds: u64,
    /// Which hosts serve which region.
    pub regions: Arc<RegionHosts>,
    /// The geolocation database, when one is configured.
    pub geo: Option<Arc<dyn sextant_ingest::geo::Geolocate>>,
    ready: Arc<AtomicBool>,
    /// Projects by public token. Projects are never deleted today, so a hit stays valid;
    /// a miss always asks the control plane, so a project created by the CLI is seen at once.
    projects_by_token: Arc<RwLock<HashMap<String, Project>>>,
}

/// The data stores behind the storage boundary; one backend may serve all three.
pub struct Stores {
    /// Events.
    pub events: Arc<dyn EventStore>,
    /// User and group profiles.
    pub profiles: Arc<dyn ProfileStore>,
    /// Lookup-table rows.
    pub lookups: Arc<dyn LookupStore>,
    /// Reports.
    pub reports: Arc<dyn ReportStore>,
}

impl AppState {
    /// State over an opened control plane and stores.
    pub fn new(
        metadata: Metadata,
        stores: Stores,
        metrics: PrometheusHandle,
        limiter: Limiter,
        api_token_ttl_seconds: u64,
        regions: RegionHosts,
    ) -> Self {
        AppState {
            metadata,
            store: stores.events,
            profiles: stores.profiles,
            lookups: stores.lookups,
            reports: stores.reports,
            metrics,
            limiter: Arc::new(limiter),
            api_token_ttl_seconds,
            regions: Arc::new(regions),
            geo: None,
            ready: Arc::new(AtomicBool::new(true)),
            projects_by_token: Arc::default(),
        }
    }

    /// The project whose public token this is.
    pub async fn project_by_token(&self, token: &str) -> Result<Option<Project>, ApiError> {
        if let Some(p) = self.projects_by_token.read().get(token) {
            return Ok(Some(p.clone()));
        }
        let found = self.metadata.project_by_token(token).await?;
        if let Some(p) = &found {
            self.projects_by_token.write().insert(token.to_string(), p.clone());
        }
        Ok(found)
    }

    /// Whether the store is open and accepting requests.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks the server as shutting down (`/readyz` answers 503 from then on).
    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::Release);
    }
}
