//! The envelopes App API answers come in: one object ([`Single`]) or a page of a
//! collection ([`CollectionPage`]), as Mixpanel's App API and `000_*.txt` shape them.
//! The server answers in them; the clients read them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A page of a collection Sextant owns, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionPage<T: ToSchema> {
    /// Always `ok`.
    pub status: String,
    /// The items (each trimmed to `fields` when asked).
    pub results: Vec<T>,
    /// Cursor for the next (older) page.
    pub next: Option<String>,
    /// Whether there is one.
    pub has_next: bool,
    /// Cursor for the previous (newer) page.
    pub previous: Option<String>,
    /// Whether there is one.
    pub has_previous: bool,
}

/// `{"status": "ok", "results": ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Single<T: ToSchema> {
    /// Always `ok`.
    pub status: String,
    /// The object.
    pub results: T,
}

impl<T: ToSchema> Single<T> {
    /// `{"status": "ok", "results": results}`.
    pub fn ok(results: T) -> Self {
        Single { status: "ok".into(), results }
    }
}
