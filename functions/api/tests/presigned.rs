//! Presigned uploads on the embedded backend: declare, PUT to the signed URL,
//! complete — the same protocol clients use against S3 on AWS.

mod support;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use bytes::Bytes;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{app, TestApp, FULL};

fn local(url: &str) -> String {
    url.strip_prefix("http://podops.test").expect("signed URL on the public base").to_owned()
}

async fn declare(app: &TestApp, t: &str, prod: &str, body: Value) -> support::Reply {
    app.call(Method::POST, &format!("/a/v1/upload/{prod}"), Some(t), Some(body)).await
}

async fn put(app: &TestApp, url: &str, content_type: &str, bytes: Vec<u8>) -> support::Reply {
    app.send(Request::put(local(url)).header("content-type", content_type).body(Body::from(bytes)).unwrap()).await
}

fn media_files(app: &TestApp) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum()
    }
    walk(&app.dir.path().join("media/objects"))
}

#[tokio::test]
async fn declare_put_and_complete_stores_the_file() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "presigned_ok").await;
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let sha = hex::encode(Sha256::digest(&bytes));
    let r = declare(&app, &t, &prod, json!({"filename": "cover.png", "size": bytes.len(), "content_type": "image/png", "sha256": sha})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let out = r.json();
    assert_eq!(out["asset"]["state"], "pending");
    assert_eq!(out["upload"]["method"], "PUT");
    assert_eq!(out["upload"]["headers"]["Content-Type"], "image/png");
    let id = out["asset"]["guid"].as_str().unwrap().to_owned();
    assert_eq!(out["upload"]["complete"], format!("/a/v1/upload/{prod}/{id}/complete"));

    // A client lying about the type cannot change what is stored and served.
    let stored = put(&app, out["upload"]["url"].as_str().unwrap(), "text/html", bytes.clone()).await;
    assert_eq!(stored.status, StatusCode::CREATED);
    let done = app.call(Method::POST, out["upload"]["complete"].as_str().unwrap(), Some(&t), None).await;
    assert_eq!(done.status, StatusCode::OK, "{}", String::from_utf8_lossy(&done.body));
    let asset = done.json();
    assert_eq!((asset["size"].as_u64(), asset["sha256"].as_str(), asset["state"].as_str()), (Some(bytes.len() as u64), Some(sha.as_str()), Some("ready")));
    let served = app.call(Method::GET, &local(asset["url"].as_str().unwrap()), None, None).await;
    assert_eq!(served.body, Bytes::from(bytes));
    assert_eq!(served.header("content-type"), "image/png");
    let again = app.call(Method::POST, out["upload"]["complete"].as_str().unwrap(), Some(&t), None).await;
    assert_eq!((again.status, again.code().as_str()), (StatusCode::NOT_FOUND, "upload.not_started"));
}

#[tokio::test]
async fn a_wrong_size_or_hash_at_completion_is_422_and_nothing_is_kept() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "presigned_bad").await;
    for (declared, code) in [
        (json!({"filename": "a.png", "size": 10, "content_type": "image/png"}), "upload.size_mismatch"),
        (json!({"filename": "a.png", "size": 5, "content_type": "image/png", "sha256": "0".repeat(64)}), "upload.sha256_mismatch"),
    ] {
        let out = declare(&app, &t, &prod, declared).await.json();
        put(&app, out["upload"]["url"].as_str().unwrap(), "image/png", b"12345".to_vec()).await;
        let r = app.call(Method::POST, out["upload"]["complete"].as_str().unwrap(), Some(&t), None).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, code));
        let asset = format!("/a/v1/resource/{prod}/asset/{}", out["asset"]["guid"].as_str().unwrap());
        assert_eq!(app.call(Method::GET, &asset, Some(&t), None).await.status, StatusCode::NOT_FOUND, "no asset kept");
    }
    assert_eq!(media_files(&app), 0, "no object kept");
}

#[tokio::test]
async fn completing_before_the_put_is_422_and_the_upload_can_still_finish() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "presigned_early").await;
    let out = declare(&app, &t, &prod, json!({"filename": "t.vtt", "size": 3, "content_type": "text/vtt"})).await.json();
    let complete = out["upload"]["complete"].as_str().unwrap().to_owned();
    let r = app.call(Method::POST, &complete, Some(&t), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "upload.incomplete"));
    put(&app, out["upload"]["url"].as_str().unwrap(), "text/vtt", b"abc".to_vec()).await;
    assert_eq!(app.call(Method::POST, &complete, Some(&t), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn presigned_put_urls_are_bound_to_method_key_and_expiry() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "presigned_sig").await;
    let out = declare(&app, &t, &prod, json!({"filename": "a.mp3", "size": 3, "content_type": "audio/mpeg"})).await.json();
    let url = local(out["upload"]["url"].as_str().unwrap());
    let (path, query) = url.split_once('?').unwrap();
    let other = app.send(Request::put(format!("{}?{query}", path.replace(".mp3", ".wav"))).body(Body::from("abc")).unwrap()).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let unsigned = app.send(Request::put(path).body(Body::from("abc")).unwrap()).await;
    assert_eq!(unsigned.status, StatusCode::FORBIDDEN);
    // A GET URL of some object never authorises a PUT.
    let get_url = app.call(Method::GET, &format!("/a/v1/resource/{prod}/asset/{}", out["asset"]["guid"].as_str().unwrap()), Some(&t), None).await;
    assert!(get_url.json()["url"].is_null(), "no GET URL before the bytes exist");
    assert_eq!(media_files(&app), 0);
}

#[tokio::test]
async fn bad_declarations_are_refused_up_front() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "presigned_decl").await;
    let r = declare(&app, &t, &prod, json!({"filename": "a.mp3", "size": 1u64 << 50, "content_type": "audio/mpeg"})).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "upload.too_large"));
    let r = declare(&app, &t, &prod, json!({"filename": "a.html", "size": 3, "content_type": "text/html"})).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = declare(&app, &t, &prod, json!({"filename": "a.mp3", "size": 3, "content_type": "audio/mpeg", "sha256": "xyz"})).await;
    assert_eq!(r.json()["error"]["params"]["field"], "sha256");
    let r = declare(&app, &t, &prod, json!({"filename": "a.mp3", "size": "three", "content_type": "audio/mpeg"})).await;
    assert_eq!(r.json()["error"]["params"]["field"], "size");
    let mallory = app.token("mallory", FULL);
    assert_eq!(declare(&app, &mallory, &prod, json!({"filename": "a.mp3", "size": 3, "content_type": "audio/mpeg"})).await.status, StatusCode::NOT_FOUND);
}
