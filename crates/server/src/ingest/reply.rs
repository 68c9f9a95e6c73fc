//! The response bodies each SDK expects from `/track`, `/import`, `/engage` and `/groups`.
//!
//! | request                | records answered                          | request unusable as a whole (a 400 inside) |
//! |------------------------|-------------------------------------------|--------------------------------------------|
//! | plain                  | `1`, or `0` when none was valid            | `0`, HTTP 200                              |
//! | `verbose=1`            | `{"status": 1 or 0, "error"}`              | `{"status": 0, "error"}`, HTTP 200         |
//! | `strict=1`             | `{"code": 200, "num_records_imported", "status": "OK"}`, or 400 with `failed_records` | `/import`: `{"code", "error", "status"}`, 400; others as above |
//! | `/import?strict=0`     | `{"code": 200, "num_records_imported", "status": "OK"}` | `{"code", "error", "status"}`, 400 |
//! | `/import`, no `strict` | `1` or `0`; verbose as above               | `{"code", "error", "status"}`, 400 (verbose: `{"status": 0, "error"}`) |
//! | `callback=fn`          | `fn(<body above>)` as `text/javascript`    | same                                       |
//! | `img=1`                | a 1x1 transparent GIF                      | the same GIF                               |
//!
//! A body cut off or stalled before its end keeps its own status ([`ReplyStyle::unread`]).
//!
//! Why these:
//! - Mixpanel's ingestion spec gives `/track`, `/engage` and `/groups` three answers: 200
//!   with `1` or `0` ("no data objects in the body are valid"), and 401 and 403 with its
//!   `ErrorResponse`, `{"error", "status": "error"}`. A request that is unusable as a whole
//!   (no data, bad JSON, bad gzip, a bad parameter) is therefore `0` with HTTP 200, as
//!   Mixpanel answers it.
//! - Every other refusal (401, 403, 413, 429, 503) is that `ErrorResponse` as plain JSON,
//!   whatever the style: a browser runs no script and shows no image from an error
//!   status, so a JSONP or pixel wrapper would reach nobody. `/import` refusals are
//!   `{"code", "error", "status": "<reason>"}` (the spec's `Strict*`). On `/engage` and
//!   `/groups`, `strict=1` changes only how records that fail alone are reported.
//! - `/import` names `strict` as a required parameter of `0` or `1` and documents only
//!   JSON answers; the official Java SDK sends it and reads `{"code": 200, "status":
//!   "OK"}` either way. The Node SDK sends no `strict` and reads a plain `1`, so a
//!   request without it keeps the legacy body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use sextant_ingest::{Params, RecordError};

use crate::error::ApiError;
use sextant_api::ingestion::{FailedRecord, IngestRefused, IngestReply, StrictReply};

/// A 1x1 transparent GIF.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// How the client asked to be answered.
#[derive(Clone, Debug, Default)]
pub struct ReplyStyle {
    /// `strict=1` (`/import`, `/engage`, `/groups`).
    pub strict: bool,
    /// `verbose=1`.
    pub verbose: bool,
    /// `img=1`.
    pub img: bool,
    /// `callback=<function>` (JSONP).
    pub callback: Option<String>,
    /// An `/import` answer: errors are `{"code", "error", "status"}` unless `verbose=1`
    /// asks for the verbose shape (Mixpanel's ingestion spec gives `/import` only the
    /// strict error shapes).
    pub import: bool,
    /// `/import?strict=0`: success is counted in the strict shape too.
    pub counted: bool,
}

impl ReplyStyle {
    /// The same style for an `/import` answer (see [`ReplyStyle::import`] and
    /// [`ReplyStyle::counted`]).
    pub fn importing(self, params: &Params) -> Self {
        let counted = !self.strict && params.get("strict").is_some();
        ReplyStyle { import: true, counted, ..self }
    }

    /// Reads the style from request parameters. An unsafe callback name is refused.
    pub fn from_params(params: &Params, strict_allowed: bool) -> Result<Self, ApiError> {
        let callback = params.get("callback").map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
        let style = ReplyStyle {
            strict: strict_allowed && params.flag("strict"),
            verbose: params.flag("verbose"),
            img: params.flag("img"),
            callback: None,
            import: false,
            counted: false,
        };
        match callback {
            Some(c) if !is_safe_callback(&c) => Err(ApiError::invalid(
                "callback must be a JavaScript function name (letters, digits, `_`, `$`, `.`, brackets, parentheses, braces)",
            )),
            callback => Ok(ReplyStyle { callback, ..style }),
        }
    }

    /// The answer to a request whose records were processed.
    pub fn outcome(&self, stored: usize, valid: usize, failed: &[(usize, RecordError)]) -> Response {
        if self.strict && !failed.is_empty() {
            let failed_records = failed
                .iter()
                .map(|(index, e)| FailedRecord {
                    field: e.field.clone(),
                    index: *index as u64,
                    insert_id: e.insert_id.clone().unwrap_or_default(),
                    message: e.message.clone(),
                })
                .collect();
            let body = IngestReply::Strict(StrictReply {
                code: 400,
                error: Some("some data points in the request failed validation".into()),
                failed_records: Some(failed_records),
                num_records_imported: Some(stored as u64),
                status: "Bad Request".into(),
            });
            return json_response(StatusCode::BAD_REQUEST, &body);
        }
        if self.strict || (self.counted && !self.verbose) {
            let body = IngestReply::Strict(StrictReply {
                code: 200,
                error: None,
                failed_records: None,
                num_records_imported: Some(stored as u64),
                status: "OK".into(),
            });
            return self.render(StatusCode::OK, Answer::Json(body));
        }
        let error = match valid {
            0 => Some(failed.first().map(|(_, e)| e.message.clone()).unwrap_or_else(|| "no valid records".into())),
            _ => None,
        };
        self.render(StatusCode::OK, self.flag(error))
    }

