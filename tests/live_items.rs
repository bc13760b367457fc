//! `podcast:liveItem` in a show's feed: a stream shown in the feed is
//! `pending` for its scheduled slots, `live` while it runs and `ended` after;
//! the feed is rebuilt at each change. Read back by podcast-partytime (npm,
//! knows liveItem) and by the suite's feed parsers (feedparser, podcastparser).

mod support;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{call, Server};

fn partytime(feed: &str) -> Value {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("feed.xml");
    std::fs::write(&path, feed).expect("write");
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("node").arg(Path::new(root).join("tests/tools/partytime.js")).arg(Path::new(root).join(".node")).arg(&path).output().expect("node (run ./scripts/test)");
    assert!(out.status.success(), "podcast-partytime: {}", String::from_utf8_lossy(&out.stderr));
    // The library logs to stdout too: our JSON is the last line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A podping endpoint on loopback: the `reason` of each ping it got.
async fn podping_receiver() -> (std::sync::Arc<std::sync::Mutex<Vec<String>>>, String) {
    let reasons = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reasons.clone();
    let app = axum::Router::new().route(
        "/podping",
        axum::routing::get(move |q: axum::extract::Query<std::collections::HashMap<String, String>>| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(q.get("reason").cloned().unwrap_or_default());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/podping", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (reasons, url)
}

async fn wait_for_reason(reasons: &std::sync::Mutex<Vec<String>>, reason: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reasons.lock().expect("lock").iter().any(|r| r == reason) {
        assert!(Instant::now() < deadline, "no podping with reason {reason}: {:?}", reasons.lock().expect("lock"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn feed_with(server: &Server, status: &str) -> String {
    feed_of_with(server, "live_show_feed", status).await
}

async fn feed_of_with(server: &Server, name: &str, status: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = server.http.get(server.url(&format!("/feeds/{name}/feed.xml"))).send().await.expect("feed");
        if r.status() == StatusCode::OK {
            let text = r.text().await.expect("text");
            if text.contains(&format!("<podcast:liveItem status=\"{status}\"")) {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "no {status} live item in the feed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_shown_in_the_feed_is_pending_then_live_then_ended() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let (pings, podping) = podping_receiver().await;
    let server = Server::start_logging_to(
        &["--workers", "1", "--rebuild-delay", "0", "--podping-url", &podping, "--podping-token", "t0ken", "--notify-window", "1"],
        log.path(),
    )
    .await;
    let admin = server.admin_token();
    let (_, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "live_show_feed", "title": "Live"}))).await;
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let ok = |s: StatusCode, e: &Value| assert!(s.is_success(), "{s} {e}");
    let show = json!({"title": "Live Show", "description": "On air.", "language": "en", "category": "Technology", "image": "https://example.com/art.jpg", "author": "Ann", "owner": {"name": "Ann", "email": "ann@example.com"}});
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(show)).await;
    ok(s, &e);
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(json!({"name": "talk", "format": "mp3", "bitrate": 64000, "sample_rate": 44100, "channels": 1}))).await;
    ok(s, &e);
    let stream = json!({"title": "Friday Live", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}], "show_feed": true});
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/stream/bbbbbbbbbbb1"), Some(stream)).await;
    ok(s, &e);
    // A slot tomorrow (UTC, by `date`).
    let out = Command::new("date").args(["-u", "-d", "tomorrow 12:00", "+%Y-%m-%dT%H:%M"]).output().expect("date");
    let tomorrow = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let schedule = json!({"stream": "bbbbbbbbbbb1", "title": "Friday Live, the next one", "timezone": "UTC", "start": tomorrow, "duration": 3600});
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/schedule/ccccccccccc1"), Some(schedule)).await;
    ok(s, &e);
    let (s, e) = call(&server, &admin, Method::POST, "/a/v1/build", Some(json!({"production": prod}))).await;
    ok(s, &e);

    let pending = feed_with(&server, "pending").await;
    let read = partytime(&pending);
    let items = read["live"].as_array().expect("live items");
    assert_eq!(items.len(), 1, "{read}");
    assert_eq!((items[0]["status"].as_str(), items[0]["title"].as_str()), (Some("pending"), Some("Friday Live, the next one")));
    assert!(items[0]["enclosure"]["url"].as_str().is_some_and(|u| u.ends_with("/live/live_show_feed/bbbbbbbbbbb1/index.m3u8")), "{read}");
    let pending_guid = items[0]["guid"].as_str().expect("guid").to_owned();
    let checked = support::feed_parsers(&pending);
    assert!(checked.get("feedparser").is_some(), "the suite's parsers read a feed with live items: {checked}");

    // Live: the run starts; the feed says so without a manual build.
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/stream/{prod}/bbbbbbbbbbb1/start"), None).await;
    ok(s, &e);
    let live = feed_with(&server, "live").await;
    // podping hears of it with the live reason.
    wait_for_reason(&pings, "live").await;
    let read = partytime(&live);
    let statuses: Vec<&str> = read["live"].as_array().expect("items").iter().filter_map(|i| i["status"].as_str()).collect();
    assert_eq!(statuses, ["live", "pending"], "{read}");
    assert_eq!(read["live"][1]["guid"], pending_guid.as_str(), "a stable guid per occurrence");
    assert!(read["live"][0]["contentLinks"].as_array().is_some_and(|l| !l.is_empty()), "{read}");

    // Ended: stopped, the run is listed as ended.
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/stream/{prod}/bbbbbbbbbbb1/stop"), None).await;
    ok(s, &e);
    let ended = feed_with(&server, "ended").await;
    wait_for_reason(&pings, "liveEnd").await;
    assert!(pings.lock().expect("lock").iter().any(|r| r == "update"), "builds are updates");
    let read = partytime(&ended);
    let statuses: Vec<&str> = read["live"].as_array().expect("items").iter().filter_map(|i| i["status"].as_str()).collect();
    assert_eq!(statuses, ["pending", "ended"], "{read}");
    assert_eq!(read["live"][1]["guid"], read["live"].as_array().map(|_| live_guid(&live)).expect("guid").as_str(), "the run keeps its guid from live to ended");
}

/// The guid of the `live` item of a feed.
fn live_guid(feed: &str) -> String {
    let after = feed.split("<podcast:liveItem status=\"live\"").nth(1).expect("a live item");
    after.split("<guid isPermaLink=\"false\">").nth(1).and_then(|r| r.split('<').next()).expect("guid").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_slot_keeps_its_guid_from_pending_to_live_to_ended() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "1", "--rebuild-delay", "0"], log.path()).await;
    let admin = server.admin_token();
    let (_, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "live_slot_guid", "title": "Live"}))).await;
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let ok = |s: StatusCode, e: &Value| assert!(s.is_success(), "{s} {e}");
    let show = json!({"title": "Slots", "description": "On air.", "language": "en", "category": "Technology", "image": "https://example.com/art.jpg", "author": "Ann", "owner": {"name": "Ann", "email": "ann@example.com"}});
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(show)).await;
    ok(s, &e);
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(json!({"format": "mp3", "bitrate": 64000, "sample_rate": 44100, "channels": 1}))).await;
    ok(s, &e);
    let stream = json!({"title": "Morning", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}], "show_feed": true});
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/stream/bbbbbbbbbbb1"), Some(stream)).await;
    ok(s, &e);
    // A one-minute slot starting in 6 seconds; the scheduler starts the stream.
    let out = Command::new("date").args(["-u", "-d", "now + 6 seconds", "+%Y-%m-%dT%H:%M:%S"]).output().expect("date");
    let soon = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let schedule = json!({"stream": "bbbbbbbbbbb1", "title": "Morning", "timezone": "UTC", "start": soon, "duration": 60});
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/schedule/ccccccccccc1"), Some(schedule)).await;
    ok(s, &e);
    let (s, e) = call(&server, &admin, Method::POST, "/a/v1/build", Some(json!({"production": prod}))).await;
    ok(s, &e);
    let pending = feed_of_with(&server, "live_slot_guid", "pending").await;
    let pending_guid = partytime(&pending)["live"][0]["guid"].as_str().expect("guid").to_owned();

    let live = feed_of_with(&server, "live_slot_guid", "live").await;
    assert_eq!(live_guid(&live), pending_guid, "the slot's item keeps its guid when it goes live");
    assert!(!live.contains("status=\"pending\""), "the slot is no longer pending once live");
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/stream/{prod}/bbbbbbbbbbb1/stop"), None).await;
    ok(s, &e);
    let ended = feed_of_with(&server, "live_slot_guid", "ended").await;
    let read = partytime(&ended);
    assert_eq!(read["live"][0]["guid"], pending_guid.as_str(), "and when it has ended: {read}");
}
