//! `POST /_a/token` (operators mint tokens) and `GET /_a/token` (verify one).

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use podops_core::domain::{ClientId, Scope, Scopes};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Authenticated, Claims, MAX_TOKEN_LIFETIME},
    error::ApiError,
    extract::ApiJson,
    openapi::ErrorBody,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mint, verify))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    pub client_id: ClientId,
    pub scopes: Vec<Scope>,
    /// Lifetime in seconds (default 30 days, at most 366 days).
    #[schema(minimum = 60, maximum = 31622400)]
    #[serde(default, deserialize_with = "podops_core::domain::whole::option_i64")]
    pub expires_in: Option<i64>,
}


#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MintResponse {
    pub token: String,
    pub claims: Claims,
}

/// Mints a token for a client (operators only: scope `admin`).
#[utoipa::path(post, path = "/_a/token", tag = "auth", request_body = MintRequest,
    security(("bearer" = [])),
    responses((status = 201, body = MintResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn mint(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(req): ApiJson<MintRequest>,
) -> Result<impl IntoResponse, ApiError> {
    auth.caller.require(Scope::Admin)?;
    let lifetime = req.expires_in.unwrap_or(30 * 24 * 3600);
    if !(60..=MAX_TOKEN_LIFETIME).contains(&lifetime) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "token.lifetime", "expires_in is between 60 seconds and 366 days")
            .with_params(serde_json::json!({ "field": "expires_in" })));
    }
    let now = state.podops.clock.now();
    let (token, claims) = state
        .tokens
        .mint(&req.client_id, &Scopes::new(req.scopes), now, lifetime)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    tracing::info!(client = %req.client_id, scopes = %claims.scope, jti = %claims.jti, by = %auth.caller.client, "token minted");
    Ok((StatusCode::CREATED, Json(MintResponse { token, claims })))
}

/// Verifies the bearer token: 200 with its claims, 401 otherwise.
#[utoipa::path(get, path = "/_a/token", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Claims), (status = 401, body = ErrorBody)))]
async fn verify(auth: Authenticated) -> Json<Claims> {
    Json(auth.claims)
}
