//! Reading the records out of an ingestion request, whatever encoding the SDK chose.
//!
//! SDKs send records as a `data` parameter (query string or form body), either raw JSON
//! or base64 of JSON (standard or URL-safe alphabet, with or without padding), or as a
//! JSON array body, or (for `/import`) as NDJSON. Gzip has already been undone by the
//! caller, which also enforces the size limit.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::value::RawValue;
use sextant_model::limits::MAX_RECORDS_PER_REQUEST;

use crate::error::DecodeError;

/// Request parameters from the form body and the query string, body first.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a query string or form body.
    pub fn parse(encoded: &[u8]) -> Self {
        Params(form_urlencoded::parse(encoded).into_owned().collect())
    }

    /// Adds the parameters of `other` after this one's (so this one's win in [`Params::get`]).
    pub fn extend(&mut self, other: Params) {
        self.0.extend(other.0);
    }

    /// Every parameter in order, repeated names included (body first).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether `name` is set to a true-ish value (`1`, `true`, `yes`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name).map(|v| v.trim().to_ascii_lowercase()).as_deref(), Some("1" | "true" | "yes"))
    }
}

/// The records' bytes, before splitting.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A JSON object or array.
    Json(Vec<u8>),
    /// One JSON object per line.
    Ndjson(Vec<u8>),
}

/// A request's parameters and records.
#[derive(Debug)]
pub struct DecodedRequest {
    /// Body and query parameters.
    pub params: Params,
    /// The records, if the request carried any.
    pub payload: Result<Payload, DecodeError>,
}

/// Reads parameters and the record payload from a request.
///
/// `content_type` decides how the body is read; without one, the body is sniffed: a
/// body starting with `[` or `{` is JSON, anything else a form.
pub fn decode_request(query: Option<&str>, content_type: Option<&str>, body: &[u8]) -> DecodedRequest {
    let mime = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase()).unwrap_or_default();
    let trimmed = trim_ascii_start(body);
    let body_kind = match mime.as_str() {
        "application/json" => BodyKind::Json,
        "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => BodyKind::Ndjson,
        "application/x-www-form-urlencoded" | "multipart/form-data" => BodyKind::Form,
        _ if trimmed.first().is_some_and(|b| *b == b'[' || *b == b'{') => BodyKind::Json,
        _ if trimmed.is_empty() => BodyKind::Empty,
        _ => BodyKind::Form,
    };
    let mut params = Params::default();
    let mut payload = None;
    match body_kind {
        BodyKind::Form => params = Params::parse(body),
        BodyKind::Json if !trimmed.is_empty() => payload = Some(Payload::Json(body.to_vec())),
        BodyKind::Ndjson if !trimmed.is_empty() => payload = Some(Payload::Ndjson(body.to_vec())),
        _ => {}
    }
    if let Some(q) = query {
        params.extend(Params::parse(q.as_bytes()));
    }
    let payload = match payload {
        Some(p) => Ok(p),
        None => match params.get("data") {
            Some(data) => decode_data_param(data).map(Payload::Json),
            None => Err(DecodeError::MissingData),
        },
    };
    DecodedRequest { params, payload }
}

enum BodyKind {
    Json,
    Ndjson,
    Form,
    Empty,
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    &b[start..]
}

/// Decodes a `data` value: raw JSON when it starts with `{` or `[`, base64 otherwise.
///
/// Both base64 alphabets are accepted, padding is optional, and a space is read as `+`
/// because a form encoder that does not escape `+` turns it into a space.
pub fn decode_data_param(data: &str) -> Result<Vec<u8>, DecodeError> {
    let data = data.trim();
    if data.is_empty() {
        return Err(DecodeError::MissingData);
    }
    if data.starts_with('{') || data.starts_with('[') {
        return Ok(data.as_bytes().to_vec());
    }
    let cleaned: String = data
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r' | '\t' | '='))
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    let url_safe = cleaned.contains(['-', '_']);
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let engine = if url_safe {
        GeneralPurpose::new(&alphabet::URL_SAFE, config)
    } else {
        GeneralPurpose::new(&alphabet::STANDARD, config)
    };
    let decoded = engine.decode(cleaned.as_bytes()).map_err(|e| DecodeError::BadData(e.to_string()))?;
    let first = trim_ascii_start(&decoded).first().copied();
    if !matches!(first, Some(b'{' | b'[')) {
        return Err(DecodeError::BadData("the decoded value is not a JSON object or array".into()));
    }
    Ok(decoded)
}

