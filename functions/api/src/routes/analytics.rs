//! Download analytics (docs/analytics.md): `GET /a/v1/analytics/{prod}`
//! answers downloads and listeners by day, episode, app or episode and day;
//! `…/export` the same period as CSV.

use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use podops_core::service::AnalyticsReport;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{guid, ApiQuery},
    openapi::ErrorBody,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report)).routes(routes!(export))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// First UTC day (default: 29 days before `to`). A period longer than 366 days is
    /// cut to the last 366; one that ends before it starts is empty.
    #[param(value_type = Option<String>, format = Date)]
    from: Option<String>,
    /// Last UTC day, included (default: today).
    #[param(value_type = Option<String>, format = Date)]
    to: Option<String>,
    /// `day` (default), `episode`, `app` or `episode,day`.
    #[param(pattern = "^(day|episode|app|episode,day)$")]
    by: Option<String>,
}

/// Downloads (IAB method: one listener, one episode, one UTC day, a minute of audio fetched)
/// and unique listeners per day, by day, episode, app, or episode and day.
#[utoipa::path(get, path = "/a/v1/analytics/{prod}", tag = "analytics", params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), Period), security(("bearer" = [])),
    responses((status = 200, body = AnalyticsReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn report(State(state): State<AppState>, auth: Authenticated, Path(prod): Path<String>, ApiQuery(p): ApiQuery<Period>) -> Result<Json<AnalyticsReport>, ApiError> {
    let prod = guid("prod", &prod)?;
    Ok(Json(state.podops.analytics(&auth.caller, &prod, p.from.as_deref(), p.to.as_deref(), p.by.as_deref()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportPeriod {
    /// As for `GET /a/v1/analytics/{prod}`.
    #[param(value_type = Option<String>, format = Date)]
    from: Option<String>,
    #[param(value_type = Option<String>, format = Date)]
    to: Option<String>,
}

/// The period's downloads as CSV: `date,episode,app,downloads`, one line per day, episode and app.
#[utoipa::path(get, path = "/a/v1/analytics/{prod}/export", tag = "analytics", params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ExportPeriod), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export(State(state): State<AppState>, auth: Authenticated, Path(prod): Path<String>, ApiQuery(p): ApiQuery<ExportPeriod>) -> Result<Response, ApiError> {
    let prod = guid("prod", &prod)?;
    let csv = state.podops.analytics_csv(&auth.caller, &prod, p.from.as_deref(), p.to.as_deref()).await?;
    let name = format!("attachment; filename=\"analytics-{prod}.csv\"");
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)], csv).into_response())
}
