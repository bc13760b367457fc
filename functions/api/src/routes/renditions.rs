//! An asset's content, as stored or as a rendition made on request (seed
//! 003), and assets looked up by external id:
//! `GET|HEAD /a/v1/asset/{prod}/{id}/content?format=&bitrate=&channels=&exact=&loudness=`,
//! `GET|HEAD /a/v1/asset/{prod}/by-external/{name}/{value}`, and retrying
//! what failed: `POST /a/v1/asset/{prod}/{id}/retry[?format=&bitrate=&channels=&loudness=]`.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::Response,
};
use podops_core::{
    domain::{
        rendition::{parse_bitrate, parse_channels, parse_loudness},
        Guid, Invalid, RenditionFormat, RenditionRequest,
    },
    service::ContentLocation,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    extract::ApiQuery,
    auth::Authenticated,
    error::ApiError,
    extract::{bad, etag, guid},
    negotiate::Format,
    openapi::ErrorBody,
    routes::productions::set,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_content, head_content))
        .routes(routes!(get_by_external, head_by_external))
        .routes(routes!(retry))
}

/// Which rendition; none at all means the original.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContentParams {
    /// mp3, aac (m4a), ogg (opus), flac or wav.
    #[param(pattern = "^(|mp3|aac|m4a|ogg|opus|flac|wav)$")]
    format: Option<String>,
    /// 64000, 80000, 96000, 128000, 160000, 256000 or 320000 (lossy formats).
    #[param(pattern = "^(|64000|80000|96000|128000|160000|256000|320000)$")]
    bitrate: Option<String>,
    /// 1 or 2.
    #[param(pattern = "^(|1|2)$")]
    channels: Option<String>,
    /// true: refuse (409 asset.low_quality) rather than give a lower quality than asked.
    #[param(pattern = "^(|true|false|1|0)$")]
    exact: Option<String>,
    /// Integrated loudness target in whole LUFS, -31 to -5, e.g. -16 (true peak held at -1 dBTP).
    #[param(pattern = "^(|-([5-9]|[12][0-9]|3[01]))$")]
    loudness: Option<String>,
}

impl ContentParams {
    /// Whether any rendition parameter was given (an empty one counts as none).
    fn asks_for_content(&self) -> bool {
        [&self.format, &self.bitrate, &self.channels, &self.exact, &self.loudness].iter().any(|v| v.as_deref().is_some_and(|s| !s.is_empty()))
    }

    fn parse(&self) -> Result<RenditionRequest, ApiError> {
        fn opt(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|s| !s.is_empty())
        }
        let exact = match opt(&self.exact) {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => return Err(bad(Invalid::new("exact", "rendition.exact", "exact is true or false"))),
        };
        Ok(RenditionRequest {
            format: opt(&self.format).map(RenditionFormat::parse).transpose().map_err(bad)?,
            bitrate: opt(&self.bitrate).map(parse_bitrate).transpose().map_err(bad)?,
            channels: opt(&self.channels).map(parse_channels).transpose().map_err(bad)?,
            exact,
            loudness: opt(&self.loudness).map(parse_loudness).transpose().map_err(bad)?,
        })
    }
}

/// Redirects (302) to a signed URL of the original or of the rendition asked
/// for. A rendition not made yet is enqueued (once) and answered with 409
/// `asset.not_ready` and `Retry-After`.
#[utoipa::path(get, path = "/a/v1/asset/{prod}/{id}/content", tag = "media",
    params(("prod" = String, Path), ("id" = String, Path), ContentParams), security(("bearer" = [])),
    responses((status = 302, description = "Location: a signed URL of the bytes"), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "asset.not_ready (with Retry-After), asset.low_quality, asset.failed, asset.rendition_failed")))]
async fn get_content(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ContentParams>,
) -> Result<Response, ApiError> {
    let (prod, id, request) = (guid("prod", &prod)?, guid("id", &id)?, params.parse()?);
    let found = state.podops.asset_content(&auth.caller, &prod, &id, &request, true).await?;
    let mut resp = empty(StatusCode::FOUND);
    set(&mut resp, header::LOCATION, &found.url);
    set(&mut resp, header::CACHE_CONTROL, "private, no-store");
    Ok(resp)
}

