//! Sign-in by email and API keys (seeds 002 and 004): `POST /a/v1/login`,
//! `GET|POST /a/v1/auth`, `POST /a/v1/auth/confirm`, `GET /a/v1/whoami`,
//! `GET|POST /a/v1/tokens`, `DELETE /a/v1/tokens/{id}`.
//!
//! Mail scanners open links before people do, so a link never signs in on a
//! plain browser GET: a browser (`Accept: text/html`) gets a confirm page
//! whose button POSTs the token; an API client (JSON) gets the key at once.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
    Form, Json,
};
use podops_core::{
    domain::{ApiKey, Email, InstanceRole, Scope, Scopes},
    service::{Enrolment, SignedIn, LOGIN_TTL},
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    extract::ApiQuery,auth::{Authenticated, Origin}, error::ApiError, extract::bad, openapi::ErrorBody, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(auth_link, auth))
        .routes(routes!(confirm))
        .routes(routes!(whoami))
        .routes(routes!(me))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(enroll_2fa))
        .routes(routes!(verify_2fa))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

#[derive(Debug, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LoginRequest {
    email: Option<String>,
}

/// `POST /a/v1/login`'s body, as documented (the handler also takes `?email=`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct LoginBody {
    #[schema(pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$", max_length = 254)]
    email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct LoginAccepted {
    /// Always `mail_sent_if_allowed`: the same for known and unknown addresses.
    status: &'static str,
    /// Seconds the code and link stay valid.
    expires_in: i64,
}

/// Mails a one-time sign-in code and link (valid 8 minutes). The same 202
/// whether or not the address is known; 429 `login.pending` while one is outstanding.
#[utoipa::path(post, path = "/a/v1/login", tag = "accounts", params(LoginRequest), request_body(content = LoginBody, description = "the address to sign in (or ?email=)"),
    responses((status = 202, body = LoginAccepted), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64))), (status = 503, body = ErrorBody)))]
async fn login(State(state): State<AppState>, ApiQuery(q): ApiQuery<LoginRequest>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let started = tokio::time::Instant::now();
    let body: Option<LoginRequest> = if body.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "body.invalid_json", e.to_string()))?)
    };
    let raw = body.and_then(|b| b.email).or(q.email).unwrap_or_default();
    let email = Email::parse(&raw).map_err(bad)?;
    let mail = state.podops.request_login(&email).await?;
    let answer_after = state.podops.accounts.as_ref().and_then(|r| r.answer_after);
    if let Some(mailer) = state.podops.mailer.clone() {
        let podops = state.podops.clone();
        match answer_after {
            // Whether the address is known is asked only off the request path,
            // after a random pause: the answer, its timing and the work around
            // it are the same for every address.
            None => {
                let pause = std::time::Duration::from_millis(rand::random_range(20..200));
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    deliver(&podops, &*mailer, &email, &mail).await;
                });
            }
            Some(pad) => {
                deliver(&podops, &*mailer, &email, &mail).await;
                if started.elapsed() > pad {
                    tracing::warn!(pad_ms = pad.as_millis() as u64, took_ms = started.elapsed().as_millis() as u64, "sign-in answer later than its padding");
                }
                tokio::time::sleep_until(started + pad).await;
            }
        }
    }
    Ok((StatusCode::ACCEPTED, Json(LoginAccepted { status: "mail_sent_if_allowed", expires_in: LOGIN_TTL })).into_response())
}

