//! `GET /a/v1/schedule/{prod}?from=&to=`: the production's timetable, every
//! schedule's slots expanded (what the EPG shows). Schedules themselves are
//! resources (`/a/v1/resource/{prod}/schedule/{id}`).

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use podops_core::{service::TimetableSlot, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Authenticated, error::ApiError, extract::guid, openapi::ErrorBody, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(timetable))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Range {
    /// UNIX seconds; default now.
    #[param(minimum = 0, maximum = 253402300799_i64)]
    from: Option<Timestamp>,
    /// UNIX seconds; default a week after `from`, at most 31 days after it (else 422).
    #[param(minimum = 0, maximum = 253402300799_i64)]
    to: Option<Timestamp>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Timetable {
    /// In order of start.
    items: Vec<TimetableSlot>,
}

/// The timetable: each slot of each schedule between `from` and `to`.
#[utoipa::path(get, path = "/a/v1/schedule/{prod}", tag = "schedules", params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), Range), security(("bearer" = [])),
    responses((status = 200, body = Timetable), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn timetable(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(prod): Path<String>,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Timetable>, ApiError> {
    let prod = guid("prod", &prod)?;
    let Query(range) = range.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "query.invalid", e.body_text()))?;
    Ok(Json(Timetable { items: state.podops.timetable(&auth.caller, &prod, range.from, range.to).await? }))
}