/// Whether the original or rendition exists (200) or not yet (409), without
/// enqueueing anything.
#[utoipa::path(head, path = "/a/v1/asset/{prod}/{id}/content", tag = "media",
    params(("prod" = String, Path), ("id" = String, Path), ContentParams), security(("bearer" = [])),
    responses((status = 200, description = "it exists: Content-Type, Content-Length, Content-Location"), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn head_content(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ContentParams>,
) -> Result<Response, ApiError> {
    let (prod, id, request) = (guid("prod", &prod)?, guid("id", &id)?, params.parse()?);
    let found = state.podops.asset_content(&auth.caller, &prod, &id, &request, false).await?;
    Ok(exists(&found))
}

/// Retries what failed (scope `resource:write`): without rendition
/// parameters, the asset's import or probe; with them, that rendition. 202
/// with the asset, whose failure is cleared and whose work is queued again.
#[utoipa::path(post, path = "/a/v1/asset/{prod}/{id}/retry", tag = "media",
    params(("prod" = String, Path), ("id" = String, Path), ContentParams), security(("bearer" = [])),
    responses((status = 202, body = podops_core::domain::Resource), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "asset.not_failed")))]
async fn retry(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path((prod, id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ContentParams>,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let (prod, id, request) = (guid("prod", &prod)?, guid("id", &id)?, params.parse()?);
    let asset = state.podops.retry_asset(&auth.caller, &prod, &id, &request).await?;
    let mut resp = format.render(StatusCode::ACCEPTED, "asset", &asset);
    set(&mut resp, header::ETAG, &etag(asset.version));
    Ok(resp)
}

fn exists(found: &ContentLocation) -> Response {
    let mut resp = empty(StatusCode::OK);
    set(&mut resp, header::CONTENT_TYPE, &found.content_type);
    set(&mut resp, header::CONTENT_LOCATION, &found.url);
    if let Some(size) = found.size {
        set(&mut resp, header::CONTENT_LENGTH, &size.to_string());
    }
    resp
}

fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

/// The asset carrying an external id (e.g. `legacy_track_token` = `370456`). With rendition
/// parameters (`format`, `bitrate`, `channels`, `exact`, `loudness`) it answers as the asset's
/// content route does (302 to the bytes, 409 while a rendition is made), as seed 003's
/// `GET /v0/legacy/tracks/{token}` did.
#[utoipa::path(get, path = "/a/v1/asset/{prod}/by-external/{name}/{value}", tag = "resources",
    params(("prod" = String, Path), ("name" = String, Path), ("value" = String, Path), ContentParams), security(("bearer" = [])),
    responses((status = 200, body = podops_core::domain::Resource, headers(("ETag" = String), ("Content-Location" = String))),
              (status = 302, description = "with rendition parameters: Location, a signed URL of the bytes"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "with rendition parameters: asset.not_ready (with Retry-After), asset.low_quality, …")))]
async fn get_by_external(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path((prod, name, value)): Path<(String, String, String)>,
    ApiQuery(params): ApiQuery<ContentParams>,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let prod = guid("prod", &prod)?;
    let asset = state.podops.asset_by_external_id(&auth.caller, &prod, &name, &value).await?;
    if params.asks_for_content() {
        let request = params.parse()?;
        let found = state.podops.asset_content(&auth.caller, &prod, &asset.guid, &request, true).await?;
        let mut resp = empty(StatusCode::FOUND);
        set(&mut resp, header::LOCATION, &found.url);
        set(&mut resp, header::CACHE_CONTROL, "private, no-store");
        set(&mut resp, header::CONTENT_LOCATION, &resource_path(&prod, &asset.guid));
        return Ok(resp);
    }
    let mut resp = format.render(StatusCode::OK, "asset", &asset);
    set(&mut resp, header::ETAG, &etag(asset.version));
    set(&mut resp, header::CONTENT_LOCATION, &resource_path(&prod, &asset.guid));
    Ok(resp)
}

/// 200 if an asset carries the external id (its path in `Content-Location`, the sha256 of its
/// bytes in `X-Legacy-Asset-Id` as seed 003 named it), else 404.
#[utoipa::path(head, path = "/a/v1/asset/{prod}/by-external/{name}/{value}", tag = "resources",
    params(("prod" = String, Path), ("name" = String, Path), ("value" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "exists", headers(("X-Legacy-Asset-Id" = String, description = "sha256 of the asset's bytes, once stored"))),
              (status = 404, body = ErrorBody)))]
async fn head_by_external(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, name, value)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let prod = guid("prod", &prod)?;
    let asset = state.podops.asset_by_external_id(&auth.caller, &prod, &name, &value).await?;
    let mut resp = empty(StatusCode::OK);
    set(&mut resp, header::CONTENT_LOCATION, &resource_path(&prod, &asset.guid));
    set(&mut resp, header::ETAG, &etag(asset.version));
    if let podops_core::domain::ResourceBody::Asset(a) = &asset.body {
        if let Some(sha) = &a.sha256 {
            set(&mut resp, header::HeaderName::from_static("x-legacy-asset-id"), sha);
        }
    }
    Ok(resp)
}

fn resource_path(prod: &Guid, id: &Guid) -> String {
    format!("/a/v1/resource/{prod}/asset/{id}")
}
