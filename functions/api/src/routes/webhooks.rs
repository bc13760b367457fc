//! A webhook's deliveries and a test delivery. The webhook itself is a
//! resource (`/a/v1/resource/{prod}/webhook/{id}`, its secret write-only).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
    Json,
};
use podops_core::service::Delivery;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{guid, ListParams, ListQuery},
    openapi::ErrorBody,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(deliveries)).routes(routes!(test))
}

#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryList {
    /// Newest first.
    items: Vec<Delivery>,
}

/// A webhook's deliveries, newest first: status (`pending`, `delivered`, `failed`), attempts, last answer.
#[utoipa::path(get, path = "/a/v1/webhook/{prod}/{id}/deliveries", tag = "webhooks",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$"), ListParams), security(("bearer" = [])),
    responses((status = 200, body = DeliveryList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn deliveries(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>, ListQuery(q): ListQuery) -> Result<Json<DeliveryList>, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    Ok(Json(DeliveryList { items: state.podops.webhook_deliveries(&auth.caller, &prod, &id, q.limit).await? }))
}

/// Queues a `webhook.test` delivery to the webhook (whatever events it asked for): 202 with it.
#[utoipa::path(post, path = "/a/v1/webhook/{prod}/{id}/test", tag = "webhooks",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 202, body = Delivery), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn test(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>) -> Result<impl IntoResponse, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    Ok((StatusCode::ACCEPTED, Json(state.podops.test_webhook(&auth.caller, &prod, &id).await?)))
}
