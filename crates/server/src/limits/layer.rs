//! The middleware: a slot per request for the limiter's verdict, turned into headers on
//! the way out.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use parking_lot::Mutex;

use sextant_lanes::Holder;

use super::limiter::{Permit, RateStatus};

/// Where a handler's limiter verdict waits for the response; a concurrency permit is
/// also shared with the blocking work the handler starts (`sextant_lanes::Holder`).
#[derive(Clone, Debug, Default)]
pub struct LimitSlot(Arc<Mutex<Verdict>>, Holder);

#[derive(Debug, Default)]
struct Verdict {
    status: Option<RateStatus>,
    permit: Option<Arc<Permit>>,
    retry_after: Option<u64>,
}

impl LimitSlot {
    /// The slot the middleware put in a request's extensions (a detached one outside it).
    pub fn of(extensions: &axum::http::Extensions) -> LimitSlot {
        extensions.get::<LimitSlot>().cloned().unwrap_or_default()
    }

    pub(super) fn record(&self, status: Option<RateStatus>, permit: Option<Permit>, retry_after: Option<u64>) {
        let permit = permit.map(Arc::new);
        if let Some(permit) = &permit {
            self.1.hold(permit.clone());
        }
        *self.0.lock() = Verdict { status, permit, retry_after };
    }
}

/// `Retry-After` on a 503 that did not set its own, in seconds.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Gives the request a [`LimitSlot`], then writes its verdict into the response.
pub async fn rate_limit_headers(mut request: Request, next: Next) -> Response {
    let slot = LimitSlot::default();
    request.extensions_mut().insert(slot.clone());
    // Blocking work the handler starts holds the permit until it ends, even when the
    // handler's future is dropped first (a deadline, a client gone).
    let mut response = sextant_lanes::on_behalf(slot.1.clone(), next.run(request)).await;
    slot.1.release();
    let verdict = std::mem::take(&mut *slot.0.lock());
    let unavailable = response.status() == StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    if let Some(s) = verdict.status {
        headers.insert(LIMIT, HeaderValue::from(s.limit));
        headers.insert(REMAINING, HeaderValue::from(s.remaining));
        headers.insert(RESET, HeaderValue::from(s.reset));
    }
    if let Some(secs) = verdict.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    // Every 503 (a busy writer, a store shutting down, a full disk) says when to come
    // back: the SDKs retry a 503 that carries it.
    if unavailable && !headers.contains_key(header::RETRY_AFTER) {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS));
    }
    match verdict.permit {
        // Held until the body has been streamed out, so a long export counts as in flight
        // (and, through the holder, until the blocking work the handler started ends).
        Some(permit) => {
            let (parts, body) = response.into_parts();
            let stream = body.into_data_stream().map(move |chunk| {
                let _held = &permit;
                chunk
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
        None => response,
    }
}