/// Splits a payload into its records without parsing them fully, so that each record's
/// raw size is known and a bad record does not spoil its neighbours.
pub fn split_records(payload: &Payload) -> Result<Vec<&RawValue>, DecodeError> {
    let records: Vec<&RawValue> = match payload {
        Payload::Json(bytes) => match trim_ascii_start(bytes).first() {
            Some(b'[') => serde_json::from_slice(bytes).map_err(|e| DecodeError::BadJson(e.to_string()))?,
            Some(b'{') => vec![serde_json::from_slice(bytes).map_err(|e| DecodeError::BadJson(e.to_string()))?],
            _ => return Err(DecodeError::NotRecords),
        },
        Payload::Ndjson(bytes) => {
            let mut out = Vec::new();
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if trim_ascii_start(line).is_empty() {
                    continue;
                }
                let raw: &RawValue = serde_json::from_slice(line)
                    .map_err(|e| DecodeError::BadNdjsonLine { line: i + 1, message: e.to_string() })?;
                out.push(raw);
                if out.len() > MAX_RECORDS_PER_REQUEST {
                    break;
                }
            }
            out
        }
    };
    if records.is_empty() {
        return Err(DecodeError::Empty);
    }
    if records.len() > MAX_RECORDS_PER_REQUEST {
        return Err(DecodeError::TooManyRecords { count: records.len(), limit: MAX_RECORDS_PER_REQUEST });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const EVENT: &str = r#"{"event":"a","properties":{"token":"t","x":"?>?>"}}"#;

    fn payload_of(req: DecodedRequest) -> Vec<u8> {
        match req.payload.unwrap() {
            Payload::Json(b) | Payload::Ndjson(b) => b,
        }
    }

    #[test]
    fn form_body_with_raw_json() {
        let body = format!("data={}&verbose=1", urlencode(EVENT));
        let req = decode_request(None, Some("application/x-www-form-urlencoded"), body.as_bytes());
        assert!(req.params.flag("verbose"));
        assert_eq!(payload_of(req), EVENT.as_bytes());
    }

    #[test]
    fn base64_in_both_alphabets_with_and_without_padding() {
        for encoded in [STANDARD.encode(EVENT), URL_SAFE_NO_PAD.encode(EVENT)] {
            let q = format!("data={}&ip=1", urlencode(&encoded));
            let req = decode_request(Some(&q), None, b"");
            assert!(req.params.flag("ip"));
            assert_eq!(payload_of(req), EVENT.as_bytes());
        }
    }

    #[test]
    fn unescaped_plus_in_a_form_body_survives() {
        let encoded = STANDARD.encode(EVENT);
        assert!(encoded.contains('+'), "fixture must exercise '+'");
        let body = format!("data={encoded}");
        let req = decode_request(None, Some("application/x-www-form-urlencoded"), body.as_bytes());
        assert_eq!(payload_of(req), EVENT.as_bytes());
    }

    #[test]
    fn json_body_is_sniffed_without_content_type() {
        let body = format!("[{EVENT}]");
        let req = decode_request(Some("verbose=1"), None, body.as_bytes());
        assert!(req.params.flag("verbose"));
        let payload = req.payload.unwrap();
        assert_eq!(split_records(&payload).unwrap().len(), 1);
    }

    #[test]
    fn ndjson_lines_are_records() {
        let body = format!("{EVENT}\n\n{EVENT}\n");
        let req = decode_request(None, Some("application/x-ndjson"), body.as_bytes());
        assert_eq!(split_records(&req.payload.unwrap()).unwrap().len(), 2);
        let bad = Payload::Ndjson(format!("{EVENT}\n{{oops").into_bytes());
        assert!(matches!(split_records(&bad), Err(DecodeError::BadNdjsonLine { line: 2, .. })));
    }

    #[test]
    fn missing_and_garbage_data_are_named() {
        assert_eq!(decode_request(None, None, b"").payload.unwrap_err(), DecodeError::MissingData);
        assert!(matches!(decode_request(Some("data=%%%"), None, b"").payload.unwrap_err(), DecodeError::BadData(_)));
    }

    #[test]
    fn too_many_records_is_refused() {
        let body = format!("[{}]", vec![EVENT; 2001].join(","));
        let err = split_records(&Payload::Json(body.into_bytes())).unwrap_err();
        assert_eq!(err, DecodeError::TooManyRecords { count: 2001, limit: 2000 });
    }

    fn urlencode(s: &str) -> String {
        form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }
}
