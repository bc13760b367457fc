//! Moving a show in: `POST /a/v1/import/feed {url, name?, dry_run?}` → 202
//! with the import, and `GET /a/v1/import/feed/{id}` → its state, progress
//! and report. The worker does the fetching and writing (see the core's
//! `feed_imports`).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use podops_core::service::{FeedImport, FeedImportRequest};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Authenticated, error::ApiError, extract::ApiJson, openapi::ErrorBody, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start)).routes(routes!(status))
}

/// Imports a show from its RSS feed into a production (`name`: created if new, synced if it is
/// yours; default from the URL), or with `dry_run` only reports what would be imported.
#[utoipa::path(post, path = "/a/v1/import/feed", tag = "imports", request_body = FeedImportRequest, security(("bearer" = [])),
    responses((status = 202, body = FeedImport, description = "the import; follow it at /a/v1/import/feed/{id}"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "production.name_taken: the name is another's production"),
              (status = 415, body = ErrorBody)))]
async fn start(State(state): State<AppState>, auth: Authenticated, ApiJson(request): ApiJson<FeedImportRequest>) -> Result<Response, ApiError> {
    let import = state.podops.start_feed_import(&auth.caller, request).await?;
    Ok((StatusCode::ACCEPTED, Json(&import)).into_response())
}

/// An import's state (`queued`, `running`, `done`, `failed`), progress and report.
#[utoipa::path(get, path = "/a/v1/import/feed/{id}", tag = "imports", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = FeedImport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn status(State(state): State<AppState>, auth: Authenticated, Path(id): Path<String>) -> Result<Json<FeedImport>, ApiError> {
    Ok(Json(state.podops.feed_import(&auth.caller, &id).await?))
}
