//! Turning ingestion requests into normalised records.
//!
//! Everything here is pure and synchronous: no I/O, no clock (the caller passes `now`),
//! no knowledge of projects beyond the token string each record carries. The server
//! reads and decompresses the body, calls [`decode::decode_request`] and
//! [`decode::split_records`], then [`normalize::normalize_event`] for each record, and
//! finally resolves tokens to projects and writes the accepted rows.
//!
//! # Layout
//! - [`decode`]: query string, form body, JSON, NDJSON, `data=` as raw or base64 JSON.
//! - [`geo`]: placing events and profile updates by IP address.
//! - [`identity`]: identity merge once the project's mode is known.
//! - [`lookup_csv`]: lookup-table uploads (CSV) to rows by key.
//! - [`normalize`]: per-event validation, truncation and server-added properties.
//! - [`profile`]: per-record validation of `/engage` and `/groups` updates.
//! - `properties`: an event's properties read once, mostly kept as the text sent.
//! - [`error`]: request-level and record-level errors.

pub mod decode;
pub mod error;
pub mod geo;
pub mod identity;
pub mod lookup_csv;
pub mod normalize;
pub mod profile;
mod properties;

pub use decode::{DecodedRequest, Params, Payload, decode_request, split_records};
pub use error::{DecodeError, RecordError};
pub use normalize::{Endpoint, IdentityProps, IngestContext, NormalizedEvent, Outcome, normalize_event};
pub use profile::{NormalizedProfileUpdate, ProfileKind, normalize_profile_update};
