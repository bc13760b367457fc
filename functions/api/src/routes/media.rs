//! `GET|HEAD /media/{key}?expires=&signature=`: serves stored media to
//! whoever holds a signed URL — podcast apps have no token. Byte ranges get
//! 206 (Apple refuses feeds whose media answers a range request with 200).

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, Method, StatusCode},
    response::Response,
};
use podops_core::{
    ports::{BlobError, BlobKey, MAX_PART_SIZE},
    service::{HitSink, RawHit},
    signing::{media_url_valid, part_resource},
};
use serde::Deserialize;
use serde_json::json;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    auth::ClientAddr,
    extract::ApiQuery,error::ApiError, openapi::ErrorBody, routes::productions::set, state::AppState};

/// Object keys contain `/`, so the route is axum's wildcard `{*key}`; OpenAPI
/// has no wildcard, so the document says `{key}` through this derive.
#[derive(OpenApi)]
#[openapi(paths(get_media, head_media, put_media))]
struct MediaDoc;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(MediaDoc::openapi())
        .route("/media/{*key}", axum::routing::get(get_media).head(head_media).put(put_media))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signature {
    /// UNIX time after which the URL stops working.
    expires: Option<i64>,
    signature: Option<String>,
    /// A part of a multipart upload (PUT only): its upload and number.
    upload_id: Option<String>,
    #[param(minimum = 1, maximum = 10000)]
    part: Option<u32>,
}

