//! `POST /_t/import` (seed 000's import task, scope `admin`): a new asset
//! whose bytes the worker fetches from a URL. Answers 202: the asset exists
//! at once in state `importing`; it turns `ready` (or `failed`, with a code)
//! when the worker is done.

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::Response,
};
use podops_core::domain::Guid;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{etag, ApiJson},
    negotiate::Format,
    openapi::ErrorBody,
    routes::productions::set,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The production's GUID.
    production: Guid,
    /// An http(s) URL of public audio (a host name; an IP literal must be public).
    #[schema(pattern = r"^https?://([a-z]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(/[A-Za-z0-9._~/-]*)?$", max_length = 2048)]
    url: String,
}

/// Imports audio from a URL into a production (scope `admin`).
#[utoipa::path(post, path = "/_t/import", tag = "media", request_body = ImportRequest, security(("bearer" = [])),
    responses((status = 202, body = podops_core::domain::Resource, headers(("Location" = String))),
              (status = 400, body = ErrorBody, description = "import.forbidden_scheme, import.forbidden_address"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn import(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ImportRequest>,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let asset = state.podops.import(&auth.caller, &req.production, &req.url).await?;
    let mut resp = format.render(StatusCode::ACCEPTED, "asset", &asset);
    set(&mut resp, header::LOCATION, &format!("/a/v1/resource/{}/asset/{}", req.production, asset.guid));
    set(&mut resp, header::ETAG, &etag(asset.version));
    Ok(resp)
}
