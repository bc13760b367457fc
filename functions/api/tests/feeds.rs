//! Build and publish: feeds checked by independent parsers (feedparser,
//! podcastparser) and the Podcast namespace XSD (xmllint), Apple's required
//! tags, scheduled episodes, coalesced rebuilds, rollback, public serving.

mod support;

use std::{path::PathBuf, process::Command};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use podops_core::{
    domain::{Guid, Probe, Resource, ResourceBody},
    ports::{Clock, Key, Record},
};
use serde_json::{json, Value};
use support::{app, TestApp, FULL};

const BUILD: &str = "production:read production:write production:build resource:read resource:write";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs tests/tools/feed_check.py on the feed: what feedparser, podcastparser and xmllint saw.
fn ground_truth(xml: &str) -> Value {
    let python = std::env::var("PODOPS_PYTHON").map(PathBuf::from).unwrap_or_else(|_| repo().join(".venv/bin/python"));
    assert!(python.exists(), "{} is missing: run ./scripts/test, which installs the feed parsers", python.display());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.xml");
    std::fs::write(&path, xml).unwrap();
    let out = Command::new(python)
        .arg(repo().join("tests/tools/feed_check.py"))
        .arg(&path)
        .arg(repo().join("tests/schemas"))
        .output()
        .expect("run feed_check.py");
    assert!(out.status.success(), "feed_check.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_valid(truth: &Value) {
    assert_eq!(truth["feedparser"]["bozo"], false, "feedparser: {}", truth["feedparser"]["bozo_exception"]);
    assert_eq!(truth["feedparser"]["version"], "rss20");
    assert_eq!(truth["xsd"]["valid"], true, "xmllint: {}", truth["xsd"]["output"]);
    for item in truth["feedparser"]["items"].as_array().unwrap() {
        assert!(item["enclosure"]["url"].as_str().is_some_and(|u| u.starts_with("http")), "{item}");
        assert!(item["duration"].as_str().is_some(), "every item has a duration: {item}");
        assert!(item["guid"].as_str().is_some_and(|g| g.starts_with("podops:")), "{item}");
    }
    assert_eq!(truth["feedparser"]["items"].as_array().unwrap().len(), truth["podcastparser"]["episodes"].as_array().unwrap().len());
}

async fn full_show(app: &TestApp, t: &str, prod: &str) {
    let r = app
        .call(Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(t), Some(json!({
            "title": "The Test Show", "description": "A show about tests.", "language": "en",
            "link": "https://example.com", "category": "Technology", "explicit": false, "author": "Tess Ter",
            "owner": {"name": "Tess Ter", "email": "tess@example.com"}, "copyright": "© 2026 Tess",
            "image": "https://example.com/art.jpg", "locked": true})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
}

/// Uploads audio and records the duration the worker would have measured.
async fn probed_asset(app: &TestApp, t: &str, prod: &str, seconds: f64) -> String {
    let req = Request::post(format!("/a/v1/upload/{prod}?filename=ep.mp3"))
        .header("authorization", format!("Bearer {t}"))
        .header("content-type", "audio/mpeg")
        .body(Body::from(vec![0xffu8; 4096]))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["guid"].as_str().unwrap().to_owned();
    let records = &app.state.podops.records;
    let key = Key::new(format!("PROD#{prod}"), format!("ASSET#{id}"));
    let stored = records.get(&key).await.unwrap().unwrap();
    let mut asset = Resource::from_value(stored.body.clone()).unwrap();
    if let ResourceBody::Asset(a) = &mut asset.body {
        a.state = podops_core::domain::AssetState::Ready;
        a.probe = Some(Probe { format: "mp3".into(), codec: "mp3".into(), duration: seconds, bitrate: 128000, channels: 2, sample_rate: 44100, ..Default::default() });
    }
    asset.version = stored.version.next();
    let body = serde_json::to_value(&asset).unwrap();
    records.replace(&Record { key, version: asset.version, body, expires_at: None }, stored.version).await.unwrap();
    id
}

async fn episode(app: &TestApp, t: &str, prod: &str, id: &str, body: Value) {
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/{id}"), Some(t), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
}

async fn build(app: &TestApp, t: &str, prod: &str, query: &str) -> support::Reply {
    app.call(Method::POST, &format!("/a/v1/build{query}"), Some(t), Some(json!({ "production": prod }))).await
}

async fn published(app: &TestApp, name: &str) -> String {
    let r = app.call(Method::GET, &format!("/feeds/{name}/feed.xml"), None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    String::from_utf8(r.body.to_vec()).unwrap()
}

#[tokio::test]
async fn an_incomplete_show_is_refused_with_422_listing_what_apple_requires() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "incomplete_show").await;
    let r = build(&app, &t, &prod, "").await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "build.show_incomplete"));
    let problems = r.json()["error"]["params"]["problems"].clone();
    assert_eq!(problems[0]["code"], "show.missing");
    app.call(Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(&t), Some(json!({"title": "T", "category": "Cooking"}))).await;
    let r = build(&app, &t, &prod, "").await;
    let fields: Vec<String> = r.json()["error"]["params"]["problems"].as_array().unwrap().iter()
        .filter(|p| p["blocking"] == true).map(|p| p["field"].as_str().unwrap().to_owned()).collect();
    assert_eq!(fields, ["description", "image", "language", "category"]);
    assert_eq!(app.call(Method::GET, "/feeds/incomplete_show/feed.xml", None, None).await.status, StatusCode::NOT_FOUND, "nothing published");
}

