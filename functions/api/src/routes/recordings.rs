//! Recordings (seed 004 /recordings, /replay): `GET /a/v1/recordings/{prod}`
//! lists what streams with `record: true` recorded, and
//! `POST /a/v1/recordings/{prod}/{asset}/publish` makes one an episode.
//! A recording is an asset (`rel: recording`) like any other.

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use podops_core::{domain::Resource, service::RecordingList};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{etag, guid, ApiJson},
    openapi::ErrorBody,
    routes::productions::set,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(publish))
}

/// The production's recordings, newest first: each one's stream, start, end, state and duration.
#[utoipa::path(get, path = "/a/v1/recordings/{prod}", tag = "streams", params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 200, body = RecordingList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Authenticated, Path(prod): Path<String>) -> Result<Json<RecordingList>, ApiError> {
    let prod = guid("prod", &prod)?;
    Ok(Json(state.podops.recordings(&auth.caller, &prod).await?))
}

/// An episode enclosing the recording (the replay). The body holds episode fields;
/// `title` defaults to the stream's title and the date, `published` to now.
#[utoipa::path(post, path = "/a/v1/recordings/{prod}/{asset}/publish", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("asset" = String, Path, pattern = "^[0-9a-f]{12}$")),
    request_body(content = Object, description = "episode fields (title, summary, published, season, …); enclosure is the recording"),
    security(("bearer" = [])),
    responses((status = 201, body = Resource, headers(("Location" = String))), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such recording"),
              (status = 409, body = ErrorBody, description = "asset.not_ready: the recording is still being joined or probed"),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn publish(State(state): State<AppState>, auth: Authenticated, Path((prod, asset)): Path<(String, String)>, ApiJson(fields): ApiJson<Value>) -> Result<Response, ApiError> {
    let (prod, asset) = (guid("prod", &prod)?, guid("asset", &asset)?);
    let episode = state.podops.publish_recording(&auth.caller, &prod, &asset, fields).await?;
    let mut resp = (StatusCode::CREATED, Json(&episode)).into_response();
    set(&mut resp, header::LOCATION, &format!("/a/v1/resource/{prod}/episode/{}", episode.guid));
    set(&mut resp, header::ETAG, &etag(episode.version));
    Ok(resp)
}
