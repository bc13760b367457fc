//! `POST /a/v1/build` (publish a production's feed, or `?dry_run=true` to see
//! it and its problems) and `POST /a/v1/build/rollback`.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use podops_core::{
    domain::Guid,
    service::{BuildOutcome, BuildRecord},
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    extract::ApiQuery,auth::Authenticated, error::ApiError, extract::ApiJson, openapi::ErrorBody, routes::productions::set, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(build)).routes(routes!(rollback))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildRequest {
    /// The production's GUID.
    production: Guid,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BuildParams {
    /// Render and check without publishing: the answer carries the feed.
    #[serde(default)]
    dry_run: bool,
}

/// Builds and publishes the production's feed (scope `production:build`).
#[utoipa::path(post, path = "/a/v1/build", tag = "productions", request_body = BuildRequest, params(BuildParams),
    security(("bearer" = [])),
    responses((status = 201, body = BuildOutcome, headers(("Location" = String, description = "the feed URL"))),
              (status = 200, body = BuildOutcome, description = "dry run"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "build.show_incomplete: params.problems lists what Apple requires")))]
async fn build(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(params): ApiQuery<BuildParams>,
    ApiJson(req): ApiJson<BuildRequest>,
) -> Result<Response, ApiError> {
    let outcome = state.podops.build(&auth.caller, &req.production, params.dry_run).await?;
    if params.dry_run {
        return Ok(Json(outcome).into_response());
    }
    let location = outcome.feed_url.clone();
    let mut resp = (StatusCode::CREATED, Json(outcome)).into_response();
    set(&mut resp, header::LOCATION, &location);
    Ok(resp)
}

/// Republishes the build before the newest one, and forgets the newest.
#[utoipa::path(post, path = "/a/v1/build/rollback", tag = "productions", request_body = BuildRequest,
    security(("bearer" = [])),
    responses((status = 200, body = BuildRecord, description = "the build now published"), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "build.nothing_to_roll_back")))]
async fn rollback(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(req): ApiJson<BuildRequest>,
) -> Result<Json<BuildRecord>, ApiError> {
    Ok(Json(state.podops.rollback(&auth.caller, &req.production).await?))
}
