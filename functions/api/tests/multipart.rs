//! Multipart presigned uploads on the embedded backend: one signed URL per
//! part, parts in any order, resumable (the status names what is stored and
//! signs fresh URLs for the rest), joined and checked at completion.

mod support;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use bytes::Bytes;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{app, TestApp, FULL};

const PART: usize = 5 << 20;

fn local(url: &str) -> String {
    url.strip_prefix("http://podops.test").expect("signed URL on the public base").to_owned()
}

fn file(len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

async fn declare(app: &TestApp, t: &str, prod: &str, data: &[u8]) -> Value {
    let body = json!({"filename": "long-episode.mp3", "size": data.len(), "content_type": "audio/mpeg", "part_size": PART});
    let r = app.call(Method::POST, &format!("/a/v1/upload/{prod}"), Some(t), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// PUTs the part described by `part` (number, offset, size, url) from `data`.
async fn send(app: &TestApp, part: &Value, data: &[u8]) -> support::Reply {
    let (offset, size) = (part["offset"].as_u64().unwrap() as usize, part["size"].as_u64().unwrap() as usize);
    app.send(Request::put(local(part["url"].as_str().unwrap())).body(Body::from(data[offset..offset + size].to_vec())).unwrap()).await
}

fn numbers(list: &Value) -> Vec<u64> {
    list.as_array().unwrap().iter().map(|p| p["number"].as_u64().unwrap()).collect()
}

fn dirs_under(path: std::path::PathBuf) -> usize {
    std::fs::read_dir(path).map(|d| d.flatten().filter(|e| e.path().is_dir()).count()).unwrap_or(0)
}

fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| if e.path().is_dir() { files_under(&e.path()) } else { 1 }).sum()
}

#[tokio::test]
async fn a_multipart_upload_resumes_with_only_the_missing_parts_and_joins_in_order() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "multipart_ok").await;
    let data = file(2 * PART + 12_345);
    let out = declare(&app, &t, &prod, &data).await;
    let upload = &out["upload"];
    assert!(upload["url"].is_null(), "a multipart upload has no single URL");
    assert_eq!(upload["part_size"], PART);
    let parts = upload["parts"].as_array().unwrap().clone();
    let layout: Vec<(u64, u64, u64)> = parts.iter().map(|p| (p["number"].as_u64().unwrap(), p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap())).collect();
    assert_eq!(layout, [(1, 0, PART as u64), (2, PART as u64, PART as u64), (3, 2 * PART as u64, 12_345)]);

    // Parts 3 and 2 arrive (out of order); then the client is cut off.
    for part in [&parts[2], &parts[1]] {
        let r = send(&app, part, &data).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("etag").starts_with('"'), "a part answers its ETag, as S3 does");
    }
    let complete = upload["complete"].as_str().unwrap().to_owned();
    let early = app.call(Method::POST, &complete, Some(&t), None).await;
    assert_eq!((early.status, early.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "upload.incomplete"));
    assert_eq!(early.json()["error"]["params"]["missing_parts"], json!([1]));

    // Resuming: the status lists what is stored and signs only the rest.
    let id = out["asset"]["guid"].as_str().unwrap();
    let status = app.call(Method::GET, &format!("/a/v1/upload/{prod}/{id}"), Some(&t), None).await;
    assert_eq!(status.status, StatusCode::OK);
    let status = status.json();
    assert_eq!(numbers(&status["upload"]["received"]), [2, 3]);
    assert_eq!(numbers(&status["upload"]["parts"]), [1]);
    assert_eq!(send(&app, &status["upload"]["parts"][0], &data).await.status, StatusCode::OK);

    let sha = hex::encode(Sha256::digest(&data));
    let done = app.call(Method::POST, &complete, Some(&t), Some(json!({"sha256": sha}))).await;
    assert_eq!(done.status, StatusCode::OK, "{}", String::from_utf8_lossy(&done.body));
    let asset = done.json();
    assert_eq!((asset["size"].as_u64(), asset["sha256"].as_str()), (Some(data.len() as u64), Some(sha.as_str())));
    let served = app.call(Method::GET, &local(asset["url"].as_str().unwrap()), None, None).await;
    assert!(served.body == Bytes::from(data), "the object is the parts joined in order");
    assert_eq!(dirs_under(app.dir.path().join("media/.parts/objects")), 0, "the parts are gone once joined");
    let after = app.call(Method::GET, &format!("/a/v1/upload/{prod}/{id}"), Some(&t), None).await;
    assert_eq!((after.status, after.code().as_str()), (StatusCode::NOT_FOUND, "upload.not_started"));
}

#[tokio::test]
async fn a_wrong_hash_at_completion_keeps_nothing() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "multipart_bad").await;
    let data = file(PART + 10);
    let out = declare(&app, &t, &prod, &data).await;
    for part in out["upload"]["parts"].as_array().unwrap() {
        assert_eq!(send(&app, part, &data).await.status, StatusCode::OK);
    }
    let wrong = hex::encode(Sha256::digest(b"something else"));
    let r = app.call(Method::POST, out["upload"]["complete"].as_str().unwrap(), Some(&t), Some(json!({"sha256": wrong}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "upload.sha256_mismatch"));
    let id = out["asset"]["guid"].as_str().unwrap();
    assert_eq!(app.call(Method::GET, &format!("/a/v1/resource/{prod}/asset/{id}"), Some(&t), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(dirs_under(app.dir.path().join("media/.parts/objects")), 0);
    assert_eq!(files_under(&app.dir.path().join("media/objects")), 0, "no object is kept");
}

#[tokio::test]
async fn part_urls_are_bound_to_their_part_and_bad_part_sizes_are_refused() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "multipart_sig").await;
    let data = file(PART + 10);
    let out = declare(&app, &t, &prod, &data).await;
    let url = local(out["upload"]["parts"][0]["url"].as_str().unwrap());
    let moved = app.send(Request::put(url.replace("part=1", "part=2")).body(Body::from("x")).unwrap()).await;
    assert_eq!((moved.status, moved.code().as_str()), (StatusCode::FORBIDDEN, "media.signature_invalid"));

    for part_size in [1024u64, 6 << 30] {
        let body = json!({"filename": "a.mp3", "size": 10, "content_type": "audio/mpeg", "part_size": part_size});
        let r = app.call(Method::POST, &format!("/a/v1/upload/{prod}"), Some(&t), Some(body)).await;
        assert_eq!((r.status, r.json()["error"]["params"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("part_size")));
    }
    let mallory = app.token("mallory", FULL);
    let id = out["asset"]["guid"].as_str().unwrap();
    assert_eq!(app.call(Method::GET, &format!("/a/v1/upload/{prod}/{id}"), Some(&mallory), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_cancelled_upload_leaves_nothing() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "multipart_cancel").await;
    let data = file(PART + 10);
    let out = declare(&app, &t, &prod, &data).await;
    assert_eq!(send(&app, &out["upload"]["parts"][0], &data).await.status, StatusCode::OK);
    let id = out["asset"]["guid"].as_str().unwrap();
    let r = app.call(Method::DELETE, &format!("/a/v1/upload/{prod}/{id}"), Some(&t), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::GET, &format!("/a/v1/resource/{prod}/asset/{id}"), Some(&t), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(dirs_under(app.dir.path().join("media/.parts/objects")), 0);
    let late = send(&app, &out["upload"]["parts"][1], &data).await;
    assert_eq!(late.status, StatusCode::NOT_FOUND, "a part for a cancelled upload finds nothing");
}
