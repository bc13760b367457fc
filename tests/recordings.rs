//! Recordings that become episodes, for real: a stream with `record: true`
//! is recorded in closed segments by the worker's FFmpeg; when it stops, the
//! segments are joined into an asset (`rel: recording`) that is probed like
//! an upload, listed at `/a/v1/recordings`, and published as an episode by
//! hand or by itself (`publish_recordings`). A worker SIGKILLed mid-recording
//! loses only the segment it was writing.

mod support;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{binary, call, terminate, Server};

async fn production(server: &Server, token: &str, name: &str) -> String {
    let (s, p) = call(server, token, Method::POST, "/a/v1/production", Some(json!({"name": name, "title": "Recorded"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let prod = p["guid"].as_str().expect("guid").to_owned();
    let profile = json!({"name": "talk", "format": "mp3", "bitrate": 64000, "sample_rate": 44100, "channels": 1});
    let (s, e) = call(server, token, Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(profile)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    prod
}

async fn stream(server: &Server, token: &str, prod: &str, id: &str, body: Value) {
    let (s, e) = call(server, token, Method::POST, &format!("/a/v1/resource/{prod}/stream/{id}"), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
}

async fn control(server: &Server, token: &str, prod: &str, id: &str, action: &str) {
    let (s, e) = call(server, token, Method::POST, &format!("/a/v1/stream/{prod}/{id}/{action}"), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{action}: {e}");
}

async fn wait_state(server: &Server, token: &str, prod: &str, id: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, s) = call(server, token, Method::GET, &format!("/a/v1/stream/{prod}/{id}/status"), None).await;
        if s["state"] == state {
            return;
        }
        assert!(Instant::now() < deadline, "stream {id} never {state}: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The recording of `stream` once it is ready (or failed).
async fn settled_recording(server: &Server, token: &str, prod: &str, stream: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (s, list) = call(server, token, Method::GET, &format!("/a/v1/recordings/{prod}"), None).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        let found = list["recordings"].as_array().expect("recordings").iter().find(|r| r["stream"] == stream).cloned();
        if let Some(r) = found.filter(|r| r["state"] == "ready" || r["state"] == "failed") {
            return r;
        }
        assert!(Instant::now() < deadline, "no settled recording of {stream}: {list}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn episodes(server: &Server, token: &str, prod: &str) -> Vec<Value> {
    let (s, page) = call(server, token, Method::GET, &format!("/a/v1/resource/{prod}/episode"), None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"].as_array().expect("items").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_stream_becomes_an_asset_and_an_episode() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "1"], log.path()).await;
    let token = server.admin_token();
    let prod = production(&server, &token, "recorded_show").await;
    let tone = |title: &str, publish: bool| {
        json!({"title": title, "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}], "record": true, "publish_recordings": publish})
    };
    stream(&server, &token, &prod, "bbbbbbbbbbb1", tone("Friday Live", false)).await;
    stream(&server, &token, &prod, "bbbbbbbbbbb2", tone("Night Shift", true)).await;
    // Publishing recordings without recording them is refused, and nothing is stored.
    let (s, e) = call(&server, &token, Method::POST, &format!("/a/v1/resource/{prod}/stream/bbbbbbbbbbb3"), Some(json!({"title": "x", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}], "publish_recordings": true}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("stream.publish_without_record")), "{e}");

    for id in ["bbbbbbbbbbb1", "bbbbbbbbbbb2"] {
        control(&server, &token, &prod, id, "start").await;
    }
    for id in ["bbbbbbbbbbb1", "bbbbbbbbbbb2"] {
        wait_state(&server, &token, &prod, id, "running").await;
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(14)).await;
    for id in ["bbbbbbbbbbb1", "bbbbbbbbbbb2"] {
        control(&server, &token, &prod, id, "stop").await;
    }
    let played = started.elapsed().as_secs_f64();

    let one = settled_recording(&server, &token, &prod, "bbbbbbbbbbb1").await;
    assert_eq!(one["state"], "ready", "{one}");
    let duration = one["duration"].as_f64().expect("probed duration");
    // All of it: from the start (a little before "running") to the stop.
    assert!(duration >= played - 1.0 && duration <= played + 6.0, "recorded {duration} s of about {played} s");
    let asset = one["asset"].as_str().expect("asset").to_owned();
    let (_, a) = call(&server, &token, Method::GET, &format!("/a/v1/resource/{prod}/asset/{asset}"), None).await;
    assert_eq!((a["rel"].as_str(), a["source"].as_str()), (Some("recording"), Some("stream:bbbbbbbbbbb1")), "{a}");
    assert_eq!((a["probe"]["codec"].as_str(), a["probe"]["sample_rate"].as_u64(), a["probe"]["channels"].as_u64()), (Some("mp3"), Some(44100), Some(1)), "{a}");
    assert_eq!(a["recorded"]["stream"], "bbbbbbbbbbb1");
    // The joined bytes are the asset's content.
    let r = server.http.get(server.url(&format!("/a/v1/asset/{prod}/{asset}/content"))).bearer_auth(&token).send().await.expect("content");
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.expect("bytes");
    assert_eq!(Some(bytes.len() as u64), a["size"].as_u64());
    // The segments are gone from the store once joined.
    let segments = server.data_dir.path().join(format!("media/objects/recordings/{prod}"));
    let left: Vec<_> = walk(&segments);
    assert!(left.is_empty(), "segments left after the join: {left:?}");

    // Not published by itself; published by hand with the episode fields given.
    assert!(episodes(&server, &token, &prod).await.iter().all(|e| e["enclosure"] != asset.as_str()));
    let (s, e) = call(&server, &token, Method::POST, &format!("/a/v1/recordings/{prod}/{asset}/publish"), Some(json!({"season": 0}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("field.range")), "{e}");
    let before = episodes(&server, &token, &prod).await.len();
    let (s, episode) = call(&server, &token, Method::POST, &format!("/a/v1/recordings/{prod}/{asset}/publish"), Some(json!({"summary": "The replay of Friday's show."}))).await;
    assert_eq!(s, StatusCode::CREATED, "{episode}");
    assert_eq!(episode["enclosure"], asset.as_str());
    assert!(episode["title"].as_str().expect("title").starts_with("Friday Live — "), "{episode}");
    assert_eq!(episode["summary"], "The replay of Friday's show.");
    assert!(episode["published"].as_i64().is_some());
    assert_eq!(episodes(&server, &token, &prod).await.len(), before + 1);
    // Only recordings are published here.
    let (s, e) = call(&server, &token, Method::POST, &format!("/a/v1/recordings/{prod}/abcabcabcabc/publish"), Some(json!({}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");

    // `publish_recordings`: the episode appears by itself, titled with the stream and the date.
    let two = settled_recording(&server, &token, &prod, "bbbbbbbbbbb2").await;
    assert_eq!(two["state"], "ready", "{two}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let auto = loop {
        if let Some(e) = episodes(&server, &token, &prod).await.into_iter().find(|e| e["enclosure"] == two["asset"]) {
            break e;
        }
        assert!(Instant::now() < deadline, "the recording was not published by itself");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(auto["title"].as_str().expect("title").starts_with("Night Shift — "), "{auto}");
    assert_eq!(auto["duration"].as_u64(), Some(two["duration"].as_f64().expect("duration").round() as u64), "{auto}");
    // The audit log names who published it.
    let (_, audit) = call(&server, &token, Method::GET, &format!("/a/v1/audit/{prod}?action=episode.create"), None).await;
    assert!(audit["items"].as_array().into_iter().flatten().any(|e| e["actor"]["client"] == "recorder"), "{audit}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn worker(data_dir: &Path) -> Child {
    Command::new(binary())
        .args(["worker", "--log-format", "json", "--grace", "5", "--max-streams", "2"])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn podops worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_recording_keeps_every_closed_segment() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "0"], log.path()).await;
    let data_dir = server.data_dir.path().to_owned();
    let token = server.admin_token();
    let prod = production(&server, &token, "recorded_crash").await;
    stream(&server, &token, &prod, "ddddddddddd1", json!({"title": "Marathon", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 220}}, "outputs": [{"kind": "hls"}], "record": true})).await;
    let mut doomed = worker(&data_dir);
    control(&server, &token, &prod, "ddddddddddd1", "start").await;
    wait_state(&server, &token, &prod, "ddddddddddd1", "running").await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    doomed.kill().expect("SIGKILL");
    let _ = doomed.wait();
    let killed_after = 25.0;
    // Stopped while its worker is dead; another worker ends the run once the lease runs out.
    control(&server, &token, &prod, "ddddddddddd1", "stop").await;
    let other = worker(&data_dir);
    let rec = settled_recording(&server, &token, &prod, "ddddddddddd1").await;
    assert_eq!(rec["state"], "ready", "{rec}");
    let duration = rec["duration"].as_f64().expect("duration");
    // Two closed 10 s segments at least (25 s played); never more than was played.
    assert!((20.0..=killed_after + 2.0).contains(&duration), "kept {duration} s of {killed_after} s");
    let (_, status) = call(&server, &token, Method::GET, &format!("/a/v1/stream/{prod}/ddddddddddd1/status"), None).await;
    assert_eq!(status["state"], "stopped", "{status}");
    terminate(other);
}
