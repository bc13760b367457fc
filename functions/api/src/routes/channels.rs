//! Public channel files (seed 004's /channels): `playlist.m3u` for players
//! and `epg.xml` (XMLTV) for guides. No credentials: what a player needs is
//! what a listener may see. Channels themselves are resources.

use axum::{
    extract::{Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{error::ApiError, openapi::ErrorBody, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(playlist)).routes(routes!(guide))
}

fn public(body: String, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    response
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "channel.not_found", "no such channel")
}

/// The channel's streams as an M3U playlist: `#EXTINF` and each stream's listen URL.
#[utoipa::path(get, path = "/channels/{production}/{channel}/playlist.m3u", tag = "channels",
    params(("production" = String, Path), ("channel" = String, Path)),
    responses((status = 200, content_type = "audio/x-mpegurl", body = String), (status = 404, body = ErrorBody)))]
async fn playlist(State(state): State<AppState>, Path((production, channel)): Path<(String, String)>) -> Result<Response, ApiError> {
    let m3u = state.podops.channel_playlist(&production, &channel).await?.ok_or_else(not_found)?;
    Ok(public(m3u, "audio/x-mpegurl; charset=utf-8"))
}

/// The channel's programme guide (XMLTV): its streams' scheduled slots from a day ago to a week ahead.
#[utoipa::path(get, path = "/channels/{production}/{channel}/epg.xml", tag = "channels",
    params(("production" = String, Path), ("channel" = String, Path)),
    responses((status = 200, content_type = "application/xml", body = String), (status = 404, body = ErrorBody)))]
async fn guide(State(state): State<AppState>, Path((production, channel)): Path<(String, String)>) -> Result<Response, ApiError> {
    let xml = state.podops.channel_guide(&production, &channel).await?.ok_or_else(not_found)?;
    Ok(public(xml, "application/xml; charset=utf-8"))
}
