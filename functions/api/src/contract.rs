//! What every operation of the document says alike, said in one place: the
//! constraints of the path parameters that are the same everywhere (a guid
//! is 12 lowercase hex digits, a kind is one of the kinds), and the answers
//! the shared layers give to any route (400 for a malformed parameter or
//! body, 401 and 403 for a secured route, 404 for a path naming something,
//! 413 and 415 for a body, 429 from the rate limits). The handlers document
//! what is theirs; this adds what the middleware does to all of them.

use podops_core::domain::Kind;
use utoipa::openapi::{
    path::{Operation, Parameter, ParameterIn},
    schema::{ObjectBuilder, Schema, SchemaType, Type},
    OpenApi, RefOr, ResponseBuilder,
};

const GUID: &str = "^[0-9a-f]{12}$";
/// A production's name (`ProductionName`).
const PRODUCTION_NAME: &str = "^[a-z0-9_-]{8,44}$";
/// A client id (`ClientId`), or a user's email address.
const CLIENT: &str = r"^([A-Za-z0-9._@:-]{1,64}|[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)$";
/// An email address as `Email::parse` takes it.
const EMAIL: &str = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";
/// An external id's name (`legacy_track_token`).
const EXTERNAL_ID_NAME: &str = "^[A-Za-z0-9_]{1,64}$";
/// An external id's value: 1 to 255 characters of any kind.
const EXTERNAL_ID_VALUE: &str = r"^[\s\S]{1,255}$";

/// The pattern or the allowed values of a path parameter, by its name and route.
fn constraint(path: &str, name: &str) -> Option<Result<&'static str, Vec<String>>> {
    let by_name = match name {
        "prod" | "asset" | "stream" => Ok(GUID),
        "id" if path.starts_with("/a/v1/tokens") => Ok("^[0-9a-f]{16}$"),
        "id" if path.starts_with("/a/v1/import/feed") || path.starts_with("/a/v1/backups/restore") => Ok("^[0-9a-f]{12}-[0-9a-f]{12}$"),
        "id" => Ok(GUID),
        "kind" => Err(Kind::ALL.iter().map(|k| k.as_str().to_owned()).collect()),
        "action" => Err(["start", "stop", "restart", "pause", "resume"].map(String::from).to_vec()),
        "name" if path.contains("by-external") => Ok(EXTERNAL_ID_NAME),
        "value" if path.contains("by-external") => Ok(EXTERNAL_ID_VALUE),
        "name" => Ok(PRODUCTION_NAME),
        "email" => Ok(EMAIL),
        "production" => Ok(PRODUCTION_NAME),
        "client" => Ok(CLIENT),
        _ => return None,
    };
    Some(by_name)
}

fn string_schema(c: Result<&'static str, Vec<String>>) -> RefOr<Schema> {
    let builder = ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
    let builder = match c {
        Ok(EMAIL) => builder.pattern(Some(EMAIL)).max_length(Some(254)),
        Ok(pattern) => builder.pattern(Some(pattern)),
        Err(values) => builder.enum_values(Some(values)),
    };
    RefOr::T(Schema::Object(builder.build()))
}

fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", utoipa::openapi::ContentBuilder::new().schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody")))).build())
            .build(),
    )
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses.responses.entry(status.to_owned()).or_insert_with(|| error(description));
}

/// The raw upload takes exactly the accepted media types (each a file's bytes),
/// multipart/form-data, or JSON (a presigned upload's declaration).
fn upload_body(doc: &mut OpenApi) {
    let Some(op) = doc.paths.paths.get_mut("/a/v1/upload/{prod}").and_then(|item| item.post.as_mut()) else { return };
    let Some(body) = op.request_body.as_mut() else { return };
    let mut content: serde_json::Map<String, serde_json::Value> = podops_core::service::MediaRules::accepted_types()
        .map(|t| (t.to_owned(), serde_json::json!({ "schema": { "type": "string", "format": "binary" } })))
        .collect();
    content.insert(
        "multipart/form-data".into(),
        serde_json::json!({ "schema": { "type": "object", "additionalProperties": false, "required": ["file"], "properties": { "file": { "type": "string", "format": "binary" } } } }),
    );
    content.insert("application/json".into(), serde_json::json!({ "schema": { "$ref": "#/components/schemas/UploadIntent" } }));
    if let Ok(content) = serde_json::from_value(serde_json::Value::Object(content)) {
        body.content = content;
    }
}

