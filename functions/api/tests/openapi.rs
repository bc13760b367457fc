//! The OpenAPI document describes every mounted route, and every route the
//! PodOps API promises is mounted.

mod support;

use axum::http::{Method, StatusCode};
use support::app;

/// The routes of the PodOps API (seed 000) plus PodOps' additions.
const PROMISED: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/openapi.json"),
    ("get", "/system/health"),
    ("get", "/_a/token"),
    ("post", "/_a/token"),
    ("get", "/a/v1/productions"),
    ("post", "/a/v1/production"),
    ("get", "/a/v1/production/{prod}"),
    ("put", "/a/v1/production/{prod}/member/{client}"),
    ("delete", "/a/v1/production/{prod}/member/{client}"),
    ("get", "/a/v1/resource/{prod}/{kind}"),
    ("get", "/a/v1/resource/{prod}/{kind}/{id}"),
    ("get", "/a/v1/schedule/{prod}"),
    ("post", "/a/v1/resource/{prod}/{kind}/{id}"),
    ("put", "/a/v1/resource/{prod}/{kind}/{id}"),
    ("put", "/a/v1/users/{email}"),
    ("delete", "/a/v1/resource/{prod}/{kind}/{id}"),
    ("post", "/a/v1/upload/{prod}"),
    ("get", "/media/{key}"),
    ("get", "/docs"),
    ("get", "/metrics"),
    ("head", "/media/{key}"),
    ("put", "/media/{key}"),
    ("post", "/a/v1/upload/{prod}/{asset}/complete"),
    ("post", "/a/v1/webhook/{prod}/{id}/test"),
    ("get", "/a/v1/upload/{prod}/{asset}"),
    ("delete", "/a/v1/upload/{prod}/{asset}"),
    ("post", "/a/v1/build"),
    ("post", "/a/v1/build/rollback"),
    ("get", "/channels/{production}/{channel}/epg.xml"),
    ("get", "/channels/{production}/{channel}/playlist.m3u"),
    ("get", "/feeds/{path}"),
    ("head", "/feeds/{path}"),
    ("get", "/a/v1/asset/{prod}/{id}/content"),
    ("head", "/a/v1/asset/{prod}/{id}/content"),
    ("post", "/a/v1/asset/{prod}/{id}/retry"),
    ("post", "/a/v1/stream/{prod}/{id}/{action}"),
    ("post", "/a/v1/stream/{prod}/{id}/duplicate"),
    ("get", "/a/v1/stream/{prod}/{id}/status"),
    ("get", "/a/v1/stream/{prod}/{id}/logs"),
    ("get", "/a/v1/stream/{prod}/{id}/events"),
    ("post", "/a/v1/ffmpeg/preview"),
    ("get", "/a/v1/recordings/{prod}"),
    ("post", "/a/v1/stream/{prod}/{id}/preflight"),
    ("get", "/a/v1/stream/{prod}/{id}/preflight"),
    ("get", "/a/v1/stream/{prod}/{id}/preflight/events"),
    ("post", "/a/v1/stream/{prod}/{id}/dry-run"),
    ("get", "/a/v1/stream/{prod}/{id}/dry-run"),
    ("post", "/a/v1/recordings/{prod}/{asset}/publish"),
    ("post", "/a/v1/login"),
    ("get", "/a/v1/auth"),
    ("post", "/a/v1/auth"),
    ("post", "/a/v1/auth/confirm"),
    ("get", "/a/v1/webhook/{prod}/{id}/deliveries"),
    ("get", "/a/v1/whoami"),
    ("get", "/a/v1/audit"),
    ("get", "/a/v1/audit/{prod}"),
    ("get", "/a/v1/auth/me"),
    ("post", "/a/v1/auth/refresh"),
    ("post", "/a/v1/auth/logout"),
    ("post", "/a/v1/auth/2fa/enroll"),
    ("post", "/a/v1/auth/2fa/verify"),
    ("get", "/a/v1/tokens"),
    ("post", "/a/v1/tokens"),
    ("delete", "/a/v1/tokens/{id}"),
    ("get", "/a/v1/public/{name}"),
    ("get", "/a/v1/public/{name}/episode/{id}"),
    ("get", "/live/{production}/{stream}/{file}"),
    ("get", "/a/v1/asset/{prod}/by-external/{name}/{value}"),
    ("head", "/a/v1/asset/{prod}/by-external/{name}/{value}"),
    ("post", "/a/v1/asset/{prod}/by-external/{name}/{value}"),
    ("post", "/a/v1/import/feed"),
    ("get", "/a/v1/import/feed/{id}"),
    ("get", "/a/v1/analytics/{prod}"),
    ("get", "/a/v1/analytics/{prod}/export"),
    ("post", "/a/v1/backups"),
    ("get", "/a/v1/backups/{prod}"),
    ("get", "/a/v1/backups/{prod}/{id}/download"),
    ("post", "/a/v1/backups/uploads"),
    ("post", "/a/v1/backups/restore"),
    ("get", "/a/v1/backups/restore/{id}"),
    ("get", "/a/v1/asset/{prod}/by-external/{name}/{value}/assets"),
    ("get", "/a/v1/asset/{prod}/by-external/{name}"),
    ("post", "/_t/import"),
];

fn documented() -> Vec<(String, String)> {
    let doc = serde_json::to_value(podops_api::routes::openapi()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.push((method.clone(), path.clone()));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn the_document_lists_exactly_the_promised_routes() {
    let mut promised: Vec<(String, String)> = PROMISED.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    promised.sort();
    assert_eq!(documented(), promised);
}

#[tokio::test]
async fn every_documented_route_is_mounted() {
    let app = app();
    for (method, path) in documented() {
        let concrete = path
            .replace("{prod}", "0123456789ab")
            .replace("{kind}", "episode")
            .replace("{id}", "0123456789ab")
            .replace("{client}", "someone")
            .replace("{asset}", "0123456789ab")
            .replace("{name}", "legacy_track_token")
            .replace("{value}", "370456")
            .replace("{key}", "media/x.mp3")
            .replace("{path}", "some_show_name/feed.xml");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = app.call(method.clone(), &concrete, None, None).await;
        let json = r.header("content-type").starts_with("application/json");
        let code = if r.body.is_empty() || !json { String::new() } else { r.json()["error"]["code"].as_str().unwrap_or("").to_owned() };
        assert!(code != "route.not_found" && code != "route.method_not_allowed", "{method} {path} is documented but not mounted");
        assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{method} {path}");
    }
}

#[tokio::test]
async fn the_document_is_served_and_names_the_error_shape() {
    let app = app();
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["schemas"]["Resource"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
