//! Webhooks through a real `podops serve` and its in-process worker, to a
//! real HTTP receiver on loopback that checks every delivery's Standard
//! Webhooks signature with Python's own HMAC (an implementation apart from
//! the server's): asset.ready from a probe, a test delivery, a receiver that
//! fails once and gets the retry, and the bad input refused.

mod support;

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{extract::State, http::HeaderMap, routing::post, Router};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{call, Server};

#[derive(Clone, Debug)]
struct Got {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    /// Delivery ids `/flaky` has already failed once.
    failed: Arc<Mutex<HashSet<String>>>,
}

async fn receive(State(r): State<Receiver>, uri: axum::http::Uri, headers: HeaderMap, body: String) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let got = Got { path: uri.path().to_owned(), id: h("webhook-id"), timestamp: h("webhook-timestamp"), signature: h("webhook-signature"), body };
    r.got.lock().expect("lock").push(got.clone());
    if got.path == "/flaky" && r.failed.lock().expect("lock").insert(got.id) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (Receiver, SocketAddr) {
    let receiver = Receiver::default();
    let app = Router::new().route("/hook", post(receive)).route("/flaky", post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, addr)
}

/// Python's hmac says whether `got` is signed with `secret` (whsec_ form).
fn verified(secret: &str, got: &Got) -> bool {
    let script = "import base64,hmac,hashlib,sys\n\
        k=base64.b64decode(sys.argv[1].split('_',1)[1]); m=(sys.argv[2]+'.'+sys.argv[3]+'.'+sys.stdin.read()).encode()\n\
        want='v1,'+base64.b64encode(hmac.new(k,m,hashlib.sha256).digest()).decode()\n\
        print('ok' if any(hmac.compare_digest(want, s) for s in sys.argv[4].split(' ')) else 'bad')";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, secret, &got.id, &got.timestamp, &got.signature])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), got.body.as_bytes()).expect("write");
    String::from_utf8_lossy(&child.wait_with_output().expect("python").stdout).trim() == "ok"
}

