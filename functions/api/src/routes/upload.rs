//! `POST /a/v1/upload/{prod}`: streams a file into the blob store and records
//! it as an asset. The body is either the raw file (name in `?filename=`,
//! type in `Content-Type`) or `multipart/form-data` with one file part.
//! Nothing is buffered whole: the bytes flow to storage as they arrive.

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, Path, State},
    http::{header, HeaderMap, StatusCode},
    response::Response,
};
use futures::{StreamExt, TryStreamExt};
use axum::response::IntoResponse;
use podops_core::{
    ports::ByteStream,
    service::{PresignedPut, Upload, UploadCompletion, UploadIntent},
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    extract::ApiQuery,
    auth::Authenticated,
    error::ApiError,
    extract::{etag, guid},
    negotiate::Format,
    openapi::ErrorBody,
    routes::productions::set,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    // The size limit of an upload is the media rule's, enforced while streaming.
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(complete))
        .routes(routes!(status, cancel))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PresignedUpload {
    asset: podops_core::domain::Resource,
    upload: PresignedPut,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name, for a raw body (or `Content-Disposition: attachment; filename="…"`).
    #[param(value_type = String, pattern = r"^([\s\S]*[/\\])?[^/\\]*[^\s/\\\x00-\x1f\x7f-\x9f][^/\\]*$")]
    filename: Option<String>,
}

/// Uploads a media file as a new asset of the production.
#[utoipa::path(post, path = "/a/v1/upload/{prod}", tag = "media",
    params(("prod" = String, Path), UploadParams),
    request_body(content = Vec<u8>, description = "the file, raw (audio/mpeg, image/png, …) or as multipart/form-data; \
        or, as application/json, an UploadIntent {filename, size, content_type, sha256?}: the answer then carries a signed PUT URL \
        and the completion path (PresignedUpload)"),
    security(("bearer" = [])),
    responses((status = 201, body = podops_core::domain::Resource, headers(("Location" = String))), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path(prod): Path<String>,
    ApiQuery(params): ApiQuery<UploadParams>,
    body: Body,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let prod = guid("prod", &prod)?;
    let limit = state.podops.media.max_upload;
    let declared_len = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > limit) {
        return Err(podops_core::service::ServiceError::TooLarge { limit }.into());
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")) {
        return presign(&state, &auth, &prod, body).await;
    }
    let upload = match multer::parse_boundary(&content_type) {
        Ok(boundary) => file_part(body, boundary).await?,
        Err(_) => Upload {
            filename: params.filename.or_else(|| attachment_filename(&headers)).unwrap_or_default(),
            content_type,
            body: io_stream(body.into_data_stream()),
        },
    };
    let asset = state.podops.upload_asset(&auth.caller, &prod, upload).await?;
    let mut resp = format.render(StatusCode::CREATED, "asset", &asset);
    set(&mut resp, header::LOCATION, &format!("/a/v1/resource/{prod}/asset/{}", asset.guid));
    set(&mut resp, header::ETAG, &etag(asset.version));
    Ok(resp)
}

/// The file name of `Content-Disposition: attachment; filename="…"` (what
/// browsers and `curl --data-binary` users send), `filename*=UTF-8''…`
/// (RFC 6266, percent-encoded) preferred when both are there.
fn attachment_filename(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_DISPOSITION)?.to_str().ok()?;
    let mut plain = None;
    let mut extended = None;
    for param in split_params(value).into_iter().skip(1) {
        let Some((name, v)) = param.split_once('=') else { continue };
        match name.trim().to_ascii_lowercase().as_str() {
            "filename" => plain = Some(unquote(v.trim())),
            "filename*" => {
                let encoded = v.trim().split_once('\'').filter(|(charset, _)| charset.eq_ignore_ascii_case("utf-8")).and_then(|(_, rest)| rest.split_once('\'')).map(|(_, e)| e);
                extended = encoded.and_then(|e| percent_encoding::percent_decode_str(e).decode_utf8().ok()).map(|c| c.into_owned());
            }
            _ => {}
        }
    }
    // Only the last path segment: a name, never a path.
    extended.or(plain).map(|n| n.rsplit(['/', '\\']).next().unwrap_or_default().to_owned()).filter(|n| !n.is_empty())
}

/// `a; b="c;d"; e` → `a`, `b="c;d"`, `e`: semicolons inside quotes are kept.
fn split_params(value: &str) -> Vec<String> {
    let (mut out, mut current, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in value.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                current.push(c);
                quoted = !quoted;
            }
            ';' if !quoted => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next().unwrap_or(c) } else { c });
            }
            out
        }
        None => v.to_owned(),
    }
}

/// The presigned flow's first step: a declared file becomes a pending asset and a signed PUT URL.
async fn presign(state: &AppState, auth: &Authenticated, prod: &podops_core::domain::Guid, body: Body) -> Result<Response, ApiError> {
    let limit = state.limits.json_body;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request.too_large", "the upload declaration is larger than the JSON limit")
    })?;
    let intent: UploadIntent = json_body(&bytes)?;
    let (asset, upload) = state.podops.start_upload(&auth.caller, prod, intent).await?;
    let mut resp = (StatusCode::CREATED, axum::Json(PresignedUpload { asset: asset.clone(), upload })).into_response();
    set(&mut resp, header::LOCATION, &format!("/a/v1/resource/{prod}/asset/{}", asset.guid));
    Ok(resp)
}