/// Sends the sign-in mail if the address may get one; failures are logged
/// (the answer was, or will be, the same either way).
async fn deliver(podops: &podops_core::service::Podops, mailer: &dyn podops_core::ports::Mailer, email: &Email, mail: &podops_core::ports::Mail) {
    match podops.may_mail(email).await {
        Ok(true) => {
            if let Err(e) = mailer.send(mail).await {
                tracing::error!(error = %e, "sign-in mail not sent");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "sign-in mail not sent"),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LinkQuery {
    /// The sign-in link's token.
    #[param(value_type = String)]
    token: Option<String>,
    /// The authenticator code, for an account with two-factor sign-in on.
    totp: Option<String>,
}

fn wants_html(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("text/html") && !accept.contains("application/json")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The mailed link. A browser gets a confirm page (a scanner fetching the link
/// consumes nothing); an API client gets the key at once.
#[utoipa::path(get, path = "/a/v1/auth", tag = "accounts", params(("token" = String, Query, pattern = "^[A-Za-z0-9_-]{16,128}$")),
    responses((status = 200, body = SignedIn, description = "JSON for API clients; an HTML confirm page for browsers"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody, description = "login.invalid_code: the link is wrong, used or expired")))]
async fn auth_link(State(state): State<AppState>, Origin(origin): Origin, headers: HeaderMap, ApiQuery(q): ApiQuery<LinkQuery>) -> Result<Response, ApiError> {
    let token = q.token.filter(|t| !t.is_empty()).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "field.required", "the sign-in link's token is missing").with_params(serde_json::json!({ "field": "token" }))
    })?;
    if wants_html(&headers) {
        let page = format!(
            "<!doctype html><meta charset=utf-8><title>Sign in to PodOps</title>\
             <form method=post action=\"/a/v1/auth/confirm\"><input type=hidden name=token value=\"{}\">\
             <p>Sign in to PodOps?</p><p><label>Authenticator code (only if you turned two-factor sign-in on): \
             <input name=totp inputmode=numeric autocomplete=one-time-code></label></p><button type=submit>Sign in</button></form>",
            escape(&token)
        );
        let mut resp = Html(page).into_response();
        resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        return Ok(resp);
    }
    Ok(Json(state.podops.sign_in_with_link(&token, q.totp.as_deref(), &origin).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum AuthRequest {
    Code {
        #[schema(pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$", max_length = 254)]
        email: String,
        #[schema(pattern = "^[0-9]{6,8}$")]
        code: String,
        #[schema(pattern = "^[0-9]{6}$")]
        totp: Option<String>,
    },
    Link {
        #[schema(pattern = "^[A-Za-z0-9_-]{16,128}$")]
        token: String,
        #[schema(pattern = "^[0-9]{6}$")]
        totp: Option<String>,
    },
}

/// Signs in with the mailed code (`{email, code}`, 5 attempts) or link token
/// (`{token}`): 200 with a new API key (shown once), revoking the previous sign-in key.
#[utoipa::path(post, path = "/a/v1/auth", tag = "accounts", request_body = AuthRequest,
    responses((status = 200, body = SignedIn), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "login.invalid_code, login.totp_required, …"),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn auth(State(state): State<AppState>, Origin(origin): Origin, crate::extract::ApiJson(req): crate::extract::ApiJson<AuthRequest>) -> Result<Json<SignedIn>, ApiError> {
    let signed = match req {
        AuthRequest::Code { email, code, totp } => state.podops.sign_in_with_code(&Email::parse(&email).map_err(bad)?, &code, totp.as_deref(), &origin).await?,
        AuthRequest::Link { token, totp } => state.podops.sign_in_with_link(&token, totp.as_deref(), &origin).await?,
    };
    Ok(Json(signed))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ConfirmForm {
    #[schema(pattern = "^[A-Za-z0-9_-]{16,128}$")]
    token: String,
    #[serde(default)]
    #[schema(pattern = "^(|[0-9]{6})$")]
    totp: Option<String>,
}

/// The confirm page's button: signs in and shows the key once.
#[utoipa::path(post, path = "/a/v1/auth/confirm", tag = "accounts", request_body(content = ConfirmForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "an HTML page with the key"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody, description = "login.invalid_code: the link is wrong, used or expired")))]
async fn confirm(State(state): State<AppState>, Origin(origin): Origin, form: Result<Form<ConfirmForm>, axum::extract::rejection::FormRejection>) -> Result<Response, ApiError> {
    let Form(form) = form.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "body.invalid_form", e.body_text()).with_params(serde_json::json!({ "field": "token" })))?;
    let signed = state.podops.sign_in_with_link(&form.token, form.totp.as_deref().filter(|t| !t.is_empty()), &origin).await?;
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>Signed in</title><p>Signed in as {}.</p>\
         <p>Your API key (shown once): <code>{}</code></p><p>Use it as <code>Authorization: Bearer &lt;key&gt;</code>, \
         or run <code>podops login --api … --token &lt;key&gt;</code>.</p>",
        escape(signed.user.email.as_str()),
        escape(&signed.key)
    );
    let mut resp = Html(page).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Serialize, utoipa::ToSchema)]
