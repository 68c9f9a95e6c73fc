//! The Sextant HTTP server: Mixpanel's APIs over the event store and control plane.
//!
//! Handlers are thin: they read parameters, authenticate, call the ingestion pipeline
//! or the store, and render the answer in the API family's own shape.
//!
//! # Layout
//! Handler modules (one per API surface; none imports another, and what two of them
//! share lives in a module of the second list or in `sextant_query`):
//! - [`ingest`]: ingestion, `/track`, `/import`, `/engage`, `/groups`.
//! - [`export`]: raw export, `/api/2.0/export`.
//! - [`cohorts`]: saved cohorts and their list with counts.
//! - [`events`]: the events reports (`/api/query/events`, `/events/top`, ...).
//! - [`funnels`]: saved funnels, `/api/query/funnels` and `/funnels/list`.
//! - [`insights`]: saved reports and `/api/query/insights`.
//! - [`jql`]: `/api/query/jql`, running JQL scripts (`sextant_jql`).
//! - [`engage`]: the engage query (`/api/query/engage`, `/api/2.0/engage`).
//! - [`lookup_tables`]: lookup tables (`/lookup-tables`) and their App API.
//! - [`retention`]: `/api/query/retention` and `/retention/addiction`.
//! - [`segmentation`]: the segmentation report (`/api/query/segmentation`).
//! - [`stream`]: the activity feed (`/api/query/stream/query`).
//! - [`app`]: the App API's personal API tokens.
//! - [`service_accounts`]: service accounts, of a project and of an organisation.
//! - [`annotations`]: annotations and their tags (`/api/app/projects/{id}/annotations`).
//! - [`lexicon`]: Lexicon schemas (`/api/app/projects/{id}/schemas`).
//! - [`flags`]: feature flags as the SDKs read them (`/flags`, `/flags/definitions`).
//! - [`gdpr`]: GDPR and CCPA retrievals and deletions (`/api/app/data-retrievals/v3.0`,
//!   `/api/app/data-deletions/v3.0`).
//! - [`pipelines`]: data pipelines (`/api/2.0/nessie/pipeline/...`).
//! - [`experiments`]: experiments and their lifecycle
//!   (`/api/app/workspaces/{id}/experiments`).
//! - [`feature_flags`]: feature-flag management
//!   (`/api/app/projects/{id}/workspaces/{id}/feature-flags`).
//! - [`projects`]: projects (`/api/app/organizations/{id}/projects`, `/api/app/projects/{id}`).
//! - [`backups`]: online backups of the whole server (`/api/app/organizations/{id}/backups`).
//! - [`workspaces`]: workspaces, Mixpanel's data views (`/api/app/projects/{id}/workspaces`).
//! - [`warehouse_sources`]: warehouse sources, PostgreSQL or files
//!   (`/api/app/projects/{id}/warehouse-sources`, Sextant's own).
//! - [`warehouse_imports`]: warehouse imports, Mixpanel's connectors
//!   (`/api/app/projects/{id}/warehouse-sources/imports`).
//! - [`health`]: liveness and metrics, `/healthz`, `/readyz`, `/metrics`.
//!
//! What handlers share, and the server around them:
//! - [`config`]: the one configuration struct and how it is loaded.
//! - [`server`]: opening the data directory and serving.
//! - [`files`]: private, atomically written files in the data directory.
//! - [`router`]: every route and the middleware around them.
//! - [`state`]: what handlers share.
//! - [`auth`]: every credential form Mixpanel's clients use.
//! - [`endpoints`]: every endpoint and the access it takes (with the matrix, the one
//!   table of who may call what).
//! - [`error`]: client-facing errors and their HTTP mapping.
//! - `resource`: the App API's one list/get/create/update/delete pattern for saved
//!   objects, which cohorts, funnels, saved reports, lookup tables and annotations
//!   implement.
//! - [`extract`]: typed extractors (a reading request of the Query API, export or JQL; a
//!   feature-flag request).
//! - [`body`]: reading a request body under a size limit, compressed or not.
//! - [`audit`]: how App API views show times, the audit fields of saved objects, and
//!   `expand=creator`.
//! - [`admin`]: what every App API handler does first (authenticating, the body, pages).
//! - [`collection`]: App API collections: newest first, cursors, a `fields` projection.
//! - [`reports`]: what report handlers share (expression settings, the answer, the
//!   funnel and retention scans).
//! - [`lookup_join`]: joining lookup tables into a request's expressions.
//! - [`lookup_repair`]: at start, lookup tables' recorded sizes made to agree with their
//!   rows (a crash between a replace's or a delete's two writes).
//! - [`event_lines`]: one stored event as a line of raw export.
//! - [`limits`]: rate and concurrency limits per project and API family.
//! - [`flag_view`]: how the App API shows a feature flag (flags and experiments alike).
//! - [`flag_book`]: each project's enabled flags, compiled, and their definitions' body.
//! - [`backup_jobs`]: taking a backup: the control plane, the event store's snapshot and
//!   the server's secrets, with a manifest.
//! - [`backup_queue`]: what that work shares with the handlers: where backups go, each
//!   one's state, the one running slot.
//! - [`gdpr_jobs`]: the background runner of GDPR jobs.
//! - [`gdpr_queue`]: what that runner shares with the handlers: where archives go, this
//!   server's id in the job queue, the runner's wake-up call.
//! - [`pipeline_jobs`]: the background runner of data pipelines: each partition owed,
//!   written once, and written again on a sync.
//! - [`pipeline_queue`]: what that runner shares with the handlers: where pipelines
//!   write, how often it looks, its wake-up call.
//! - [`pipeline_tables`]: a schematized pipeline's tables for a partition, as Parquet or
//!   JSON lines, typed by the kinds the store has seen.
//! - [`pipeline_store`]: where a pipeline's files are published: a directory, or an S3
//!   bucket through `object_store`.
//! - [`secrets`]: secrets the control plane keeps, sealed under the server's key.
//! - [`warehouse_jobs`]: the background runner of warehouse imports: each import due,
//!   its rows taken through ingestion, its watermark moved on.
//! - [`warehouse_read`]: reading a warehouse source's rows (PostgreSQL, Parquet, CSV)
//!   in watermark order, a batch at a time.
//! - [`warehouse_queue`]: what that runner shares with the handlers: where `files`
//!   sources are, how often it looks, its wake-up call.
//! - [`ingest_steps`]: the steps every event and profile update takes into the store
//!   (opt-outs, the Lexicon's drops, identity, the ingestion limit), for the `ingest`
//!   handlers and for records made inside the server (warehouse imports, exposures).
//! - [`opt_outs`]: the ids whose events and profile updates ingestion drops.
//! - [`dictionary`]: the Lexicon's declarations as ingestion applies them (dropped
//!   events and properties, type violations counted).
//! - [`regions`]: data residency: which host names serve which region.
//! - [`geoip`]: the MaxMind database that places events and profiles by IP address.
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`openapi`]: the server's own OpenAPI document (the wire types it names, SDK
//!   request bodies, ingestion's answers, error bodies and report parameters, are
//!   `sextant_api`'s, shared with the clients).
//! - [`tls`]: the HTTPS listener and the self-signed mode.