#[tokio::test]
async fn a_dry_run_returns_the_feed_and_its_problems_without_publishing() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "dry_run_show").await;
    app.call(Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(&t), Some(json!({"title": "Draft"}))).await;
    let r = build(&app, &t, &prod, "?dry_run=true").await;
    assert_eq!(r.status, StatusCode::OK);
    let out = r.json();
    assert_eq!(out["published"], false);
    assert!(out["xml"].as_str().unwrap().contains("<title>Draft</title>"));
    assert!(out["problems"].as_array().unwrap().iter().any(|p| p["code"] == "feed.image_missing"));
    assert_eq!(app.call(Method::GET, "/feeds/dry_run_show/feed.xml", None, None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_published_feed_passes_feedparser_podcastparser_and_the_xsd() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "ground_truth").await;
    full_show(&app, &t, &prod).await;
    let now = app.clock.now();
    let a1 = probed_asset(&app, &t, &prod, 3212.4).await;
    let a2 = probed_asset(&app, &t, &prod, 61.0).await;
    episode(&app, &t, &prod, "000000000001", json!({"title": "Pilot", "summary": "The first.", "published": now - 7200, "season": 1, "episode": 1,
        "enclosure": a1, "transcript": "https://example.com/ep1.vtt",
        "tracks": [{"artist": "Beirut", "title": "Elephant Gun", "offset": 754}]})).await;
    episode(&app, &t, &prod, "000000000002", json!({"title": "Second", "published": now - 3600, "season": 1, "episode": 2, "enclosure": a2, "type": "bonus"})).await;
    episode(&app, &t, &prod, "000000000003", json!({"title": "Future", "published": now + 86400, "enclosure": a2})).await;
    episode(&app, &t, &prod, "000000000004", json!({"title": "Blocked", "published": now - 60, "enclosure": a2, "block": true})).await;
    episode(&app, &t, &prod, "000000000005", json!({"title": "No audio", "published": now - 60})).await;
    episode(&app, &t, &prod, "000000000006", json!({"title": "Draft", "enclosure": a2})).await;

    let r = build(&app, &t, &prod, "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let out = r.json();
    assert_eq!(r.header("location"), "http://podops.test/feeds/ground_truth/feed.xml");
    assert_eq!((out["published"].as_bool(), out["episodes"].as_u64()), (Some(true), Some(2)));
    assert_eq!(out["next_due"], now + 86400);
    let reasons: Vec<(String, String)> = out["left_out"].as_array().unwrap().iter()
        .map(|l| (l["guid"].as_str().unwrap().to_owned(), l["reason"].as_str().unwrap().to_owned())).collect();
    assert_eq!(reasons, [("000000000003".into(), "episode.scheduled".into()), ("000000000004".into(), "episode.blocked".into()),
        ("000000000005".into(), "episode.no_enclosure".into()), ("000000000006".into(), "episode.unpublished".into())]);

    let xml = published(&app, "ground_truth").await;
    let truth = ground_truth(&xml);
    assert_valid(&truth);
    let fp = &truth["feedparser"];
    assert_eq!((fp["title"].as_str(), fp["language"].as_str(), fp["author"].as_str()), (Some("The Test Show"), Some("en"), Some("Tess Ter")));
    assert_eq!(fp["image"], "https://example.com/art.jpg");
    assert!(fp["categories"].as_array().unwrap().contains(&json!("Technology")));
    let titles: Vec<&str> = fp["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Second", "Pilot"], "newest first, left-out episodes absent");
    let pilot = &fp["items"][1];
    assert_eq!(pilot["duration"], "3212");
    assert_eq!(pilot["enclosure"]["length"], "4096");
    assert_eq!(pilot["enclosure"]["type"], "audio/mpeg");
    assert_eq!(pilot["guid"], format!("podops:{prod}:000000000001"));
    let pp = &truth["podcastparser"];
    assert_eq!(pp["title"], "The Test Show");
    assert_eq!(pp["episodes"][1]["total_time"], 3212);
    assert_eq!(pp["episodes"][1]["enclosures"][0]["file_size"], 4096);
    let elements: Vec<&str> = truth["xsd"]["elements"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    for e in ["chapters", "episode", "guid", "locked", "season", "transcript"] {
        assert!(elements.contains(&e), "podcast:{e} missing from {elements:?}");
    }

    // The enclosure and the chapters file are really there, publicly.
    let enclosure = pilot["enclosure"]["url"].as_str().unwrap().strip_prefix("http://podops.test").unwrap().to_owned();
    let media = app.send(Request::get(&enclosure).header("range", "bytes=0-1").body(Body::empty()).unwrap()).await;
    assert_eq!(media.status, StatusCode::PARTIAL_CONTENT);
    let chapters = app.call(Method::GET, &format!("/feeds/ground_truth/chapters/000000000001.json"), None, None).await;
    assert_eq!(chapters.status, StatusCode::OK);
    assert_eq!(chapters.json()["chapters"][0], json!({"startTime": 754, "title": "Beirut – Elephant Gun"}));
    assert_eq!(chapters.header("content-type"), "application/json+chapters");
    // Chapters of an episode no feed shows yet are not public.
    app.call(Method::PUT, &format!("/a/v1/resource/{prod}/episode/000000000003"), Some(&t),
        Some(json!({"tracks": [{"artist": "A", "title": "B", "offset": 1}]}))).await;
    let hidden = app.call(Method::GET, "/feeds/ground_truth/chapters/000000000003.json", None, None).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn apples_required_channel_and_item_tags_are_all_present() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "apple_checklist").await;
    full_show(&app, &t, &prod).await;
    let a = probed_asset(&app, &t, &prod, 10.0).await;
    episode(&app, &t, &prod, "000000000001", json!({"title": "E", "published": app.clock.now() - 10, "enclosure": a})).await;
    build(&app, &t, &prod, "").await;
    let xml = published(&app, "apple_checklist").await;
    let (channel, item) = xml.split_once("<item>").unwrap();
    for tag in ["<title>", "<description>", "<itunes:image href=", "<language>", "<itunes:category text=", "<itunes:explicit>",
                "<itunes:author>", "<link>", "<itunes:owner>", "<itunes:email>", "<itunes:type>", "<copyright>", "<podcast:guid>", "<podcast:locked"] {
        assert!(channel.contains(tag), "channel lacks {tag}");
    }
    for tag in ["<title>", "<enclosure url=", "<guid isPermaLink=\"false\">", "<pubDate>", "<description>", "<itunes:duration>", "<itunes:episodeType>", "<itunes:explicit>"] {
        assert!(item.contains(tag), "item lacks {tag}");
    }
    assert!(channel.contains("xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\""));
}