/// Media bytes, whole or a single byte range.
#[utoipa::path(get, path = "/media/{key}", tag = "media", params(("key" = String, Path, description = "object key"), Signature),
    responses((status = 200, description = "the bytes"), (status = 206, description = "a byte range"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
async fn get_media(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(sig): ApiQuery<Signature>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hit = state.podops.hits.clone().zip(ip).map(|(recorder, ip)| {
        let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let raw = RawHit { time: state.podops.clock.now(), key: key.clone(), ip, user_agent, method: "GET".into(), status: 200, range: None };
        (recorder, raw)
    });
    serve(&state, Method::GET, &key, sig, &headers, hit).await
}

/// Records a download for analytics when its body is done with (sent whole,
/// or cut off): the bytes that really left, not the bytes asked for.
struct HitGuard {
    recorder: std::sync::Arc<dyn HitSink>,
    hit: RawHit,
    start: u64,
    sent: u64,
}

impl HitGuard {
    fn sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }
}

impl Drop for HitGuard {
    fn drop(&mut self) {
        if self.sent > 0 {
            let mut hit = self.hit.clone();
            hit.range = Some((self.start, self.start + self.sent - 1));
            self.recorder.record(hit);
        }
    }
}

/// Media headers (size, type) without the bytes.
#[utoipa::path(head, path = "/media/{key}", tag = "media", params(("key" = String, Path), Signature),
    responses((status = 200, description = "headers only"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn head_media(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(sig): ApiQuery<Signature>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(&state, Method::HEAD, &key, sig, &headers, None).await
}

/// The embedded backend's presigned PUT: stores the bytes of a presigned upload.
/// The media type comes from the key (fixed when the URL was signed), never
/// from the client, and the size limit is enforced while streaming.
#[utoipa::path(put, path = "/media/{key}", tag = "media", params(("key" = String, Path), Signature),
    request_body(content = Vec<u8>, description = "the file's bytes"),
    responses((status = 201, description = "stored"), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn put_media(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(sig): ApiQuery<Signature>,
    body: Body,
) -> Result<Response, ApiError> {
    if let (Some(upload_id), Some(part)) = (sig.upload_id.clone(), sig.part) {
        return put_part(&state, &key, &upload_id, part, sig, body).await;
    }
    check_signature(&state, &Method::PUT, &key, sig)?;
    let key = BlobKey::parse(&key).map_err(|_| ApiError::from(BlobError::NotFound))?;
    let media_type = state.podops.media.media_type_of_key(key.as_str()).ok_or(BlobError::NotFound)?;
    let stream = futures::TryStreamExt::map_err(body.into_data_stream(), |e| std::io::Error::other(e.to_string()));
    state.podops.blobs.put(&key, media_type, Box::pin(stream), state.podops.media.max_upload).await.map_err(|e| {
        ApiError::from(podops_core::service::ServiceError::from(e))
    })?;
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// The embedded backend's presigned UploadPart: one part of a multipart upload.
/// Answers the part's `ETag`, as S3 does. Each stored part is logged once
/// (`upload part stored`): what an operator reads to see a resumed upload
/// send only what was missing.
async fn put_part(state: &AppState, key: &str, upload_id: &str, number: u32, sig: Signature, body: Body) -> Result<Response, ApiError> {
    check_signature(state, &Method::PUT, &part_resource(key, upload_id, number), sig)?;
    let key = BlobKey::parse(key).map_err(|_| ApiError::from(BlobError::NotFound))?;
    let stream = futures::TryStreamExt::map_err(body.into_data_stream(), |e| std::io::Error::other(e.to_string()));
    let limit = state.podops.media.max_upload.min(MAX_PART_SIZE);
    let part = state.podops.blobs.put_part(&key, upload_id, number, Box::pin(stream), limit).await.map_err(|e| {
        ApiError::from(podops_core::service::ServiceError::from(e))
    })?;
    tracing::info!(upload_id, part = number, size = part.size, "upload part stored");
    let mut resp = Response::new(Body::empty());
    set(&mut resp, header::ETAG, &format!("\"{}\"", part.etag));
    Ok(resp)
}

fn check_signature(state: &AppState, method: &Method, key: &str, sig: Signature) -> Result<(), ApiError> {
    let forbidden = |code, message| ApiError::new(StatusCode::FORBIDDEN, code, message);
    let (Some(expires), Some(signature)) = (sig.expires, sig.signature) else {
        return Err(forbidden("media.signature_missing", "this URL needs its expires and signature parameters"));
    };
    let now = state.podops.clock.now();
    if now > expires {
        return Err(forbidden("media.url_expired", "this media URL has expired; ask the API for a fresh one"));
    }
    if !media_url_valid(&state.media_signer, method.as_str(), key, expires, &signature, now) {
        return Err(forbidden("media.signature_invalid", "the media URL's signature does not match"));
    }
    Ok(())
}

async fn serve(state: &AppState, method: Method, key: &str, sig: Signature, headers: &HeaderMap, hit: Option<(std::sync::Arc<dyn HitSink>, RawHit)>) -> Result<Response, ApiError> {
    check_signature(state, &method, key, sig)?;
    let key = BlobKey::parse(key).map_err(|_| ApiError::from(BlobError::NotFound))?;
    let blobs = &state.podops.blobs;
    let meta = blobs.head(&key).await?.ok_or(BlobError::NotFound)?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => requested_range(r, meta.size)?,
        None => None,
    };
    let (status, body, start, end) = if method == Method::HEAD {
        (StatusCode::OK, Body::empty(), 0, meta.size.saturating_sub(1))
    } else {
        let blob = blobs.get(&key, range.clone()).await?;
        let status = if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
        let (start, end) = (*blob.range.start(), *blob.range.end());
        let body = match hit {
            Some((recorder, mut hit)) => {
                hit.status = status.as_u16();
                let mut guard = HitGuard { recorder, hit, start, sent: 0 };
                Body::from_stream(futures::StreamExt::map(blob.body, move |chunk| {
                    if let Ok(bytes) = &chunk {
                        guard.sent(bytes.len());
                    }
                    chunk
                }))
            }
            None => Body::from_stream(blob.body),
        };
        (status, body, start, end)
    };
    let length = if meta.size == 0 { 0 } else { end - start + 1 };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    set(&mut resp, header::CONTENT_TYPE, &meta.content_type);
    set(&mut resp, header::CONTENT_LENGTH, &length.to_string());
    set(&mut resp, header::ACCEPT_RANGES, "bytes");
    set(&mut resp, header::ETAG, &format!("\"{}\"", meta.sha256));
    set(&mut resp, header::CACHE_CONTROL, "private, max-age=300");
    set(&mut resp, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if status == StatusCode::PARTIAL_CONTENT {
        set(&mut resp, header::CONTENT_RANGE, &format!("bytes {start}-{end}/{}", meta.size));
    }
    Ok(resp)
}

/// The single range asked for. A malformed header is ignored (RFC 9110:
/// serve the whole object); several ranges are served whole too, since
/// podcast clients ask for one.
fn requested_range(header: &str, size: u64) -> Result<Option<std::ops::RangeInclusive<u64>>, ApiError> {
    let Ok(parsed) = http_range_header::parse_range_header(header) else { return Ok(None) };
    match parsed.validate(size) {
        Ok(ranges) if ranges.len() == 1 => Ok(ranges.into_iter().next()),
        Ok(_) => Ok(None),
        Err(_) => Err(ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "media.range_not_satisfiable", "the range lies outside the object")
            .with_params(json!({ "size": size }))),
    }
}