async fn wait_for(receiver: &Receiver, what: impl Fn(&Got) -> bool, timeout: Duration) -> Got {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(g) = receiver.got.lock().expect("lock").iter().find(|g| what(g)).cloned() {
            return g;
        }
        assert!(Instant::now() < deadline, "no such delivery: {:?}", receiver.got.lock().expect("lock"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event_of(g: &Got) -> String {
    serde_json::from_str::<Value>(&g.body).ok().and_then(|v| v["type"].as_str().map(str::to_owned)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_and_listed() {
    let (receiver, addr) = start_receiver().await;
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "1", "--allow-address", "127.0.0.1"], log.path()).await;
    let admin = server.admin_token();
    let (s, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "hooked_show", "title": "Hooks"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 24]>()));
    let hook = format!("/a/v1/resource/{prod}/webhook/aaaaaaaaaaa1");
    let (s, made) = call(&server, &admin, Method::POST, &hook, Some(json!({"url": format!("http://{addr}/hook"), "events": ["asset.ready", "build.published"], "secret": secret}))).await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    assert!(made["secret"].as_str().is_some_and(|m| m.starts_with("••••")) && !made.to_string().contains(&secret[6..]), "write-only: {made}");
    // A PUT of what was read keeps the secret.
    let (s, e) = call(&server, &admin, Method::PUT, &hook, Some(json!({"description": "studio", "secret": made["secret"]}))).await;
    assert!(s.is_success(), "{s} {e}");

    // An upload is probed by the worker: asset.ready, signed.
    let r = server.http.post(server.url(&format!("/a/v1/upload/{prod}?filename=one.wav"))).bearer_auth(&admin).header("content-type", "audio/wav").body(support::tone_wav()).send().await.expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let asset = r.json::<Value>().await.expect("json")["guid"].as_str().expect("guid").to_owned();
    let ready = wait_for(&receiver, |g| event_of(g) == "asset.ready", Duration::from_secs(30)).await;
    assert!(verified(&secret, &ready), "signature of {ready:?}");
    let body: Value = serde_json::from_str(&ready.body).expect("json body");
    assert_eq!((body["production"].as_str(), body["data"]["asset"].as_str()), (Some(prod.as_str()), Some(asset.as_str())));
    let sent_at: i64 = ready.timestamp.parse().expect("unix seconds");
    assert!((sent_at - support::now()).abs() < 300, "a current timestamp");
    assert!(ready.id.starts_with("msg_"));

    // A test delivery, whatever the events.
    let (s, queued) = call(&server, &admin, Method::POST, &format!("/a/v1/webhook/{prod}/aaaaaaaaaaa1/test"), None).await;
    assert_eq!((s, queued["event"].as_str(), queued["status"].as_str()), (StatusCode::ACCEPTED, Some("webhook.test"), Some("pending")));
    let test = wait_for(&receiver, |g| event_of(g) == "webhook.test", Duration::from_secs(15)).await;
    assert!(verified(&secret, &test));
    assert_eq!(test.id, queued["id"].as_str().expect("id"));

    // A receiver that fails once gets the retry (the same id, a fresh signature), and the list says so.
    let flaky_secret = "a plain secret of 24 chars";
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/webhook/aaaaaaaaaaa2"), Some(json!({"url": format!("http://{addr}/flaky"), "events": ["asset.ready"], "secret": flaky_secret}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let r = server.http.post(server.url(&format!("/a/v1/upload/{prod}?filename=two.wav"))).bearer_auth(&admin).header("content-type", "audio/wav").body(support::tone_wav()).send().await.expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let deadline = Instant::now() + Duration::from_secs(40);
    let listed = loop {
        let (s, list) = call(&server, &admin, Method::GET, &format!("/a/v1/webhook/{prod}/aaaaaaaaaaa2/deliveries"), None).await;
        assert_eq!(s, StatusCode::OK);
        if list["items"][0]["status"] == "delivered" {
            break list;
        }
        assert!(Instant::now() < deadline, "never delivered: {list}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let d = &listed["items"][0];
    assert_eq!((d["attempts"].as_u64(), d["last_status"].as_u64(), d["event"].as_str()), (Some(2), Some(204), Some("asset.ready")), "{listed}");
    let tries: Vec<Got> = receiver.got.lock().expect("lock").iter().filter(|g| g.path == "/flaky").cloned().collect();
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert_eq!(tries[0].id, tries[1].id, "the same webhook-id on every attempt");
    assert!(tries.iter().all(|g| {
        // A plain secret signs with its bytes: check with Python against its base64.
        let as_whsec = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(flaky_secret));
        verified(&as_whsec, g)
    }));
    let (s, list) = call(&server, &admin, Method::GET, &format!("/a/v1/webhook/{prod}/aaaaaaaaaaa1/deliveries"), None).await;
    assert_eq!(s, StatusCode::OK);
    let events: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|d| d["event"].as_str()).collect();
    assert_eq!(events, ["asset.ready", "webhook.test", "asset.ready"], "newest first: {list}");
}

#[tokio::test]
async fn a_webhook_to_a_private_or_metadata_address_or_an_unknown_event_is_refused() {
    let server = Server::start(&["--workers", "0"]).await;
    let admin = server.admin_token();
    let (_, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "refusing_hooks", "title": "R"}))).await;
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let hook = format!("/a/v1/resource/{prod}/webhook/bbbbbbbbbbb1");
    let good = json!({"url": "https://hooks.example.com/x", "events": ["build.published"], "secret": "0123456789abcdef0123"});
    for (field, value, code) in [
        ("url", json!("http://169.254.169.254/latest/meta-data/"), "webhook.forbidden_address"),
        ("url", json!("http://127.0.0.1:9/x"), "webhook.forbidden_address"),
        ("url", json!("http://[::1]/x"), "webhook.forbidden_address"),
        ("url", json!("file:///etc/passwd"), "webhook.url"),
        ("events", json!(["stream.exploded"]), "webhook.event_unknown"),
        ("secret", json!("short"), "webhook.secret"),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let (s, e) = call(&server, &admin, Method::POST, &hook, Some(body)).await;
        assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{field}: {e}");
    }
    let (s, _) = call(&server, &admin, Method::GET, &hook, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was written");
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/webhook/{prod}/bbbbbbbbbbb1/test"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("resource.not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_starts_and_stops_is_told_to_its_webhook() {
    let (receiver, addr) = start_receiver().await;
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "1", "--allow-address", "127.0.0.1"], log.path()).await;
    let admin = server.admin_token();
    let (_, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "hooked_stream", "title": "Live"}))).await;
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let secret = "stream-hook-secret-0123456789";
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/webhook/ccccccccccc1"), Some(json!({"url": format!("http://{addr}/hook"), "events": ["stream.started", "stream.stopped", "recording.ready"], "secret": secret}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let profile = json!({"name": "talk", "format": "mp3", "bitrate": 64000, "sample_rate": 44100, "channels": 1});
    assert_eq!(call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(profile)).await.0, StatusCode::CREATED);
    let stream = json!({"title": "Tone", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}], "record": true});
    assert_eq!(call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/stream/bbbbbbbbbbb1"), Some(stream)).await.0, StatusCode::CREATED);
    assert_eq!(call(&server, &admin, Method::POST, &format!("/a/v1/stream/{prod}/bbbbbbbbbbb1/start"), None).await.0, StatusCode::ACCEPTED);
    let started = wait_for(&receiver, |g| event_of(g) == "stream.started", Duration::from_secs(30)).await;
    let as_whsec = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(secret));
    assert!(verified(&as_whsec, &started));
    assert_eq!(serde_json::from_str::<Value>(&started.body).expect("json")["data"]["stream"], "bbbbbbbbbbb1");
    assert_eq!(call(&server, &admin, Method::POST, &format!("/a/v1/stream/{prod}/bbbbbbbbbbb1/stop"), None).await.0, StatusCode::ACCEPTED);
    let stopped = wait_for(&receiver, |g| event_of(g) == "stream.stopped", Duration::from_secs(30)).await;
    assert!(verified(&as_whsec, &stopped));
    // The recording was joined and probed: its event names the stream and the asset.
    let ready = wait_for(&receiver, |g| event_of(g) == "recording.ready", Duration::from_secs(60)).await;
    assert!(verified(&as_whsec, &ready));
    let data = serde_json::from_str::<Value>(&ready.body).expect("json")["data"].clone();
    assert_eq!(data["stream"], "bbbbbbbbbbb1", "{data}");
    assert!(data["asset"].as_str().is_some() && data["duration"].as_f64().is_some_and(|d| d > 0.0), "{data}");
    let events: Vec<String> = receiver.got.lock().expect("lock").iter().map(event_of).collect();
    assert_eq!(events, ["stream.started", "stream.stopped", "recording.ready"], "each once, nothing it did not ask for");
}

