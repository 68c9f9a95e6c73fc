//! The control plane: organisations, projects, service accounts and their roles, API
//! tokens, and the saved objects (cohorts, funnels, reports, lookup-table mappings).
//!
//! Kept apart from the event store, in SQLite (a file in the data directory) or in
//! PostgreSQL (one database several servers share), through sqlx's `Any` driver: every
//! query is one SQL string that runs on both ([`backend`] gives the rules).
//! Secrets (project secrets, service-account secrets) are stored only as SHA-256
//! hashes: they are random 128-bit values, so a fast hash is enough, and each is shown
//! once, when it is created.
//!
//! # Layout
//! - `store`: [`Metadata`], the store and its operations on organisations and service
//!   accounts.
//! - `projects`: projects: creating (with the default workspace), settings, rate-limit
//!   overrides, deleting ([`NewProject`]).
//! - `workspaces`: a project's workspaces (Mixpanel's data views) and their members.
//! - `annotations`: dated notes on the charts, and their tags ([`AnnotationInfo`]).
//! - `audit`: the columns every saved object has (created, modified, creator).
//! - [`backend`]: which database, connecting, and the migrations of each.
//! - `tokens`: personal API tokens: creating, listing, revoking, checking.
//! - `bookmarks`: saved reports ([`BookmarkInfo`]).
//! - `cohorts`: saved cohort definitions ([`CohortInfo`]).
//! - `funnels`: saved funnel definitions ([`FunnelInfo`]).
//! - `flags`: feature flags and each project's flag version ([`FlagInfo`]).
//! - `experiments`: experiments, their status, start and end ([`ExperimentInfo`]).
//! - `gdpr`: GDPR and CCPA jobs: the queue, each job's progress and its audit record
//!   ([`GdprJob`]).
//! - `pipelines`: data pipelines, the partitions each owes and its publication history
//!   ([`Pipeline`], [`PipelineTask`]).
//! - `warehouse`: warehouse connectors: sources, imports, their watermarks and runs
//!   ([`WarehouseImport`]).
//! - `lexicon`: Lexicon schemas and the counts of values that broke their declared
//!   types ([`LexiconScope`]).
//! - `org_accounts`: an organisation's service accounts, managed by its owners and
//!   admins ([`OrgAuth`]).
//! - `lookup_tables`: ids, names, shapes and property mappings ([`LookupTableInfo`]).
//! - [`secrets`]: generation and hashing of tokens and secrets.
//! - [`MetadataError`]: failures, mapped to [`sextant_model::ErrorCode`].
//! - `testsupport` (feature `testsupport`): a throwaway PostgreSQL cluster for tests.

mod annotations;
mod audit;
pub mod backend;
mod bookmarks;
mod cohorts;
mod experiments;
mod flags;
mod funnels;
mod gdpr;
mod lexicon;
mod lookup_tables;
mod org_accounts;
mod pipelines;
mod projects;
pub mod secrets;
mod store;
#[cfg(feature = "testsupport")]
pub mod testsupport;
mod tokens;
mod warehouse;
mod workspaces;

pub use annotations::{
    AnnotationChanges, AnnotationInfo, AnnotationTag, MAX_ANNOTATIONS_LISTED, MAX_DESCRIPTION_CHARS, canonical_date,
};
pub use backend::Backend;
pub use bookmarks::BookmarkInfo;
pub use cohorts::{CohortChanges, CohortInfo};
pub use experiments::{ExperimentInfo, MAX_EXPERIMENTS};
pub use flags::{FlagInfo, MAX_FLAGS};
pub use funnels::{FunnelChanges, FunnelInfo};
pub use gdpr::GdprJob;
pub use lexicon::{LexiconScope, LexiconWrite};
pub use lookup_tables::{LookupMapping, LookupTableChanges, LookupTableInfo, MAPPING_TARGETS};
pub use org_accounts::OrgAuth;
pub use pipelines::{Pipeline, PipelineTask, TaskDone};
pub use projects::NewProject;
pub use store::{Bootstrap, Metadata, NewServiceAccount, ServiceAccountAuth, ServiceAccountInfo};
pub use tokens::{ApiTokenAuth, ApiTokenInfo, NewApiToken, TOKEN_PREFIX};
pub use warehouse::{ImportRun, WarehouseImport, WarehouseSource};

use sextant_model::ErrorCode;

/// A control-plane failure.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The input is not acceptable (an unknown timezone, an empty name).
    #[error("{0}")]
    Invalid(String),
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with what is stored (a property already mapped elsewhere).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("metadata database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("metadata migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl MetadataError {
    /// The client-facing code.
    pub fn code(&self) -> ErrorCode {
        match self {
            MetadataError::Invalid(_) => ErrorCode::InvalidRequest,
            MetadataError::NotFound(_) => ErrorCode::NotFound,
            MetadataError::Conflict(_) => ErrorCode::Conflict,
            // The database could not be reached (a PostgreSQL server down or
            // unreachable, its TLS failing): a dependency's failure, worth a retry.
            MetadataError::Database(sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed) => {
                ErrorCode::Upstream
            }
            // Every connection busy for the pool's whole timeout: contention, not a
            // failure; retry.
            MetadataError::Database(sqlx::Error::PoolTimedOut) => ErrorCode::Unavailable,
            MetadataError::Database(_) | MetadataError::Migration(_) => ErrorCode::Internal,
        }
    }
}

/// Result alias for control-plane calls.
pub type Result<T, E = MetadataError> = std::result::Result<T, E>;
