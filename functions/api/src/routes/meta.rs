//! `GET /` (name and version) and `GET /openapi.json`.

use std::sync::OnceLock;

use axum::{http::header, response::IntoResponse, Json};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(version)).routes(routes!(openapi_json))
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
    let doc = DOC.get_or_init(|| super::openapi().to_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str())
}
