//! What expires, on a clock the test moves: a sign-in code and link after 8
//! minutes, a personal token at its `expires_in`. Each refused with its code
//! and nothing written by the refusal.

mod support;

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use podops_adapters::mail::OutboxMailer;
use podops_api::{AppParts, AppState};
use podops_core::service::{AccountRules, LOGIN_TTL};
use serde_json::json;
use support::TestApp;

/// The app with sign-in by email, mail in an outbox under its directory.
fn with_accounts(app: TestApp) -> (TestApp, std::path::PathBuf) {
    let outbox = app.dir.path().join("outbox");
    let rules = AccountRules { signup_open: true, base_url: "http://podops.test".into(), admins: Vec::new(), answer_after: None };
    let podops = app.state.podops.clone().with_accounts(rules, Some(Arc::new(OutboxMailer::new(outbox.clone(), "PodOps <podops@localhost>".into()))));
    let old = &app.state;
    let state = AppState::from(AppParts { podops, tokens: old.tokens.clone(), media_signer: old.media_signer.clone(), limits: old.limits, feeds: old.feeds.clone() });
    (TestApp { router: podops_api::router(state.clone()), state, ..app }, outbox)
}

/// `(code, link token)` of the n-th message, waiting for the background sender.
async fn mail(outbox: &std::path::Path, n: usize) -> (String, String) {
    for _ in 0..200 {
        let mut files: Vec<_> = std::fs::read_dir(outbox).map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect()).unwrap_or_default();
        files.sort();
        if files.len() >= n {
            let text = std::fs::read_to_string(&files[n - 1]).expect("mail").replace("=\r\n", "").replace("=3D", "=");
            let code = text.split("sign-in code is ").nth(1).map(|r| r.chars().take_while(char::is_ascii_digit).collect()).unwrap_or_default();
            let token = text.split("token=").nth(1).map(|r| r.chars().take_while(char::is_ascii_hexdigit).collect()).unwrap_or_default();
            return (code, token);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail {n} in {}", outbox.display());
}

#[tokio::test]
async fn an_expired_code_or_link_is_refused() {
    let (app, outbox) = with_accounts(support::app());
    let r = app.call(Method::POST, "/a/v1/login", None, Some(json!({"email": "eve@example.com"}))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let (code, token) = mail(&outbox, 1).await;
    app.clock.advance(LOGIN_TTL + 1);
    let r = app.call(Method::POST, "/a/v1/auth", None, Some(json!({"email": "eve@example.com", "code": code}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "login.invalid_code"));
    let r = app.call(Method::GET, &format!("/a/v1/auth?token={token}"), None, None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "login.invalid_code"));
}

#[tokio::test]
async fn a_personal_token_stops_at_its_expiry() {
    let (app, outbox) = with_accounts(support::app());
    app.call(Method::POST, "/a/v1/login", None, Some(json!({"email": "fay@example.com"}))).await;
    let (code, _) = mail(&outbox, 1).await;
    let key = app.call(Method::POST, "/a/v1/auth", None, Some(json!({"email": "fay@example.com", "code": code}))).await.json()["key"].as_str().expect("key").to_owned();
    let r = app.call(Method::POST, "/a/v1/tokens", Some(&key), Some(json!({"name": "short", "scopes": ["resource:read"], "expires_in": 60}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let token = r.json()["token"].as_str().expect("token").to_owned();
    assert_eq!(app.call(Method::GET, "/a/v1/whoami", Some(&token), None).await.status, StatusCode::OK);
    for bad in [59, 0] {
        let r = app.call(Method::POST, "/a/v1/tokens", Some(&key), Some(json!({"name": "bad", "scopes": ["resource:read"], "expires_in": bad}))).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "field.range"), "expires_in {bad}");
    }
    app.clock.advance(61);
    let r = app.call(Method::GET, "/a/v1/whoami", Some(&token), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "auth.invalid_key"));
    assert_eq!(app.call(Method::GET, "/a/v1/whoami", Some(&key), None).await.status, StatusCode::OK, "the sign-in key has no such expiry");
}