pub mod admin;
pub mod annotations;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup_jobs;
pub mod backup_queue;
pub mod backups;
pub mod body;
pub mod cohorts;
pub mod collection;
pub mod config;
pub mod dictionary;
pub mod endpoints;
pub mod engage;
pub mod error;
pub mod event_lines;
pub mod events;
pub mod experiments;
pub mod export;
pub mod extract;
pub mod feature_flags;
pub mod files;
pub mod flag_book;
pub mod flag_view;
pub mod flags;
pub mod funnels;
pub mod gdpr;
pub mod gdpr_jobs;
pub mod gdpr_queue;
pub mod geoip;
pub mod health;
pub mod ingest;
pub mod ingest_steps;
pub mod insights;
pub mod jql;
pub mod lexicon;
pub mod limits;
pub mod lookup_join;
pub mod lookup_repair;
pub mod lookup_tables;
pub mod metrics;
pub mod openapi;
pub mod opt_outs;
pub mod pipeline_jobs;
pub mod pipeline_queue;
pub mod pipeline_store;
pub mod pipeline_tables;
pub mod pipelines;
pub mod projects;
pub mod regions;
pub mod reports;
mod resource;
pub mod retention;
pub mod router;
pub mod secrets;
pub mod segmentation;
pub mod server;
pub mod service_accounts;
pub mod state;
pub mod stream;
pub mod tls;
pub mod warehouse_imports;
pub mod warehouse_jobs;
pub mod warehouse_queue;
pub mod warehouse_read;
pub mod warehouse_sources;
pub mod workspaces;

pub use config::{Config, ConfigOverrides, LogFormat};
pub use server::{BOOTSTRAP_FILE, Listeners, ServeError, Server};
