//! Request extractors that answer bad input with the API's error shape: JSON
//! bodies (415 / 413 / 400 naming the field), path ids parsed into domain
//! types, list queries and `If-Match`.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Query, Request},
    http::{header, request::Parts, HeaderMap, StatusCode},
};
use podops_core::domain::{Guid, Invalid, Kind, Version};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::json;

use crate::{error::ApiError, state::AppState};

/// A JSON request body of type `T`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "body.unsupported_type",
                "send the body as application/json",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(value) => Ok(Self(value)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    Err(ApiError::new(StatusCode::BAD_REQUEST, "body.invalid_json", inner.to_string()))
                } else {
                    let field = if path == "." { String::new() } else { path };
                    Err(ApiError::new(StatusCode::BAD_REQUEST, "body.invalid_field", inner.to_string())
                        .with_params(json!({ "field": field })))
                }
            }
        }
    }
}

/// A resource body: JSON, or XML (`application/xml`, `text/xml`): the root
/// element's content (the root names the kind, like a wrapped JSON body),
/// its texts not yet typed (see `xml_body`).
pub enum JsonOrXml {
    Json(serde_json::Value),
    Xml(serde_json::Value),
}

impl FromRequest<AppState> for JsonOrXml {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let xml = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
            let t = ct.split(';').next().unwrap_or("").trim();
            t.eq_ignore_ascii_case("application/xml") || t.eq_ignore_ascii_case("text/xml")
        });
        if !xml {
            return ApiJson::<serde_json::Value>::from_request(req, state).await.map(|ApiJson(v)| Self::Json(v));
        }
        let bytes = body_bytes(req, state).await?;
        let (_root, value) = crate::xml_body::parse(&bytes).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "body.invalid_xml", e))?;
        Ok(Self::Xml(value))
    }
}

impl JsonOrXml {
    /// The body as JSON; XML typed by `kind`'s schema in the document.
    pub fn into_json(self, kind: podops_core::domain::Kind) -> serde_json::Value {
        match self {
            Self::Json(v) => v,
            Self::Xml(v) => {
                static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
                let doc = DOC.get_or_init(|| serde_json::to_value(crate::routes::openapi()).unwrap_or_default());
                let components = &doc["components"]["schemas"];
                let name = kind.as_str();
                let schema_name: String = name[..1].to_ascii_uppercase() + &name[1..];
                crate::xml_body::typed(v, &json!({ "$ref": format!("#/components/schemas/{schema_name}") }), components)
            }
        }
    }
}

/// The whole body, within the JSON limit (413 beyond it).
async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request.too_large", "the body is larger than the limit").with_params(json!({ "limit": state.limits.json_body }))
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "body.unreadable", rejection.body_text())
        }
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let Ok(mime) = ct.parse::<mime::Mime>() else { return false };
    mime.type_() == mime::APPLICATION && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
}

/// Maps a domain parse error to a 400 that names the field.
pub fn bad(e: Invalid) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message).with_params(json!({ "field": e.field }))
}

pub fn guid(field: &str, s: &str) -> Result<Guid, ApiError> {
    Guid::parse(s).map_err(|e| bad(Invalid { field: field.to_owned(), ..e }))
}

pub fn kind(s: &str) -> Result<Kind, ApiError> {
    Kind::parse(s).map_err(bad)
}

/// `?limit=&cursor=` of a list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page (1–100, default 20); outside that range is 400 `query.invalid`.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

pub struct ListQuery(pub ListParams);

/// `Query<T>` whose rejection is the API's error shape (400 `query.invalid`),
/// not axum's plain-text one.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "query.invalid", e.body_text()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(p) = Query::<ListParams>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "query.invalid", e.body_text()).with_params(json!({ "field": "limit" })))?;
        if p.limit.is_some_and(|l| !(1..=100).contains(&l)) {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "query.invalid", "limit is 1 to 100").with_params(json!({ "field": "limit" })));
        }
        // `?cursor=` is no cursor: the first page.
        let cursor = p.cursor.filter(|c| !c.is_empty());
        Ok(Self(ListParams { cursor, ..p }))
    }
}

/// The version in an `If-Match` header (`"3"`), if one was sent. `*` means
/// "any version" and is treated as absent; a weak or malformed tag can never
/// match, so it fails with 412 rather than being ignored.
pub fn if_match(headers: &HeaderMap) -> Result<Option<Version>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    if !is_entity_tag_list(text) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "if_match.invalid", "If-Match is * or one ETag, e.g. \"3\"").with_params(json!({ "field": "If-Match" })));
    }
    let bare = !text.starts_with('"') && !text.starts_with("W/");
    let ours = text
        .trim_matches('"')
        .parse::<u64>()
        .ok()
        .filter(|_| bare || (text.starts_with('"') && text.ends_with('"') && text.len() >= 3));
    // A well-formed tag this API never issued (a weak one, or not a version) can never
    // match: it is compared like a version no record has, so the body is checked first
    // (400) and the mismatch answered after (412).
    Ok(Some(ours.map_or(Version(u64::MAX), Version)))
}

/// RFC 9110 `If-Match`: `*`, or entity tags (`"…"`, weak `W/"…"`) separated by commas.
/// `If-Match` as this API takes it: `*`, or one entity tag (`"3"`; a weak `W/"3"` never
/// matches), or the version bare (`3`), as many clients send it.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"[!#-~]*"|[0-9A-Za-z._-]+)$"#;

fn is_entity_tag_list(text: &str) -> bool {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return true;
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"') && tag[1..tag.len() - 1].bytes().all(|b| b == b'!' || (b'#'..=b'~').contains(&b))
}

pub fn etag(version: Version) -> String {
    format!("\"{version}\"")
}
