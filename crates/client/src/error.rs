//! The client's errors: the server's refusals with everything a caller needs to act
//! on them, and failures on the way there.

use std::time::Duration;

use sextant_api::errors::{AppErrorBody, QueryErrorBody};
use sextant_api::ingestion::IngestReply;
use sextant_model::ErrorCode;

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The request did not get a whole answer: no connection, a reset, a timeout.
    #[error("request to {url} failed after {attempts} attempt(s): {source}")]
    Transport {
        /// What was called.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not what the endpoint answers (a proxy's page, a cut-off body).
    #[error("unexpected answer from {url}: {message}")]
    Decode {
        /// What was called.
        url: String,
        /// What did not parse.
        message: String,
    },
    /// The client was asked for something it cannot send (a bad base URL, a record
    /// that does not serialise, a credential the call cannot use).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An answer's body cut off on its way (after the status arrived; not retried, as
    /// part of it may have been used).
    pub(crate) fn body(url: &str, source: reqwest::Error) -> Error {
        Error::Transport { url: url.to_string(), attempts: 1, source: source.without_url() }
    }

    /// The server's refusal, if that is what this is.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status, for a refusal.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// The likely cause and the fix, for the refusals that have a usual one (401,
    /// 403, 404, 429), and for a server that could not be reached.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Api(e) => e.hint(),
            Error::Transport { source, .. } if source.is_connect() => Some(
                "the server could not be reached: check the base URL (`--url`, SEXTANT_URL), that the server is running, and, for HTTPS with a self-signed certificate, that its CA is trusted (`--ca-cert`)",
            ),
            Error::Transport { source, .. } if source.is_timeout() => {
                Some("the server did not answer in time: raise the client's timeout, or narrow the request")
            }
            _ => None,
        }
    }
}

/// A refusal from the server.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{status} {}: {message}{}", code.map(ErrorCode::as_str).unwrap_or("ERROR"), request_id.as_deref().map(|id| format!(" (request {id})")).unwrap_or_default())]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The error code: the one the App API names, or the one the status stands for.
    pub code: Option<ErrorCode>,
    /// The server's sentence.
    pub message: String,
    /// The `X-Request-Id` the server answered with, to find the request in its log.
    pub request_id: Option<String>,
    /// The server's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// Attempts made before giving up.
    pub attempts: u32,
    /// The body as it came, for the fields a caller may want (`failed_records`).
    pub body: String,
}

impl ApiError {
    /// Reads a refusal's body, whichever family's shape it has: the App API's
    /// `{"error_code", "message"}`, the Query API's `{"request", "error"}`, or
    /// ingestion's `{"code", "error", "status"}` and `{"error", "status"}`.
    pub fn from_body(status: u16, body: String, request_id: Option<String>, retry_after: Option<Duration>) -> Self {
        let (code, message) = if let Ok(app) = serde_json::from_str::<AppErrorBody>(&body) {
            (ErrorCode::parse(&app.error_code), app.message)
        } else if let Ok(query) = serde_json::from_str::<QueryErrorBody>(&body) {
            (None, query.error)
        } else {
            let message = match serde_json::from_str::<IngestReply>(&body) {
                Ok(IngestReply::Strict(reply)) => reply.error,
                Ok(IngestReply::Refused(refused)) => Some(refused.error),
                Ok(IngestReply::Verbose { error, .. }) => error,
                Err(_) => None,
            };
            let text = || body.chars().take(300).collect::<String>();
            (None, message.unwrap_or_else(text))
        };
        let code = code.or_else(|| ErrorCode::of_status(status));
        ApiError { status, code, message, request_id, retry_after, attempts: 1, body }
    }

    /// The likely cause and the fix, as `001_*.txt`'s table of common errors gives
    /// them.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self.status {
            401 => {
                "the credential is missing, wrong or expired: check the service account's username and secret (with its project id), the project secret, or the `sx_` token; `sextant token list` shows tokens and their expiry"
            }
            403 => {
                "the credential is valid but may not do this: a token scoped to other API families, a service account without this project or with too small a role, or a project in another region's host"
            }
            404 => {
                "nothing at that id or path: check the id, and that the credential's project is the one that holds it (service accounts name it with `project_id`)"
            }
            429 => {
                "over a rate limit, and waiting as `Retry-After` asks would exceed the client's retry budget (or used it up): lower the request rate or concurrency, raise the budget (`RetryPolicy`), or ask the operator for a higher project limit"
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_familys_shape_is_read() {
        let app = r#"{"status":"error","error":"no such flag","error_code":"NOT_FOUND","message":"no such flag"}"#;
        let e = ApiError::from_body(404, app.into(), Some("r1".into()), None);
        assert_eq!((e.code, e.message.as_str()), (Some(ErrorCode::NotFound), "no such flag"));
        assert!(e.to_string().contains("(request r1)") && e.hint().is_some());
        let query = r#"{"request":"/api/query/segmentation?x","error":"from_date is required"}"#;
        let e = ApiError::from_body(400, query.into(), None, None);
        assert_eq!((e.code, e.message.as_str()), (Some(ErrorCode::InvalidRequest), "from_date is required"));
        let strict = r#"{"code":400,"error":"invalid JSON","status":"Bad Request"}"#;
        assert_eq!(ApiError::from_body(400, strict.into(), None, None).message, "invalid JSON");
        let refused = r#"{"error":"token, missing or empty","status":"error"}"#;
        let e = ApiError::from_body(401, refused.into(), None, None);
        assert_eq!((e.code, e.message.as_str()), (Some(ErrorCode::Unauthenticated), "token, missing or empty"));
        let e = ApiError::from_body(502, "<html>bad gateway</html>".into(), None, None);
        assert_eq!((e.code, e.message.as_str()), (Some(ErrorCode::Upstream), "<html>bad gateway</html>"));
    }
}
