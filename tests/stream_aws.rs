//! Live streams on the AWS backend (moto): `podops serve --backend aws` is the
//! API only, and `podops worker --backend aws` — its own process, as on the
//! ECS service — runs the stream; stop, pause and restart reach it through
//! DynamoDB within 5 s, and the HLS output lands in the public bucket.

mod support;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::json;
use support::{aws::provision_fresh, call, Server};

/// `podops serve --backend aws` with no worker of its own, and a `podops worker --backend aws`
/// process beside it (as on the ECS service), on a freshly provisioned moto. The temp files
/// live as long as the caller keeps them.
async fn api_and_worker() -> (Server, Child, tempfile::NamedTempFile, tempfile::TempDir) {
    let (_, flags) = provision_fresh();
    let log = tempfile::NamedTempFile::new().expect("log");
    let mut args = vec!["--backend", "aws", "--workers", "0"];
    args.extend(flags.iter().map(String::as_str));
    let server = Server::start_logging_to(&args, log.path()).await;
    let worker_dir = tempfile::tempdir().expect("worker dir");
    let worker = Command::new(support::binary())
        .args(["worker", "--backend", "aws", "--grace", "5", "--log-format", "json"])
        .args(&flags)
        .arg("--data-dir")
        .arg(worker_dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn podops worker");
    (server, worker, log, worker_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_aws_obeys_stop_pause_and_restart_within_five_seconds() {
    let (server, worker, _log, _worker_dir) = api_and_worker().await;

    let token = server.admin_token();
    let (_, p) = call(&server, &token, reqwest::Method::POST, "/a/v1/production", Some(json!({"name": "live_on_aws", "title": "Live"}))).await;
    let prod = p["guid"].as_str().expect("guid").to_owned();
    let profile = json!({"format": "aac", "bitrate": 64000, "sample_rate": 44100, "channels": 2, "hls_segment_seconds": 2});
    assert_eq!(call(&server, &token, reqwest::Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(profile)).await.0, StatusCode::CREATED);
    let stream = json!({"title": "Rehearsal", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 660}}, "outputs": [{"kind": "hls"}]});
    assert_eq!(call(&server, &token, reqwest::Method::POST, &format!("/a/v1/resource/{prod}/stream/abcdefabcde1"), Some(stream)).await.0, StatusCode::CREATED);

    let control = |action: &'static str| {
        let (server, token, prod) = (&server, token.clone(), prod.clone());
        async move {
            let (s, body) = call(server, &token, reqwest::Method::POST, &format!("/a/v1/stream/{prod}/abcdefabcde1/{action}"), None).await;
            assert_eq!(s, StatusCode::ACCEPTED, "{action}: {body}");
            Instant::now()
        }
    };
    let wait = |want: &'static str, limit: u64| {
        let (server, token, prod) = (&server, token.clone(), prod.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(limit);
            loop {
                let (_, s) = call(server, &token, reqwest::Method::GET, &format!("/a/v1/stream/{prod}/abcdefabcde1/status"), None).await;
                if s["state"] == want {
                    return s;
                }
                assert!(Instant::now() < deadline, "never {want} within {limit} s: {s}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };

    control("start").await;
    let running = wait("running", 40).await;
    assert!(running["worker"].as_str().is_some(), "{running}");

    // The HLS output is published to the public bucket and served from there.
    let hls = running["outputs"][0]["url"].as_str().expect("hls url").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let playlist = loop {
        let r = server.http.get(&hls).send().await.expect("hls");
        if r.status() == StatusCode::OK {
            break r.text().await.expect("text");
        }
        assert!(Instant::now() < deadline, "no playlist in the public bucket");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(playlist.contains("#EXTM3U") && playlist.contains(".ts"), "{playlist}");

    let t = control("pause").await;
    wait("paused", 5).await;
    eprintln!("pause took {:?}", t.elapsed());
    let t = control("resume").await;
    wait("running", 5).await;
    eprintln!("resume took {:?}", t.elapsed());
    // A restart starts a new run: its audio clock starts again from zero.
    let before = wait("running", 5).await["out_time"].as_f64().unwrap_or(0.0);
    let t = control("restart").await;
    loop {
        let (_, s) = call(&server, &token, reqwest::Method::GET, &format!("/a/v1/stream/{prod}/abcdefabcde1/status"), None).await;
        if s["out_time"].as_f64().is_some_and(|o| o < before) || s["state"] == "starting" {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "the restart did not reach the worker within 5 s: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("restart reached the worker after {:?}", t.elapsed());
    wait("running", 20).await;
    let t = control("stop").await;
    wait("stopped", 5).await;
    eprintln!("stop took {:?}", t.elapsed());
    assert!(support::terminate(worker).success(), "the worker exits cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_on_aws_is_joined_from_s3_and_published_by_itself() {
    let (server, worker, _log, _worker_dir) = api_and_worker().await;
    let token = server.admin_token();
    let (_, p) = call(&server, &token, reqwest::Method::POST, "/a/v1/production", Some(json!({"name": "recorded_on_aws", "title": "Live"}))).await;
    let prod = p["guid"].as_str().expect("guid").to_owned();
    let profile = json!({"format": "aac", "bitrate": 64000, "sample_rate": 44100, "channels": 2});
    assert_eq!(call(&server, &token, reqwest::Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(profile)).await.0, StatusCode::CREATED);
    let stream = json!({"title": "Cloud Live", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 550}}, "outputs": [{"kind": "hls"}], "record": true, "publish_recordings": true});
    assert_eq!(call(&server, &token, reqwest::Method::POST, &format!("/a/v1/resource/{prod}/stream/abcdefabcde2"), Some(stream)).await.0, StatusCode::CREATED);
    assert_eq!(call(&server, &token, reqwest::Method::POST, &format!("/a/v1/stream/{prod}/abcdefabcde2/start"), None).await.0, StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(40);
    while call(&server, &token, reqwest::Method::GET, &format!("/a/v1/stream/{prod}/abcdefabcde2/status"), None).await.1["state"] != "running" {
        assert!(Instant::now() < deadline, "never running");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(call(&server, &token, reqwest::Method::POST, &format!("/a/v1/stream/{prod}/abcdefabcde2/stop"), None).await.0, StatusCode::ACCEPTED);
    let played = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(90);
    let recording = loop {
        let (_, list) = call(&server, &token, reqwest::Method::GET, &format!("/a/v1/recordings/{prod}"), None).await;
        if let Some(r) = list["recordings"].as_array().and_then(|l| l.first()).filter(|r| r["state"] == "ready" || r["state"] == "failed") {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "no settled recording: {list}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(recording["state"], "ready", "{recording}");
    let duration = recording["duration"].as_f64().expect("duration");
    assert!(duration >= played - 1.0 && duration <= played + 6.0, "recorded {duration} s of about {played} s");
    let (_, asset) = call(&server, &token, reqwest::Method::GET, &format!("/a/v1/resource/{prod}/asset/{}", recording["asset"].as_str().expect("asset")), None).await;
    assert_eq!((asset["probe"]["codec"].as_str(), asset["probe"]["channels"].as_u64()), (Some("aac"), Some(2)), "{asset}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, page) = call(&server, &token, reqwest::Method::GET, &format!("/a/v1/resource/{prod}/episode"), None).await;
        if let Some(e) = page["items"].as_array().into_iter().flatten().find(|e| e["enclosure"] == recording["asset"]) {
            assert!(e["title"].as_str().expect("title").starts_with("Cloud Live — "), "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "not published by itself: {page}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    support::terminate(worker);
}
