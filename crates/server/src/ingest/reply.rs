//! The response bodies each SDK expects from `/track` and `/import`.
//!
//! | request                | success                                   | failure                                      |
//! |------------------------|-------------------------------------------|----------------------------------------------|
//! | plain                  | `1`                                        | `0` (401/403/413/429: `{"error", "status": "error"}`) |
//! | `verbose=1`            | `{"status": 1, "error": null}`             | `{"status": 0, "error": "<message>"}`       |
//! | `/import?strict=1`     | `{"code": 200, "num_records_imported", "status": "OK"}` | `{"code", "error", "status", ...}` |
//! | `/import`, not verbose | `1`                                        | `{"code", "error", "status"}` (the spec's `StrictUnauthorized` and kin) |
//! | `callback=fn`          | `fn(<body above>)` as `text/javascript`    | same                                         |
//! | `img=1`                | a 1x1 transparent GIF                      | the same GIF                                 |

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sextant_ingest::{Params, RecordError};

use crate::error::ApiError;

/// A 1x1 transparent GIF.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// How the client asked to be answered.
#[derive(Clone, Debug, Default)]
pub struct ReplyStyle {
    /// `strict=1` (only `/import`).
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
}

impl ReplyStyle {
    /// The same style for an `/import` answer (see [`ReplyStyle::import`]).
    pub fn importing(self) -> Self {
        ReplyStyle { import: true, ..self }
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
        if self.strict {
            if failed.is_empty() {
                return self
                    .render(StatusCode::OK, json!({"code": 200, "num_records_imported": stored, "status": "OK"}));
            }
            let failed_records: Vec<Value> = failed
                .iter()
                .map(|(index, e)| {
                    json!({"index": index, "insert_id": e.insert_id.clone().unwrap_or_default(),
                           "field": e.field, "message": e.message})
                })
                .collect();
            let body = json!({
                "code": 400,
                "error": "some data points in the request failed validation",
                "status": "Bad Request",
                "num_records_imported": stored,
                "failed_records": failed_records,
            });
            return self.render(StatusCode::BAD_REQUEST, body);
        }
        if valid > 0 {
            let body = if self.verbose { json!({"status": 1, "error": null}) } else { json!(1) };
            self.render(StatusCode::OK, body)
        } else {
            let message = failed.first().map(|(_, e)| e.message.clone()).unwrap_or_else(|| "no valid records".into());
            let body = if self.verbose { json!({"status": 0, "error": message}) } else { json!(0) };
            self.render(StatusCode::OK, body)
        }
    }

    /// The answer to a request refused as a whole.
    pub fn error(&self, error: &ApiError) -> Response {
        let status = error.status();
        let body = if self.strict || (self.import && !self.verbose) {
            json!({"code": status.as_u16(), "error": error.message, "status": error.code.reason_phrase()})
        } else if self.verbose {
            json!({"status": 0, "error": error.message})
        } else if matches!(status.as_u16(), 400 | 200) {
            json!(0)
        } else {
            json!({"error": error.message, "status": "error"})
        };
        self.render(status, body)
    }

    fn render(&self, status: StatusCode, body: Value) -> Response {
        if self.img {
            return (status, [(header::CONTENT_TYPE, "image/gif")], PIXEL_GIF).into_response();
        }
        let text = body.to_string();
        if let Some(cb) = &self.callback {
            let mut response = (status, format!("{cb}({text})")).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            return response;
        }
        let content_type = if body.is_number() { "text/plain; charset=utf-8" } else { "application/json" };
        let mut response = Response::new(Body::from(text));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }
}

/// JSONP callback names: what mixpanel-js sends (`mp_cb_1`, `(function(){})`, `a.b[0]`),
/// nothing that could close the call and start another statement.
fn is_safe_callback(name: &str) -> bool {
    name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_$.[](){}".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_limited_to_function_names() {
        assert!(is_safe_callback("mp_cb_3"));
        assert!(is_safe_callback("(function(){})"));
        assert!(!is_safe_callback("alert(1);x"));
        assert!(!is_safe_callback("a</script>"));
    }
}
