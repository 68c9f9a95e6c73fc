//! Shared state handed to every handler.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use parking_lot::RwLock;
use sextant_metadata::Metadata;
use sextant_model::Project;
use sextant_storage::{EventStore, LookupStore, ProfileStore, ReportStore};

use crate::dictionary::Dictionary;
use crate::error::ApiError;
use crate::flag_book::FlagBook;
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
    /// The Lexicon's declarations as ingestion applies them.
    pub dictionary: Arc<Dictionary>,
    /// Each project's enabled feature flags, compiled, and their definitions' body.
    pub flags: Arc<FlagBook>,
    /// Where GDPR archives go, and the GDPR job runner's wake-up call.
    pub gdpr: Arc<crate::gdpr_queue::GdprJobs>,
    /// Where pipelines write, and the pipeline runner's wake-up call.
    pub pipelines: Arc<crate::pipeline_queue::PipelineRunner>,
    /// Where `files` warehouse sources are, and the import runner's wake-up call.
    pub warehouse: Arc<crate::warehouse_queue::WarehouseRunner>,
    /// Where online backups go, and whether one runs.
    pub backups: Arc<crate::backup_queue::Backups>,
    /// Seals the secrets the control plane keeps (a pipeline's S3 secret key).
    pub secrets: Arc<crate::secrets::SecretBox>,
    /// The ids whose events and profile updates ingestion drops.
    pub opt_outs: Arc<crate::opt_outs::OptOuts>,
    ready: Arc<AtomicBool>,
    /// Projects by public token, and tokens known to match none (see [`TOKEN_TTL`]).
    projects_by_token: Arc<RwLock<HashMap<String, TokenLookup>>>,
    /// Held while a lookup table is replaced, from the row cap's check to the control
    /// plane's update (replaces are rare: 100 a day per project by default).
    pub lookup_replaces: Arc<tokio::sync::Mutex<()>>,
    /// A JQL script's budget (`jql_memory_mb`, `jql_output_mb`, the JQL deadline).
    pub jql: sextant_jql::Limits,
}

/// A public token's project (`None`: no project has it), and when it was read.
type TokenLookup = (Option<Project>, Instant);

/// How long a project looked up by its public token is used before it is read again,
/// so that `sextant project configure` reaches a running server within this time.
pub const TOKEN_TTL: Duration = Duration::from_secs(10);

/// How long a token that matches no project is remembered as unknown: a flood of events
/// with made-up tokens then costs a map lookup each, not a control-plane query each. A
/// project created by the CLI is seen at once unless its token was tried just before.
pub const UNKNOWN_TOKEN_TTL: Duration = Duration::from_secs(5);

/// Tokens remembered at most; past it the cache starts again empty.
const MAX_CACHED_TOKENS: usize = 100_000;

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
            dictionary: Arc::default(),
            flags: Arc::default(),
            gdpr: Arc::default(),
            pipelines: Arc::default(),
            warehouse: Arc::default(),
            backups: Arc::default(),
            secrets: Arc::default(),
            opt_outs: Arc::default(),
            ready: Arc::new(AtomicBool::new(true)),
            projects_by_token: Arc::default(),
            lookup_replaces: Arc::default(),
            jql: sextant_jql::Limits::default(),
        }
    }

    /// The project whose public token this is.
    pub async fn project_by_token(&self, token: &str) -> Result<Option<Project>, ApiError> {
        let now = Instant::now();
        if let Some((found, at)) = self.projects_by_token.read().get(token) {
            let ttl = if found.is_some() { TOKEN_TTL } else { UNKNOWN_TOKEN_TTL };
            if now.duration_since(*at) < ttl {
                return Ok(found.clone());
            }
        }
        let found = self.metadata.project_by_token(token).await?;
        let mut cache = self.projects_by_token.write();
        if cache.len() >= MAX_CACHED_TOKENS {
            cache.clear();
        }
        cache.insert(token.to_string(), (found.clone(), now));
        Ok(found)
    }

    /// Forgets what the cache holds for a public token, so a project's change (or its
    /// deletion) is seen by the next request that presents it, not after [`TOKEN_TTL`].
    /// (Other servers sharing the control plane see it within [`TOKEN_TTL`].)
    pub fn forget_token(&self, token: &str) {
        self.projects_by_token.write().remove(token);
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
