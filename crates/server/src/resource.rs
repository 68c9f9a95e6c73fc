//! The App API's one pattern for a project's saved objects (cohorts, funnels, saved
//! reports, lookup tables, annotations; the coming Lexicon, flags, experiments,
//! pipelines and GDPR jobs): list (newest first, cursor paging, `fields`), get, create,
//! update, delete, each behind the access matrix's row for reading or writing the kind
//! ([`Resource::READ`], [`Resource::WRITE`]), answered as `{"status": "ok", "results"}`
//! (a delete: `{"status": "ok", "results": {"id"}}`).
//!
//! Every object carries the audit fields ([`crate::audit::AuditView`]: `created`,
//! `modified`, `creator_id`, `creator_name`, `creator_type`) unless the Mixpanel spec
//! it follows allows no other keys (annotations show their maker as `user`), and
//! `expand=creator` on a list or a get adds the creating credential as it is now.
//!
//! A kind of object says what is particular to it by implementing [`Resource`] (and
//! [`Paged`] when it is listed a page at a time, [`Changeable`] when it can be
//! changed): how its id is spelled, how it is shown, and what the control plane does for
//! each operation, given the request's parsed body.
//! The outline every operation shares (authenticate, parse the id, read the body, call
//! the store, answer) is written once, here; each handler is one call of [`list`],
//! [`get`], [`create`], [`update`] or [`delete`] under its own route and documentation.

use std::future::Future;

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use sextant_metadata::Metadata;
use sextant_model::access::Operation;
use sextant_model::{Actor, Audit, Page, PageRequest, Project, ProjectId};

use crate::admin::{admin_for, read_body, to_value};
use crate::audit::{CreatorView, Expand, creators};
use crate::collection::CollectionQuery;
use crate::error::ApiError;
use crate::state::AppState;
use sextant_api::envelope::Single;

/// The control plane's answer.
type Stored<T> = sextant_metadata::Result<T>;

/// One kind of saved object.
pub(crate) trait Resource: 'static {
    /// What the control plane keeps.
    type Stored: Send + Sync + 'static;
    /// How the App API shows it: the type the OpenAPI document names.
    type View: Serialize + utoipa::ToSchema;
    /// Its id.
    type Id: Send + Sync + 'static;
    /// The id's path parameter, as errors name it (`funnel_id`).
    const ID: &'static str;
    /// The object, as errors name it (`funnel`).
    const NOUN: &'static str;
    /// The operation reading one is (the matrix's row).
    const READ: Operation = Operation::AppRead;
    /// The operation making, changing or deleting one is.
    const WRITE: Operation = Operation::AppWrite;

    /// The id the path spells, if it is one.
    fn parse_id(text: &str) -> Option<Self::Id>;
    /// The id as answers show it.
    fn id_value(id: &Self::Id) -> Value;
    /// How it is shown, with its creator when it is expanded.
    fn view(stored: &Self::Stored, creator: Option<CreatorView>) -> Self::View;
    /// Its audit fields.
    fn audit(stored: &Self::Stored) -> &Audit;
    /// One object of the project.
    fn get(md: &Metadata, project: ProjectId, id: &Self::Id) -> impl Future<Output = Stored<Self::Stored>> + Send;
    /// Makes one from a request body (already read: JSON, or a form as strings), made by
    /// `creator`.
    fn create(
        state: &AppState,
        project: &Project,
        creator: &Actor,
        body: Value,
    ) -> impl Future<Output = Result<Self::Stored, ApiError>> + Send;
    /// Deletes one (and whatever the stores keep of it).
    fn delete(state: &AppState, project: ProjectId, id: &Self::Id)
    -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// A kind of saved object listed a page at a time, newest first (annotations, listed by
/// date range as Mixpanel's spec has it, are not).
pub(crate) trait Paged: Resource {
    /// One page of the project's objects, newest first.
    fn page(
        md: Metadata,
        project: ProjectId,
        page: PageRequest,
    ) -> impl Future<Output = Stored<Page<Self::Stored>>> + Send;
}

/// A kind of saved object that can be changed in place.
pub(crate) trait Changeable: Resource {
    /// Applies a request body's changes to `id`.
    fn update(
        state: &AppState,
        project: &Project,
        id: &Self::Id,
        body: Value,
    ) -> impl Future<Output = Result<Self::Stored, ApiError>> + Send;
}

/// The id a path spells, or a 400 naming the id's parameter.
pub(crate) fn id_of<R: Resource>(text: &str) -> Result<R::Id, ApiError> {
    R::parse_id(text).ok_or_else(|| {
        ApiError::invalid_fields(&format!("invalid {} id", R::NOUN), vec![(R::ID.into(), "must be an integer".into())])
    })
}

