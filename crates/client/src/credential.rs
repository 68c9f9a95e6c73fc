//! The credentials a client can present, and how each is put on a request.

use std::fmt;

/// Who the client is. Every kind Sextant accepts:
///
/// | credential | sent as | families |
/// |---|---|---|
/// | [`Credential::ServiceAccount`] | HTTP Basic `username:secret`, and `project_id` in the query string | all |
/// | [`Credential::ProjectSecret`] | HTTP Basic `secret:` | ingestion, Query API, export |
/// | [`Credential::ApiToken`] | `Authorization: Bearer sx_...` | those the token is scoped to |
/// | [`Credential::ProjectToken`] | `token` in each `/track` event, `$token` in each profile update | `/track`, `/engage`, `/groups` |
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A service account, for one of its projects.
    ServiceAccount {
        /// Its username.
        username: String,
        /// Its secret.
        secret: String,
        /// The project the calls are about.
        project_id: i64,
    },
    /// A project's API secret.
    ProjectSecret(String),
    /// A personal API token (`sx_...`), scoped to API families.
    ApiToken(String),
    /// A project's public token: enough for `/track`, `/engage` and `/groups` only.
    ProjectToken(String),
}

impl Credential {
    /// The project the credential names in query strings (a service account's).
    pub fn project_id(&self) -> Option<i64> {
        match self {
            Credential::ServiceAccount { project_id, .. } => Some(*project_id),
            _ => None,
        }
    }

    /// Puts the credential on a request (the project token goes into the records
    /// instead, see [`crate::ingestion`]).
    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credential::ServiceAccount { username, secret, .. } => request.basic_auth(username, Some(secret)),
            Credential::ProjectSecret(secret) => request.basic_auth(secret, Some("")),
            Credential::ApiToken(token) => request.bearer_auth(token),
            Credential::ProjectToken(_) => request,
        }
    }

    /// A name for messages: the kind, never the secret.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ServiceAccount { .. } => "service account",
            Credential::ProjectSecret(_) => "project secret",
            Credential::ApiToken(_) => "API token",
            Credential::ProjectToken(_) => "project token",
        }
    }
}

/// Secrets stay out of logs and panics.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ServiceAccount { username, project_id, .. } => f
                .debug_struct("ServiceAccount")
                .field("username", username)
                .field("project_id", project_id)
                .finish_non_exhaustive(),
            other => write!(f, "{}(..)", other.kind()),
        }
    }
}
