//! The asset content and external-id routes at the HTTP boundary (no worker
//! here): parameter checking, states, and the external-id index.

mod support;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use serde_json::json;
use support::{app, TestApp, FULL};

async fn upload(app: &TestApp, t: &str, prod: &str) -> String {
    let req = Request::post(format!("/a/v1/upload/{prod}?filename=a.mp3"))
        .header("authorization", format!("Bearer {t}"))
        .header("content-type", "audio/mpeg")
        .body(Body::from(vec![0xffu8; 1000]))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED);
    r.json()["guid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn content_parameters_outside_the_closed_sets_are_400_naming_the_field() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "content_params").await;
    let id = upload(&app, &t, &prod).await;
    for (query, field) in [("format=exe", "format"), ("format=mp3&bitrate=100000", "bitrate"), ("format=mp3&channels=6", "channels"),
                           ("format=mp3&loudness=-99", "loudness"), ("format=mp3&exact=maybe", "exact")] {
        let r = app.call(Method::GET, &format!("/a/v1/asset/{prod}/{id}/content?{query}"), Some(&t), None).await;
        assert_eq!((r.status, r.json()["error"]["params"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{query}");
    }
    let r = app.call(Method::GET, &format!("/a/v1/asset/{prod}/0123456789ab/content"), Some(&t), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "resource.not_found"));
    let stranger = app.token("mallory", FULL);
    let r = app.call(Method::GET, &format!("/a/v1/asset/{prod}/{id}/content"), Some(&stranger), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "other tenants' assets are invisible");
}

#[tokio::test]
async fn an_asset_not_yet_probed_is_not_ready_with_retry_after() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "content_pending").await;
    let id = upload(&app, &t, &prod).await;
    for method in [Method::GET, Method::HEAD] {
        let r = app.call(method.clone(), &format!("/a/v1/asset/{prod}/{id}/content?format=ogg"), Some(&t), None).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{method}");
        assert_eq!(r.header("retry-after"), "5", "{method}");
    }
    let r = app.call(Method::GET, &format!("/a/v1/asset/{prod}/{id}/content"), Some(&t), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "asset.not_ready"));
}

#[tokio::test]
async fn external_ids_find_one_asset_each_and_follow_edits_and_deletes() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "external_ids").await;
    let (a, b) = (upload(&app, &t, &prod).await, upload(&app, &t, &prod).await);
    let put = |id: &str, token: &str| {
        let body = json!({"external_ids": {"legacy_track_token": token}});
        (format!("/a/v1/resource/{prod}/asset/{id}"), body)
    };
    let (path, body) = put(&a, "370456");
    assert_eq!(app.call(Method::PUT, &path, Some(&t), Some(body)).await.status, StatusCode::NO_CONTENT);
    let lookup = format!("/a/v1/asset/{prod}/by-external/legacy_track_token/370456");
    let r = app.call(Method::GET, &lookup, Some(&t), None).await;
    assert_eq!((r.status, r.json()["guid"].as_str()), (StatusCode::OK, Some(a.as_str())));
    let head = app.call(Method::HEAD, &lookup, Some(&t), None).await;
    assert_eq!((head.status, head.header("content-location")), (StatusCode::OK, format!("/a/v1/resource/{prod}/asset/{a}").as_str()));
    // Seed 003's HEAD names the bytes by their sha256.
    let stored = app.call(Method::GET, &format!("/a/v1/resource/{prod}/asset/{a}"), Some(&t), None).await.json();
    assert_eq!(head.header("x-legacy-asset-id"), stored["sha256"].as_str().expect("sha256"));
    // With rendition parameters it answers as the content route: the original (302) …
    let original = app.call(Method::GET, &format!("{lookup}?format=mp3"), Some(&t), None).await;
    let direct = app.call(Method::GET, &format!("/a/v1/asset/{prod}/{a}/content?format=mp3"), Some(&t), None).await;
    assert_eq!((original.status, original.header("location").split('?').next()), (direct.status, direct.header("location").split('?').next()));
    // … and bad parameters are refused the same way.
    let bad = app.call(Method::GET, &format!("{lookup}?bitrate=12345"), Some(&t), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // The same id on a second asset is refused, and changes nothing.
    let (path_b, body_b) = put(&b, "370456");
    let r = app.call(Method::PUT, &path_b, Some(&t), Some(body_b)).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "asset.external_id_taken"));
    // Moving `a` to another token frees the first one for `b`.
    let (path, body) = put(&a, "999");
    assert_eq!(app.call(Method::PUT, &path, Some(&t), Some(body)).await.status, StatusCode::NO_CONTENT);
    let (path_b, body_b) = put(&b, "370456");
    assert_eq!(app.call(Method::PUT, &path_b, Some(&t), Some(body_b)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::GET, &lookup, Some(&t), None).await.json()["guid"], b.as_str());
    // Deleting the asset removes its index entries.
    assert_eq!(app.call(Method::DELETE, &format!("/a/v1/resource/{prod}/asset/{b}"), Some(&t), None).await.status, StatusCode::NO_CONTENT);
    let r = app.call(Method::GET, &lookup, Some(&t), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "asset.external_id_not_found"));
    assert_eq!(app.call(Method::HEAD, &lookup, Some(&t), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn imports_need_the_admin_scope_and_an_http_url() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "import_scope").await;
    let r = app.call(Method::POST, "/_t/import", Some(&t), Some(json!({"production": prod, "url": "https://example.com/a.mp3"}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::FORBIDDEN, "auth.missing_scope"));
    let admin = app.token("operator", "admin");
    let r = app.call(Method::POST, "/_t/import", Some(&admin), Some(json!({"production": prod, "url": "https://example.com/pilot.mp3"}))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let asset = r.json();
    assert_eq!((asset["state"].as_str(), asset["rel"].as_str(), asset["name"].as_str()), (Some("importing"), Some("import"), Some("pilot.mp3")));
    let r = app.call(Method::POST, "/_t/import", Some(&admin), Some(json!({"production": prod, "url": "ftp://example.com/a.mp3"}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "import.forbidden_scheme"));
}
