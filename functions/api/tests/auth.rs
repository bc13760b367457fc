//! Tokens: minting, verifying, and every way a bad token is refused.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::{app, FULL};

#[tokio::test]
async fn an_admin_mints_a_token_that_then_verifies() {
    let app = app();
    let admin = app.token("admin", "admin");
    let r = app
        .call(Method::POST, "/_a/token", Some(&admin), Some(json!({"client_id": "studio-cli", "scopes": ["resource:read"], "expires_in": 600})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let minted = r.json();
    assert_eq!(minted["claims"]["sub"], "studio-cli");
    assert_eq!(minted["claims"]["scope"], "resource:read");
    let token = minted["token"].as_str().unwrap();
    let v = app.call(Method::GET, "/_a/token", Some(token), None).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.json()["sub"], "studio-cli");
    assert_eq!(v.json()["exp"].as_i64().unwrap() - v.json()["iat"].as_i64().unwrap(), 600);
}

#[tokio::test]
async fn minting_needs_the_admin_scope() {
    let app = app();
    let user = app.token("alice", FULL);
    let r = app.call(Method::POST, "/_a/token", Some(&user), Some(json!({"client_id": "x", "scopes": ["admin"]}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "auth.missing_scope");
}

#[tokio::test]
async fn minting_refuses_unknown_scopes_and_silly_lifetimes() {
    let app = app();
    let admin = app.token("admin", "admin");
    let r = app.call(Method::POST, "/_a/token", Some(&admin), Some(json!({"client_id": "x", "scopes": ["root"]}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["params"]["field"], "scopes[0]");
    let r = app
        .call(Method::POST, "/_a/token", Some(&admin), Some(json!({"client_id": "x", "scopes": ["admin"], "expires_in": 999999999})))
        .await;
    assert_eq!(r.code(), "token.lifetime");
    let r = app.call(Method::POST, "/_a/token", Some(&admin), Some(json!({"client_id": "no spaces", "scopes": []}))).await;
    assert_eq!(r.json()["error"]["params"]["field"], "client_id");
}

#[tokio::test]
async fn missing_expired_foreign_and_unsigned_tokens_get_401() {
    let app = app();
    let missing = app.call(Method::GET, "/a/v1/productions", None, None).await;
    assert_eq!((missing.status, missing.code().as_str()), (StatusCode::UNAUTHORIZED, "auth.missing_token"));
    assert_eq!(missing.header("www-authenticate"), "Bearer");

    let expired = app.token_for("alice", FULL, -3600);
    let r = app.call(Method::GET, "/a/v1/productions", Some(&expired), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "auth.invalid_token"));

    let other = podops_api::TokenAuthority::new(b"some-other-servers-key-0123456789", "podops", "podops-api");
    let client = podops_core::domain::ClientId::parse("alice").unwrap();
    let scopes = podops_core::domain::Scopes::parse(FULL).unwrap();
    let (foreign, _) = other.mint(&client, &scopes, podops_core::ports::Clock::now(&podops_core::ports::SystemClock), 600).unwrap();
    assert_eq!(app.call(Method::GET, "/a/v1/productions", Some(&foreign), None).await.status, StatusCode::UNAUTHORIZED);

    // alg "none" with an admin claim and no signature must never pass.
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
    let forged = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(br#"{"sub":"admin","scope":"admin","iss":"podops","aud":"podops-api","iat":1,"exp":4102444800,"jti":"x"}"#)
    );
    assert_eq!(app.call(Method::GET, "/_a/token", Some(&forged), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.call(Method::GET, "/_a/token", Some("garbage"), None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_without_the_scope_gets_403() {
    let app = app();
    let owner = app.token("alice", FULL);
    let prod = app.production(&owner, "alices_show").await;
    let read_only = app.token("alice", "production:read resource:read");
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaaa"), Some(&read_only), Some(json!({"title": "x"}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::FORBIDDEN, "auth.missing_scope"));
    assert_eq!(r.json()["error"]["params"]["scope"], "resource:write");
}
