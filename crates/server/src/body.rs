//! Reading a request body under a size limit that counts decompressed bytes, so a gzip
//! bomb is refused after `limit` bytes of output instead of being inflated in full.
//!
//! Every family reads bodies here: ingestion, the Query API's form bodies
//! ([`query_params`]), the App API's JSON and lookup-table files.

use std::io::Read;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use sextant_model::ErrorCode;

use crate::error::ApiError;

/// A body as received, before decompression.
pub struct RawBody {
    bytes: bytes::Bytes,
    encoding: Encoding,
}

/// A `Content-Encoding` Sextant undoes.
#[derive(Clone, Copy)]
pub enum Encoding {
    Identity,
    Gzip,
    Deflate,
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, format!("request exceeds max limit of {limit} bytes"))
}

/// Reads the body, refusing more than `limit` bytes on the wire.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<RawBody, ApiError> {
    read_encoded(encoding(headers)?, body, limit).await
}

/// The body's `Content-Encoding`, refused unless Sextant can undo it.
pub fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    Ok(match headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase()) {
        None => Encoding::Identity,
        Some(e) if e.is_empty() || e == "identity" => Encoding::Identity,
        Some(e) if e == "gzip" || e == "x-gzip" => Encoding::Gzip,
        Some(e) if e == "deflate" => Encoding::Deflate,
        Some(e) => {
            return Err(ApiError::invalid(format!("unsupported Content-Encoding `{e}`; send gzip or no encoding")));
        }
    })
}

/// Reads a body of a known `encoding`, refusing more than `limit` bytes on the wire:
/// an error here is about the transfer (cut off, stalled, too large), not the content.
pub async fn read_encoded(encoding: Encoding, body: Body, limit: usize) -> Result<RawBody, ApiError> {
    let bytes = collect(body, limit).await?;
    Ok(RawBody { bytes, encoding })
}

/// Bytes read and dropped after a body passes its limit, so that the client, still
/// sending, finishes and reads the 413 instead of having its connection closed under it
/// (which HTTP clients report as a broken pipe, and SDKs retry).
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// The body's bytes, at most `limit`.
async fn collect(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let unreadable = |e: axum::Error| ApiError::invalid(format!("cannot read the request body: {e}"));
    let mut body = body;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(unreadable)?.into_data() else { continue };
        if out.len() + data.len() > limit {
            drain(body, out.len() + data.len()).await;
            return Err(too_large(limit));
        }
        out.extend_from_slice(&data);
    }
    Ok(out.freeze())
}

/// Reads and drops what is left of `body` (up to [`DRAIN_BYTES`] in all, counting the
/// `read` bytes already taken): for a request refused before its body is looked at, so
/// the client reads the refusal instead of a broken pipe. Costs network reads only.
pub async fn drain(mut body: Body, read: usize) {
    use http_body_util::BodyExt;
    let mut drained = read;
    while drained <= DRAIN_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => drained += frame.into_data().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

impl RawBody {
    /// The decompressed body, at most `limit` bytes. Blocking: call off the async runtime.
    pub fn decompress(self, limit: usize) -> Result<Vec<u8>, ApiError> {
        fn inflate(reader: impl Read, compressed: usize, limit: usize, name: &str) -> Result<Vec<u8>, ApiError> {
            // JSON events compress about tenfold; room for that up front saves the
            // copies of growing the buffer from nothing (never more than the limit).
            let mut out = Vec::with_capacity(compressed.saturating_mul(10).min(limit + 1));
            reader
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::invalid(format!("the body is not valid {name}: {e}")))?;
            if out.len() > limit {
                return Err(too_large(limit));
            }
            Ok(out)
        }
        match self.encoding {
            Encoding::Identity => Ok(self.bytes.to_vec()),
            Encoding::Gzip => inflate(MultiGzDecoder::new(&self.bytes[..]), self.bytes.len(), limit, "gzip"),
            Encoding::Deflate => inflate(ZlibDecoder::new(&self.bytes[..]), self.bytes.len(), limit, "deflate"),
        }
    }
}

/// A Query API request's parameters: the query string, then a form body's fields
/// (clients send them either way).
pub async fn query_params(
    parts: &axum::http::request::Parts,
    body: Body,
    limit: usize,
) -> Result<sextant_ingest::Params, ApiError> {
    let mut params = sextant_ingest::Params::parse(parts.uri.query().unwrap_or("").as_bytes());
    let form = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let raw = read(&parts.headers, body, limit).await?;
    if form {
        params.extend(sextant_ingest::Params::parse(&raw.decompress(limit)?));
    }
    Ok(params)
}