#[tokio::test]
async fn the_feed_is_public_with_etag_304_and_last_modified_but_archives_are_not() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "served_feed").await;
    full_show(&app, &t, &prod).await;
    build(&app, &t, &prod, "").await;
    let r = app.call(Method::GET, "/feeds/served_feed/feed.xml", None, None).await;
    assert_eq!(r.header("content-type"), "application/rss+xml; charset=utf-8");
    assert!(r.header("last-modified").ends_with("GMT"));
    let etag = r.header("etag").to_owned();
    let again = app.send(Request::get("/feeds/served_feed/feed.xml").header("if-none-match", &etag).body(Body::empty()).unwrap()).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let builds = app.state.podops.builds(&Guid::parse(&prod).unwrap()).await.unwrap();
    let archive = builds[0].1.archive.trim_start_matches("feeds/").to_owned();
    assert_eq!(app.call(Method::GET, &format!("/feeds/{archive}"), None, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::GET, "/feeds/../media/x/feed.xml", None, None).await.status, StatusCode::NOT_FOUND);
    let other = app.token("mallory", BUILD);
    assert_eq!(build(&app, &other, &prod, "").await.status, StatusCode::NOT_FOUND, "another tenant cannot build it");
    let no_scope = app.token("alice", FULL);
    assert_eq!(build(&app, &no_scope, &prod, "").await.code(), "auth.missing_scope");
}

