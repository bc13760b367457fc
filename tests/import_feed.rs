//! Moving a show in from its RSS feed, through a real `podops serve` and its
//! in-process worker, from a loopback HTTP server standing in for the old
//! host: the feed (written for the purpose, one quirk per item) and its
//! enclosures (real audio). A dry run writes nothing; the import keeps every
//! guid and pubDate; an enclosure that 404s is reported and the rest imported;
//! importing again adds only the new items; what is not a feed fails with a
//! code and leaves nothing behind.

mod support;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{extract::State, http::StatusCode as AxStatus, response::IntoResponse, routing::get, Router};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{call, Server};

fn item(base: &str, n: u32, guid: Option<&str>, date: &str, audio: &str) -> String {
    let files = match n {
        1 => format!("<podcast:transcript url=\"{base}/text/one.vtt\" type=\"text/vtt\"/><podcast:chapters url=\"{base}/text/one-chapters.json\" type=\"application/json+chapters\"/>"),
        3 => format!("<podcast:transcript url=\"{base}/text/gone.srt\" type=\"application/x-subrip\"/>"),
        _ => String::new(),
    };
    item_with(base, n, guid, date, audio, &files)
}

const TRANSCRIPT: &str = "WEBVTT\n\n00:00.000 --> 00:02.000\nHello from the old host.\n";
const CHAPTERS: &str = r#"{"version":"1.2.0","chapters":[{"startTime":0,"title":"Intro","img":"https://old-host.example.com/c1.jpg"},{"startTime":1.5,"title":"Main"}]}"#;

fn item_with(base: &str, n: u32, guid: Option<&str>, date: &str, audio: &str, files: &str) -> String {
    let guid = guid.map(|g| format!("<guid isPermaLink=\"false\">{g}</guid>")).unwrap_or_default();
    format!(
        "<item><title>Episode {n} &amp; friends</title>{guid}<pubDate>{date}</pubDate>\
         <description><![CDATA[<p>Notes for <b>{n}</b></p>]]></description><itunes:duration>0:02</itunes:duration>\
         <itunes:episode>{n}</itunes:episode><enclosure url=\"{base}{audio}?dest-id=7\" length=\"0\" type=\"audio/wav\"/>{files}</item>"
    )
}

fn feed(items: &[String], locked: bool) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\" xmlns:podcast=\"https://podcastindex.org/namespace/1.0\">\
         <channel><title>Moved In</title><link>https://old-host.example.com/</link><language>en</language>\
         <description>A show that moves.</description><itunes:author>Ann</itunes:author><itunes:explicit>no</itunes:explicit>\
         <itunes:owner><itunes:name>Ann</itunes:name><itunes:email>ann@example.com</itunes:email></itunes:owner>\
         <itunes:image href=\"https://old-host.example.com/art.jpg\"/><itunes:category text=\"Technology\"/>\
         <podcast:guid>8c1c8a3b-4d8e-5d0e-9a4e-2f3b1c9d0e11</podcast:guid>{}{}</channel></rss>",
        if locked { "<podcast:locked>yes</podcast:locked>" } else { "" },
        items.join("")
    )
}

struct OldHost {
    base: String,
    wav: Vec<u8>,
}

