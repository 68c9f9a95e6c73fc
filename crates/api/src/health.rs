//! `GET /healthz` and `GET /readyz`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A health answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready`, `shutting_down` or `unavailable`.
    pub status: String,
    /// Why not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Health {
    /// `{"status": status, "error"?: error}`.
    pub fn of(status: &str, error: Option<&str>) -> Health {
        Health { status: status.into(), error: error.map(str::to_string) }
    }
}