#[tokio::test]
async fn leaving_publishes_new_feed_url_then_redirects_with_301_and_enclosures_keep_working() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "leaving_show").await;
    full_show(&app, &t, &prod).await;
    let asset = probed_asset(&app, &t, &prod, 61.0).await;
    episode(&app, &t, &prod, "bbbbbbbbbbb1", json!({"title": "One", "enclosure": asset, "published": 1_700_000_000})).await;
    let show = format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa");
    // Redirecting needs somewhere to go.
    let r = app.call(Method::PUT, &show, Some(&t), Some(json!({"redirect": true}))).await;
    assert_eq!((r.status, r.code().as_str(), r.json()["error"]["params"]["field"].as_str()), (StatusCode::BAD_REQUEST, "show.redirect_without_url", Some("redirect")));
    // First step: the feed announces its new home, and is still served.
    let new_home = "https://new-host.example.com/shows/test/feed.xml";
    assert_eq!(app.call(Method::PUT, &show, Some(&t), Some(json!({"new_feed_url": new_home}))).await.status, StatusCode::NO_CONTENT);
    assert_eq!(build(&app, &t, &prod, "").await.status, StatusCode::CREATED);
    let xml = published(&app, "leaving_show").await;
    assert!(xml.contains(&format!("<itunes:new-feed-url>{new_home}</itunes:new-feed-url>")), "{xml}");
    let enclosure = xml.split("<enclosure url=\"").nth(1).and_then(|r| r.split('"').next()).expect("an enclosure").replace("&amp;", "&");
    // Then: 301 to it, for GET and HEAD, as soon as the build is published.
    assert_eq!(app.call(Method::PUT, &show, Some(&t), Some(json!({"redirect": true}))).await.status, StatusCode::NO_CONTENT);
    assert_eq!(build(&app, &t, &prod, "").await.status, StatusCode::CREATED);
    for method in [Method::GET, Method::HEAD] {
        let r = app.call(method.clone(), "/feeds/leaving_show/feed.xml", None, None).await;
        assert_eq!((r.status, r.header("location")), (StatusCode::MOVED_PERMANENTLY, new_home), "{method}");
    }
    // Rolling back to the build before the redirect serves that feed again; a new build redirects.
    let r = app.call(Method::POST, "/a/v1/build/rollback", Some(&t), Some(json!({ "production": prod }))).await;
    assert!(r.status.is_success(), "{}", String::from_utf8_lossy(&r.body));
    assert!(published(&app, "leaving_show").await.contains("new-feed-url"));
    assert_eq!(build(&app, &t, &prod, "").await.status, StatusCode::CREATED);
    assert_eq!(app.call(Method::GET, "/feeds/leaving_show/feed.xml", None, None).await.status, StatusCode::MOVED_PERMANENTLY);
    // Enclosures keep working for the apps that downloaded the old feed.
    let path = enclosure.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned())).expect("a path");
    let r = app.call(Method::GET, &path, None, None).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 4096), "{path}");
    // Coming back: redirect off, the next build serves the feed again.
    assert_eq!(app.call(Method::PUT, &show, Some(&t), Some(json!({"redirect": false, "new_feed_url": null}))).await.status, StatusCode::NO_CONTENT);
    assert_eq!(build(&app, &t, &prod, "").await.status, StatusCode::CREATED);
    assert!(!published(&app, "leaving_show").await.contains("new-feed-url"));
}

