//! `GET|HEAD /feeds/{name}/…`: published feeds and chapters files, public (no
//! token: podcast apps have none), with `ETag` and 304 so apps that poll
//! every few minutes cost almost nothing. Feeds are served from memory
//! (`feed_cache`), gzip or brotli as the client accepts.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
};
use podops_core::{
    domain::{Guid, ProductionName},
    ports::{BlobError, BlobKey},
};
use bytes::Bytes;
use futures::StreamExt;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    error::ApiError,
    feed_cache::{CachedFeed, Encoding},
    openapi::ErrorBody,
    routes::productions::set,
    state::AppState,
};

/// Paths below a feed contain `/`, so the route is a wildcard; the document says `{path}`.
#[derive(OpenApi)]
#[openapi(paths(get_feed, head_feed))]
struct FeedsDoc;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(FeedsDoc::openapi()).route("/feeds/{*path}", axum::routing::get(get_feed).head(head_feed))
}

/// A published feed (`<name>/feed.xml`) or chapters file (`<name>/chapters/<episode>.json`).
#[utoipa::path(get, path = "/feeds/{path}", tag = "feeds", params(("path" = String, Path, description = "e.g. my-first-podcast/feed.xml")),
    responses((status = 200, description = "application/rss+xml; gzip or br by Accept-Encoding"),
              (status = 301, description = "the show moved (redirect: true): Location is its new_feed_url"), (status = 304, description = "unchanged (If-None-Match)"), (status = 404, body = ErrorBody)))]
async fn get_feed(State(state): State<AppState>, Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&state, Method::GET, &path, &headers).await
}

/// Headers of a published feed.
#[utoipa::path(head, path = "/feeds/{path}", tag = "feeds", params(("path" = String, Path)),
    responses((status = 200, description = "headers only"), (status = 301, description = "the show moved"), (status = 304), (status = 404, body = ErrorBody)))]
async fn head_feed(State(state): State<AppState>, Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&state, Method::HEAD, &path, &headers).await
}

async fn serve(state: &AppState, method: Method, path: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "feed.not_found", "no feed is published here");
    // Archived builds are not public: only the feed and its chapters are.
    let name = path.split('/').next().unwrap_or("");
    let rest = &path[name.len()..];
    let public = rest == "/feed.xml" || (rest.starts_with("/chapters/") && rest.ends_with(".json"));
    if !public || ProductionName::parse(name).is_err() {
        return Err(not_found());
    }
    if let Some(episode) = rest.strip_prefix("/chapters/").and_then(|f| f.strip_suffix(".json")) {
        return chapters(state, name, episode).await;
    }
    let feed = cached(state, path, name).await?.ok_or_else(not_found)?;
    if let Some(moved_to) = &feed.redirect {
        // Leaving PodOps: Apple and the other directories follow a 301 together
        // with the feed's itunes:new-feed-url; apps that poll follow the 301.
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        set(&mut resp, header::LOCATION, moved_to);
        set(&mut resp, header::CACHE_CONTROL, "public, max-age=300");
        return Ok(resp);
    }
    let (encoding, body) = feed.body(Encoding::negotiate(headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok())));
    let etag = feed.etag(encoding);
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if unchanged {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let len = body.len();
        let mut r = Response::new(if method == Method::HEAD { Body::empty() } else { Body::from(body) });
        set(&mut r, header::CONTENT_LENGTH, &len.to_string());
        if let Some(coding) = encoding.header() {
            set(&mut r, header::CONTENT_ENCODING, coding);
        }
        r
    };
    set(&mut resp, header::CONTENT_TYPE, &feed.content_type);
    set(&mut resp, header::ETAG, &etag);
    set(&mut resp, header::VARY, "Accept-Encoding");
    set(&mut resp, header::CACHE_CONTROL, "public, max-age=60");
    set(&mut resp, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if let Some(modified) = &feed.last_modified {
        set(&mut resp, header::LAST_MODIFIED, modified);
    }
    Ok(resp)
}

/// The published feed from memory, checked against the store at most once a
/// second; read, compressed and cached again when it changed.
async fn cached(state: &AppState, path: &str, name: &str) -> Result<Option<Arc<CachedFeed>>, ApiError> {
    // Read before the store is: a publish meanwhile makes the next request look again.
    let published = state.podops.feeds_published.load(std::sync::atomic::Ordering::Acquire);
    if let Some(feed) = state.feeds.fresh(path, published) {
        return Ok(Some(feed));
    }
    let Some(publishing) = state.podops.publishing.as_ref() else { return Ok(None) };
    let Ok(key) = BlobKey::parse(&format!("feeds/{path}")) else { return Ok(None) };
    let Some(meta) = publishing.public.head(&key).await? else {
        state.feeds.forget(path);
        return Ok(None);
    };
    let (modified, redirect) = feed_meta(state, name).await;
    if let Some(feed) = state.feeds.any(path).filter(|f| f.sha256 == meta.sha256 && f.redirect == redirect) {
        state.feeds.put(path, feed.clone(), published);
        return Ok(Some(feed));
    }
    let _building = state.feeds.building.lock().await;
    // Another request may have built this version while we waited.
    if let Some(feed) = state.feeds.any(path).filter(|f| f.sha256 == meta.sha256 && f.redirect == redirect) {
        return Ok(Some(feed));
    }
    let blob = match publishing.public.get(&key, None).await {
        Ok(b) => b,
        Err(BlobError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut bytes = Vec::with_capacity(usize::try_from(blob.meta.size).unwrap_or(0));
    let mut body = blob.body;
    while let Some(piece) = body.next().await {
        bytes.extend_from_slice(&piece.map_err(|e| ApiError::from(BlobError::Body(e)))?);
    }
    let (sha, content_type) = (blob.meta.sha256, blob.meta.content_type);
    // Compressing (brotli at its best) takes milliseconds: off the async threads.
    let feed = tokio::task::spawn_blocking(move || CachedFeed { redirect, ..CachedFeed::new(sha, content_type, modified, Bytes::from(bytes)) })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "feed.cache", e.to_string()))?;
    let feed = Arc::new(feed);
    state.feeds.put(path, feed.clone(), published);
    Ok(Some(feed))
}

async fn chapters(state: &AppState, name: &str, episode: &str) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "feed.not_found", "no chapters are published here");
    let episode = Guid::parse(episode).map_err(|_| not_found())?;
    let json = state.podops.public_chapters(name, &episode).await?.ok_or_else(not_found)?;
    let mut resp = axum::Json(json).into_response();
    set(&mut resp, header::CONTENT_TYPE, podops_core::feed::chapters::CONTENT_TYPE);
    set(&mut resp, header::CACHE_CONTROL, "public, max-age=300");
    Ok(resp)
}

/// The production's last build time, as an HTTP date, and where its feed
/// redirects, as of that build.
async fn feed_meta(state: &AppState, name: &str) -> (Option<String>, Option<String>) {
    let Some(guid) = state.podops.production_by_name(name).await.ok().flatten() else { return (None, None) };
    let Some(production) = state.podops.production_record(&guid).await.ok().flatten() else { return (None, None) };
    (production.last_build.map(podops_core::feed::rss::rfc2822), production.feed_redirect)
}
