//! `sextant-client`: a typed, retrying client for Sextant's HTTP APIs (and the parts of
//! Mixpanel's they share).
//!
//! One [`Client`] per server and credential; a sub-client per API family, named after
//! it:
//!
//! ```no_run
//! # async fn f() -> Result<(), sextant_client::Error> {
//! use sextant_client::Client;
//!
//! let client = Client::builder()
//!     .base_url("http://127.0.0.1:8080")
//!     .project_secret("the project's API secret")
//!     .build()?;
//! let event = serde_json::json!({"event": "Signed up", "properties": {
//!     "time": 1_700_000_000, "distinct_id": "u1", "$insert_id": "5d1e0f"}});
//! client.ingestion().import(&[event]).await?;
//! # Ok(()) }
//! ```
//!
//! Requests and answers are the server's own types, from [`api`] (`sextant-api`):
//! there is no second copy of a wire struct to fall behind.
//!
//! Modules:
//! - [`builder`]: [`ClientBuilder`], the base URL or region, credential, timeouts, user
//!   agent, extra root certificates and retry policy.
//! - [`credential`]: [`Credential`], each kind the server accepts and how it is sent.
//! - [`retry`]: [`RetryPolicy`]: what is retried (429 always, honouring
//!   `Retry-After`; 5xx only when idempotent; other 4xx never) and the backoff.
//! - [`error`]: [`Error`] and [`ApiError`]: status, code, message, request id, and a
//!   [`hint`](Error::hint) for the usual refusals.
//! - [`ingestion`]: `/import`, `/track`, `/engage`, `/groups`.
//! - [`export`]: raw export as a stream of events.
//! - [`query`]: the Query API's reports, the engage query (paged as a stream) and JQL.
//! - [`gdpr`]: GDPR and CCPA retrievals and deletions.
//! - [`backups`]: online backups of the whole server.
//! - `transport` (private): one call and its retry loop.

pub mod backups;
pub mod builder;
pub mod credential;
pub mod error;
pub mod export;
pub mod gdpr;
pub mod ingestion;
pub mod query;
pub mod retry;
mod transport;

use std::sync::Arc;

use reqwest::Method;

pub use builder::ClientBuilder;
pub use credential::Credential;
pub use error::{ApiError, Error};
pub use retry::RetryPolicy;
/// The wire types the server and this client share.
pub use sextant_api as api;

use transport::{Call, Transport};

/// A client of one server, as one credential. Cheap to clone (the connection pool is
/// shared).
#[derive(Clone, Debug)]
pub struct Client {
    transport: Arc<Transport>,
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The ingestion family.
    pub fn ingestion(&self) -> ingestion::Ingestion<'_> {
        ingestion::Ingestion { transport: &self.transport }
    }

    /// Raw export.
    pub fn export(&self) -> export::Export<'_> {
        export::Export { transport: &self.transport }
    }

    /// The Query API.
    pub fn query(&self) -> query::Query<'_> {
        query::Query { transport: &self.transport }
    }

    /// GDPR and CCPA jobs for the project whose token is `project_token`.
    pub fn gdpr(&self, project_token: impl Into<String>) -> gdpr::Gdpr<'_> {
        gdpr::Gdpr { transport: &self.transport, token: project_token.into() }
    }

    /// Online backups, through the first organization (`organization_id`).
    pub fn backups(&self, organization_id: i64) -> backups::Backups<'_> {
        backups::Backups { transport: &self.transport, organization_id }
    }

    /// `GET /healthz`: whether the server is up (`ok`).
    pub async fn health(&self) -> Result<api::health::Health, Error> {
        self.transport.json(&Call::new(Method::GET, "/healthz", &())?).await
    }

    /// The credential the calls present.
    pub fn credential(&self) -> &Credential {
        &self.transport.credential
    }
}
