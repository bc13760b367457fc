//! JSON by default, XML on request (with `_` → `-`), 406 otherwise.

mod support;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use serde_json::json;
use support::{app, FULL};

#[tokio::test]
async fn xml_is_served_on_request_with_dashed_names() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "xml_readers").await;
    let path = format!("/a/v1/resource/{prod}/episode/0123456789ab");
    app.call(Method::POST, &path, Some(&t), Some(json!({"title": "Fish & Chips", "tracks": [{"artist": "A", "title": "B", "offset": 1}]}))).await;
    let req = Request::get(&path).header("authorization", format!("Bearer {t}")).header("accept", "application/xml").body(Body::empty()).unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("application/xml"));
    let xml = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(xml.contains("<episode>"), "{xml}");
    assert!(xml.contains(&format!("<parent-guid>{prod}</parent-guid>")), "{xml}");
    assert!(xml.contains("<title>Fish &amp; Chips</title>"), "{xml}");
    assert!(!xml.contains("parent_guid"));
}

#[tokio::test]
async fn json_is_the_default_and_an_unservable_accept_is_406() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "json_readers").await;
    let path = format!("/a/v1/resource/{prod}/episode");
    let r = app.call(Method::GET, &path, Some(&t), None).await;
    assert!(r.header("content-type").starts_with("application/json"));
    let req = Request::get(&path).header("authorization", format!("Bearer {t}")).header("accept", "text/html").body(Body::empty()).unwrap();
    let r = app.send(req).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_ACCEPTABLE, "request.not_acceptable"));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = app();
    let r = app.call(Method::GET, "/nope", None, None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "route.not_found"));
    let r = app.call(Method::PATCH, "/a/v1/productions", None, None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::METHOD_NOT_ALLOWED, "route.method_not_allowed"));
    let r = app.call(Method::GET, "/", None, None).await;
    assert_eq!(r.json()["name"], "podops");
    assert!(!r.header("x-request-id").is_empty(), "every response carries a request id");
}

#[tokio::test]
async fn errors_come_as_xml_when_the_client_asked_for_xml() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "xml_errors").await;
    let req = Request::get(format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaa1")).header("authorization", format!("Bearer {t}")).header("accept", "application/xml").body(Body::empty()).unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.header("content-type").starts_with("application/xml"), "{}", r.header("content-type"));
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert!(body.contains("<error>") && body.contains("<code>resource.not_found</code>") && body.contains("<message>"), "{body}");
    // A bad request too, with its params.
    let req = Request::get(format!("/a/v1/resource/{prod}/episode?limit=0")).header("authorization", format!("Bearer {t}")).header("accept", "application/xml").body(Body::empty()).unwrap();
    let r = app.send(req).await;
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(body.contains("<code>query.invalid</code>") && body.contains("<field>limit</field>"), "{body}");
    // JSON stays the default.
    let r = app.call(Method::GET, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaa1"), Some(&t), None).await;
    assert_eq!(r.code(), "resource.not_found");
}

#[tokio::test]
async fn resources_are_created_and_changed_with_xml_bodies() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "xml_writers").await;
    let path = format!("/a/v1/resource/{prod}/episode/0123456789ab");
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<episode>
  <title>Fish &amp; Chips</title>
  <season>2</season>
  <episode>7</episode>
  <explicit>true</explicit>
  <link></link>
  <tracks><item><artist>Beirut</artist><title>Elephant Gun</title><offset>754</offset></item></tracks>
</episode>"#;
    let send = |method: Method, body: &str| {
        Request::builder().method(method).uri(&path).header("authorization", format!("Bearer {t}")).header("content-type", "application/xml").body(Body::from(body.to_owned())).unwrap()
    };
    let r = app.send(send(Method::POST, xml)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let got = app.call(Method::GET, &path, Some(&t), None).await.json();
    assert_eq!((got["title"].as_str(), got["season"].as_u64(), got["episode"].as_u64(), got["explicit"].as_bool()), (Some("Fish & Chips"), Some(2), Some(7), Some(true)));
    assert_eq!(got["tracks"], json!([{"artist": "Beirut", "title": "Elephant Gun", "offset": 754}]));
    // Dashed names, on update.
    let r = app.send(send(Method::PUT, "<episode><episode-type>bonus</episode-type><summary>Extra</summary></episode>")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "episode_type is an unknown field: the wire name is `type`");
    let r = app.send(send(Method::PUT, "<episode><type>bonus</type><summary>Extra</summary></episode>")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(app.call(Method::GET, &path, Some(&t), None).await.json()["type"], "bonus");
    // Broken XML and a wrong type are refused with their codes, in XML when asked.
    let r = app.send(send(Method::PUT, "<episode><title>open")).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "body.invalid_xml"));
    let r = app.send(send(Method::PUT, "<episode><season>two</season></episode>")).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "body.invalid_field"), "{}", String::from_utf8_lossy(&r.body));
}
