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
async fn one_external_id_maps_to_several_assets_all_or_none_and_lists_by_page() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "external_maps").await;
    let (flac, wav, other) = (upload(&app, &t, &prod).await, upload(&app, &t, &prod).await, upload(&app, &t, &prod).await);
    let map = format!("/a/v1/asset/{prod}/by-external/legacy_track_token/1153552");

    // Seed 003's body: a bare list of asset ids → one mapping per asset.
    let r = app.call(Method::POST, &map, Some(&t), Some(json!([flac, wav]))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json(), json!([
        {"name": "legacy_track_token", "value": "1153552", "asset": flac},
        {"name": "legacy_track_token", "value": "1153552", "asset": wav},
    ]));
    // Again, wrapped, with a duplicate: idempotent.
    let r = app.call(Method::POST, &map, Some(&t), Some(json!({"assets": [wav, flac, wav]}))).await;
    assert_eq!((r.status, r.json().as_array().map(Vec::len)), (StatusCode::CREATED, Some(2)));
    // An asset that is not in the production: nothing is mapped, not even the good one.
    let r = app.call(Method::POST, &map, Some(&t), Some(json!([other, "0123456789ab"]))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "asset.mapping_asset_missing"));
    let all = app.call(Method::GET, &format!("{map}/assets"), Some(&t), None).await;
    let ids: Vec<String> = all.json()["items"].as_array().unwrap().iter().map(|a| a["guid"].as_str().unwrap().to_owned()).collect();
    let mut expected = vec![flac.clone(), wav.clone()];
    expected.sort();
    assert_eq!(ids, expected, "mapped assets in id order, `other` not among them");
    // Bad bodies and bad pairs are 400 naming the field.
    for (body, field) in [(json!([]), "assets"), (json!(["nope"]), "assets[0]"), (json!((0..21).map(|i| format!("{i:012x}")).collect::<Vec<_>>()), "assets")] {
        let r = app.call(Method::POST, &map, Some(&t), Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.json()["error"]["params"]["field"], field, "{body}");
    }
    let r = app.call(Method::POST, &format!("/a/v1/asset/{prod}/by-external/bad-name/1"), Some(&t), Some(json!([flac]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A viewer reads the mappings but may not add any; a stranger sees nothing.
    let stranger = app.token("mallory", FULL);
    let r = app.call(Method::POST, &map, Some(&stranger), Some(json!([flac]))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::GET, &format!("{map}/assets"), Some(&stranger), None).await.status, StatusCode::NOT_FOUND);

    // The lookup answers the carrier before any mapped asset.
    let r = app.call(Method::GET, &map, Some(&t), None).await;
    assert_eq!(r.json()["guid"], expected[0].as_str(), "no carrier yet: the first mapped asset");
    let put = json!({"external_ids": {"legacy_track_token": "1153552"}});
    assert_eq!(app.call(Method::PUT, &format!("/a/v1/resource/{prod}/asset/{other}"), Some(&t), Some(put)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::GET, &map, Some(&t), None).await.json()["guid"], other.as_str());
    let all = app.call(Method::GET, &format!("{map}/assets"), Some(&t), None).await.json();
    assert_eq!((all["items"].as_array().unwrap().len(), all["items"][0]["guid"].as_str()), (3, Some(other.as_str())));

    // The listing: paginated, filtered by prefix, with file names and sha256s.
    for token in ["1000", "1001", "2000"] {
        let r = app.call(Method::POST, &format!("/a/v1/asset/{prod}/by-external/legacy_track_token/{token}"), Some(&t), Some(json!([wav]))).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let list = format!("/a/v1/asset/{prod}/by-external/legacy_track_token");
    let first = app.call(Method::GET, &format!("{list}?limit=2"), Some(&t), None).await.json();
    assert_eq!(first["total"], 6, "{first}");
    let values: Vec<&str> = first["items"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["1000", "1001"]);
    assert_eq!((first["items"][0]["mapped"].as_bool(), first["items"][0]["file_name"].as_str()), (Some(true), Some("a.mp3")));
    assert_eq!(first["items"][0]["sha256"].as_str().map(str::len), Some(64));
    let cursor = first["next"].as_str().expect("a next page");
    let rest = app.call(Method::GET, &format!("{list}?limit=10&cursor={cursor}"), Some(&t), None).await.json();
    let values: Vec<(String, bool)> = rest["items"].as_array().unwrap().iter().map(|i| (i["value"].as_str().unwrap().to_owned(), i["mapped"].as_bool().unwrap())).collect();
    assert_eq!(values.iter().filter(|(v, m)| v == "1153552" && !m).count(), 1, "the carrier is listed once, unmapped");
    assert_eq!(values.len(), 4);
    assert!(rest["next"].is_null());
    let filtered = app.call(Method::GET, &format!("{list}?prefix=115"), Some(&t), None).await.json();
    assert_eq!(filtered["total"], 3);
    // A deleted asset's mappings drop out of every answer.
    assert_eq!(app.call(Method::DELETE, &format!("/a/v1/resource/{prod}/asset/{wav}"), Some(&t), None).await.status, StatusCode::NO_CONTENT);
    let r = app.call(Method::GET, &format!("/a/v1/asset/{prod}/by-external/legacy_track_token/1000"), Some(&t), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "asset.external_id_not_found"));
    let filtered = app.call(Method::GET, &format!("{list}?prefix=1"), Some(&t), None).await.json();
    assert!(filtered["items"].as_array().unwrap().iter().all(|i| i["asset"] != wav.as_str()));
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