fn expand_of(params: &sextant_ingest::Params) -> Result<Expand, ApiError> {
    Expand::parse(params)
        .map_err(|problem| ApiError::invalid_fields("invalid expand", vec![("expand".into(), problem)]))
}

/// The views of `items`, their creators expanded when `expand` asks.
async fn views<R: Resource>(
    state: &AppState,
    project: ProjectId,
    expand: Expand,
    items: &[R::Stored],
) -> Result<Vec<R::View>, ApiError> {
    let expanded = if expand.creator {
        creators(&state.metadata, project, items.iter().map(R::audit)).await?
    } else {
        Default::default()
    };
    Ok(items
        .iter()
        .map(|stored| {
            let creator = R::audit(stored).creator.as_ref().and_then(|c| expanded.get(&(c.kind, c.id)).cloned());
            R::view(stored, creator)
        })
        .collect())
}

/// `GET .../{things}`: a page of the project's objects, trimmed to `fields`.
pub(crate) async fn list<R: Paged>(
    state: &AppState,
    project_id: &str,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, params) = admin_for(state, project_id, &parts, R::READ).await?;
    let query = CollectionQuery::parse(&params)?;
    let expand = expand_of(&params)?;
    let page = R::page(state.metadata.clone(), credential.project.id, query.page).await?;
    let shown = views::<R>(state, credential.project.id, expand, &page.items).await?;
    let page = Page {
        items: shown,
        next: page.next,
        has_next: page.has_next,
        previous: page.previous,
        has_previous: page.has_previous,
    };
    Ok(Json(query.respond(page, |view| to_value(view))))
}

/// `GET .../{things}/{id}`.
pub(crate) async fn get<R: Resource>(
    state: &AppState,
    project_id: &str,
    id: &str,
    request: Request,
) -> Result<Json<Single<R::View>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, params) = admin_for(state, project_id, &parts, R::READ).await?;
    let expand = expand_of(&params)?;
    let stored = R::get(&state.metadata, credential.project.id, &id_of::<R>(id)?).await?;
    let mut shown = views::<R>(state, credential.project.id, expand, std::slice::from_ref(&stored)).await?;
    let view = shown.pop().ok_or_else(|| ApiError::new(sextant_model::ErrorCode::Internal, "no view of the object"))?;
    Ok(Json(Single::ok(view)))
}

/// `POST .../{things}`: 201 with the new object.
pub(crate) async fn create<R: Resource>(
    state: &AppState,
    project_id: &str,
    request: Request,
) -> Result<(StatusCode, Json<Single<R::View>>), ApiError> {
    create_answering::<R>(state, project_id, request, StatusCode::CREATED).await
}

/// `POST .../{things}`, answered with `status` (a Mixpanel spec that answers a
/// creation with 200) and the new object.
pub(crate) async fn create_answering<R: Resource>(
    state: &AppState,
    project_id: &str,
    request: Request,
    status: StatusCode,
) -> Result<(StatusCode, Json<Single<R::View>>), ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, _) = admin_for(state, project_id, &parts, R::WRITE).await?;
    let body = read_body(&parts.headers, body).await?;
    let stored = R::create(state, &credential.project, &credential.actor, body).await?;
    Ok((status, Json(Single::ok(R::view(&stored, None)))))
}

/// `PATCH .../{things}/{id}`.
pub(crate) async fn update<R: Changeable>(
    state: &AppState,
    project_id: &str,
    id: &str,
    request: Request,
) -> Result<Json<Single<R::View>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, _) = admin_for(state, project_id, &parts, R::WRITE).await?;
    let id = id_of::<R>(id)?;
    let body = read_body(&parts.headers, body).await?;
    let stored = R::update(state, &credential.project, &id, body).await?;
    Ok(Json(Single::ok(R::view(&stored, None))))
}

/// `DELETE .../{things}/{id}`: `{"status": "ok"}`.
pub(crate) async fn delete<R: Resource>(
    state: &AppState,
    project_id: &str,
    id: &str,
    request: Request,
) -> Result<Json<Deleted>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, _) = admin_for(state, project_id, &parts, R::WRITE).await?;
    let id = id_of::<R>(id)?;
    R::delete(state, credential.project.id, &id).await?;
    Ok(Json(Deleted { status: "ok", results: DeletedId { id: R::id_value(&id) } }))
}

/// The answer to a delete: `{"status": "ok", "results": {"id": ...}}`, as Mixpanel's
/// annotations spec answers one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// Always `ok`.
    #[schema(value_type = String, example = "ok")]
    pub status: &'static str,
    /// What was deleted.
    pub results: DeletedId,
}

/// The id of what was deleted.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeletedId {
    /// A number, or a lookup table's UUID.
    pub id: Value,
}

