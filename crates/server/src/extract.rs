//! Typed extractors: what a handler needs from its request, read and checked before the
//! handler runs. A failure is an [`ApiError`]; the router renders it in the route's
//! family shape (`router::family_errors`), so no handler picks an error shape.
//!
//! - [`Reader`]: a reading request of the Query API ([`QueryApi`]) or raw export
//!   ([`ExportApi`]): its parameters (query string, and a form body where one is sent),
//!   a credential that may read through the family, that family's rate limit charged,
//!   and the project's expression settings.

use std::marker::PhantomData;

use axum::extract::{FromRequest, Request};
use sextant_expr::Options;
use sextant_ingest::Params;
use sextant_model::{ApiFamily, Project};

use crate::auth::{self, Credential};
use crate::body;
use crate::error::ApiError;
use crate::state::AppState;

/// A family a [`Reader`] reads through.
pub trait ReadFamily: Send + Sync + 'static {
    /// The family.
    const FAMILY: ApiFamily;
}

/// The Query API (`/api/query/...`, `/api/2.0/...` reports).
pub struct QueryApi;

impl ReadFamily for QueryApi {
    const FAMILY: ApiFamily = ApiFamily::Query;
}

/// Raw export (`/api/2.0/export`).
pub struct ExportApi;

impl ReadFamily for ExportApi {
    const FAMILY: ApiFamily = ApiFamily::Export;
}

/// An authenticated reading request.
pub struct Reader<F: ReadFamily = QueryApi> {
    /// Its parameters.
    pub params: Params,
    /// Who asked, and for which project.
    pub credential: Credential,
    /// The project's expression settings.
    pub options: Options,
    family: PhantomData<F>,
}

impl<F: ReadFamily> Reader<F> {
    /// The project read.
    pub fn project(&self) -> &Project {
        &self.credential.project
    }
}

impl<F: ReadFamily> FromRequest<AppState> for Reader<F> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let params = body::query_params(&parts, body, F::FAMILY.max_request_bytes()).await?;
        let credential = auth::reader(state, &parts, &params, F::FAMILY).await?;
        let options = crate::reports::expression_options(&credential.project);
        Ok(Reader { params, credential, options, family: PhantomData })
    }
}
