//! Public reads (seed 002): `GET /a/v1/public/{name}` and
//! `GET /a/v1/public/{name}/episode/{id}`, without authentication — what the
//! published feed shows, as JSON, with `ETag` / 304 and `Cache-Control`.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use podops_core::{
    domain::Guid,
    service::{PublicEpisode, PublicShow, ServiceError},
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::MaybeAuthenticated, error::ApiError, openapi::ErrorBody, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(public_show)).routes(routes!(public_episode))
}

/// A published show with its episodes in short (newest first). Members also see scheduled episodes.
#[utoipa::path(get, path = "/a/v1/public/{name}", tag = "public", params(("name" = String, Path, pattern = "^[a-z0-9_-]{8,44}$")),
    responses((status = 200, body = PublicShow, headers(("ETag" = String))), (status = 304), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn public_show(State(state): State<AppState>, auth: MaybeAuthenticated, headers: HeaderMap, Path(name): Path<String>) -> Result<Response, ApiError> {
    let caller = auth.0.as_ref().map(|a| &a.caller);
    let show = state.podops.public_show(&name, caller).await?;
    Ok(cached(&headers, &show, caller.is_some()))
}

/// A public episode with its tracks, and its show in short.
#[utoipa::path(get, path = "/a/v1/public/{name}/episode/{id}", tag = "public",
    params(("name" = String, Path, pattern = "^[a-z0-9_-]{8,44}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$")),
    responses((status = 200, body = PublicEpisode, headers(("ETag" = String))), (status = 304), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn public_episode(State(state): State<AppState>, auth: MaybeAuthenticated, headers: HeaderMap, Path((name, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let id = Guid::parse(&id).map_err(|_| ApiError::from(ServiceError::PublicNotFound))?;
    let caller = auth.0.as_ref().map(|a| &a.caller);
    let episode = state.podops.public_episode(&name, &id, caller).await?;
    Ok(cached(&headers, &episode, caller.is_some()))
}

/// JSON with a content ETag; 304 when the client has it. Anonymous answers
/// are the same for everyone and may be cached; a member's may not.
fn cached<T: Serialize>(headers: &HeaderMap, body: &T, personal: bool) -> Response {
    let json = serde_json::to_vec(body).unwrap_or_default();
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&json)[..16]));
    let unchanged = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if unchanged { StatusCode::NOT_MODIFIED.into_response() } else { ([(header::CONTENT_TYPE, "application/json")], json).into_response() };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(if personal { "private, no-cache" } else { "public, max-age=60" }));
    h.insert(header::VARY, HeaderValue::from_static("Authorization, X-Api-Key"));
    response
}
