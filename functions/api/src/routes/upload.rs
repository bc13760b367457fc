//! `POST /a/v1/upload/{prod}`: streams a file into the blob store and records
//! it as an asset. The body is either the raw file (name in `?filename=`,
//! type in `Content-Type`) or `multipart/form-data` with one file part.
//! Nothing is buffered whole: the bytes flow to storage as they arrive.

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::Response,
};
use futures::{StreamExt, TryStreamExt};
use podops_core::{ports::ByteStream, service::Upload};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
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
    OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::disable())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadParams {
    /// The file's name, for a raw body.
    filename: Option<String>,
}

/// Uploads a media file as a new asset of the production.
#[utoipa::path(post, path = "/a/v1/upload/{prod}", tag = "media",
    params(("prod" = String, Path), UploadParams),
    request_body(content = Vec<u8>, description = "the file, raw (audio/mpeg, image/png, …) or as multipart/form-data"),
    security(("bearer" = [])),
    responses((status = 201, body = podops_core::domain::Resource, headers(("Location" = String))), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path(prod): Path<String>,
    Query(params): Query<UploadParams>,
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
    let upload = match multer::parse_boundary(&content_type) {
        Ok(boundary) => file_part(body, boundary).await?,
        Err(_) => Upload {
            filename: params.filename.unwrap_or_default(),
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
