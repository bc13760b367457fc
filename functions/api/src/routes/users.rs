//! Instance roles: an admin makes a user an admin or takes it back
//! (`PUT /a/v1/users/{email}`). Production roles are on the member routes.

use axum::{
    extract::{Path, State},
    Json,
};
use podops_core::domain::{Email, InstanceRole, User};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Authenticated, error::ApiError, extract::bad, openapi::ErrorBody, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_role))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: InstanceRole,
}

#[derive(Serialize, utoipa::ToSchema)]
struct UserWithRole {
    #[serde(flatten)]
    user: User,
    role: InstanceRole,
}

/// Sets a user's instance role (admin only). It counts from the user's next
/// request, for every key and token they hold.
#[utoipa::path(put, path = "/a/v1/users/{email}", tag = "accounts", params(("email" = String, Path)), request_body = RoleChange, security(("bearer" = [])),
    responses((status = 200, body = UserWithRole), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_role(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(email): Path<String>,
    crate::extract::ApiJson(req): crate::extract::ApiJson<RoleChange>,
) -> Result<Json<UserWithRole>, ApiError> {
    let email = Email::parse(&email).map_err(bad)?;
    let (user, role) = state.podops.set_instance_role(&auth.caller, &email, req.role).await?;
    Ok(Json(UserWithRole { user, role }))
}
