//! Real feeds from several hosts (`../shared/feeds`, third parties' data: read
//! from there, never copied into the repository; the test says it is skipped
//! when the folder is absent) moved in end to end: each served by a loopback
//! "old host" whose enclosure URLs answer with generated audio, imported
//! through `podops serve`, built, and read back by feedparser and podcastparser.
//! The published feed keeps every guid, pubDate and enclosure type of the
//! source.

mod support;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{extract::State, http::StatusCode as AxStatus, response::IntoResponse, routing::get, Router};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{call, Server};

/// The feeds of up to 18 items (each item's audio is fetched and probed), none locked.
const FEEDS: [&str; 7] = [
    "anchor-compilado.xml",
    "captivate-insider.xml",
    "omny-drop-bears.xml",
    "acast-demain-le-soleil.xml",
    "podbean-javascript-air.xml",
    "blubrry-powerpress-podcast-help-desk.xml",
    "selfhosted-kabbalah-hebrew.xml",
];

fn shared_feeds() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/feeds");
    dir.is_dir().then_some(dir)
}

/// The feed with each enclosure's URL pointing at the old host (`/audio/<n>.<ext>`).
fn rewrite(feed: &str, base: &str) -> String {
    let mut out = String::with_capacity(feed.len());
    let mut rest = feed;
    let mut n = 0;
    while let Some(at) = rest.find("<enclosure") {
        let tag_end = rest[at..].find('>').map_or(rest.len(), |e| at + e);
        let tag = &rest[at..tag_end];
        let Some(url_at) = tag.find("url=") else {
            out.push_str(&rest[..tag_end]);
            rest = &rest[tag_end..];
            continue;
        };
        let quote = tag[url_at + 4..].chars().next().unwrap_or('"');
        let value_start = at + url_at + 5;
        let value_end = rest[value_start..].find(quote).map_or(tag_end, |e| value_start + e);
        let ext = if tag.contains("m4a") || tag.contains("mp4") { "m4a" } else { "mp3" };
        out.push_str(&rest[..value_start]);
        out.push_str(&format!("{base}/audio/{n}.{ext}"));
        n += 1;
        rest = &rest[value_end..];
    }
    out.push_str(rest);
    out
}

struct OldHost {
    feeds: HashMap<String, String>,
    mp3: Vec<u8>,
    m4a: Vec<u8>,
}

async fn serve(State(host): State<Arc<OldHost>>, uri: axum::http::Uri) -> axum::response::Response {
    let path = uri.path();
    if let Some(feed) = path.strip_prefix("/feeds/").and_then(|name| host.feeds.get(name)) {
        return ([("content-type", "application/rss+xml")], feed.clone()).into_response();
    }
    match path.rsplit_once('.') {
        Some((p, "mp3")) if p.starts_with("/audio/") => ([("content-type", "audio/mpeg")], host.mp3.clone()).into_response(),
        Some((p, "m4a")) if p.starts_with("/audio/") => ([("content-type", "audio/x-m4a")], host.m4a.clone()).into_response(),
        _ => AxStatus::NOT_FOUND.into_response(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_feeds_move_in_with_every_guid_date_and_type() {
    let Some(dir) = shared_feeds() else {
        eprintln!("skipped: ../shared/feeds is absent (the real feeds are third parties' data, not in the repository)");
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let feeds: HashMap<String, String> =
        FEEDS.iter().map(|f| (f.to_string(), rewrite(&String::from_utf8_lossy(&std::fs::read(dir.join(f)).expect("feed")), &base))).collect();
    let host = Arc::new(OldHost { feeds: feeds.clone(), mp3: support::generated_audio("sine=frequency=330:duration=2", &["-c:a", "libmp3lame", "-b:a", "64k"], "a.mp3"),
        m4a: support::generated_audio("sine=frequency=330:duration=2", &["-c:a", "aac", "-b:a", "64k"], "a.m4a") });
    tokio::spawn(async move { axum::serve(listener, Router::new().fallback(get(serve)).with_state(host)).await });

    let server = Server::start(&["--workers", "2", "--allow-address", "127.0.0.1", "--rebuild-delay", "3600", "--analytics-flush", "0"]).await;
    let admin = server.admin_token();
    for (n, file) in FEEDS.iter().enumerate() {
        let name = format!("real_feed_{n}");
        let (source, _) = podops_core::feed::import::parse(feeds[*file].as_bytes()).expect("the source parses");
        let (s, started) = call(&server, &admin, Method::POST, "/a/v1/import/feed", Some(json!({"url": format!("{base}/feeds/{file}"), "name": name}))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{file}: {started}");
        let id = started["id"].as_str().expect("id").to_owned();
        let deadline = Instant::now() + Duration::from_secs(120);
        let done = loop {
            let (_, now) = call(&server, &admin, Method::GET, &format!("/a/v1/import/feed/{id}"), None).await;
            if now["state"] == "done" || now["state"] == "failed" {
                break now;
            }
            assert!(Instant::now() < deadline, "{file}: the import never ended: {now}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(done["state"], "done", "{file}: {done}");
        let prod = done["production"].as_str().expect("production").to_owned();
        loop {
            let (_, list) = call(&server, &admin, Method::GET, &format!("/a/v1/resource/{prod}/asset?limit=100"), None).await;
            let states: Vec<&str> = list["items"].as_array().map(|a| a.iter().filter_map(|x| x["state"].as_str()).collect()).unwrap_or_default();
            if states.len() == source.items.iter().filter(|i| i.enclosure.is_some()).count() && states.iter().all(|s| *s == "ready") {
                break;
            }
            assert!(!states.contains(&"failed"), "{file}: an enclosure failed: {list}");
            assert!(Instant::now() < deadline, "{file}: the audio never arrived: {states:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (s, built) = call(&server, &admin, Method::POST, "/a/v1/build", Some(json!({"production": prod}))).await;
        assert_eq!(s, StatusCode::CREATED, "{file}: {built}");
        let published = server.http.get(server.url(&format!("/feeds/{name}/feed.xml"))).send().await.expect("feed").text().await.expect("text");

        let read = support::feed_parsers(&published);
        assert_eq!(read["feedparser"]["bozo"], false, "{file}: feedparser: {}", read["feedparser"]["bozo_exception"]);
        let (ours, _) = podops_core::feed::import::parse(published.as_bytes()).expect("our feed reads back");
        let expected: Vec<_> = source.items.iter().filter(|i| !i.block && i.enclosure.is_some()).collect();
        assert_eq!(ours.items.len(), expected.len(), "{file}: every item with audio is published");
        let fp_items = read["feedparser"]["items"].as_array().expect("items");
        for item in expected {
            let theirs = ours.items.iter().find(|o| o.guid == item.guid).unwrap_or_else(|| panic!("{file}: guid {} is missing", item.guid));
            assert_eq!(theirs.published, item.published, "{file}: {} pubDate", item.guid);
            let (want, got) = (item.enclosure.as_ref().map(|e| e.content_type.as_str()), theirs.enclosure.as_ref().map(|e| e.content_type.as_str()));
            assert_eq!(got, want, "{file}: {} enclosure type", item.guid);
            assert!(fp_items.iter().any(|f| f["guid"] == item.guid.as_str()), "{file}: feedparser sees {}", item.guid);
        }
        assert_eq!(read["podcastparser"]["episodes"].as_array().map(Vec::len), Some(ours.items.len()), "{file}: podcastparser");
    }
}
