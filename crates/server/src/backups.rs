//! Online backups (`/api/app/organizations/{organization_id}/backups`): start one, and
//! read its state. The work is `crate::backup_jobs`; restoring is offline (`sextant
//! restore`).
//!
//! A backup holds every organisation's data and the server's secrets, so only owners
//! and admins of the first organisation (the one the first start made) may take one.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use serde_json::Value;
use sextant_api::backups::{Backup, BackupRequest, valid_name};
use sextant_model::ErrorCode;

use crate::admin::{org_admin, read_body};
use crate::error::ApiError;
use crate::state::AppState;
use sextant_api::envelope::Single;

/// `POST /api/app/organizations/{organization_id}/backups`.
#[utoipa::path(
    post,
    path = "/api/app/organizations/{organization_id}/backups",
    tag = "app",
    summary = "Start an online backup of the whole server (the first organization's owners and admins)",
    description = "Copies the control plane, the event store (one snapshot, taken while ingestion goes on) and the server's secrets into the backups directory under `name`, in the background; read its state with GET. `sextant restore` brings it back offline.",
    params(("organization_id" = i64, Path, description = "The first organization.")),
    request_body(content = BackupRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Started", body = Single<Backup>),
        (status = 409, description = "A backup by that name exists, or one is running")
    ),
    security(("basic" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<Single<Backup>>), ApiError> {
    let (parts, body) = request.into_parts();
    let caller = org_admin(&state, &organization_id, &parts).await?;
    first_organization(&state, caller.org).await?;
    let body = read_body(&parts.headers, body).await?;
    let name = match body.get("name").and_then(Value::as_str) {
        Some(name) if valid_name(name) => name.to_string(),
        _ => {
            return Err(ApiError::invalid_fields(
                "invalid backup request",
                vec![(
                    "name".into(),
                    "is required: 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `.` nor ending in `.partial` or `.failed`".into(),
                )],
            ));
        }
    };
    let backups = state.backups.clone();
    if backups.root.as_os_str().is_empty() {
        return Err(ApiError::new(ErrorCode::Unavailable, "this server has no backups directory"));
    }
    if !backups.claim() {
        return Err(ApiError::new(ErrorCode::Conflict, "a backup is running; start another when it is done"));
    }
    // A failed backup's name may be used again; anything else by that name stays.
    let existing = {
        let backups = backups.clone();
        let name = name.clone();
        tokio::task::spawn_blocking(move || match backups.status(&name) {
            Some(b) if b.state == "failed" => {
                backups.forget_failure(&name);
                backups.path(&name).exists()
            }
            Some(_) => true,
            None => backups.path(&name).exists(),
        })
        .await
        .unwrap_or(true)
    };
    if existing {
        backups.release();
        return Err(ApiError::new(ErrorCode::Conflict, format!("a backup named `{name}` exists")));
    }
    if let Err(e) = tokio::fs::create_dir_all(&backups.root).await {
        backups.release();
        return Err(ApiError::new(ErrorCode::Internal, format!("cannot create the backups directory: {e}")));
    }
    let partial = backups.root.join(format!("{name}.partial"));
    if let Err(e) = tokio::fs::create_dir(&partial).await {
        backups.release();
        return Err(ApiError::new(ErrorCode::Internal, format!("cannot start backup `{name}`: {e}")));
    }
    tracing::info!(backup = %name, by = %caller.actor.name, "backup started");
    tokio::spawn(crate::backup_jobs::take(state.clone(), name.clone()));
    let view = backups.status(&name).unwrap_or_else(|| Backup {
        name: name.clone(),
        state: "running".into(),
        error: None,
        path: backups.path(&name).display().to_string(),
        manifest: None,
    });
    Ok((StatusCode::ACCEPTED, Json(Single::ok(view))))
}

/// `GET /api/app/organizations/{organization_id}/backups/{name}`.
#[utoipa::path(
    get,
    path = "/api/app/organizations/{organization_id}/backups/{name}",
    tag = "app",
    summary = "A backup's state (`running`, `done` with its manifest, or `failed` with why)",
    params(
        ("organization_id" = i64, Path, description = "The first organization."),
        ("name" = String, Path, description = "The backup's name.")
    ),
    responses((status = 200, description = "The backup", body = Single<Backup>)),
    security(("basic" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((organization_id, name)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<Backup>>, ApiError> {
    let (parts, _) = request.into_parts();
    let caller = org_admin(&state, &organization_id, &parts).await?;
    first_organization(&state, caller.org).await?;
    let backups = state.backups.clone();
    let found = match valid_name(&name) {
        true => {
            let name = name.clone();
            tokio::task::spawn_blocking(move || backups.status(&name)).await.unwrap_or(None)
        }
        false => None,
    };
    let backup = found.ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no backup named `{name}`")))?;
    Ok(Json(Single::ok(backup)))
}

/// Refuses an organisation other than the first: a backup holds them all.
async fn first_organization(state: &AppState, org: sextant_model::OrgId) -> Result<(), ApiError> {
    if state.metadata.default_organization().await? != org {
        return Err(ApiError::forbidden(
            "a backup holds every organization's data: only the first organization's owners and admins may take or read one",
        ));
    }
    Ok(())
}
