//! Feed benchmark (issue 5): a production with 10,000 episodes on the embedded
//! backend. Measures the pure render, the whole build from records to the
//! published file, peak memory, and `cat` of the same bytes as the floor.
//!
//!     cargo bench --bench feed_build

use std::{process::Command, sync::Arc, time::Instant};

use podops_adapters::embedded::{FsBlobs, SqliteDb, SqliteJobs, SqliteRecords};
use podops_core::{
    domain::{ClientId, Episode, Guid, NewProduction, ProductionName, Scopes, Show, Version},
    feed::rss,
    ports::{Clock, Key, Record, Records, SystemClock},
    service::{Caller, MediaRules, Podops, Publishing},
    signing::Signer,
};
use serde_json::json;

const EPISODES: u32 = 10_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM")).and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = b"bench-secret-bench-secret-bench-secret";
    let signer = Signer::derive(secret, "media");
    let db = SqliteDb::open(&dir.path().join("podops.db")).expect("db");
    let records = Arc::new(SqliteRecords::new(db.clone()));
    let public = Arc::new(FsBlobs::new(dir.path().join("public"), signer.clone(), "http://127.0.0.1:8080".into()).expect("public"));
    let podops = Podops::new(
        records.clone(),
        Arc::new(FsBlobs::new(dir.path().join("media"), signer.clone(), "http://127.0.0.1:8080".into()).expect("media")),
        Arc::new(SqliteJobs::new(db, "jobs", 5)),
        Arc::new(SystemClock),
        secret,
        MediaRules::default(),
    )
    .with_publishing(Publishing { public, feed_base_url: "http://127.0.0.1:8080".into(), rebuild_delay: 30 });
    let caller = Caller::new(ClientId::parse("bench").unwrap(), Scopes::parse("admin").unwrap());
    let production = podops
        .create_production(&caller, NewProduction { name: ProductionName::parse("ten_thousand").unwrap(), title: "T".into(), summary: String::new() })
        .await
        .expect("production");
    let prod = production.guid.clone();
    let now = SystemClock.now();
    let pk = format!("PROD#{prod}");
    let write = |sort: String, body: serde_json::Value| {
        let records = records.clone();
        let key = Key::new(pk.clone(), sort);
        async move { records.create(&Record { key, version: Version(1), body, expires_at: None }).await.expect("seed") }
    };
    write("SHOW#aaaaaaaaaaaa".into(), json!({"guid": "aaaaaaaaaaaa", "parent_guid": prod, "kind": "show", "created": now, "updated": now, "version": 1,
        "title": "Ten Thousand", "description": "A long-running show.", "language": "en", "category": "Technology", "author": "A",
        "owner": {"name": "A", "email": "a@example.com"}, "image": "https://example.com/art.jpg"})).await;
    write("ASSET#bbbbbbbbbbbb".into(), json!({"guid": "bbbbbbbbbbbb", "parent_guid": prod, "kind": "asset", "created": now, "updated": now, "version": 1,
        "name": "ep.mp3", "content_type": "audio/mpeg", "rel": "external", "source": "https://cdn.example.com/ep.mp3", "size": 51_000_000, "state": "ready"})).await;
    for i in 1..=EPISODES {
        write(format!("EPISODE#{i:012x}"), json!({"guid": format!("{i:012x}"), "parent_guid": prod, "kind": "episode", "created": now, "updated": now, "version": 1,
            "title": format!("Episode {i}: a title of ordinary length"), "summary": "A summary of a paragraph or so, which most shows write for each episode.",
            "published": now - i64::from(i) * 3600, "season": 1 + i / 100, "episode": i, "enclosure": "bbbbbbbbbbbb", "duration": 3212,
            "tracks": [{"artist": "Beirut", "title": "Elephant Gun", "offset": 754}]})).await;
    }

    // The pure render, on inputs already in memory.
    let show: Show = serde_json::from_value(json!({"title": "Ten Thousand", "description": "d", "language": "en", "category": "Technology"})).unwrap();
    let episodes: Vec<(Guid, Episode)> = (1..=EPISODES)
        .map(|i| {
            let e: Episode = serde_json::from_value(json!({"title": format!("Episode {i}: a title of ordinary length"),
                "summary": "A summary of a paragraph or so, which most shows write for each episode.", "published": now - i64::from(i) * 3600,
                "season": 1 + i / 100, "episode": i, "duration": 3212})).unwrap();
            (Guid::parse(&format!("{i:012x}")).unwrap(), e)
        })
        .collect();
    let feed_url = "http://127.0.0.1:8080/feeds/ten_thousand/feed.xml";
    let mut render_ms = Vec::new();
    let mut xml = String::new();
    for _ in 0..20 {
        let t = Instant::now();
        let items: Vec<rss::Item<'_>> = episodes
            .iter()
            .map(|(g, e)| rss::Item {
                production: &prod, guid: g, episode: e,
                enclosure: rss::Media { url: "https://cdn.example.com/ep.mp3", length: 51_000_000, content_type: "audio/mpeg", bitrate: None },
                alternates: Vec::new(), duration: Some(3212), image_url: None,
                chapters_url: Some("http://127.0.0.1:8080/feeds/ten_thousand/chapters/000000000001.json"), transcript_url: None,
            })
            .collect();
        xml = rss::render(&rss::Channel { show: &show, feed_url, image_url: Some("https://example.com/art.jpg"), built_at: now, live: Vec::new(), hubs: Vec::new() }, &items);
        render_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    // The whole build: records → feed + 10,000 chapters files → published.
    let mut build_ms = Vec::new();
    let mut published = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = podops.build_feed(&prod, false).await.expect("build");
        build_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        published = out.bytes;
        assert_eq!(out.episodes, EPISODES as usize);
    }
    // And the same build once the chapters files exist is what a rebuild costs; the first one wrote them.

    // The floor: `cat` of the published bytes.
    let feed_path = dir.path().join("public/objects/feeds/ten_thousand/feed.xml");
    let mut cat_ms = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let status = Command::new("cat").arg(&feed_path).stdout(std::process::Stdio::null()).status().expect("cat");
        assert!(status.success());
        cat_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (r, b, c) = (median(render_ms), median(build_ms), median(cat_ms));
    println!("episodes: {EPISODES}; feed: {} bytes rendered, {published} bytes published", xml.len());
    println!("render (pure, median of 20):             {r:8.2} ms   (target <= 50 ms)");
    println!("full build, records -> published (med 5): {b:8.2} ms   (target <= 500 ms)");
    println!("cat of the published feed (median of 20): {c:8.2} ms   (render / cat = {:.1}x)", r / c);
    println!("peak RSS of the whole benchmark process:  {:8.1} MiB", peak_rss_mib());
}
