//! The ingestion family: `/import`, `/track`, `/engage` and `/groups`.
//!
//! Bodies go as JSON, gzip-compressed. `/import` asks for the strict answer, so that
//! each refused record comes back with its index and reason ([`ImportOutcome`]) while
//! the rest are kept. An `/import` or `/track` whose every event has an `$insert_id`
//! is idempotent (the server counts copies once), so it is retried after a server
//! error; one without is not, lest an event be stored twice.

use std::io::Write;

use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use sextant_api::ingestion::{FailedRecord, IngestReply, ProfileUpdateRecord};

use crate::credential::Credential;
use crate::error::{ApiError, Error};
use crate::transport::{Body, Call, Transport};

/// What an `/import` (or `/engage`, `/groups`) kept and refused.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportOutcome {
    /// Records stored.
    pub imported: u64,
    /// Records refused, each with its index in the batch and the reason.
    pub failed: Vec<FailedRecord>,
}

/// The ingestion family, from [`crate::Client::ingestion`].
pub struct Ingestion<'a> {
    pub(crate) transport: &'a Transport,
}

impl Ingestion<'_> {
    /// Imports a batch of events (`{"event", "properties": {"time", "distinct_id",
    /// "$insert_id", ...}}`; at most 2,000 and 10 MB uncompressed per call).
    ///
    /// ```no_run
    /// # async fn f(client: sextant_client::Client) -> Result<(), sextant_client::Error> {
    /// let event = serde_json::json!({"event": "Signed up", "properties": {
    ///     "time": 1_700_000_000, "distinct_id": "u1", "$insert_id": "b3a9c1"}});
    /// let outcome = client.ingestion().import(&[event]).await?;
    /// assert_eq!(outcome.imported, 1);
    /// # Ok(()) }
    /// ```
    pub async fn import<T: Serialize>(&self, events: &[T]) -> Result<ImportOutcome, Error> {
        let json = to_json(events)?;
        let idempotent = all_have_insert_ids(&json);
        let call =
            Call::new(Method::POST, "/import", &[("strict", "1")])?.body(gzip_json(&json)?).idempotent(idempotent);
        self.counted(&call).await
    }

    /// Sends events to `/track`, as an SDK does (with a project token, each event
    /// is given it as `token` when it has none).
    pub async fn track<T: Serialize>(&self, events: &[T]) -> Result<(), Error> {
        let mut values = to_values(events)?;
        if let Credential::ProjectToken(token) = &self.transport.credential {
            for v in &mut values {
                if let Some(p) = v.get_mut("properties").and_then(Value::as_object_mut) {
                    p.entry("token").or_insert_with(|| Value::String(token.clone()));
                }
            }
        }
        let json = to_json(&values)?;
        let idempotent = all_have_insert_ids(&json);
        let call =
            Call::new(Method::POST, "/track", &[("verbose", "1")])?.body(gzip_json(&json)?).idempotent(idempotent);
        let reply: IngestReply = self.transport.json(&call).await?;
        match reply {
            IngestReply::Verbose { status: 1, .. } => Ok(()),
            // `/track` answers a batch it could not use at all with 200 and status 0.
            IngestReply::Verbose { error, .. } => Err(Error::Api(ApiError::from_body(
                400,
                error.unwrap_or_else(|| "no event in the batch was valid".into()),
                None,
                None,
            ))),
            _ => Err(Error::Decode { url: "/track".into(), message: "not a verbose answer".into() }),
        }
    }

    /// Updates user profiles (`$set`, `$set_once`, `$add`, `$union`, `$append`,
    /// `$remove`, `$unset`, `$delete`); with a project token each update is given it
    /// as `$token` when it has none.
    pub async fn engage(&self, updates: &[ProfileUpdateRecord]) -> Result<ImportOutcome, Error> {
        self.profiles("/engage", updates).await
    }

    /// Updates group profiles (`$group_key` and `$group_id` in each update).
    pub async fn groups(&self, updates: &[ProfileUpdateRecord]) -> Result<ImportOutcome, Error> {
        self.profiles("/groups", updates).await
    }

    async fn profiles(&self, path: &str, updates: &[ProfileUpdateRecord]) -> Result<ImportOutcome, Error> {
        let mut updates = updates.to_vec();
        if let Credential::ProjectToken(token) = &self.transport.credential {
            for u in &mut updates {
                u.token.get_or_insert_with(|| token.clone());
            }
        }
        let json = to_json(&updates)?;
        // `$add` and `$append` are not idempotent: profile updates are never retried
        // after a server error.
        let call = Call::new(Method::POST, path, &[("strict", "1"), ("verbose", "1")])?
            .body(gzip_json(&json)?)
            .idempotent(false);
        self.counted(&call).await
    }

    /// Sends a strict call: 200 with the count, or 400 with the records refused (the
    /// others kept); any other refusal is an error.
    async fn counted(&self, call: &Call) -> Result<ImportOutcome, Error> {
        let reply = match self.transport.json::<IngestReply>(call).await {
            Ok(reply) => reply,
            Err(Error::Api(e)) if e.status == 400 => match serde_json::from_str::<IngestReply>(&e.body) {
                Ok(IngestReply::Strict(strict)) if strict.failed_records.is_some() => IngestReply::Strict(strict),
                _ => return Err(Error::Api(e)),
            },
            Err(e) => return Err(e),
        };
        match reply {
            IngestReply::Strict(strict) => Ok(ImportOutcome {
                imported: strict.num_records_imported.unwrap_or_default(),
                failed: strict.failed_records.unwrap_or_default(),
            }),
            // `/engage?verbose=1` without failures answers `{"status": 1}`.
            IngestReply::Verbose { status: 1, .. } => Ok(ImportOutcome::default()),
            _ => Err(Error::Decode { url: call.path.clone(), message: "not a strict answer".into() }),
        }
    }
}

fn to_json<T: Serialize>(records: &[T]) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(records).map_err(|e| Error::Invalid(format!("a record does not serialise as JSON: {e}")))
}

fn to_values<T: Serialize>(records: &[T]) -> Result<Vec<Value>, Error> {
    records
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Invalid(format!("a record does not serialise as JSON: {e}")))
}

/// Gzip at the fastest level: it shrinks event JSON about tenfold for a few
/// milliseconds per 2,000 events.
pub(crate) fn gzip_json(json: &[u8]) -> Result<Body, Error> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 8), flate2::Compression::fast());
    encoder
        .write_all(json)
        .and_then(|_| encoder.finish())
        .map(|gz| Body { bytes: Bytes::from(gz), content_type: "application/json", gzip: true })
        .map_err(|e| Error::Invalid(format!("gzip failed: {e}")))
}

/// Whether every event of a JSON array carries an `$insert_id` (read without
/// building the events: each value is skipped unless it is that one).
fn all_have_insert_ids(json: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Event {
        properties: Properties,
    }
    #[derive(serde::Deserialize)]
    struct Properties {
        #[serde(rename = "$insert_id")]
        insert_id: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Vec<Event>>(json)
        .is_ok_and(|events| events.iter().all(|e| e.properties.insert_id.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_ids_make_a_batch_idempotent() {
        assert!(all_have_insert_ids(br#"[{"event":"a","properties":{"$insert_id":"x","n":[1,{"b":2}]}}]"#));
        assert!(!all_have_insert_ids(
            br#"[{"event":"a","properties":{"$insert_id":"x"}},{"event":"b","properties":{}}]"#
        ));
        assert!(!all_have_insert_ids(br#"[{"event":"a"}]"#));
    }
}
