//! `GET|HEAD /live/{production}/{stream}/{file}`: a stream's HLS playlist and
//! segments, public like feeds (players have no token). The worker publishes
//! them into the public store; on AWS the CDN serves the same keys.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, Method, StatusCode},
    response::Response,
};
use podops_core::{
    domain::{Guid, ProductionName},
    ports::{BlobError, BlobKey},
    service::hls_key,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{error::ApiError, openapi::ErrorBody, routes::productions::set, state::AppState};

#[derive(OpenApi)]
#[openapi(paths(get_live))]
struct LiveDoc;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(LiveDoc::openapi()).route("/live/{production}/{stream}/{file}", axum::routing::get(get_live).head(head_live))
}

/// A live stream's HLS playlist (`index.m3u8`) or one of its segments (`seg-N.ts`).
#[utoipa::path(get, path = "/live/{production}/{stream}/{file}", tag = "streams",
    params(("production" = String, Path, description = "the production's name"), ("stream" = String, Path, pattern = "^[0-9a-f]{12}$"),
           ("file" = String, Path, description = "index.m3u8 or seg-N.ts")),
    responses((status = 200, description = "application/vnd.apple.mpegurl or video/mp2t"), (status = 404, body = ErrorBody)))]
async fn get_live(State(state): State<AppState>, Path((production, stream, file)): Path<(String, String, String)>) -> Result<Response, ApiError> {
    serve(&state, Method::GET, &production, &stream, &file).await
}

async fn head_live(State(state): State<AppState>, Path((production, stream, file)): Path<(String, String, String)>) -> Result<Response, ApiError> {
    serve(&state, Method::HEAD, &production, &stream, &file).await
}

fn is_segment(file: &str) -> bool {
    file.strip_prefix("seg-").and_then(|f| f.strip_suffix(".ts")).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

async fn serve(state: &AppState, method: Method, production: &str, stream: &str, file: &str) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "live.not_found", "no live stream is published here");
    let (Ok(name), Ok(id)) = (ProductionName::parse(production), Guid::parse(stream)) else { return Err(not_found()) };
    let playlist = file == "index.m3u8";
    if !playlist && !is_segment(file) {
        return Err(not_found());
    }
    let publishing = state.podops.publishing.as_ref().ok_or_else(not_found)?;
    let key = BlobKey::parse(&hls_key(name.as_str(), &id, file)).map_err(|_| not_found())?;
    let blob = match publishing.public.get(&key, None).await {
        Ok(b) => b,
        Err(BlobError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let size = blob.meta.size;
    let mut resp = if method == Method::HEAD { Response::new(Body::empty()) } else { Response::new(Body::from_stream(blob.body)) };
    set(&mut resp, header::CONTENT_LENGTH, &size.to_string());
    set(&mut resp, header::CONTENT_TYPE, if playlist { "application/vnd.apple.mpegurl" } else { "video/mp2t" });
    // The playlist changes every segment; a segment never changes.
    set(&mut resp, header::CACHE_CONTROL, if playlist { "no-cache" } else { "public, max-age=3600, immutable" });
    set(&mut resp, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    set(&mut resp, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    Ok(resp)
}
