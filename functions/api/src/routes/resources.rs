//! Shows, episodes and assets: `/a/v1/resource/{prod}/{kind}[/{id}]`.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use podops_core::{
    domain::{Kind, Resource},
    service::{ResourceJson, ResourceJsonPage, Update},
};
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{etag, guid, if_match, kind, JsonOrXml, ListParams, ListQuery},
    negotiate::Format,
    openapi::ErrorBody,
    routes::productions::set,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_resources))
        .routes(routes!(get_resource, create_resource, update_resource, delete_resource))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResourceList {
    items: Vec<Resource>,
    total: u64,
    limit: usize,
    /// Cursor of the next page; absent on the last page.
    next: Option<String>,
}

/// Resources of one kind in a production, in GUID order.
#[utoipa::path(get, path = "/a/v1/resource/{prod}/{kind}", tag = "resources",
    params(("prod" = String, Path), ("kind" = String, Path, description = "show, episode, asset, profile, playlist or stream"), ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = ResourceList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 406, body = ErrorBody)))]
async fn list_resources(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path((prod, k)): Path<(String, String)>,
    ListQuery(q): ListQuery,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let (prod, k) = (guid("prod", &prod)?, kind(&k)?);
    if format == Format::Json {
        let page = state.podops.list_resources_json(&auth.caller, &prod, k, q.limit, q.cursor.as_deref()).await?;
        return json_answer(StatusCode::OK, list_json(&page));
    }
    let page = state.podops.list_resources(&auth.caller, &prod, k, q.limit, q.cursor.as_deref()).await?;
    let body = ResourceList { items: page.items, total: page.total, limit: page.limit, next: page.next };
    Ok(format.render(StatusCode::OK, &format!("{k}s"), &body))
}

/// A `ResourceList` in JSON, written piece by piece: stored items go in as
/// they are (see `Podops::list_resources_json`).
fn list_json(page: &ResourceJsonPage) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(128 + page.items.iter().map(|item| match item {
        ResourceJson::Stored(text) => text.len() + 1,
        ResourceJson::Typed(_) => 512,
    }).sum::<usize>());
    out.extend_from_slice(b"{\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item.write_json(&mut out)?;
    }
    out.extend_from_slice(b"],\"total\":");
    serde_json::to_writer(&mut out, &page.total)?;
    out.extend_from_slice(b",\"limit\":");
    serde_json::to_writer(&mut out, &page.limit)?;
    out.extend_from_slice(b",\"next\":");
    serde_json::to_writer(&mut out, &page.next)?;
    out.push(b'}');
    Ok(out)
}

fn json_answer(status: StatusCode, body: Result<Vec<u8>, serde_json::Error>) -> Result<Response, ApiError> {
    let body = body.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// One resource; `ETag` carries its version.
#[utoipa::path(get, path = "/a/v1/resource/{prod}/{kind}/{id}", tag = "resources",
    params(("prod" = String, Path), ("kind" = String, Path), ("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Resource, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_resource(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path((prod, k, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let (prod, k, id) = (guid("prod", &prod)?, kind(&k)?, guid("id", &id)?);
    let (mut resp, version) = if format == Format::Json {
        let (resource, version) = state.podops.get_resource_json(&auth.caller, &prod, k, &id).await?;
        (json_answer(StatusCode::OK, resource.into_json())?, version)
    } else {
        let resource = state.podops.get_resource(&auth.caller, &prod, k, &id).await?;
        (format.render(StatusCode::OK, k.as_str(), &resource), resource.version)
    };
    set(&mut resp, header::ETAG, &etag(version));
    Ok(resp)
}

/// Creates a resource with the GUID the client chose.
#[utoipa::path(post, path = "/a/v1/resource/{prod}/{kind}/{id}", tag = "resources",
    params(("prod" = String, Path), ("kind" = String, Path), ("id" = String, Path)),
    request_body(content = Object, description = "the kind's client-owned fields, bare or wrapped in the kind's name (episode: {…})"),
    security(("bearer" = [])),
    responses((status = 201, body = Resource, headers(("Location" = String), ("ETag" = String))), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_resource(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path((prod, k, id)): Path<(String, String, String)>,
    body: JsonOrXml,
) -> Result<Response, ApiError> {
    let format = Format::from_headers(&headers)?;
    let (prod, k, id) = (guid("prod", &prod)?, kind(&k)?, guid("id", &id)?);
    let resource = state.podops.create_resource(&auth.caller, &prod, k, &id, unwrap_named(k, body.into_json(k))).await?;
    let mut resp = format.render(StatusCode::CREATED, k.as_str(), &resource);
    set(&mut resp, header::LOCATION, &format!("/a/v1/resource/{prod}/{k}/{id}"));
    set(&mut resp, header::ETAG, &etag(resource.version));
    Ok(resp)
}

/// Changes the fields sent (a merge). With `If-Match`, only if the version still matches.
#[utoipa::path(put, path = "/a/v1/resource/{prod}/{kind}/{id}", tag = "resources",
    params(("prod" = String, Path), ("kind" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    request_body(content = Object, description = "fields to change, bare or wrapped in the kind's name"), security(("bearer" = [])),
    responses((status = 204, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
async fn update_resource(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path((prod, k, id)): Path<(String, String, String)>,
    body: JsonOrXml,
) -> Result<Response, ApiError> {
    let (prod, k, id) = (guid("prod", &prod)?, kind(&k)?, guid("id", &id)?);
    let fields = body.into_json(k);
    if !fields.is_object() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "body.invalid", "the body is a JSON object of the fields to change"));
    }
    let update = Update { fields: unwrap_named(k, fields), if_match: if_match(&headers)? };
    let resource = state.podops.update_resource(&auth.caller, &prod, k, &id, update).await?;
    let mut resp = Response::new(axum::body::Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    set(&mut resp, header::ETAG, &etag(resource.version));
    Ok(resp)
}

/// Deletes a resource (and a local asset's bytes). With `If-Match`, only if the version still matches.
#[utoipa::path(delete, path = "/a/v1/resource/{prod}/{kind}/{id}", tag = "resources",
    params(("prod" = String, Path), ("kind" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
async fn delete_resource(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path((prod, k, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let (prod, k, id) = (guid("prod", &prod)?, kind(&k)?, guid("id", &id)?);
    state.podops.delete_resource(&auth.caller, &prod, k, &id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Seed 001's clients wrap a body in the resource's name (`{"episode": {…}}`,
/// like its `{"folder": {…}}`); a bare body is taken as it is. A field that
/// shares the kind's name (an episode's number) is never an object, so the
/// two cannot be confused.
fn unwrap_named(kind: Kind, body: Value) -> Value {
    match body {
        Value::Object(mut map) if map.len() == 1 && map.get(kind.as_str()).is_some_and(Value::is_object) => map.remove(kind.as_str()).unwrap_or_default(),
        other => other,
    }
}