/// An external id mapping takes a bare list of asset ids or `{"assets": [...]}`.
fn mapping_body(doc: &mut OpenApi) {
    let Some(op) = doc.paths.paths.get_mut("/a/v1/asset/{prod}/by-external/{name}/{value}").and_then(|item| item.post.as_mut()) else { return };
    let Some(body) = op.request_body.as_mut() else { return };
    let max = podops_core::service::MAX_MAPPED_PER_REQUEST;
    let ids = serde_json::json!({ "type": "array", "minItems": 1, "maxItems": max, "items": { "type": "string", "pattern": GUID } });
    let schema = serde_json::json!({ "oneOf": [ids, { "type": "object", "additionalProperties": false, "required": ["assets"], "properties": { "assets": ids } }] });
    if let Ok(content) = serde_json::from_value(serde_json::json!({ "application/json": { "schema": schema } })) {
        body.content = content;
    }
}

/// A feed import names an http(s) URL and, optionally, a production name.
fn feed_import_body(doc: &mut OpenApi) {
    let Some(op) = doc.paths.paths.get_mut("/a/v1/import/feed").and_then(|item| item.post.as_mut()) else { return };
    let Some(body) = op.request_body.as_mut() else { return };
    let schema = serde_json::json!({
        "type": "object", "additionalProperties": false, "required": ["url"],
        "properties": {
            "url": { "type": "string", "pattern": crate::contract_bodies::URL, "maxLength": 2000 },
            "name": { "type": ["string", "null"], "pattern": PRODUCTION_NAME },
            "dry_run": { "type": "boolean" },
            "ownership_code": { "type": ["string", "null"], "pattern": "^[0-9]{8}$" },
        }
    });
    if let Ok(content) = serde_json::from_value(serde_json::json!({ "application/json": { "schema": schema } })) {
        body.content = content;
    }
}

/// A backup names a production by guid; a restore names an archive (two guids) and maybe a production name.
fn backup_bodies(doc: &mut OpenApi) {
    let pair = "^[0-9a-f]{12}-[0-9a-f]{12}$";
    let schemas = [
        ("/a/v1/backups", serde_json::json!({
            "type": "object", "additionalProperties": false, "required": ["production"],
            "properties": { "production": { "type": "string", "pattern": GUID } }
        })),
        ("/a/v1/backups/restore", serde_json::json!({
            "type": "object", "additionalProperties": false, "required": ["archive"],
            "properties": { "archive": { "type": "string", "pattern": pair }, "name": { "type": ["string", "null"], "pattern": PRODUCTION_NAME } }
        })),
    ];
    for (path, schema) in schemas {
        let Some(body) = doc.paths.paths.get_mut(path).and_then(|item| item.post.as_mut()).and_then(|op| op.request_body.as_mut()) else { continue };
        if let Ok(content) = serde_json::from_value(serde_json::json!({ "application/json": { "schema": schema } })) {
            body.content = content;
        }
    }
}

/// Resource bodies are taken as XML too (seed 001), typed by the kind's schema.
fn xml_resource_bodies(doc: &mut OpenApi) {
    for (_, item) in doc.paths.paths.iter_mut().filter(|(p, _)| p.starts_with("/a/v1/resource/")) {
        for op in [&mut item.post, &mut item.put].into_iter().flatten() {
            let Some(body) = op.request_body.as_mut() else { continue };
            if let Some(json) = body.content.get("application/json").cloned() {
                body.content.insert("application/xml".to_owned(), json);
            }
        }
    }
}