#[tokio::test]
async fn the_feed_is_served_gzip_or_brotli_as_asked_and_a_new_build_shows_at_once() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "compressed_feed").await;
    full_show(&app, &t, &prod).await;
    build(&app, &t, &prod, "").await;
    let get = |encoding: Option<&str>| {
        let mut req = Request::get("/feeds/compressed_feed/feed.xml");
        if let Some(e) = encoding {
            req = req.header("accept-encoding", e);
        }
        app.send(req.body(Body::empty()).unwrap())
    };
    let plain = get(None).await;
    assert_eq!((plain.status, plain.header("content-encoding")), (StatusCode::OK, ""));
    assert_eq!(plain.header("vary"), "Accept-Encoding");
    let gz = get(Some("gzip, deflate")).await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.body.as_ref()), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain.body.as_ref(), "gzip decodes to the feed");
    let br = get(Some("gzip, deflate, br")).await;
    assert_eq!(br.header("content-encoding"), "br");
    let mut unbrotlied = Vec::new();
    brotli::BrotliDecompress(&mut br.body.as_ref(), &mut unbrotlied).unwrap();
    assert_eq!(unbrotlied, plain.body.as_ref(), "brotli decodes to the feed");
    assert!(br.body.len() < gz.body.len() && gz.body.len() < plain.body.len(), "{} {} {}", br.body.len(), gz.body.len(), plain.body.len());
    assert_eq!(gz.header("content-length"), gz.body.len().to_string());
    // One ETag per representation; each revalidates only itself.
    let (e_plain, e_gz) = (plain.header("etag").to_owned(), gz.header("etag").to_owned());
    assert_ne!(e_plain, e_gz);
    let again = app.send(Request::get("/feeds/compressed_feed/feed.xml").header("accept-encoding", "gzip").header("if-none-match", &e_gz).body(Body::empty()).unwrap()).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let other = app.send(Request::get("/feeds/compressed_feed/feed.xml").header("if-none-match", &e_gz).body(Body::empty()).unwrap()).await;
    assert_eq!(other.status, StatusCode::OK, "the gzip ETag does not validate the plain feed");
    let head = app.send(Request::head("/feeds/compressed_feed/feed.xml").header("accept-encoding", "br").body(Body::empty()).unwrap()).await;
    assert_eq!((head.header("content-length"), head.body.is_empty()), (br.body.len().to_string().as_str(), true));
    // A new build is what the next request gets, compressed anew.
    app.call(Method::PUT, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(&t), Some(json!({"title": "Renamed Show"}))).await;
    app.clock.advance(5);
    build(&app, &t, &prod, "").await;
    let fresh = get(Some("gzip")).await;
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(fresh.body.as_ref()), &mut text).unwrap();
    assert!(String::from_utf8_lossy(&text).contains("Renamed Show"));
    assert_ne!(fresh.header("etag"), e_gz);
}

#[tokio::test]
async fn a_scheduled_episode_appears_by_itself_when_it_comes_due() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "scheduled_show").await;
    full_show(&app, &t, &prod).await;
    let a = probed_asset(&app, &t, &prod, 10.0).await;
    let due = app.clock.now() + 3600;
    episode(&app, &t, &prod, "000000000001", json!({"title": "Tomorrow's news", "published": due, "enclosure": a})).await;
    build(&app, &t, &prod, "").await;
    assert!(!published(&app, "scheduled_show").await.contains("Tomorrow's news"));
    assert_eq!(app.state.podops.next_scheduled().await.unwrap(), Some(due));
    assert!(app.state.podops.run_due_builds().await.unwrap().is_empty(), "not due yet");
    app.clock.advance(3600);
    let done = app.state.podops.run_due_builds().await.unwrap();
    assert_eq!(done.len(), 1);
    assert!(published(&app, "scheduled_show").await.contains("Tomorrow&apos;s news"));
    assert_eq!(app.state.podops.next_scheduled().await.unwrap(), None);
}

