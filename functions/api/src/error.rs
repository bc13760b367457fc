//! The API's one error type and its one response shape:
//! `{"error": {"code": "resource.not_found", "message": "…", "params": {…}}}`.
//! Every use-case error is mapped to a status and a code here, and only here.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use podops_core::{
    ports::{BlobError, QueueError, StoreError},
    service::ServiceError,
};
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub params: Value,
    /// Logged (once, here) for server-side failures; never sent to the client.
    cause: Option<String>,
    /// Seconds for a `Retry-After` header (work in progress).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), params: json!({}), cause: None, retry_after: None }
    }

    pub fn with_params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }

    pub(crate) fn internal(status: StatusCode, code: &'static str, cause: String) -> Self {
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "a backing service is unavailable; retry later"
        } else {
            "internal error"
        };
        Self { cause: Some(cause), ..Self::new(status, code, message) }
    }

    pub fn not_found_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "route.not_found", "no such route")
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        let message = e.to_string();
        let (status, code, params) = match e {
            E::Invalid(inv) => (StatusCode::BAD_REQUEST, inv.code, json!({ "field": inv.field })),
            E::ProductionNotFound(g) => (StatusCode::NOT_FOUND, "production.not_found", json!({ "production": g })),
            E::ResourceNotFound { kind, guid } => {
                (StatusCode::NOT_FOUND, "resource.not_found", json!({ "kind": kind, "guid": guid }))
            }
            E::MissingScope(scope) => (StatusCode::FORBIDDEN, "auth.missing_scope", json!({ "scope": scope })),
            E::RoleTooLow => (StatusCode::FORBIDDEN, "production.forbidden", json!({})),
            E::NameTaken(name) => (StatusCode::CONFLICT, "production.name_taken", json!({ "name": name })),
            E::ResourceExists { kind, guid } => (StatusCode::CONFLICT, "resource.exists", json!({ "kind": kind, "guid": guid })),
            E::ShowExists => (StatusCode::CONFLICT, "show.exists", json!({})),
            E::VersionMismatch { current } => {
                (StatusCode::PRECONDITION_FAILED, "resource.version_mismatch", json!({ "current": current }))
            }
            E::Contended => (StatusCode::CONFLICT, "resource.conflict", json!({})),
            E::EnclosureMissing(g) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "episode.enclosure_missing", json!({ "field": "enclosure", "guid": g }))
            }
            E::ImportNotFound(id) => (StatusCode::NOT_FOUND, "import.not_found", json!({ "id": id })),
            E::BackupNotFound(id) => (StatusCode::NOT_FOUND, "backup.not_found", json!({ "id": id })),
            E::BackupNotReady(state) => (StatusCode::CONFLICT, "backup.not_ready", json!({ "state": state })),
            E::MappedAssetMissing(g) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "asset.mapping_asset_missing", json!({ "field": "assets", "guid": g }))
            }
            E::BadCursor => (StatusCode::BAD_REQUEST, "cursor.invalid", json!({ "field": "cursor" })),
            E::TooLarge { limit } => (StatusCode::PAYLOAD_TOO_LARGE, "upload.too_large", json!({ "limit": limit })),
            E::UnsupportedMediaType(t) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "upload.unsupported_type", json!({ "content_type": t }))
            }
            E::UploadNotStarted => (StatusCode::NOT_FOUND, "upload.not_started", json!({})),
            E::UploadIncomplete { missing } => (StatusCode::UNPROCESSABLE_ENTITY, "upload.incomplete", json!({ "missing_parts": missing })),
            E::UploadMismatch { field, declared, received } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                if field == "size" { "upload.size_mismatch" } else { "upload.sha256_mismatch" },
                json!({ "field": field, "declared": declared, "received": received }),
            ),
            E::UploadInterrupted(_) => (StatusCode::BAD_REQUEST, "upload.interrupted", json!({})),
            E::FeedInvalid(problems) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "build.show_incomplete", json!({ "problems": problems }))
            }
            E::NothingToRollBack => (StatusCode::CONFLICT, "build.nothing_to_roll_back", json!({})),
            E::AssetNotReady { retry_after } => {
                let mut err = Self::new(StatusCode::CONFLICT, "asset.not_ready", message).with_params(json!({ "retry_after": retry_after }));
                err.retry_after = Some(retry_after);
                return err;
            }
            E::LowQuality { field } => (StatusCode::CONFLICT, "asset.low_quality", json!({ "field": field })),
            E::AssetFailed(code) => (StatusCode::CONFLICT, "asset.failed", json!({ "error": code })),
            E::RenditionFailed(code) => (StatusCode::CONFLICT, "asset.rendition_failed", json!({ "error": code })),
            E::NothingToRetry(_) => (StatusCode::CONFLICT, "asset.not_failed", json!({})),
            E::ExternalIdTaken { name, value } => {
                (StatusCode::CONFLICT, "asset.external_id_taken", json!({ "field": "external_ids", "name": name, "value": value }))
            }
            E::ExternalIdNotFound { name, value } => {
                (StatusCode::NOT_FOUND, "asset.external_id_not_found", json!({ "name": name, "value": value }))
            }
            E::ImportRefused { code, .. } => (StatusCode::BAD_REQUEST, code, json!({ "field": "url" })),
            E::Unprocessable { code, field, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code, json!({ "field": field })),
            E::StreamRunning => (StatusCode::CONFLICT, "stream.running", json!({})),
            E::ScheduleOverlap { other, start } => (StatusCode::CONFLICT, "schedule.overlap", json!({ "field": "start", "other": other, "start": start })),
            E::StreamNotRunning => (StatusCode::CONFLICT, "stream.not_running", json!({})),
            E::LoginPending { retry_after } => {
                let mut err = Self::new(StatusCode::TOO_MANY_REQUESTS, "login.pending", message).with_params(json!({ "retry_after": retry_after }));
                err.retry_after = Some(retry_after);
                return err;
            }
            E::LoginInvalid => (StatusCode::UNAUTHORIZED, "login.invalid_code", json!({})),
            E::LoginTooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "login.too_many_attempts", json!({})),
            E::KeyInvalid(_) => (StatusCode::UNAUTHORIZED, "auth.invalid_key", json!({})),
            E::TokenNotFound(id) => (StatusCode::NOT_FOUND, "token.not_found", json!({ "id": id })),
            E::UserNotFound(email) => (StatusCode::NOT_FOUND, "user.not_found", json!({ "email": email })),
            E::AccountsUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "login.unavailable", json!({})),
            E::RefreshInvalid => (StatusCode::UNAUTHORIZED, "auth.invalid_refresh", json!({})),
            E::RefreshReused => (StatusCode::UNAUTHORIZED, "auth.refresh_reused", json!({})),
            E::TotpRequired => (StatusCode::UNAUTHORIZED, "login.totp_required", json!({ "field": "totp" })),
            E::TotpInvalid => (StatusCode::BAD_REQUEST, "login.totp_invalid", json!({ "field": "totp" })),
            E::TotpAlreadyOn => (StatusCode::CONFLICT, "2fa.already_on", json!({})),
            E::TotpNotEnrolled => (StatusCode::CONFLICT, "2fa.not_enrolled", json!({})),
            E::PublicNotFound => (StatusCode::NOT_FOUND, "public.not_found", json!({})),
            E::LeaseLost => return Self::internal(StatusCode::CONFLICT, "resource.conflict", "job lease lost".into()),
            E::PublishingNotConfigured => {
                return Self::internal(StatusCode::INTERNAL_SERVER_ERROR, "internal", "publishing is not configured".into())
            }
            E::Store(StoreError::Conflict) => (StatusCode::CONFLICT, "resource.conflict", json!({})),
            E::Store(StoreError::Unavailable(c)) => {
                return Self::internal(StatusCode::SERVICE_UNAVAILABLE, "service.unavailable", c)
            }
            E::Store(StoreError::Corrupt(c)) => return Self::internal(StatusCode::INTERNAL_SERVER_ERROR, "internal", c),
            E::Blob(b) => return b.into(),
            E::Queue(QueueError::Unavailable(c)) => {
                return Self::internal(StatusCode::SERVICE_UNAVAILABLE, "service.unavailable", c)
            }
            E::Queue(q) => return Self::internal(StatusCode::INTERNAL_SERVER_ERROR, "internal", q.to_string()),
        };
        Self { status, code, message, params, cause: None, retry_after: None }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound => Self::new(StatusCode::NOT_FOUND, "media.not_found", "no such media"),
            BlobError::RangeNotSatisfiable { size } => {
                Self::new(StatusCode::RANGE_NOT_SATISFIABLE, "media.range_not_satisfiable", e.to_string())
                    .with_params(json!({ "size": size }))
            }
            BlobError::TooLarge { .. } | BlobError::Body(_) => ServiceError::from(e).into(),
            BlobError::Unavailable(c) => Self::internal(StatusCode::SERVICE_UNAVAILABLE, "service.unavailable", c),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            // Inside the request's span, so the line carries the request id.
            tracing::error!(code = self.code, cause = %cause, "request failed");
        }
        let status = self.status;
        let body = json!({ "error": { "code": self.code, "message": self.message, "params": self.params } });
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        match status {
            StatusCode::UNAUTHORIZED => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}
