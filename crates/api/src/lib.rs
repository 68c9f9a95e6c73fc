//! The wire types Sextant's server answers with and its clients read: one definition
//! for both sides, so a client cannot drift from the server (and the OpenAPI document,
//! which names these types, cannot drift from either).
//!
//! - [`backups`]: online backups: the request, a backup's state, its manifest.
//! - [`envelope`]: the App API's envelopes, one object or a page of a collection.
//! - [`errors`]: the error bodies of each API family, and the string enums of error
//!   codes and API families.
//! - [`ingestion`]: what the SDKs send to `/track`, `/import`, `/engage` and `/groups`,
//!   and the answers they read back.
//! - [`query`]: the parameters of the Query API's reports, export and JQL, and the
//!   engage query's pages.
//! - [`gdpr`]: GDPR and CCPA jobs: the request, the ids it answers, each kind's status.
//! - [`health`]: the health answers.
//!
//! A leaf above `sextant-model`: it knows no handler, store or client.

pub mod backups;
pub mod envelope;
pub mod errors;
pub mod gdpr;
pub mod health;
pub mod ingestion;
pub mod query;
