//! Uploads (raw and multipart) and the signed media URLs that serve them.

mod support;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use bytes::Bytes;
use podops_api::Limits;
use podops_core::service::MediaRules;
use sha2::{Digest, Sha256};
use support::{app, app_with, TestApp, FULL};

fn upload_req(t: &str, prod: &str, query: &str, content_type: &str, body: Body) -> Request<Body> {
    Request::post(format!("/a/v1/upload/{prod}{query}"))
        .header("authorization", format!("Bearer {t}"))
        .header("content-type", content_type)
        .body(body)
        .unwrap()
}

/// The path and query of a signed media URL (the test router has no host).
fn local(url: &str) -> String {
    url.strip_prefix("http://podops.test").expect("signed URL on the public base").to_owned()
}

fn files_under(app: &TestApp) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() { walk(&p, out) } else { out.push(p.display().to_string()) }
        }
    }
    let mut out = Vec::new();
    walk(&app.dir.path().join("media"), &mut out);
    out
}

#[tokio::test]
async fn a_raw_upload_becomes_an_asset_whose_signed_url_serves_ranges() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "uploaders").await;
    let audio: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let r = app.send(upload_req(&t, &prod, "?filename=pilot.mp3", "audio/mpeg", Body::from(audio.clone()))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let asset = r.json();
    assert_eq!(asset["kind"], "asset");
    assert_eq!(asset["name"], "pilot.mp3");
    assert_eq!(asset["content_type"], "audio/mpeg");
    assert_eq!(asset["size"], audio.len());
    assert_eq!(asset["sha256"], hex::encode(Sha256::digest(&audio)));
    assert_eq!(asset["rel"], "local");
    assert_eq!(asset["state"], "pending", "audio is pending until the worker has probed it");
    assert_eq!(r.header("location"), format!("/a/v1/resource/{prod}/asset/{}", asset["guid"].as_str().unwrap()));

    let url = local(asset["url"].as_str().unwrap());
    let whole = app.call(Method::GET, &url, None, None).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body, Bytes::from(audio.clone()));
    assert_eq!(whole.header("content-type"), "audio/mpeg");
    assert_eq!(whole.header("accept-ranges"), "bytes");

    let ranged = app.send(Request::get(&url).header("range", "bytes=100-199").body(Body::empty()).unwrap()).await;
    assert_eq!(ranged.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.body, Bytes::copy_from_slice(&audio[100..200]));
    assert_eq!(ranged.header("content-range"), format!("bytes 100-199/{}", audio.len()));
    assert_eq!(ranged.header("content-length"), "100");

    let probe = app.send(Request::get(&url).header("range", "bytes=0-1").body(Body::empty()).unwrap()).await;
    assert_eq!((probe.status, probe.body.len()), (StatusCode::PARTIAL_CONTENT, 2), "Apple's two-byte probe");
    let tail = app.send(Request::get(&url).header("range", "bytes=-10").body(Body::empty()).unwrap()).await;
    assert_eq!(tail.body, Bytes::copy_from_slice(&audio[audio.len() - 10..]));
    let beyond = app.send(Request::get(&url).header("range", "bytes=999999999-").body(Body::empty()).unwrap()).await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);

    let head = app.send(Request::head(&url).body(Body::empty()).unwrap()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), audio.len().to_string());
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn tampered_expired_or_unsigned_media_urls_are_403() {
    let app = app_with(MediaRules { url_ttl: -1, ..MediaRules::default() }, Limits::default());
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "url_signing").await;
    let r = app.send(upload_req(&t, &prod, "?filename=a.mp3", "audio/mpeg", Body::from("abc"))).await;
    let url = local(r.json()["url"].as_str().unwrap());
    let expired = app.call(Method::GET, &url, None, None).await;
    assert_eq!((expired.status, expired.code().as_str()), (StatusCode::FORBIDDEN, "media.url_expired"));

    let app2 = app_with(MediaRules::default(), Limits::default());
    let t = app2.token("alice", FULL);
    let prod = app2.production(&t, "url_signing").await;
    let r = app2.send(upload_req(&t, &prod, "?filename=a.mp3", "audio/mpeg", Body::from("abc"))).await;
    let url = local(r.json()["url"].as_str().unwrap());
    assert_eq!(app2.call(Method::GET, &url, None, None).await.status, StatusCode::OK);
    let (path, query) = url.split_once('?').unwrap();
    let other_key = path.replace(".mp3", ".wav");
    assert_eq!(app2.call(Method::GET, &format!("{other_key}?{query}"), None, None).await.status, StatusCode::FORBIDDEN);
    let later = query.replacen("expires=", "expires=9", 1);
    let r = app2.call(Method::GET, &format!("{path}?{later}"), None, None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::FORBIDDEN, "media.signature_invalid"));
    let r = app2.call(Method::GET, path, None, None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::FORBIDDEN, "media.signature_missing"));
}

