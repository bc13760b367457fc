//! Download analytics through a real `podops serve`: requests for an
//! episode's MP3 through its signed /media URL, as apps, a bot, a probe and a
//! HEAD make them, counted by the IAB method and read back by day, episode
//! and app, as CSV and from `podops stats`.

mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use support::{call, Server};

const OVERCAST: &str = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)";
const APPLE: &str = "Podcasts/1410.53 CFNetwork/1111 Darwin/19.0.0 (x86_64)";
const SPOTIFY: &str = "Spotify/8.7.10 iOS/15.3.1 (iPhone13,2)";
const BOT: &str = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)";

/// Two minutes of a tone as a 128 kb/s MP3 with an ID3 tag (FFmpeg writes one).
fn episode_mp3() -> Vec<u8> {
    support::generated_audio("sine=frequency=440:duration=120", &["-c:a", "libmp3lame", "-b:a", "128k", "-metadata", "title=Counted"], "ep.mp3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_counted_by_the_iab_method_from_what_was_served() {
    let server = Server::start(&["--workers", "2", "--analytics-flush", "1", "--rebuild-delay", "3600"]).await;
    let admin = server.admin_token();
    let (_, p) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "counted_show", "title": "Counted"}))).await;
    let prod = p["guid"].as_str().expect("guid").to_owned();
    let mp3 = episode_mp3();
    let r = server.http.post(server.url(&format!("/a/v1/upload/{prod}?filename=ep.mp3"))).bearer_auth(&admin).header("content-type", "audio/mpeg").body(mp3.clone()).send().await.expect("upload");
    let asset = r.json::<Value>().await.expect("json")["guid"].as_str().expect("asset").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let probe = loop {
        let (_, a) = call(&server, &admin, Method::GET, &format!("/a/v1/resource/{prod}/asset/{asset}"), None).await;
        if a["state"] == "ready" {
            break a["probe"].clone();
        }
        assert!(Instant::now() < deadline, "never probed: {a}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/episode/bbbbbbbbbbb1"), Some(json!({"title": "Counted", "enclosure": asset, "published": support::now() - 60}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    // The signed URL an app gets from the feed (the content route redirects to it).
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = no_redirect.get(server.url(&format!("/a/v1/asset/{prod}/{asset}/content"))).bearer_auth(&admin).send().await.expect("content");
    let url = r.headers()[header::LOCATION].to_str().expect("location").to_owned();
    let url = if url.starts_with('/') { server.url(&url) } else { url };

    let id3 = if &mp3[..3] == b"ID3" { 10 + mp3[6..10].iter().fold(0usize, |n, b| (n << 7) | usize::from(b & 0x7f)) } else { 0 };
    let minute = (probe["bitrate"].as_u64().expect("bitrate") / 8 * 60) as usize;
    let get = |ua: Option<&str>, range: Option<(usize, usize)>| {
        let mut req = server.http.get(&url);
        if let Some(ua) = ua {
            req = req.header(header::USER_AGENT, ua);
        }
        if let Some((s, e)) = range {
            req = req.header(header::RANGE, format!("bytes={s}-{e}"));
        }
        async move {
            let r = req.send().await.expect("get");
            assert!(r.status().is_success(), "{}", r.status());
            r.bytes().await.expect("body").len()
        }
    };
    // Overcast fetches it whole: a download.
    assert_eq!(get(Some(OVERCAST), None).await, mp3.len());
    // Apple Podcasts probes 0-1, then fetches a minute of audio in two overlapping ranges: a download.
    get(Some(APPLE), Some((0, 1))).await;
    get(Some(APPLE), Some((0, id3 + minute / 2))).await;
    get(Some(APPLE), Some((id3 + minute / 3, id3 + minute))).await;
    // Spotify stops a byte short of the minute: no download.
    get(Some(SPOTIFY), Some((0, id3 + minute - 2))).await;
    // A bot, a request without a User-Agent and a HEAD never count.
    get(Some(BOT), None).await;
    get(None, None).await;
    let head = server.http.head(&url).header(header::USER_AGENT, "Pocket Casts").send().await.expect("head");
    assert_eq!(head.status(), StatusCode::OK);

    let deadline = Instant::now() + Duration::from_secs(20);
    let by_app = loop {
        let (s, report) = call(&server, &admin, Method::GET, &format!("/a/v1/analytics/{prod}?by=app"), None).await;
        assert_eq!(s, StatusCode::OK, "{report}");
        if report["totals"]["downloads"] == 2 {
            break report;
        }
        assert!(Instant::now() < deadline, "never counted: {report}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let rows: Vec<(String, u64, u64)> = by_app["rows"].as_array().expect("rows").iter().map(|r| (r["app"].as_str().unwrap_or("").to_owned(), r["downloads"].as_u64().unwrap_or(0), r["listeners"].as_u64().unwrap_or(0))).collect();
    assert_eq!(rows, [("Apple Podcasts".to_owned(), 1, 1), ("Overcast".to_owned(), 1, 1)], "{by_app}");
    assert_eq!(by_app["totals"], json!({"downloads": 2, "listeners": 2}));

    // Fetching again the same day changes nothing: one listener, one episode, one day.
    get(Some(OVERCAST), None).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, by_episode) = call(&server, &admin, Method::GET, &format!("/a/v1/analytics/{prod}?by=episode"), None).await;
    assert_eq!(by_episode["rows"], json!([{"episode": "bbbbbbbbbbb1", "downloads": 2, "listeners": 2}]), "{by_episode}");
    let (_, by_day) = call(&server, &admin, Method::GET, &format!("/a/v1/analytics/{prod}?by=day"), None).await;
    assert_eq!(by_day["rows"].as_array().map(Vec::len), Some(1), "{by_day}");
    assert_eq!((by_day["rows"][0]["downloads"].as_u64(), by_day["rows"][0]["listeners"].as_u64()), (Some(2), Some(2)));

    let csv = server.http.get(server.url(&format!("/a/v1/analytics/{prod}/export"))).bearer_auth(&admin).send().await.expect("csv");
    assert!(csv.headers()[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("text/csv"));
    let csv = csv.text().await.expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "date,episode,app,downloads");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].ends_with(",bbbbbbbbbbb1,\"Apple Podcasts\",1"), "{csv}");

    // From the client.
    let home = tempfile::tempdir().expect("home");
    let out = Command::new(support::binary())
        .args(["stats", "--by", "app", "--production", &prod])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("PODOPS_API", &server.base)
        .env("PODOPS_TOKEN", &admin)
        .output()
        .expect("podops stats");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && printed.contains("Overcast") && printed.contains("2 downloads, 2 listeners"), "{printed}{}", String::from_utf8_lossy(&out.stderr));

    // Bad input, and a stranger.
    let (s, e) = call(&server, &admin, Method::GET, &format!("/a/v1/analytics/{prod}?by=week"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("analytics.by")));
    let (s, e) = call(&server, &admin, Method::GET, &format!("/a/v1/analytics/{prod}?from=27-11-2026"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("analytics.date")));
    let stranger = support::mail::sign_in(&server, "stranger@example.com").await;
    let (s, _) = call(&server, &stranger, Method::GET, &format!("/a/v1/analytics/{prod}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