/// On DynamoDB, S3 and SQS (moto): the delivery record, its job and the
/// message go through the AWS adapters, and the worker delivers it signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_a_test_delivery_arrives_signed() {
    let (receiver, addr) = start_receiver().await;
    let (_, flags) = support::aws::provision_fresh();
    let mut args: Vec<&str> = vec!["--backend", "aws", "--workers", "1", "--allow-address", "127.0.0.1"];
    args.extend(flags.iter().map(String::as_str));
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&args, log.path()).await;
    let admin = server.admin_token();
    let name = format!("hooks_{:08x}", rand::random::<u32>());
    let (s, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": name, "title": "Hooks on AWS"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{prod}");
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 24]>()));
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/webhook/aaaaaaaaaaa1"), Some(json!({"url": format!("http://{addr}/hook"), "events": ["build.published"], "secret": secret}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, queued) = call(&server, &admin, Method::POST, &format!("/a/v1/webhook/{prod}/aaaaaaaaaaa1/test"), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{queued}");
    let got = wait_for(&receiver, |g| event_of(g) == "webhook.test", Duration::from_secs(30)).await;
    assert!(verified(&secret, &got));
    assert_eq!(got.id, queued["id"].as_str().expect("id"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, list) = call(&server, &admin, Method::GET, &format!("/a/v1/webhook/{prod}/aaaaaaaaaaa1/deliveries"), None).await;
        if list["items"][0]["status"] == "delivered" {
            assert_eq!(list["items"][0]["last_status"], 204);
            break;
        }
        assert!(Instant::now() < deadline, "never marked delivered: {list}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
