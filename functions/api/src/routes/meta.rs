//! `GET /` (name and version), `GET /openapi.json`, and `GET /docs`: the
//! document for people (Redoc, its script bundled in the binary: the page
//! loads nothing from elsewhere but the document itself).

use std::sync::OnceLock;

use axum::{
    http::header,
    response::{Html, IntoResponse},
    Json,
};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(version)).routes(routes!(openapi_json)).routes(routes!(docs))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    name: &'static str,
    version: &'static str,
}

/// The service's name and version.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, body = VersionInfo)))]
async fn version() -> Json<VersionInfo> {
    Json(VersionInfo { name: "podops", version: env!("CARGO_PKG_VERSION") })
}

/// This API's OpenAPI 3 description.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> impl IntoResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| serde_json::to_string(&crate::contract::per_kind(serde_json::to_value(super::openapi()).unwrap_or_default())).unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str())
}

/// The API reference for people: every operation of `/openapi.json`, rendered by Redoc.
#[utoipa::path(get, path = "/docs", tag = "meta", responses((status = 200, description = "the reference page", content_type = "text/html")))]
async fn docs() -> impl IntoResponse {
    static PAGE: OnceLock<String> = OnceLock::new();
    let page = PAGE.get_or_init(|| {
        aide::redoc::Redoc::new("/openapi.json").with_title("PodOps API").html()
    });
    ([(header::CACHE_CONTROL, "public, max-age=3600")], Html(page.as_str()))
}
