//! The closed list of error codes. Every crate's error enum maps each variant to one of
//! these, and the server maps each code to an HTTP status in one place.
//! Add a variant only when no existing code describes a new failure to a client.

use serde::{Serialize, Serializer};

/// What went wrong, as a client needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is malformed: bad parameter, bad encoding, bad JSON, bad date.
    InvalidRequest,
    /// Some records of a batch failed validation (the valid ones were kept).
    InvalidRecords,
    /// No credential, or one that matches nothing.
    Unauthenticated,
    /// The credential is valid but its role may not do this.
    PermissionDenied,
    /// The named project or object does not exist.
    NotFound,
    /// The request body, or one record in it, is over its size limit.
    PayloadTooLarge,
    /// The request is over a rate or concurrency limit.
    RateLimited,
    /// The object already exists.
    Conflict,
    /// The object is past the state in which this method applies (a GDPR deletion
    /// that has started cannot be cancelled).
    NotAllowed,
    /// The object existed and has expired (a GDPR retrieval's archive past its link's
    /// lifetime).
    Gone,
    /// The store is not ready or is shutting down; retry later.
    Unavailable,
    /// A service Sextant depends on failed to answer (the PostgreSQL control plane);
    /// retry later.
    Upstream,
    /// A fault inside Sextant; the details are logged, not returned.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidRecords,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::NotFound,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Conflict,
        ErrorCode::NotAllowed,
        ErrorCode::Gone,
        ErrorCode::Unavailable,
        ErrorCode::Upstream,
        ErrorCode::Internal,
    ];

    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::InvalidRecords => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::NotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::Gone => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Upstream => 502,
            ErrorCode::Unavailable => 503,
        }
    }

    /// The stable name App API error bodies give it (`error_code`), spelled as
    /// Mixpanel's API reference spells its codes (`INVALID_PARAM`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "INVALID_PARAM",
            ErrorCode::InvalidRecords => "INVALID_RECORDS",
            ErrorCode::Unauthenticated => "UNAUTHORIZED",
            ErrorCode::PermissionDenied => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::NotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Gone => "GONE",
            ErrorCode::Unavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::Upstream => "BAD_GATEWAY",
            ErrorCode::Internal => "INTERNAL_ERROR",
        }
    }

    /// The code an App API error body names (`error_code`), if it is one of ours.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The code a status is answered for, for the families whose error bodies name no
    /// code (400 is [`ErrorCode::InvalidRequest`]).
    pub fn of_status(status: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.http_status() == status)
    }

    /// The HTTP reason phrase, used by ingestion's strict JSON (`"status": "Bad Request"`).
    pub fn reason_phrase(self) -> &'static str {
        match self.http_status() {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            410 => "Gone",
            413 => "Request Entity Too Large",
            429 => "Too Many Requests",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }
}

/// Serialized as [`ErrorCode::as_str`] names it.
impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }
}
