//! Telling the podcast world: a real `podops serve` (and its in-process
//! worker) announces each published feed to loopback receivers standing in
//! for a WebSub hub, Podcast Index's pubnotify and podping. Publishes within
//! one window are announced once, a hub that fails gets the retry, the feed
//! declares its hubs, and the podping token never reaches the logs.

mod support;

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{extract::State, http::HeaderMap, routing::any, Router};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{call, Server};

const TOKEN: &str = "pp-token/with+chars=42";
const WINDOW: i64 = 4;

#[derive(Clone, Debug)]
struct Got {
    path: String,
    method: String,
    query: String,
    body: String,
    authorization: String,
}

#[derive(Clone, Default)]
struct Receivers {
    got: Arc<Mutex<Vec<Got>>>,
    failures: Arc<Mutex<HashMap<String, u32>>>,
}

async fn receive(State(r): State<Receivers>, method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap, body: String) -> StatusCode {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let got = Got { path: uri.path().to_owned(), method: method.to_string(), query: uri.query().unwrap_or("").to_owned(), body, authorization };
    r.got.lock().expect("lock").push(got.clone());
    // The flaky hub refuses its first request.
    if got.path == "/flaky-hub" {
        let mut failures = r.failures.lock().expect("lock");
        let n = failures.entry(got.path).or_default();
        *n += 1;
        if *n == 1 {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    StatusCode::ACCEPTED
}

async fn start_receivers() -> (Receivers, SocketAddr) {
    let receivers = Receivers::default();
    let app = Router::new().route("/{*path}", any(receive)).with_state(receivers.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receivers, addr)
}

fn received(r: &Receivers, path: &str) -> Vec<Got> {
    r.got.lock().expect("lock").iter().filter(|g| g.path == path).cloned().collect()
}

async fn wait_for(r: &Receivers, path: &str, count: usize, timeout: Duration) -> Vec<Got> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = received(r, path);
        if got.len() >= count {
            return got;
        }
        assert!(Instant::now() < deadline, "{path}: {count} wanted, got {:?}", r.got.lock().expect("lock"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_publish_is_announced_once_per_window_to_hubs_pubnotify_and_podping() {
    let (receivers, addr) = start_receivers().await;
    let log = tempfile::NamedTempFile::new().expect("log");
    let (hub, flaky, pubnotify, podping) =
        (format!("http://{addr}/hub"), format!("http://{addr}/flaky-hub"), format!("http://{addr}/pubnotify"), format!("http://{addr}/podping"));
    let window = WINDOW.to_string();
    let server = Server::start_logging_to(
        &["--workers", "1", "--websub-hub", &hub, "--websub-hub", &flaky, "--pubnotify-url", &pubnotify, "--podping-url", &podping,
          "--podping-token", TOKEN, "--notify-window", &window, "--rebuild-delay", "3600"],
        log.path(),
    )
    .await;
    let admin = server.admin_token();
    let (s, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "announced_show", "title": "Announced"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let show = json!({"title": "Announced", "description": "A show that tells the world.", "language": "en", "category": "Technology",
                      "image": "https://example.com/art.jpg", "author": "Ann", "owner": {"name": "Ann", "email": "ann@example.com"}});
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(show)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");

    // Two publishes early in one window: one announcement per target.
    let now = support::now();
    let into_window = now.rem_euclid(WINDOW);
    if into_window > 0 {
        tokio::time::sleep(Duration::from_millis(((WINDOW - into_window) * 1000 + 100) as u64)).await;
    }
    for _ in 0..2 {
        let (s, built) = call(&server, &admin, Method::POST, "/a/v1/build", Some(json!({"production": prod}))).await;
        assert_eq!(s, StatusCode::CREATED, "{built}");
    }
    let feed_url = server.url("/feeds/announced_show/feed.xml");
    let feed = server.http.get(&feed_url).send().await.expect("feed").text().await.expect("text");
    for h in [&hub, &flaky] {
        assert!(feed.contains(&format!("<atom:link href=\"{h}\" rel=\"hub\"/>")), "the feed declares {h}: {feed}");
    }

    let hub_got = wait_for(&receivers, "/hub", 1, Duration::from_secs(30)).await;
    assert_eq!((hub_got[0].method.as_str(), hub_got[0].body.clone()), ("POST", format!("hub.mode=publish&hub.url={}", encoded(&feed_url))));
    let pub_got = wait_for(&receivers, "/pubnotify", 1, Duration::from_secs(10)).await;
    assert_eq!((pub_got[0].method.as_str(), pub_got[0].query.clone()), ("GET", format!("url={}", encoded(&feed_url))));
    let ping = wait_for(&receivers, "/podping", 1, Duration::from_secs(10)).await;
    assert_eq!(ping[0].query, format!("url={}&reason=update&medium=podcast", encoded(&feed_url)));
    assert_eq!(ping[0].authorization, TOKEN);
    // The hub that refused once gets the retry.
    let flaky_got = wait_for(&receivers, "/flaky-hub", 2, Duration::from_secs(40)).await;
    assert_eq!(flaky_got[1].body, hub_got[0].body);

    // Coalesced: the two publishes made one job, whose two attempts (the first refused by the
    // flaky hub) each reached every target once. Two jobs would have made four.
    tokio::time::sleep(Duration::from_secs(WINDOW as u64 + 1)).await;
    for path in ["/hub", "/pubnotify", "/podping"] {
        assert_eq!(received(&receivers, path).len(), 2, "{path}: one announcement, sent twice");
    }

    // A publish in a later window is announced again.
    let before = received(&receivers, "/podping").len();
    let (s, _) = call(&server, &admin, Method::POST, "/a/v1/build", Some(json!({"production": prod}))).await;
    assert_eq!(s, StatusCode::CREATED);
    wait_for(&receivers, "/podping", before + 1, Duration::from_secs(30)).await;

    // The token is in no log line, plain or percent-encoded.
    let logged = std::fs::read_to_string(log.path()).expect("log");
    assert!(!logged.contains(TOKEN) && !logged.contains(&encoded(TOKEN)), "the podping token was logged");
    assert!(logged.contains("feed announced"), "announcements are logged");
}

#[test]
fn bad_endpoints_and_a_podping_url_without_its_token_are_refused_at_start() {
    for args in [&["--websub-hub", "ftp://hub.example.com/"][..], &["--pubnotify-url", "not a url"][..], &["--podping-url", "https://podping.cloud/"][..]] {
        let dir = tempfile::tempdir().expect("dir");
        let out = Command::new(support::binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .output()
            .expect("run podops");
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(args[0]) || err.contains("podping-token"), "{args:?}: {err}");
    }
}

/// The same announcements on the AWS backend (moto): `podops serve --backend aws` queues the
/// `notify` job on SQS at publish time, and a separate `podops worker --backend aws` (as on
/// ECS) waits out the window and sends it to every target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_travel_through_sqs_to_a_separate_worker_on_aws() {
    let (receivers, addr) = start_receivers().await;
    let (hub, pubnotify, podping) = (format!("http://{addr}/hub"), format!("http://{addr}/pubnotify"), format!("http://{addr}/podping"));
    let targets = ["--websub-hub", &hub, "--pubnotify-url", &pubnotify, "--podping-url", &podping, "--podping-token", TOKEN, "--notify-window", "2"];
    let (_, flags) = support::aws::provision_fresh();
    let mut args = vec!["--backend", "aws", "--workers", "0", "--rebuild-delay", "3600"];
    args.extend(targets);
    args.extend(flags.iter().map(String::as_str));
    let server = Server::start(&args).await;
    let mut extra = vec!["--feed-base-url", server.base.as_str()];
    extra.extend(targets);
    let _worker = support::aws::start_worker(&flags, &extra);
    let admin = server.admin_token();
    let (_, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "announced_aws", "title": "Announced"}))).await;
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let show = json!({"title": "Announced", "description": "Told through SQS.", "language": "en", "category": "Technology",
                      "image": "https://example.com/art.jpg", "author": "Ann", "owner": {"name": "Ann", "email": "ann@example.com"}});
    assert_eq!(call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(show)).await.0, StatusCode::CREATED);
    let (s, built) = call(&server, &admin, Method::POST, "/a/v1/build", Some(json!({"production": prod}))).await;
    assert_eq!(s, StatusCode::CREATED, "{built}");
    let feed_url = server.url("/feeds/announced_aws/feed.xml");
    let hub_got = wait_for(&receivers, "/hub", 1, Duration::from_secs(45)).await;
    assert_eq!(hub_got[0].body, format!("hub.mode=publish&hub.url={}", encoded(&feed_url)));
    assert_eq!(wait_for(&receivers, "/pubnotify", 1, Duration::from_secs(10)).await[0].query, format!("url={}", encoded(&feed_url)));
    let ping = wait_for(&receivers, "/podping", 1, Duration::from_secs(10)).await;
    assert_eq!((ping[0].query.clone(), ping[0].authorization.as_str()), (format!("url={}&reason=update&medium=podcast", encoded(&feed_url)), TOKEN));
}
