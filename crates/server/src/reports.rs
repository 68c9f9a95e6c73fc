//! What every Query API report handler does first: read the parameters (query string
//! or form body), authenticate a reader, charge the Query API's limit, and take the
//! project's expression settings.

use sextant_expr::Options;
use sextant_ingest::Params;
use sextant_model::{ApiFamily, Project};

use crate::auth::{self, Credential};
use crate::error::ApiError;
use crate::ingest::body;
use crate::state::AppState;

/// The expression settings of `project`: its timezone and string case rule, "now"
/// being now.
pub fn expression_options(project: &Project) -> Options {
    Options {
        timezone: project.timezone.parse().unwrap_or(chrono_tz::UTC),
        case_sensitive: project.case_sensitive_strings,
        ..Options::default()
    }
}

/// An authenticated report request.
pub struct ReportRequest {
    /// Its parameters.
    pub params: Params,
    /// Who asked, and for which project.
    pub credential: Credential,
    /// The project's expression settings.
    pub options: Options,
}

/// Reads and authenticates a report request; `what` names what it reads, for a 403.
pub async fn read(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: axum::body::Body,
    what: &str,
) -> Result<ReportRequest, ApiError> {
    let params = body::query_params(parts, body, ApiFamily::Query.max_request_bytes()).await?;
    let credential = auth::reader(state, parts, &params, ApiFamily::Query, what).await?;
    let options = expression_options(&credential.project);
    Ok(ReportRequest { params, credential, options })
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
