//! Backups and restores (seed 004 /backups): `POST /a/v1/backups` → 202 with
//! the backup; `GET /a/v1/backups/{prod}` lists them; `…/{id}/download` gives
//! a signed URL of the archive. `POST /a/v1/backups/uploads` gives a signed
//! URL to PUT an archive made elsewhere; `POST /a/v1/backups/restore` → 202
//! with the restore, followed at `GET /a/v1/backups/restore/{id}`. The worker
//! writes and reads the archives (see the core's `backups`).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use podops_core::service::{ArchiveUrl, Backup, BackupRequest, Restore, RestoreRequest};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{guid, ApiJson},
    openapi::ErrorBody,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(list))
        .routes(routes!(download))
        .routes(routes!(upload))
        .routes(routes!(restore))
        .routes(routes!(restore_status))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BackupList {
    /// Newest first.
    pub items: Vec<Backup>,
}

/// Backs a production up: its records and media into one archive (owners and managers).
#[utoipa::path(post, path = "/a/v1/backups", tag = "backups", request_body = BackupRequest, security(("bearer" = [])),
    responses((status = 202, body = Backup, description = "the backup; it is listed at /a/v1/backups/{prod} with its state"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn start(State(state): State<AppState>, auth: Authenticated, ApiJson(request): ApiJson<BackupRequest>) -> Result<Response, ApiError> {
    let backup = state.podops.start_backup(&auth.caller, request).await?;
    Ok((StatusCode::ACCEPTED, Json(&backup)).into_response())
}

/// The production's backups, newest first, with their state, size and sha256.
#[utoipa::path(get, path = "/a/v1/backups/{prod}", tag = "backups", params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 200, body = BackupList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Authenticated, Path(prod): Path<String>) -> Result<Json<BackupList>, ApiError> {
    let prod = guid("prod", &prod)?;
    Ok(Json(BackupList { items: state.podops.list_backups(&auth.caller, &prod).await? }))
}

/// A signed URL of a finished backup's archive (owners and managers).
#[utoipa::path(get, path = "/a/v1/backups/{prod}/{id}/download", tag = "backups",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 200, body = ArchiveUrl), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "backup.not_ready: the archive is still being written, or failed")))]
async fn download(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>) -> Result<Json<ArchiveUrl>, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    Ok(Json(state.podops.backup_download(&auth.caller, &prod, &id).await?))
}

/// A signed URL to PUT an archive made by another PodOps (or this one) before restoring it.
#[utoipa::path(post, path = "/a/v1/backups/uploads", tag = "backups", security(("bearer" = [])),
    responses((status = 201, body = ArchiveUrl), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn upload(State(state): State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    let url = state.podops.start_archive_upload(&auth.caller).await?;
    Ok((StatusCode::CREATED, Json(&url)).into_response())
}

/// Restores an archive into a new production, or into an empty one of yours; every sha256 is checked.
#[utoipa::path(post, path = "/a/v1/backups/restore", tag = "backups", request_body = RestoreRequest, security(("bearer" = [])),
    responses((status = 202, body = Restore, description = "the restore; follow it at /a/v1/backups/restore/{id}"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "backup.not_found: no such archive of yours"),
              (status = 409, body = ErrorBody, description = "production.name_taken, or backup.not_ready"), (status = 415, body = ErrorBody)))]
async fn restore(State(state): State<AppState>, auth: Authenticated, ApiJson(request): ApiJson<RestoreRequest>) -> Result<Response, ApiError> {
    let restore = state.podops.start_restore(&auth.caller, request).await?;
    Ok((StatusCode::ACCEPTED, Json(&restore)).into_response())
}

/// A restore's state (`queued`, `running`, `done`, `failed`) and report.
#[utoipa::path(get, path = "/a/v1/backups/restore/{id}", tag = "backups", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Restore), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn restore_status(State(state): State<AppState>, auth: Authenticated, Path(id): Path<String>) -> Result<Json<Restore>, ApiError> {
    Ok(Json(state.podops.restore(&auth.caller, &id).await?))
}
