//! Productions: list the caller's, create one, read one, manage members.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::Response,
};
use podops_core::domain::{NewProduction, Production, Role};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{etag, guid, ApiJson, ListParams, ListQuery},
    negotiate::Format,
    openapi::ErrorBody,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_productions))
        .routes(routes!(create_production))
        .routes(routes!(get_production))
        .routes(routes!(set_member, remove_member))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProductionList {
    items: Vec<Production>,
    total: u64,
    limit: usize,
    /// Cursor of the next page; absent on the last page.
    next: Option<String>,
}

/// The productions the caller owns or is a member of.
#[utoipa::path(get, path = "/a/v1/productions", tag = "productions", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = ProductionList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 406, body = ErrorBody)))]
async fn list_productions(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    ListQuery(q): ListQuery,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let page = state.podops.list_productions(&auth.caller, q.limit, q.cursor.as_deref()).await?;
    let body = ProductionList { items: page.items, total: page.total, limit: page.limit, next: page.next };
    Ok(format.render(StatusCode::OK, "productions", &body))
}

/// Creates a production; the caller becomes its owner.
#[utoipa::path(post, path = "/a/v1/production", tag = "productions", request_body = NewProduction, security(("bearer" = [])),
    responses((status = 201, body = Production, headers(("Location" = String), ("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_production(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    ApiJson(input): ApiJson<NewProduction>,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let production = state.podops.create_production(&auth.caller, input).await?;
    let location = format!("/a/v1/production/{}", production.guid);
    let mut resp = format.render(StatusCode::CREATED, "production", &production);
    set(&mut resp, header::LOCATION, &location);
    set(&mut resp, header::ETAG, &etag(production.version));
    Ok(resp)
}

/// One production.
#[utoipa::path(get, path = "/a/v1/production/{prod}", tag = "productions", params(("prod" = String, Path, description = "production GUID")),
    security(("bearer" = [])), responses((status = 200, body = Production), (status = 404, body = ErrorBody)))]
async fn get_production(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path(prod): Path<String>,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let prod = guid("prod", &prod)?;
    let production = state.podops.get_production(&auth.caller, &prod).await?;
    let mut resp = format.render(StatusCode::OK, "production", &production);
    set(&mut resp, header::ETAG, &etag(production.version));
    Ok(resp)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRole {
    /// `viewer`, `operator` or `editor` (a production has one owner, who made it).
    #[schema(value_type = String, pattern = "^(viewer|operator|editor)$")]
    role: Role,
}

/// Adds a member or changes their role (owner only). `{client}` is a client id, or an email
/// address: that user, invited (made pending until they first sign in) when unknown.
#[utoipa::path(put, path = "/a/v1/production/{prod}/member/{client}", tag = "productions", request_body = MemberRole,
    params(("prod" = String, Path), ("client" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "member.is_owner: the owner's role cannot change")))]
async fn set_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, client)): Path<(String, String)>,
    ApiJson(body): ApiJson<MemberRole>,
) -> Result<StatusCode, ApiError> {
    let prod = guid("prod", &prod)?;
    let client = state.podops.member_client(&auth.caller, &prod, &client, true).await?;
    state.podops.set_member(&auth.caller, &prod, &client, Some(body.role)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member (owner only).
#[utoipa::path(delete, path = "/a/v1/production/{prod}/member/{client}", tag = "productions",
    params(("prod" = String, Path), ("client" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "member.is_owner: the owner cannot be removed")))]
async fn remove_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, client)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let prod = guid("prod", &prod)?;
    let client = state.podops.member_client(&auth.caller, &prod, &client, false).await?;
    state.podops.set_member(&auth.caller, &prod, &client, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn set(resp: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = header::HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