#[tokio::test]
async fn a_multipart_upload_takes_the_file_part() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "multipart_up").await;
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cover.png\"\r\nContent-Type: image/png\r\n\r\n\
                PNGDATA\r\n--XyZ--\r\n";
    let r = app.send(upload_req(&t, &prod, "", "multipart/form-data; boundary=XyZ", Body::from(body))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let asset = r.json();
    assert_eq!((asset["name"].as_str(), asset["content_type"].as_str(), asset["size"].as_u64()), (Some("cover.png"), Some("image/png"), Some(7)));
    assert_eq!(asset["state"], "ready", "images are not probed");
    let served = app.call(Method::GET, &local(asset["url"].as_str().unwrap()), None, None).await;
    assert_eq!(served.body, Bytes::from_static(b"PNGDATA"));
}

#[tokio::test]
async fn refused_uploads_leave_no_record_and_no_file() {
    let app = app_with(MediaRules { max_upload: 1000, ..MediaRules::default() }, Limits::default());
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "refusals").await;
    let r = app.send(upload_req(&t, &prod, "?filename=page.html", "text/html", Body::from("<script>"))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "upload.unsupported_type"));
    let r = app.send(upload_req(&t, &prod, "?filename=big.mp3", "audio/mpeg", Body::from(vec![0u8; 5000]))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "upload.too_large"));
    // Without a Content-Length the limit is enforced while streaming.
    let chunks = futures::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 500]))));
    let r = app.send(upload_req(&t, &prod, "?filename=big.mp3", "audio/mpeg", Body::from_stream(chunks))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = app.send(upload_req(&t, &prod, "", "audio/mpeg", Body::from("abc"))).await;
    assert_eq!(r.json()["error"]["params"]["field"], "filename");
    let mallory = app.token("mallory", FULL);
    let r = app.send(upload_req(&mallory, &prod, "?filename=a.mp3", "audio/mpeg", Body::from("abc"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::GET, &format!("/a/v1/resource/{prod}/asset"), Some(&t), None).await.json()["total"], 0);
    assert!(files_under(&app).is_empty(), "{:?}", files_under(&app));
}

#[tokio::test]
async fn an_upload_cut_off_half_way_leaves_no_asset_and_no_file() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "cut_offs").await;
    let chunks = futures::stream::iter(vec![
        Ok(Bytes::from(vec![7u8; 64 * 1024])),
        Ok(Bytes::from(vec![7u8; 64 * 1024])),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client went away")),
    ]);
    let r = app.send(upload_req(&t, &prod, "?filename=cut.mp3", "audio/mpeg", Body::from_stream(chunks))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "upload.interrupted"));
    assert_eq!(app.call(Method::GET, &format!("/a/v1/resource/{prod}/asset"), Some(&t), None).await.json()["total"], 0);
    assert!(files_under(&app).is_empty(), "{:?}", files_under(&app));
}

#[tokio::test]
async fn deleting_an_asset_removes_its_bytes() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "asset_deletes").await;
    let r = app.send(upload_req(&t, &prod, "?filename=a.mp3", "audio/mpeg", Body::from("abc"))).await;
    let asset = r.json();
    let url = local(asset["url"].as_str().unwrap());
    let path = format!("/a/v1/resource/{prod}/asset/{}", asset["guid"].as_str().unwrap());
    assert_eq!(app.call(Method::DELETE, &path, Some(&t), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::GET, &url, None, None).await.status, StatusCode::NOT_FOUND);
    assert!(files_under(&app).is_empty(), "{:?}", files_under(&app));
}