/// Completes `doc` as described at the top of this file.
pub fn complete(doc: &mut OpenApi) {
    upload_body(doc);
    mapping_body(doc);
    feed_import_body(doc);
    backup_bodies(doc);
    xml_resource_bodies(doc);
    for (path, item) in doc.paths.paths.iter_mut() {
        let path_params: Vec<Parameter> = item.parameters.clone().unwrap_or_default();
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.head, &mut item.patch];
        for op in ops.into_iter().flatten() {
            let params = op.parameters.get_or_insert_with(Vec::new);
            let mut has_path_param = !path_params.is_empty();
            for p in params.iter_mut() {
                match p.parameter_in {
                    ParameterIn::Path => {
                        has_path_param = true;
                        if let Some(c) = constraint(path, &p.name) {
                            p.schema = Some(string_schema(c));
                        }
                    }
                    ParameterIn::Header if p.name.eq_ignore_ascii_case("if-match") => p.schema = Some(string_schema(Ok(crate::extract::IF_MATCH_PATTERN))),
                    _ => {}
                }
            }
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_body = op.request_body.is_some();
            let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
            let has_if_match = params.iter().any(|p| p.name.eq_ignore_ascii_case("if-match"));
            if has_path_param || has_body || has_query {
                add(op, "400", "a malformed parameter or body (`guid.format`, `body.invalid_json`, `query.invalid`, …)");
            }
            if secured {
                add(op, "401", "no token, or an invalid or expired one (`auth.missing_token`, `auth.invalid_token`)");
                add(op, "403", "the token lacks the scope, or the caller the role (`auth.missing_scope`, `auth.role`)");
            }
            if has_path_param {
                add(op, "404", "nothing found at this path");
            }
            if has_if_match {
                add(op, "412", "If-Match names another version: read it again (`resource.version_mismatch`)");
            }
            if has_body {
                add(op, "413", "the body is larger than the limit (`request.too_large`)");
                add(op, "415", "the body's content type is not accepted (`body.unsupported_type`)");
            }
            add(op, "429", "too many requests: wait `Retry-After` seconds (`rate.limited`)");
        }
    }
}

/// The served document: the resource routes, one path per kind
/// (`/a/v1/resource/{prod}/episode/{id}`, …), each with its kind's body
/// schema (`contract_bodies`), where the router has one `{kind}` route.
pub fn per_kind(mut doc: serde_json::Value) -> serde_json::Value {
    let Some(paths) = doc.get_mut("paths").and_then(serde_json::Value::as_object_mut) else { return doc };
    let generic: Vec<(String, serde_json::Value)> =
        ["/a/v1/resource/{prod}/{kind}/{id}", "/a/v1/resource/{prod}/{kind}"].iter().filter_map(|p| paths.remove(*p).map(|v| (p.to_string(), v))).collect();
    let mut schemas = serde_json::Map::new();
    for (kind, create, update) in crate::contract_bodies::bodies() {
        let name = format!("{}{}", kind[..1].to_ascii_uppercase(), &kind[1..]);
        schemas.insert(format!("{name}Create"), create);
        schemas.insert(format!("{name}Update"), update);
        for (path, item) in &generic {
            let mut item = item.clone();
            for (method, op) in item.as_object_mut().into_iter().flatten() {
                let Some(op) = op.as_object_mut() else { continue };
                if let Some(params) = op.get_mut("parameters").and_then(serde_json::Value::as_array_mut) {
                    params.retain(|p| p.get("name").and_then(serde_json::Value::as_str) != Some("kind"));
                }
                if let Some(id) = op.get("operationId").and_then(serde_json::Value::as_str).map(str::to_owned) {
                    op.insert("operationId".into(), serde_json::Value::String(format!("{id}_{kind}")));
                }
                let body = match method.as_str() {
                    "post" => Some(format!("{name}Create")),
                    "put" => Some(format!("{name}Update")),
                    _ => None,
                };
                if let (Some(body), Some(content)) = (body, op.get_mut("requestBody").and_then(|b| b.get_mut("content")).and_then(serde_json::Value::as_object_mut)) {
                    for media in content.values_mut() {
                        media["schema"] = serde_json::json!({ "$ref": format!("#/components/schemas/{body}") });
                    }
                }
            }
            paths.insert(path.replace("{kind}", kind), item);
        }
    }
    if let Some(components) = doc.get_mut("components").and_then(|c| c.get_mut("schemas")).and_then(serde_json::Value::as_object_mut) {
        components.extend(schemas);
        if let Some(intent) = components.get_mut("UploadIntent").and_then(|s| s.get_mut("properties")).and_then(serde_json::Value::as_object_mut) {
            let accepted: Vec<&str> = podops_core::service::MediaRules::accepted_types().collect();
            intent.insert("content_type".into(), serde_json::json!({ "enum": accepted }));
        }
    }
    doc
}