struct WhoAmI {
    /// The signed-in user; absent for a service's JWT.
    user: Option<WhoUser>,
    /// `api_key` (a sign-in key), `token` (a personal token) or `jwt` (a service token).
    via: &'static str,
    client: String,
    scopes: Vec<Scope>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct WhoUser {
    id: String,
    email: Email,
    /// The instance role as it stands now.
    role: InstanceRole,
}

/// Who the credentials speak for.
#[utoipa::path(get, path = "/a/v1/whoami", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI, headers(("X-PodOps-Logged-In-As" = String))), (status = 401, body = ErrorBody)))]
async fn whoami(State(state): State<AppState>, auth: Authenticated) -> Result<Json<WhoAmI>, ApiError> {
    let via = match auth.key.as_ref().map(|k| k.kind) {
        Some(podops_core::domain::KeyKind::SignIn) => "api_key",
        Some(podops_core::domain::KeyKind::Personal) => "token",
        None => "jwt",
    };
    let user = match auth.key.as_ref() {
        Some(k) => Some(WhoUser { id: k.user.clone(), email: k.email.clone(), role: state.podops.user_role(&k.email).await? }),
        None => None,
    };
    Ok(Json(WhoAmI { user, via, client: auth.caller.client.to_string(), scopes: auth.caller.scopes.iter().collect() }))
}

/// The signed-in caller (CastCore's `/auth/me`): the same answer as `whoami`.
#[utoipa::path(get, path = "/a/v1/auth/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
async fn me(state: State<AppState>, auth: Authenticated) -> Result<Json<WhoAmI>, ApiError> {
    whoami(state, auth).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

/// Swaps a refresh token for a new API key and refresh token (each refresh
/// token works once; a second use revokes the whole session).
#[utoipa::path(post, path = "/a/v1/auth/refresh", tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, body = SignedIn), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn refresh(State(state): State<AppState>, Origin(origin): Origin, crate::extract::ApiJson(req): crate::extract::ApiJson<RefreshRequest>) -> Result<Json<SignedIn>, ApiError> {
    Ok(Json(state.podops.refresh_session(&req.refresh_token, &origin).await?))
}

/// Ends the session of the key used: the key and its refresh token stop working at once.
#[utoipa::path(post, path = "/a/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn logout(State(state): State<AppState>, auth: Authenticated) -> Result<StatusCode, ApiError> {
    let key = user_key(&auth)?;
    state.podops.logout(&auth.caller, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts two-factor sign-in: an `otpauth://` URI (and its secret) for an authenticator app.
#[utoipa::path(post, path = "/a/v1/auth/2fa/enroll", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Enrolment), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn enroll_2fa(State(state): State<AppState>, auth: Authenticated) -> Result<Json<Enrolment>, ApiError> {
    Ok(Json(state.podops.enroll_totp(&auth.caller, user_key(&auth)?).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    code: String,
}

/// Turns two-factor sign-in on with a current code from the app; from then a sign-in also needs one.
#[utoipa::path(post, path = "/a/v1/auth/2fa/verify", tag = "accounts", request_body = VerifyRequest, security(("bearer" = [])),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn verify_2fa(State(state): State<AppState>, auth: Authenticated, crate::extract::ApiJson(req): crate::extract::ApiJson<VerifyRequest>) -> Result<StatusCode, ApiError> {
    state.podops.verify_totp(&auth.caller, user_key(&auth)?, &req.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn user_key(auth: &Authenticated) -> Result<&ApiKey, ApiError> {
    auth.key.as_ref().ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "token.user_only", "personal tokens belong to signed-in users; sign in with POST /a/v1/login"))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    scopes: Vec<Scope>,
    /// Seconds (60 to 366 days; default 366 days).
    #[schema(minimum = 60, maximum = 31622400)]
    #[serde(default, deserialize_with = "podops_core::domain::whole::option_i64")]
    expires_in: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CreatedToken {
    /// The token, shown once.
    token: String,
    #[serde(flatten)]
    key: ApiKey,
}

/// A personal API token (`pot_…`) with chosen scopes, never more than its user's rights.
#[utoipa::path(post, path = "/a/v1/tokens", tag = "accounts", request_body = NewToken, security(("bearer" = [])),
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_token(State(state): State<AppState>, auth: Authenticated, crate::extract::ApiJson(req): crate::extract::ApiJson<NewToken>) -> Result<Response, ApiError> {
    let by = user_key(&auth)?;
    let (token, key) = state.podops.create_token(&auth.caller, by, &req.name, &Scopes::new(req.scopes), req.expires_in).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, key })).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct TokenList {
    items: Vec<ApiKey>,
}

/// The user's sign-in key and personal tokens (masked).
#[utoipa::path(get, path = "/a/v1/tokens", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_tokens(State(state): State<AppState>, auth: Authenticated) -> Result<Json<TokenList>, ApiError> {
    let by = user_key(&auth)?;
    Ok(Json(TokenList { items: state.podops.list_tokens(&by.user).await? }))
}

/// Revokes one of the user's tokens (or their sign-in key) at once.
#[utoipa::path(delete, path = "/a/v1/tokens/{id}", tag = "accounts", params(("id" = String, Path, pattern = "^[0-9a-f]{16}$")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_token(State(state): State<AppState>, auth: Authenticated, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let by = user_key(&auth)?;
    state.podops.revoke_token(&auth.caller, &by.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