async fn serve_path(State(host): State<Arc<OldHost>>, uri: axum::http::Uri) -> axum::response::Response {
    let b = &host.base;
    let three = vec![
        item(b, 1, Some("  old-host-guid-1 "), "Tue, 05 Mar 2024 11:00:00 EST", "/audio/one.wav"),
        item(b, 2, None, "5 Mar 2024 18:30:00 GMT", "/audio/two.wav"),
        item(b, 3, Some("tag:old-host,2024:3"), "Wed, 6 Mar 2024 09:00:00 +0100", "/audio/missing.wav"),
    ];
    let xml = |body: String| ([("content-type", "application/rss+xml")], body).into_response();
    match uri.path() {
        "/show.xml" => xml(feed(&three, false)),
        "/show-v2.xml" => {
            let mut four = three.clone();
            four.insert(0, item(b, 4, Some("old-host-guid-4"), "Thu, 07 Mar 2024 10:00:00 PST", "/audio/four.wav"));
            xml(feed(&four, false))
        }
        "/locked.xml" => xml(feed(&three, true)),
        "/big.xml" => xml(feed(&(1..=2000).map(|n| item(b, n + 10, Some(&format!("big-{n}")), "Tue, 05 Mar 2024 11:00:00 GMT", "/audio/one.wav")).collect::<Vec<_>>(), false)),
        "/empty.xml" => xml(feed(&[], false)),
        "/page.html" => ([("content-type", "text/html")], "<!DOCTYPE html><html><head><title>Moved In</title></head><body>Hi</body></html>").into_response(),
        "/laughs.xml" => xml(format!(
            "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><rss><channel><title>&c;</title>{}</channel></rss>",
            three[0]
        )),
        "/xxe.xml" => xml(format!("<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY x SYSTEM \"{b}/secret\">]><rss><channel><title>&x;</title>{}</channel></rss>", three[0])),
        "/garbage.bin" => ([("content-type", "application/octet-stream")], (0..10_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>()).into_response(),
        "/secret" => panic!("an external entity was fetched"),
        "/art.png" => ([("content-type", "image/png")], [b"\x89PNG\r\n\x1a\n".as_slice(), &[0u8; 4096]].concat()).into_response(),
        "/text/one.vtt" => ([("content-type", "text/vtt")], TRANSCRIPT).into_response(),
        "/text/one-chapters.json" => ([("content-type", "application/json+chapters")], CHAPTERS).into_response(),
        p if p.starts_with("/audio/") && p != "/audio/missing.wav" => ([("content-type", "audio/wav")], host.wav.clone()).into_response(),
        _ => AxStatus::NOT_FOUND.into_response(),
    }
}

async fn start_old_host() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let host = Arc::new(OldHost { base: base.clone(), wav: support::tone_wav() });
    let app = Router::new().fallback(get(serve_path)).with_state(host);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, task)
}

