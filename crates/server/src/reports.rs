//! What report handlers share besides their extractor ([`crate::extract::Reader`]): the
//! project's expression settings and the JSON-or-CSV answer.

use sextant_expr::Options;
use sextant_model::Project;

/// The expression settings of `project`: its timezone and string case rule, "now"
/// being now.
pub fn expression_options(project: &Project) -> Options {
    Options {
        timezone: project.timezone.parse().unwrap_or(chrono_tz::UTC),
        case_sensitive: project.case_sensitive_strings,
        ..Options::default()
    }
}

/// A report's JSON answer, or its CSV text when `csv` is asked.
pub fn respond(answer: &sextant_query::segmentation::Answer, csv: bool) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    if csv {
        let mut response = answer.to_csv().into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        return response;
    }
    axum::Json(answer).into_response()
}