/// Completes a presigned upload: joins the parts (multipart), checks size and
/// sha256 (declared at the start, or sent here), then the asset is stored (and probed).
#[utoipa::path(post, path = "/a/v1/upload/{prod}/{asset}/complete", tag = "media",
    params(("prod" = String, Path), ("asset" = String, Path)), security(("bearer" = [])),
    request_body(content = UploadCompletion, description = "optional: {sha256}, the hash the client computed while sending"),
    responses((status = 200, body = podops_core::domain::Resource), (status = 404, body = ErrorBody, description = "upload.not_started"),
              (status = 422, body = ErrorBody, description = "upload.incomplete (params.missing_parts), upload.size_mismatch, upload.sha256_mismatch (nothing is kept)")))]
async fn complete(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, asset)): Path<(String, String)>,
    body: Body,
) -> Result<axum::Json<podops_core::domain::Resource>, ApiError> {
    let (prod, asset) = (guid("prod", &prod)?, guid("asset", &asset)?);
    let bytes = axum::body::to_bytes(body, state.limits.json_body).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request.too_large", "the completion is larger than the JSON limit")
    })?;
    let completion = if bytes.iter().all(u8::is_ascii_whitespace) { UploadCompletion::default() } else { json_body(&bytes)? };
    Ok(axum::Json(state.podops.complete_upload(&auth.caller, &prod, &asset, completion).await?))
}

/// Where a started upload stands: for a multipart upload, the parts stored
/// (`received`) and fresh URLs for the missing ones (`parts`) — how a client resumes.
#[utoipa::path(get, path = "/a/v1/upload/{prod}/{asset}", tag = "media",
    params(("prod" = String, Path), ("asset" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = PresignedUpload), (status = 404, body = ErrorBody, description = "upload.not_started")))]
async fn status(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, asset)): Path<(String, String)>,
) -> Result<axum::Json<PresignedUpload>, ApiError> {
    let (prod, asset) = (guid("prod", &prod)?, guid("asset", &asset)?);
    let (asset, upload) = state.podops.upload_status(&auth.caller, &prod, &asset).await?;
    Ok(axum::Json(PresignedUpload { asset, upload }))
}

/// Abandons a started upload: its parts, bytes and pending asset are removed.
#[utoipa::path(delete, path = "/a/v1/upload/{prod}/{asset}", tag = "media",
    params(("prod" = String, Path), ("asset" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody, description = "upload.not_started")))]
async fn cancel(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((prod, asset)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (prod, asset) = (guid("prod", &prod)?, guid("asset", &asset)?);
    state.podops.cancel_upload(&auth.caller, &prod, &asset).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        ApiError::new(StatusCode::BAD_REQUEST, "body.invalid_field", e.into_inner().to_string()).with_params(serde_json::json!({ "field": field }))
    })
}

/// The first part of a multipart body that carries a file.
async fn file_part(body: Body, boundary: String) -> Result<Upload, ApiError> {
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "upload.multipart", format!("the multipart body is malformed: {e}"))
        })?;
        let Some(field) = field else {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "upload.no_file", "the multipart body has no file part"));
        };
        if let Some(filename) = field.file_name().map(str::to_owned) {
            let content_type = field.content_type().map(|m| m.to_string()).unwrap_or_default();
            // The part's stream keeps the multipart parser alive; dropping the
            // rest of the body after this part is fine for a one-file upload.
            return Ok(Upload { filename, content_type, body: io_stream(field) });
        }
    }
}

fn io_stream<S, E>(stream: S) -> ByteStream
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
{
    stream.map_err(|e| std::io::Error::other(e.to_string())).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(value: &str) -> Option<String> {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_DISPOSITION, value.parse().unwrap());
        attachment_filename(&h)
    }

    #[test]
    fn content_disposition_gives_the_file_name() {
        assert_eq!(name(r#"attachment; filename="pilot episode.mp3""#).as_deref(), Some("pilot episode.mp3"));
        assert_eq!(name("attachment; filename=pilot.mp3").as_deref(), Some("pilot.mp3"));
        assert_eq!(name(r#"attachment; filename="a;b \"c\".mp3""#).as_deref(), Some(r#"a;b "c".mp3"#));
        assert_eq!(name(r#"attachment; filename="fallback.mp3"; filename*=UTF-8''%C3%A9pisode%201.mp3"#).as_deref(), Some("épisode 1.mp3"));
        assert_eq!(name(r#"attachment; filename="../../etc/passwd""#).as_deref(), Some("passwd"));
        assert_eq!(name("inline").as_deref(), None);
        assert_eq!(name(r#"attachment; filename="""#).as_deref(), None);
    }
}