async fn import(server: &Server, token: &str, body: Value) -> Value {
    let (s, started) = call(server, token, Method::POST, "/a/v1/import/feed", Some(body.clone())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}: {started}");
    let id = started["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, now) = call(server, token, Method::GET, &format!("/a/v1/import/feed/{id}"), None).await;
        assert_eq!(s, StatusCode::OK, "{now}");
        if now["state"] == "done" || now["state"] == "failed" {
            return now;
        }
        assert!(Instant::now() < deadline, "import never ended: {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn productions(server: &Server, token: &str) -> Vec<String> {
    let (_, list) = call(server, token, Method::GET, "/a/v1/productions", None).await;
    list["items"].as_array().map(|a| a.iter().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_show_moves_in_with_its_guids_dates_and_audio_and_syncs_again() {
    let (base, _host) = start_old_host().await;
    let server = Server::start(&["--workers", "2", "--allow-address", "127.0.0.1", "--rebuild-delay", "3600"]).await;
    let admin = server.admin_token();

    // A dry run reports and writes nothing.
    let dry = import(&server, &admin, json!({"url": format!("{base}/show.xml"), "name": "moved_in_show", "dry_run": true})).await;
    assert_eq!(dry["state"], "done", "{dry}");
    assert_eq!((dry["report"]["items"].as_u64(), dry["report"]["episodes_created"].as_u64(), dry["report"]["title"].as_str()), (Some(3), Some(3), Some("Moved In")));
    assert!(dry["production"].is_null());
    assert!(!productions(&server, &admin).await.contains(&"moved_in_show".to_owned()), "a dry run makes no production");

    let done = import(&server, &admin, json!({"url": format!("{base}/show.xml"), "name": "moved_in_show"})).await;
    assert_eq!(done["state"], "done", "{done}");
    let report = &done["report"];
    assert_eq!((report["show_created"].as_bool(), report["episodes_created"].as_u64()), (Some(true), Some(3)), "{report}");
    let codes: Vec<&str> = report["problems"].as_array().unwrap().iter().filter_map(|p| p["code"].as_str()).collect();
    assert!(codes.contains(&"import.guid_derived"), "{codes:?}");
    let prod = done["production"].as_str().expect("production").to_owned();

    // The audio arrives by the imports' path; the enclosure that 404s fails alone.
    let deadline = Instant::now() + Duration::from_secs(60);
    let assets = loop {
        let (_, list) = call(&server, &admin, Method::GET, &format!("/a/v1/resource/{prod}/asset?limit=100"), None).await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if items.len() == 3 && items.iter().all(|a| a["state"] == "ready" || a["state"] == "failed") {
            break items;
        }
        assert!(Instant::now() < deadline, "imports never settled: {list}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let failed: Vec<&Value> = assets.iter().filter(|a| a["state"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{assets:?}");
    assert!(failed[0]["source"].as_str().is_some_and(|s| s.contains("/audio/missing.wav")) && failed[0]["error"].as_str().is_some_and(|e| e.contains("http")), "{:?}", failed[0]);

    // The published feed keeps the source's guids (trimmed only) and dates.
    let (s, e) = call(&server, &admin, Method::POST, "/a/v1/build", Some(json!({"production": prod}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let published = server.http.get(server.url("/feeds/moved_in_show/feed.xml")).send().await.expect("feed").text().await.expect("text");
    let (ours, _) = podops_core::feed::import::parse(published.as_bytes()).expect("our own feed reads back");
    let by_guid = |g: &str| ours.items.iter().find(|i| i.guid == g).unwrap_or_else(|| panic!("{g} not in the feed: {published}"));
    assert_eq!(by_guid("old-host-guid-1").published, Some(1_709_654_400));
    assert_eq!(by_guid(&format!("{base}/audio/two.wav?dest-id=7")).published, Some(1_709_663_400), "no guid: keyed by the enclosure URL, as apps key it");
    assert_eq!(by_guid("old-host-guid-1").enclosure.as_ref().map(|e| e.content_type.as_str()), Some("audio/wav"));
    assert_eq!(ours.items.len(), 2, "the episode whose audio 404d waits out of the feed");
    assert_eq!(ours.show.podcast_guid.as_deref(), Some("8c1c8a3b-4d8e-5d0e-9a4e-2f3b1c9d0e11"));

    // Transcripts and chapters are copied: the feed links our copies, which hold the old host's bytes.
    let first = by_guid("old-host-guid-1");
    let transcript = first.transcripts.first().map(|(u, _)| u.clone()).expect("a transcript");
    let chapters = first.chapters.clone().expect("chapters");
    for (url, expected) in [(&transcript, TRANSCRIPT), (&chapters, CHAPTERS)] {
        assert!(url.starts_with(&server.base) && !url.contains(&base), "our copy, not the old host's: {url}");
        assert_eq!(server.http.get(url).send().await.expect("copy").text().await.expect("text"), expected);
    }
    assert!(published.contains("type=\"text/vtt\""), "{published}");
    let gone = report["problems"].as_array().unwrap().iter().find(|p| p["guid"] == "tag:old-host,2024:3" && p["message"].as_str().is_some_and(|m| m.starts_with("transcript not copied")));
    assert_eq!(gone.and_then(|p| p["code"].as_str()), Some("import.http_status"), "a file that 404s is reported: {report}");

    // Importing again while the old host still publishes: only the new item.
    let again = import(&server, &admin, json!({"url": format!("{base}/show-v2.xml"), "name": "moved_in_show"})).await;
    assert_eq!((again["report"]["episodes_created"].as_u64(), again["report"]["episodes_existing"].as_u64(), again["report"]["show_created"].as_bool()), (Some(1), Some(3), Some(false)), "{again}");
    let (_, episodes) = call(&server, &admin, Method::GET, &format!("/a/v1/resource/{prod}/episode?limit=100"), None).await;
    assert_eq!(episodes["total"], 4);

    // The CLI does the same, with a progress bar on a terminal and the report at the end.
    let home = tempfile::tempdir().expect("home");
    let cli = |args: &[&str]| {
        std::process::Command::new(support::binary())
            .args(args)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("PODOPS_API", &server.base)
            .env("PODOPS_TOKEN", &admin)
            .env_remove("PODOPS_PROFILE")
            .env_remove("PODOPS_PRODUCTION")
            .output()
            .expect("run podops")
    };
    let out = cli(&["import-feed", &format!("{base}/show-v2.xml"), "--name", "moved_in_show", "--output", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!((printed["state"].as_str(), printed["report"]["episodes_existing"].as_u64()), (Some("done"), Some(4)), "{printed}");
    let out = cli(&["import-feed", &format!("{base}/locked.xml"), "--name", "locked_show_cli"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("import.locked"), "{}", String::from_utf8_lossy(&out.stderr));

    // Another user sees neither the import nor the production.
    let stranger = support::mail::sign_in(&server, "stranger@example.com").await;
    let (s, _) = call(&server, &stranger, Method::GET, &format!("/a/v1/import/feed/{}", done["id"].as_str().unwrap()), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = call(&server, &stranger, Method::POST, "/a/v1/import/feed", Some(json!({"url": format!("{base}/show.xml"), "name": "moved_in_show"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("production.name_taken")));
}

/// The same move on the AWS backend (moto): `podops serve --backend aws` queues, a separate
/// `podops worker --backend aws` (as on ECS) fetches the feed and the audio into S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_show_moves_in_on_aws_through_sqs_dynamodb_and_s3() {
    let (base, _host) = start_old_host().await;
    let (_, flags) = support::aws::provision_fresh();
    let mut args = vec!["--backend", "aws", "--workers", "0", "--allow-address", "127.0.0.1"];
    args.extend(flags.iter().map(String::as_str));
    let server = Server::start(&args).await;
    let _worker = support::aws::start_worker(&flags, &["--allow-address", "127.0.0.1"]);
    let admin = server.admin_token();
    let done = import(&server, &admin, json!({"url": format!("{base}/show.xml"), "name": "moved_in_aws"})).await;
    assert_eq!((done["state"].as_str(), done["report"]["episodes_created"].as_u64()), (Some("done"), Some(3)), "{done}");
    let prod = done["production"].as_str().expect("production").to_owned();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, list) = call(&server, &admin, Method::GET, &format!("/a/v1/resource/{prod}/asset?limit=100"), None).await;
        let states: Vec<&str> = list["items"].as_array().map(|a| a.iter().filter_map(|x| x["state"].as_str()).collect()).unwrap_or_default();
        if states.iter().filter(|s| **s == "ready").count() == 2 && states.contains(&"failed") {
            break;
        }
        assert!(Instant::now() < deadline, "imports never settled on AWS: {states:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (s, e) = call(&server, &admin, Method::POST, "/a/v1/build", Some(json!({"production": prod}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let published = server.http.get(server.url("/feeds/moved_in_aws/feed.xml")).send().await.expect("feed").text().await.expect("text");
    assert!(published.contains("<guid isPermaLink=\"false\">old-host-guid-1</guid>"), "{published}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_feed_fails_with_a_code_and_leaves_nothing() {
    let (base, _host) = start_old_host().await;
    let server = Server::start(&["--workers", "2", "--allow-address", "127.0.0.1"]).await;
    let admin = server.admin_token();
    for (path, code) in [
        ("/page.html", "import.not_rss"),
        ("/art.png", "import.not_xml"),
        ("/garbage.bin", "import.not_xml"),
        ("/empty.xml", "import.no_items"),
        ("/laughs.xml", "import.doctype"),
        ("/xxe.xml", "import.doctype"),
        ("/locked.xml", "import.locked"),
        ("/nothing-here.xml", "import.http_status"),
    ] {
        let name = format!("bad_{}", path.trim_start_matches('/').replace(['.', '-'], "_"));
        let ended = import(&server, &admin, json!({"url": format!("{base}{path}"), "name": name})).await;
        assert_eq!((ended["state"].as_str(), ended["error"]["code"].as_str()), (Some("failed"), Some(code)), "{path}: {ended}");
        assert!(!productions(&server, &admin).await.contains(&name), "{path}: a failed import leaves no production");
    }
    // Refused before anything is queued: a scheme that is not http(s), a name that is not one.
    for (body, code) in [
        (json!({"url": "file:///etc/passwd"}), "import.forbidden_scheme"),
        (json!({"url": "http://169.254.169.254/latest/meta-data/feed.xml", "name": "bad_metadata"}), "import.forbidden_address"),
        (json!({"url": format!("{base}/show.xml"), "name": "No Spaces"}), "name.length"),
        (json!({"url": format!("{base}/show.xml"), "extra": 1}), "body.invalid_field"),
    ] {
        let (s, e) = call(&server, &admin, Method::POST, "/a/v1/import/feed", Some(body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert!(e["error"]["code"].as_str().is_some_and(|c| c == code || c.starts_with("name.")), "{body}: {e}");
    }
}

/// The 8-digit code of the newest ownership mail to `to` in the server's outbox.
async fn ownership_code(server: &Server, to: &str, count: usize) -> String {
    let outbox = server.data_dir.path().join("outbox");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut files: Vec<_> = std::fs::read_dir(&outbox).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        files.sort();
        let mine: Vec<String> = files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).filter(|t| t.contains(&format!("To: {to}")) && t.contains("is yours is ")).collect();
        if mine.len() >= count {
            let text = mine.last().expect("one").replace("=\r\n", "").replace("=\n", "");
            return text.split("is yours is ").nth(1).map(|r| r.chars().take_while(char::is_ascii_digit).collect()).unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "no ownership mail to {to}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_feed_moves_only_with_the_code_mailed_to_its_owner() {
    let (base, _host) = start_old_host().await;
    let server = Server::start(&["--workers", "2", "--allow-address", "127.0.0.1"]).await;
    let admin = server.admin_token();
    let url = format!("{base}/locked.xml");

    let first = import(&server, &admin, json!({"url": url, "name": "locked_owned"})).await;
    assert_eq!((first["state"].as_str(), first["error"]["code"].as_str()), (Some("failed"), Some("import.locked")), "{first}");
    assert!(first["error"]["message"].as_str().is_some_and(|m| m.contains("a•••@example.com")), "{first}");
    assert!(!productions(&server, &admin).await.contains(&"locked_owned".to_owned()));
    let code = ownership_code(&server, "ann@example.com", 1).await;
    assert_eq!(code.len(), 8);

    let wrong = if code == "00000000" { "11111111" } else { "00000000" };
    let refused = import(&server, &admin, json!({"url": url, "name": "locked_owned", "ownership_code": wrong})).await;
    assert_eq!(refused["error"]["code"], "import.ownership_code_invalid", "{refused}");
    // The code is bound to who asked for it: another user cannot use it.
    let stranger = support::mail::sign_in(&server, "stranger@example.com").await;
    let theirs = import(&server, &stranger, json!({"url": url, "name": "locked_stolen", "ownership_code": code})).await;
    assert_eq!(theirs["error"]["code"], "import.ownership_code_invalid", "{theirs}");

    let done = import(&server, &admin, json!({"url": url, "name": "locked_owned", "ownership_code": code})).await;
    assert_eq!((done["state"].as_str(), done["report"]["episodes_created"].as_u64()), (Some("done"), Some(3)), "{done}");
    let again = import(&server, &admin, json!({"url": url, "name": "locked_owned", "ownership_code": code})).await;
    assert_eq!(again["error"]["code"], "import.ownership_code_invalid", "a code works once: {again}");

    let (s, e) = call(&server, &admin, Method::POST, "/a/v1/import/feed", Some(json!({"url": url, "ownership_code": "12ab"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("import.ownership_code_format")));
}

/// A feed of 2,000 items is read in batches from the worker's scratch file:
/// every item counted, the report cut at 500 entries and saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_feed_is_read_item_by_item_and_its_report_stays_small() {
    let (base, _host) = start_old_host().await;
    let server = Server::start(&["--workers", "2", "--allow-address", "127.0.0.1"]).await;
    let admin = server.admin_token();
    let dry = import(&server, &admin, json!({"url": format!("{base}/big.xml"), "dry_run": true})).await;
    let report = &dry["report"];
    assert_eq!((dry["state"].as_str(), report["items"].as_u64(), report["episodes_created"].as_u64()), (Some("done"), Some(2000), Some(2000)), "{report}");
    assert_eq!((report["episodes"].as_array().map(Vec::len), report["truncated"].as_bool()), (Some(500), Some(true)));
    assert_eq!(report["episodes"][499]["guid"], "big-500", "in feed order");
}
