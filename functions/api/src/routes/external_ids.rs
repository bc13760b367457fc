//! External ids mapped to several assets, and listed (seed 003's legacy
//! tracks and legacy assets):
//! `POST /a/v1/asset/{prod}/by-external/{name}/{value}` maps a pair to assets,
//! `GET /a/v1/asset/{prod}/by-external/{name}/{value}/assets` gives every asset it names,
//! `GET /a/v1/asset/{prod}/by-external/{name}?prefix=&limit=&cursor=` lists the pairs.
//! Looking one asset up by a pair is in `renditions` (it answers with content).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use podops_core::{
    domain::Resource,
    service::{ExternalIdMapping, ExternalIdPage},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{guid, ApiJson, ApiQuery, ListParams, ListQuery},
    openapi::ErrorBody,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(map)).routes(routes!(assets)).routes(routes!(list))
}

/// Maps the external id to more assets (one legacy track token, several
/// original assets). The body is a bare list of asset ids, as seed 003 sent
/// it, or `{"assets": [...]}` (its exact schema is set in `contract`).
/// Idempotent; all or none. 201 with one mapping per asset named.
#[utoipa::path(post, path = "/a/v1/asset/{prod}/by-external/{name}/{value}", tag = "resources",
    params(("prod" = String, Path), ("name" = String, Path), ("value" = String, Path)),
    request_body(content = Vec<String>, description = "1 to 20 asset ids of the production"),
    security(("bearer" = [])),
    responses((status = 201, body = Vec<ExternalIdMapping>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "asset.mapping_asset_missing: an asset named is not in the production; nothing was mapped")))]
async fn map(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, name, value)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let prod = guid("prod", &prod)?;
    let mappings = state.podops.map_external_id(&auth.caller, &prod, &name, &value, body).await?;
    Ok((StatusCode::CREATED, Json(mappings)).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssetList {
    /// The asset carrying the pair first, then the mapped ones.
    pub items: Vec<Resource>,
}

/// Every asset the external id names (seed 003's `originalAssets`).
#[utoipa::path(get, path = "/a/v1/asset/{prod}/by-external/{name}/{value}/assets", tag = "resources",
    params(("prod" = String, Path), ("name" = String, Path), ("value" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AssetList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn assets(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, name, value)): Path<(String, String, String)>,
) -> Result<Json<AssetList>, ApiError> {
    let prod = guid("prod", &prod)?;
    let items = state.podops.assets_by_external_id(&auth.caller, &prod, &name, &value).await?;
    Ok(Json(AssetList { items }))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrefixParam {
    /// Only values starting with this text.
    #[param(max_length = 255)]
    prefix: Option<String>,
}

/// The pairs named `name` (carried and mapped), in value order, with each asset's file name and sha256.
#[utoipa::path(get, path = "/a/v1/asset/{prod}/by-external/{name}", tag = "resources",
    params(("prod" = String, Path), ("name" = String, Path), PrefixParam, ListParams), security(("bearer" = [])),
    responses((status = 200, body = ExternalIdPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, name)): Path<(String, String)>,
    ApiQuery(filter): ApiQuery<PrefixParam>,
    ListQuery(page): ListQuery,
) -> Result<Json<ExternalIdPage>, ApiError> {
    let prod = guid("prod", &prod)?;
    let prefix = filter.prefix.unwrap_or_default();
    let found = state.podops.list_external_ids(&auth.caller, &prod, &name, &prefix, page.limit, page.cursor.as_deref()).await?;
    Ok(Json(found))
}
