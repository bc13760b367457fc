//! Rate limits with bursts through a real `podops serve`: a burst passes, the
//! next request is refused with Retry-After and the RateLimit headers, and the
//! client is served again after that time; credentials have their own budget;
//! sign-in requests have a per-IP budget.

mod support;

use std::time::Duration;

use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use support::Server;

#[tokio::test]
async fn a_burst_passes_the_next_request_waits_and_is_served_after_retry_after() {
    let server = Server::start(&["--workers", "0", "--rate-anonymous", "2/s:5", "--rate-login", "5/h:2"]).await;
    let whoami = server.url("/a/v1/whoami");
    for i in 0..5 {
        let r = server.http.get(&whoami).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "request {i} of the burst passes the limit (and is refused by auth)");
        assert_eq!(r.headers()["ratelimit-policy"], "\"anonymous\";q=5;w=3");
    }
    let r = server.http.get(&whoami).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
    assert_eq!(retry, 1, "2 per second: the next token comes within a second");
    assert_eq!(r.headers()["ratelimit"], "\"anonymous\";r=0;t=1");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate.limited");
    // Credentials have their own budget.
    let r = server.http.get(&whoami).bearer_auth(server.admin_token()).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["ratelimit-policy"].to_str().expect("ascii").starts_with("\"signed-in\""));
    // Public delivery is not limited by the API's budget.
    assert_ne!(server.http.get(server.url("/feeds/nothing_here/feed.xml")).send().await.expect("feed").status(), StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(server.http.get(&whoami).send().await.expect("request").status(), StatusCode::UNAUTHORIZED, "served again after Retry-After");

    // Sign-in requests: 2 per IP here, whatever the address.
    let login = server.url("/a/v1/login");
    for email in ["a@example.com", "b@example.com"] {
        tokio::time::sleep(Duration::from_millis(600)).await; // stay within the anonymous budget
        assert_eq!(server.http.post(&login).json(&json!({"email": email})).send().await.expect("login").status(), StatusCode::ACCEPTED);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = server.http.post(&login).json(&json!({"email": "c@example.com"})).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers()["ratelimit-policy"].to_str().expect("ascii").starts_with("\"login\";q=2;w=1440"), "{:?}", r.headers());
}
