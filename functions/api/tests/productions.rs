//! Productions: creation, names, listing with cursors, and tenant isolation.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::{app, FULL};

#[tokio::test]
async fn creating_a_production_answers_201_with_location_and_makes_the_caller_owner() {
    let app = app();
    let alice = app.token("alice", FULL);
    let r = app.call(Method::POST, "/a/v1/production", Some(&alice), Some(json!({"name": "my-first-podcast", "title": "Mine", "summary": "s"}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let p = r.json();
    assert_eq!(p["name"], "my-first-podcast");
    assert_eq!(p["owner"], "alice");
    assert_eq!(p["version"], 1);
    let guid = p["guid"].as_str().unwrap();
    assert_eq!(guid.len(), 12);
    assert_eq!(r.header("location"), format!("/a/v1/production/{guid}"));
    assert_eq!(r.header("etag"), "\"1\"");
    let got = app.call(Method::GET, r.header("location"), Some(&alice), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json(), p);
}

#[tokio::test]
async fn invalid_names_are_400_naming_the_field() {
    let app = app();
    let alice = app.token("alice", FULL);
    for (name, code) in [("short", "name.length"), ("Has Spaces In It", "name.characters"), ("dots.are.not.ok", "name.characters")] {
        let r = app.call(Method::POST, "/a/v1/production", Some(&alice), Some(json!({"name": name}))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(r.json()["error"]["params"]["field"], "name");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("8 to 44") || code == "name.characters");
    }
    let r = app.call(Method::POST, "/a/v1/production", Some(&alice), Some(json!({"name": 12345678}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "body.invalid_field"));
}

#[tokio::test]
async fn a_taken_name_is_409_and_leaves_the_first_production_alone() {
    let app = app();
    let alice = app.token("alice", FULL);
    let bob = app.token("bob", FULL);
    let first = app.production(&alice, "shared_name").await;
    let r = app.call(Method::POST, "/a/v1/production", Some(&bob), Some(json!({"name": "shared_name"}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "production.name_taken"));
    let bobs = app.call(Method::GET, "/a/v1/productions", Some(&bob), None).await.json();
    assert_eq!(bobs["total"], 0);
    let alices = app.call(Method::GET, "/a/v1/productions", Some(&alice), None).await.json();
    assert_eq!(alices["items"][0]["guid"], first.as_str());
}

#[tokio::test]
async fn concurrent_creates_of_one_name_yield_exactly_one_production() {
    let app = app();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let router = app.router.clone();
            let token = app.token(&format!("client{i}"), FULL);
            tokio::spawn(async move {
                use tower::ServiceExt;
                let req = axum::http::Request::post("/a/v1/production")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(r#"{"name": "contested_name"}"#))
                    .unwrap();
                router.oneshot(req).await.unwrap().status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
}

#[tokio::test]
async fn another_tenants_production_is_404_never_its_data() {
    let app = app();
    let alice = app.token("alice", FULL);
    let mallory = app.token("mallory", FULL);
    let prod = app.production(&alice, "alices_secret_show").await;
    for path in [format!("/a/v1/production/{prod}"), format!("/a/v1/resource/{prod}/episode")] {
        let r = app.call(Method::GET, &path, Some(&mallory), None).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "production.not_found"), "{path}");
        assert!(!String::from_utf8_lossy(&r.body).contains("alices_secret_show"));
    }
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaaa"), Some(&mallory), Some(json!({"title": "x"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::GET, "/a/v1/production/000000000000", Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::GET, "/a/v1/production/not-a-guid", Some(&alice), None).await;
    assert_eq!((r.status, r.json()["error"]["params"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("prod")));
}

#[tokio::test]
async fn members_see_the_production_with_their_role_and_viewers_cannot_write() {
    let app = app();
    let alice = app.token("alice", FULL);
    let vera = app.token("vera", FULL);
    let prod = app.production(&alice, "team_podcast").await;
    let r = app.call(Method::PUT, &format!("/a/v1/production/{prod}/member/vera"), Some(&alice), Some(json!({"role": "viewer"}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let list = app.call(Method::GET, "/a/v1/productions", Some(&vera), None).await.json();
    assert_eq!(list["items"][0]["guid"], prod.as_str());
    assert_eq!(list["items"][0]["members"][0], json!({"client": "vera", "role": "viewer"}));
    let w = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaaa"), Some(&vera), Some(json!({"title": "x"}))).await;
    assert_eq!((w.status, w.code().as_str()), (StatusCode::FORBIDDEN, "production.forbidden"));
    let m = app.call(Method::PUT, &format!("/a/v1/production/{prod}/member/mallory"), Some(&vera), Some(json!({"role": "editor"}))).await;
    assert_eq!(m.status, StatusCode::FORBIDDEN);
    app.call(Method::PUT, &format!("/a/v1/production/{prod}/member/vera"), Some(&alice), Some(json!({"role": "editor"}))).await;
    let w = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaaa"), Some(&vera), Some(json!({"title": "x"}))).await;
    assert_eq!(w.status, StatusCode::CREATED);
    let d = app.call(Method::DELETE, &format!("/a/v1/production/{prod}/member/vera"), Some(&alice), None).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let gone = app.call(Method::GET, &format!("/a/v1/production/{prod}"), Some(&vera), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::GET, "/a/v1/productions", Some(&vera), None).await.json()["total"], 0);
}

#[tokio::test]
async fn listing_productions_pages_with_signed_cursors() {
    let app = app();
    let alice = app.token("alice", FULL);
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(app.production(&alice, &format!("production_{i:03}")).await);
    }
    let mut seen = Vec::new();
    let mut path = "/a/v1/productions?limit=2".to_owned();
    loop {
        let page = app.call(Method::GET, &path, Some(&alice), None).await.json();
        assert_eq!(page["total"], 5);
        assert_eq!(page["limit"], 2);
        seen.extend(page["items"].as_array().unwrap().iter().map(|p| p["guid"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => path = format!("/a/v1/productions?limit=2&cursor={next}"),
            None => break,
        }
    }
    made.sort();
    assert_eq!(seen, made);
    let r = app.call(Method::GET, "/a/v1/productions?cursor=forged.cursor", Some(&alice), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "cursor.invalid"));
}