    /// `1`, or `0` with why; verbose: `{"error", "status"}`.
    fn flag(&self, error: Option<String>) -> Answer {
        let status = u8::from(error.is_none());
        if self.verbose { Answer::Json(IngestReply::Verbose { error, status }) } else { Answer::Flag(status) }
    }

    /// The answer to a request refused as a whole.
    pub fn error(&self, error: &ApiError) -> Response {
        if error.status() == StatusCode::BAD_REQUEST && !self.import {
            return self.render(StatusCode::OK, self.flag(Some(error.message.clone())));
        }
        self.unread(error)
    }

    /// The answer to a request whose body could not be read to its end (cut off,
    /// stalled, over the size limit): the error's own status even when it is a 400,
    /// since this is no answer about the data.
    pub fn unread(&self, error: &ApiError) -> Response {
        let status = error.status();
        let message = error.message.clone();
        let body = if !self.import {
            IngestReply::Refused(IngestRefused { error: message, status: "error".into() })
        } else if self.verbose && !self.strict {
            IngestReply::Verbose { error: Some(message), status: 0 }
        } else {
            IngestReply::Strict(StrictReply {
                code: status.as_u16(),
                error: Some(message),
                failed_records: None,
                num_records_imported: None,
                status: error.code.reason_phrase().into(),
            })
        };
        json_response(status, &body)
    }

    fn render(&self, status: StatusCode, body: Answer) -> Response {
        if self.img {
            return (status, [(header::CONTENT_TYPE, "image/gif")], PIXEL_GIF).into_response();
        }
        let text = match &body {
            Answer::Flag(flag) => flag.to_string(),
            Answer::Json(reply) => serde_json::to_string(reply).unwrap_or_default(),
        };
        if let Some(cb) = &self.callback {
            let mut response = (status, format!("{cb}({text})")).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            return response;
        }
        let content_type = match body {
            Answer::Flag(_) => "text/plain; charset=utf-8",
            Answer::Json(_) => "application/json",
        };
        let mut response = (status, text).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }
}

/// A body before it is wrapped (JSONP) or replaced (pixel).
enum Answer {
    /// `1` or `0`.
    Flag(u8),
    /// One of the JSON answers.
    Json(IngestReply),
}

fn json_response(status: StatusCode, body: &IngestReply) -> Response {
    let mut response = (status, serde_json::to_string(body).unwrap_or_default()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// JSONP callback names: what mixpanel-js sends (`mp_cb_1`, `(function(){})`, `a.b[0]`),
/// nothing that could close the call and start another statement.
fn is_safe_callback(name: &str) -> bool {
    name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_$.[](){}".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(style: &ReplyStyle, error: ApiError) -> (u16, String, Option<String>) {
        let response = style.error(&error);
        let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
        let status = response.status().as_u16();
        let body = futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap(), content_type)
    }

    #[test]
    fn refusals_take_the_shapes_of_mixpanels_ingestion_spec() {
        let bad = || ApiError::invalid("invalid JSON");
        let denied = || ApiError::unauthenticated("token, missing or empty");
        let params = |q: &str| Params::parse(q.as_bytes());
        let track = |q: &str| ReplyStyle::from_params(&params(q), false).unwrap();
        let import = |q: &str| ReplyStyle::from_params(&params(q), true).unwrap().importing(&params(q));
        // Unusable data: 200 with `0`, or the verbose object, wrapped as asked.
        assert_eq!(answer(&track(""), bad()).0, 200);
        assert_eq!(answer(&track(""), bad()).1, "0");
        assert_eq!(answer(&track("verbose=1"), bad()).1, r#"{"error":"invalid JSON","status":0}"#);
        assert_eq!(answer(&track("callback=cb"), bad()).1, "cb(0)");
        // 401 and the like: `ErrorResponse` as plain JSON, whatever was asked.
        for q in ["", "verbose=1", "callback=cb", "img=1", "strict=1"] {
            let (status, body, content_type) = answer(&track(q), denied());
            assert_eq!((status, content_type.as_deref()), (401, Some("application/json")), "{q}");
            assert_eq!(body, r#"{"error":"token, missing or empty","status":"error"}"#, "{q}");
        }
        // `/import`: the strict shapes, with their status.
        let (status, body, _) = answer(&import("strict=0"), bad());
        assert_eq!((status, body.as_str()), (400, r#"{"code":400,"error":"invalid JSON","status":"Bad Request"}"#));
        assert!(import("strict=0").counted && !import("").counted && !import("strict=1").counted);
    }

    #[test]
    fn callbacks_are_limited_to_function_names() {
        assert!(is_safe_callback("mp_cb_3"));
        assert!(is_safe_callback("(function(){})"));
        assert!(!is_safe_callback("alert(1);x"));
        assert!(!is_safe_callback("a</script>"));
    }
}