/// The documented handlers of one resource, each one call of this module's outline:
/// `app_list` and `app_create` at `collection`, `app_get`, `app_update` (when the
/// resource is [`Changeable`] and an `update` summary is given) and `app_delete` at
/// `item`. What differs between resources is only their paths, types and summaries.
macro_rules! app_resource {
    (
        resource: $resource:ty,
        view: $view:ty,
        body: $body:ty,
        collection: $collection:literal,
        item: $item:literal,
        id: ($id:literal = $id_type:ty, $id_description:literal),
        list: $list:literal,
        create: $create:literal,
        get: $get:literal,
        $(update: $update:literal,)?
        delete: $delete:literal $(,)?
    ) => {
        #[doc = concat!("`GET ", $collection, "`.")]
        #[utoipa::path(
            get,
            path = $collection,
            tag = "app",
            summary = $list,
            params(("project_id" = i64, Path, description = "The project."), $crate::collection::PageParams, $crate::audit::ExpandParams),
            responses((status = 200, description = "A page, newest first", body = sextant_api::envelope::CollectionPage<$view>)),
            security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
        )]
        pub async fn app_list(
            axum::extract::State(state): axum::extract::State<$crate::state::AppState>,
            axum::extract::Path(project_id): axum::extract::Path<String>,
            request: axum::extract::Request,
        ) -> Result<axum::Json<serde_json::Value>, $crate::error::ApiError> {
            $crate::resource::list::<$resource>(&state, &project_id, request).await
        }

        #[doc = concat!("`POST ", $collection, "`.")]
        #[utoipa::path(
            post,
            path = $collection,
            tag = "app",
            summary = $create,
            params(("project_id" = i64, Path, description = "The project.")),
            request_body(content = $body, content_type = "application/json"),
            responses((status = 201, description = "Created", body = sextant_api::envelope::Single<$view>)),
            security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
        )]
        pub async fn app_create(
            axum::extract::State(state): axum::extract::State<$crate::state::AppState>,
            axum::extract::Path(project_id): axum::extract::Path<String>,
            request: axum::extract::Request,
        ) -> Result<(axum::http::StatusCode, axum::Json<sextant_api::envelope::Single<$view>>), $crate::error::ApiError> {
            $crate::resource::create::<$resource>(&state, &project_id, request).await
        }

        #[doc = concat!("`GET ", $item, "`.")]
        #[utoipa::path(
            get,
            path = $item,
            tag = "app",
            summary = $get,
            params(("project_id" = i64, Path, description = "The project."), ($id = $id_type, Path, description = $id_description), $crate::audit::ExpandParams),
            responses((status = 200, description = "The object", body = sextant_api::envelope::Single<$view>)),
            security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
        )]
        pub async fn app_get(
            axum::extract::State(state): axum::extract::State<$crate::state::AppState>,
            axum::extract::Path((project_id, id)): axum::extract::Path<(String, String)>,
            request: axum::extract::Request,
        ) -> Result<axum::Json<sextant_api::envelope::Single<$view>>, $crate::error::ApiError> {
            $crate::resource::get::<$resource>(&state, &project_id, &id, request).await
        }

        $(
            #[doc = concat!("`PATCH ", $item, "`.")]
            #[utoipa::path(
                patch,
                path = $item,
                tag = "app",
                summary = $update,
                params(("project_id" = i64, Path, description = "The project."), ($id = $id_type, Path, description = $id_description)),
                request_body(content = $body, content_type = "application/json"),
                responses((status = 200, description = "Changed", body = sextant_api::envelope::Single<$view>)),
                security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
            )]
            pub async fn app_update(
                axum::extract::State(state): axum::extract::State<$crate::state::AppState>,
                axum::extract::Path((project_id, id)): axum::extract::Path<(String, String)>,
                request: axum::extract::Request,
            ) -> Result<axum::Json<sextant_api::envelope::Single<$view>>, $crate::error::ApiError> {
                $crate::resource::update::<$resource>(&state, &project_id, &id, request).await
            }
        )?

        #[doc = concat!("`DELETE ", $item, "`.")]
        #[utoipa::path(
            delete,
            path = $item,
            tag = "app",
            summary = $delete,
            params(("project_id" = i64, Path, description = "The project."), ($id = $id_type, Path, description = $id_description)),
            responses((status = 200, description = "Deleted", body = $crate::resource::Deleted)),
            security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
        )]
        pub async fn app_delete(
            axum::extract::State(state): axum::extract::State<$crate::state::AppState>,
            axum::extract::Path((project_id, id)): axum::extract::Path<(String, String)>,
            request: axum::extract::Request,
        ) -> Result<axum::Json<$crate::resource::Deleted>, $crate::error::ApiError> {
            $crate::resource::delete::<$resource>(&state, &project_id, &id, request).await
        }
    };
}
pub(crate) use app_resource;
