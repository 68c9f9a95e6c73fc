//! The Sextant HTTP server: Mixpanel's APIs over the event store and control plane.
//!
//! Handlers are thin: they read parameters, authenticate, call the ingestion pipeline
//! or the store, and render the answer in the API family's own shape.
//!
//! # Layout
//! - [`config`]: the one configuration struct and how it is loaded.
//! - [`server`]: opening the data directory and serving.
//! - [`files`]: private, atomically written files in the data directory.
//! - [`router`]: every route and the middleware around them.
//! - [`state`]: what handlers share.
//! - [`auth`]: every credential form Mixpanel's clients use.
//! - [`error`]: client-facing errors and their HTTP mapping.
//! - [`extract`]: typed extractors (a reading request of the Query API or export).
//! - [`ingest`]: ingestion, `/track`, `/import`, `/engage`, `/groups`.
//! - [`export`]: raw export, `/api/2.0/export`.
//! - [`cohorts`]: saved cohorts, their list with counts, and their definitions as queries.
//! - [`events`]: the events reports (`/api/query/events`, `/events/top`, ...).
//! - [`funnels`]: saved funnels, `/api/query/funnels` and `/funnels/list`.
//! - [`geoip`]: the MaxMind database that places events and profiles by IP address.
//! - [`insights`]: saved reports and `/api/query/insights`.
//! - [`engage`]: the engage query (`/api/query/engage`, `/api/2.0/engage`).
//! - [`lookup_tables`]: lookup tables (`/lookup-tables`), their App API, and joining
//!   them into expressions.
//! - [`reports`]: what every report handler does first (parameters, reader auth).
//! - [`retention`]: `/api/query/retention` and `/retention/addiction`.
//! - [`segmentation`]: the segmentation report (`/api/query/segmentation`).
//! - [`stream`]: the activity feed (`/api/query/stream/query`).
//! - [`health`]: liveness and metrics, `/healthz`, `/readyz`, `/metrics`.
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`openapi`]: the server's own OpenAPI document.
//! - [`tls`]: the HTTPS listener and the self-signed mode.

pub mod app;
pub mod auth;
pub mod cohorts;
pub mod collection;
pub mod config;
pub mod engage;
pub mod error;
pub mod events;
pub mod export;
pub mod extract;
pub mod files;
pub mod funnels;
pub mod geoip;
pub mod health;
pub mod ingest;
pub mod insights;
pub mod limits;
pub mod lookup_tables;
pub mod metrics;
pub mod openapi;
pub mod regions;
pub mod reports;
pub mod retention;
pub mod router;
pub mod segmentation;
pub mod server;
pub mod state;
pub mod stream;
pub mod tls;

pub use config::{Config, ConfigOverrides, LogFormat};
pub use server::{BOOTSTRAP_FILE, Listeners, ServeError, Server};