#[tokio::test]
async fn ten_edits_of_a_published_show_make_one_rebuild() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "edited_show").await;
    full_show(&app, &t, &prod).await;
    build(&app, &t, &prod, "").await;
    for i in 0..10 {
        let r = app.call(Method::PUT, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(&t), Some(json!({"title": format!("Title {i}")}))).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    let done = app.state.podops.run_due_builds().await.unwrap();
    assert_eq!(done.len(), 1, "ten edits, one build");
    assert!(published(&app, "edited_show").await.contains("<title>Title 9</title>"));
    assert!(app.state.podops.run_due_builds().await.unwrap().is_empty());
    assert_eq!(app.state.podops.builds(&Guid::parse(&prod).unwrap()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn rollback_restores_the_previous_feed_exactly() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "rolled_back").await;
    full_show(&app, &t, &prod).await;
    let r = app.call(Method::POST, "/a/v1/build/rollback", Some(&t), Some(json!({"production": prod}))).await;
    assert_eq!(r.code(), "build.nothing_to_roll_back");
    build(&app, &t, &prod, "").await;
    let good = published(&app, "rolled_back").await;
    app.call(Method::PUT, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(&t), Some(json!({"title": "Oops"}))).await;
    app.clock.advance(5);
    build(&app, &t, &prod, "").await;
    assert!(published(&app, "rolled_back").await.contains("Oops"));
    let r = app.call(Method::POST, "/a/v1/build/rollback", Some(&t), Some(json!({"production": prod}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(published(&app, "rolled_back").await, good);
    let r = app.call(Method::POST, "/a/v1/build/rollback", Some(&t), Some(json!({"production": prod}))).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn hostile_text_survives_every_parser() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "hostile_text").await;
    let nasty = "Tom & Jerry <script>alert(\"x\")</script> ]]> 'q' \u{7}\u{1b} 🎙️ مرحبا بالعالم עברית";
    // Control characters are dropped; feedparser also collapses runs of spaces.
    let clean = "Tom & Jerry <script>alert(\"x\")</script> ]]> 'q' 🎙️ مرحبا بالعالم עברית";
    let norm = |v: &Value| v.as_str().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    app.call(Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(&t), Some(json!({
        "title": nasty, "description": nasty, "language": "ar", "category": "Comedy", "author": nasty,
        "owner": {"name": nasty, "email": "a@example.com"}, "image": "https://example.com/a.png?x=1&y=\"2\""}))).await;
    let a = probed_asset(&app, &t, &prod, 5.0).await;
    episode(&app, &t, &prod, "000000000001", json!({"title": nasty, "summary": nasty, "content": format!("<p>{nasty}</p>"),
        "published": app.clock.now() - 5, "enclosure": a, "tracks": [{"artist": nasty, "title": "]]>", "offset": 0}]})).await;
    let r = build(&app, &t, &prod, "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let truth = ground_truth(&published(&app, "hostile_text").await);
    assert_valid(&truth);
    assert_eq!(norm(&truth["feedparser"]["title"]), clean);
    assert_eq!(norm(&truth["feedparser"]["items"][0]["title"]), clean);
    assert_eq!(norm(&truth["podcastparser"]["episodes"][0]["title"]), clean);
    assert_eq!(truth["feedparser"]["image"], "https://example.com/a.png?x=1&y=\"2\"");
}

#[tokio::test]
async fn a_feed_of_1000_episodes_passes_the_parsers() {
    let app = app();
    let t = app.token("alice", BUILD);
    let prod = app.production(&t, "thousand_eps").await;
    full_show(&app, &t, &prod).await;
    let a = probed_asset(&app, &t, &prod, 1800.0).await;
    let now = app.clock.now();
    // Written straight to the store: 1,000 POSTs would test the API, not the feed.
    let records = &app.state.podops.records;
    for i in 1..=1000u32 {
        let ep = json!({"guid": format!("{i:012x}"), "parent_guid": prod, "kind": "episode", "created": now, "updated": now, "version": 1,
            "title": format!("Episode {i}"), "published": now - i64::from(i) * 3600, "episode": i, "season": 1 + i / 100,
            "enclosure": a, "duration": 1800});
        let key = Key::new(format!("PROD#{prod}"), format!("EPISODE#{i:012x}"));
        records.create(&Record { key, version: podops_core::domain::Version(1), body: ep, expires_at: None }).await.unwrap();
    }
    let r = build(&app, &t, &prod, "").await;
    assert_eq!(r.json()["episodes"], 1000);
    let truth = ground_truth(&published(&app, "thousand_eps").await);
    assert_valid(&truth);
    assert_eq!(truth["podcastparser"]["episodes"].as_array().unwrap().len(), 1000);
    assert_eq!(truth["feedparser"]["items"][0]["title"], "Episode 1");
    assert_eq!(truth["feedparser"]["items"][999]["title"], "Episode 1000");
}
