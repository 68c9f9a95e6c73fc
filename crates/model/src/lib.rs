//! Domain types shared by every Sextant crate.
//!
//! This crate owns the vocabulary of the system: identifiers, projects and roles,
//! the normalised event record that ingestion hands to storage, ingestion limits,
//! and the closed list of error codes that every crate's errors map onto.
//! It performs no I/O and has no async code, so every layer can depend on it.
//!
//! # Layout
//! - [`audit`]: who made a saved object, and when it was made and last changed.
//! - [`access`]: the role and credential matrix (who may do what), and the bounds on
//!   what an API token may pass on to the tokens it creates.
//! - [`identity`]: identity clusters and the operations that join them.
//! - [`ids`]: newtypes for project, organisation and service-account ids.
//! - [`project`]: projects, identity-merge modes and service-account roles.
//! - [`event`]: the normalised event row, as stored and as read back.
//! - [`profile`]: user and group profile updates and what each operation does.
//! - [`limits`]: ingestion limits (records per request, sizes, property counts).
//! - [`cohort`]: cohort definitions (a `where` and behaviours).
//! - [`funnel`]: saved funnel definitions (steps, window, ordering).
//! - [`gdpr`]: GDPR and CCPA retrieval and deletion jobs: requests and states.
//! - [`form`]: form fields read into values, each problem named by its field.
//! - [`pipeline`]: data pipelines: create and edit requests, names, the partitions owed.
//! - [`pipeline_bucket`]: the S3 bucket an `s3-raw` or `aws` pipeline writes to.
//! - [`warehouse`]: warehouse connectors: sources, imports, and a source's row as an
//!   event or a profile update.
//! - [`lexicon`]: Lexicon schemas (the data dictionary): what a schema may say, and
//!   what its declarations make ingestion do.
//! - [`rate_limits`]: what each API family may take in a project: Mixpanel's defaults
//!   and how a project's overrides layer over them.
//! - [`error_code`]: the closed list of error codes.
//! - [`family`]: the API families (endpoints sharing a rate limit; an API token's scope).
//! - [`workspace`]: workspaces (Mixpanel's data views): what a project's readers see
//!   through one, and what a request may say about one.
//! - [`page`]: cursor pagination of the collections Sextant owns.
//! - [`time`]: epoch conversions and calendar-day helpers.

pub mod access;
pub mod audit;
pub mod cohort;
pub mod error_code;
pub mod event;
pub mod family;
pub mod form;
pub mod funnel;
pub mod gdpr;
pub mod identity;
pub mod ids;
pub mod lexicon;
pub mod limits;
pub mod page;
pub mod pipeline;
pub mod pipeline_bucket;
pub mod profile;
pub mod project;
pub mod rate_limits;
pub mod time;
pub mod warehouse;
pub mod workspace;

pub use audit::{Actor, ActorKind, Audit};
pub use cohort::{Behavior, CohortDefinition, EventSelector};
pub use error_code::ErrorCode;
pub use event::{EventRow, StoredEvent};
pub use family::ApiFamily;
pub use funnel::{FunnelDefinition, FunnelOrder, FunnelStep, LengthUnit};
pub use identity::{Clusters, IdentityEdge, IdentityOp};
pub use ids::{ApiTokenId, CohortId, OrgId, ProjectId, ServiceAccountId};
pub use page::{Cursor, Page, PageRequest, PageStart};
pub use profile::{ProfileKey, ProfileOp, ProfileUpdate, Properties};
pub use project::{IdentityMode, Project, ProjectChanges, Region, Role};
