//! The audit log (CastCore's `/audit`): `GET /a/v1/audit/{prod}` (the
//! production's owner, or an admin) and `GET /a/v1/audit` (admins: every
//! production, sign-ins, tokens and roles). Newest first, cursor-paginated.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use podops_core::{
    domain::audit::AuditEntry,
    service::{AuditFilter, AuditPage},
    Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Authenticated, error::ApiError, extract::guid, openapi::ErrorBody, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(production_audit)).routes(routes!(instance_audit))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this actor: a user's email or a client id.
    actor: Option<String>,
    /// Only this action (`episode.update`) or kind of action (`episode`).
    action: Option<String>,
    /// Entries at or after this UNIX time (seconds).
    from: Option<Timestamp>,
    /// Entries at or before this UNIX time (seconds).
    to: Option<Timestamp>,
    /// Entries per page (1–100, default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> AuditFilter {
        AuditFilter { actor: self.actor.clone(), action: self.action.clone(), from: self.from, to: self.to }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct AuditList {
    items: Vec<AuditEntry>,
    /// Cursor of the next page; absent at the end. A page may hold fewer
    /// entries than asked when filters skip many: follow `next`.
    next: Option<String>,
}

fn query(q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>) -> Result<AuditQuery, ApiError> {
    let Query(mut q) = q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "query.invalid", e.body_text()))?;
    // `?cursor=` is no cursor: the first page.
    q.cursor = q.cursor.filter(|c| !c.is_empty());
    if q.limit.is_some_and(|l| !(1..=100).contains(&l)) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "query.invalid", "limit is 1 to 100").with_params(json!({ "field": "limit" })));
    }
    Ok(q)
}

fn list(page: AuditPage) -> Json<AuditList> {
    Json(AuditList { items: page.items, next: page.next })
}

/// A production's audit log, newest first (owner or admin).
#[utoipa::path(get, path = "/a/v1/audit/{prod}", tag = "audit", params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn production_audit(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(prod): Path<String>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    let prod = guid("prod", &prod)?;
    let q = query(q)?;
    Ok(list(state.podops.production_audit(&auth.caller, &prod, &q.filter(), q.limit, q.cursor.as_deref()).await?))
}

/// Every production's audit log and the accounts' (sign-ins, tokens, roles), newest first (admins).
#[utoipa::path(get, path = "/a/v1/audit", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn instance_audit(
    State(state): State<AppState>,
    auth: Authenticated,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    let q = query(q)?;
    Ok(list(state.podops.instance_audit(&auth.caller, &q.filter(), q.limit, q.cursor.as_deref()).await?))
}
