//! Streams that survive what goes wrong, for real: the worker process running
//! a stream is SIGKILLed again and again (another worker takes the stream
//! over within 30 s, and there are never two FFmpegs for it), and a relayed
//! source that drops and comes back.

mod support;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{binary, call, terminate, Server};
use tokio::io::AsyncWriteExt;

fn worker(data_dir: &Path) -> Child {
    worker_with(data_dir, 2)
}

fn worker_with(data_dir: &Path, max_streams: usize) -> Child {
    Command::new(binary())
        .args(["worker", "--log-format", "json", "--grace", "5", "--allow-address", "127.0.0.1", "--max-streams", &max_streams.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn podops worker")
}

async fn setup(server: &Server, name: &str, stream: Value) -> (String, String) {
    let token = server.admin_token();
    let (_, p) = call(server, &token, reqwest::Method::POST, "/a/v1/production", Some(json!({"name": name, "title": "Failover"}))).await;
    let prod = p["guid"].as_str().expect("guid").to_owned();
    let profile = json!({"format": "aac", "bitrate": 64000, "sample_rate": 44100, "channels": 1, "hls_segment_seconds": 1});
    assert_eq!(call(server, &token, reqwest::Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(profile)).await.0, StatusCode::CREATED);
    let (s, e) = call(server, &token, reqwest::Method::POST, &format!("/a/v1/resource/{prod}/stream/abcdefabcdef"), Some(stream)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    assert_eq!(call(server, &token, reqwest::Method::POST, &format!("/a/v1/stream/{prod}/abcdefabcdef/start"), None).await.0, StatusCode::ACCEPTED);
    (token, prod)
}

async fn status(server: &Server, token: &str, prod: &str) -> Value {
    call(server, token, reqwest::Method::GET, &format!("/a/v1/stream/{prod}/abcdefabcdef/status"), None).await.1
}

/// PIDs of FFmpeg encoders (they read PCM from stdin) working for the stream.
fn encoders_for(stream: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let is_ffmpeg = args.first().is_some_and(|a| a.ends_with("ffmpeg"));
        // A zombie (killed, not yet reaped) has an empty cmdline and is skipped.
        if is_ffmpeg && args.iter().any(|a| a == "pipe:0") && args.iter().any(|a| a.contains(&format!("/{stream}-"))) {
            out.push(pid);
        }
    }
    out
}

fn worker_pid(status: &Value) -> Option<u32> {
    status["worker"].as_str()?.split('-').next()?.parse().ok()
}

#[tokio::test]
async fn a_stream_survives_its_worker_being_killed_ten_times() {
    // Logs to a file: a piped stderr nobody reads would fill and block the server.
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "0", "--allow-address", "127.0.0.1"], log.path()).await;
    let data_dir = server.data_dir.path().to_owned();
    let mut workers: Vec<Child> = vec![worker(&data_dir), worker(&data_dir)];
    let (token, prod) = setup(&server, "failover_kill", json!({"title": "24/7", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]})).await;

    let hls = server.url("/live/failover_kill/abcdefabcdef/index.m3u8");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut current = loop {
        let s = status(&server, &token, &prod).await;
        if s["state"] == "running" {
            break s;
        }
        assert!(Instant::now() < deadline, "never running: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut worst = Duration::ZERO;
    for round in 1..=10 {
        let victim = worker_pid(&current).expect("a worker holds the stream");
        let reconnects = current["reconnects"].as_u64().unwrap_or(0);
        let index = workers.iter().position(|w| w.id() == victim).expect("the holder is one of our workers");
        let mut doomed = workers.remove(index);
        doomed.kill().expect("SIGKILL");
        let _ = doomed.wait();
        let killed = Instant::now();
        workers.push(worker(&data_dir));
        // Until another worker holds it: never two encoders for the stream.
        current = loop {
            let encoders = encoders_for("abcdefabcdef");
            assert!(encoders.len() <= 1, "round {round}: two encoders at once: {encoders:?}");
            let s = status(&server, &token, &prod).await;
            if s["state"] == "running" && worker_pid(&s).is_some_and(|p| p != victim) {
                break s;
            }
            assert!(killed.elapsed() < Duration::from_secs(30), "round {round}: not taken over within 30 s: {s}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        worst = worst.max(killed.elapsed());
        assert_eq!(current["reconnects"].as_u64(), Some(reconnects + 1), "round {round}: the takeover is counted");
        eprintln!("round {round}: taken over by {} after {:?}", current["worker"], killed.elapsed());
    }
    eprintln!("worst takeover: {worst:?}");
    // The outputs go on: the public playlist is served and advancing.
    let first = server.http.get(&hls).send().await.expect("hls").text().await.expect("text");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let second = server.http.get(&hls).send().await.expect("hls").text().await.expect("text");
    assert_ne!(first, second, "the HLS playlist advances after the takeovers");
    call(&server, &token, reqwest::Method::POST, &format!("/a/v1/stream/{prod}/abcdefabcdef/stop"), None).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&server, &token, &prod).await["state"] != "stopped" {
        assert!(Instant::now() < deadline, "never stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(encoders_for("abcdefabcdef").is_empty(), "no FFmpeg left after stop");
    for w in workers {
        terminate(w);
    }
}

/// An endless MP3 "live source" on loopback: the same file over and over.
/// Aborting it drops the connections too (they live in its `JoinSet`).
async fn serve_source(listener: tokio::net::TcpListener, mp3: Vec<u8>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { return };
        let mp3 = mp3.clone();
        connections.spawn(async move {
            let mut request = vec![0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
            if socket.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n").await.is_err() {
                return;
            }
            // Paced like a live source (64 kbit/s = 8,000 bytes a second).
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for piece in mp3.chunks(800).cycle() {
                tick.tick().await;
                if socket.write_all(piece).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test]
async fn a_relayed_source_that_drops_reconnects_and_comes_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("src.mp3");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", "sine=frequency=500:duration=20", "-c:a", "libmp3lame", "-b:a", "64k"])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(ok.success());
    let mp3 = std::fs::read(&path).expect("mp3");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let source = tokio::spawn(serve_source(listener, mp3.clone()));

    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--allow-address", "127.0.0.1"], log.path()).await;
    let (token, prod) = setup(&server, "failover_source", json!({"title": "Relay", "profile": "aaaaaaaaaaa1", "input": {"url": format!("http://{addr}/live.mp3")}, "outputs": [{"kind": "hls"}]})).await;
    let wait_for = |want: &'static str, limit: u64| {
        let (server, token, prod) = (&server, token.clone(), prod.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(limit);
            loop {
                let s = status(server, &token, &prod).await;
                if s["state"] == want {
                    return s;
                }
                assert!(Instant::now() < deadline, "never {want}: {s}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait_for("running", 30).await;
    // Kill the source: the listener and every connection.
    source.abort();
    let _ = source.await;
    let dropped = wait_for("reconnecting", 30).await;
    assert!(dropped["last_error"]["code"].as_str().is_some_and(|c| c.starts_with("source.")), "{dropped}");
    assert!(dropped["outputs"][0]["state"] == "live", "the output stays connected (silence): {dropped}");
    // It comes back on the same address.
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let back = tokio::spawn(serve_source(listener, mp3));
    let again = wait_for("running", 90).await;
    assert!(again["reconnects"].as_u64().unwrap_or(0) >= 1, "{again}");
    assert!(again["last_error"]["code"].as_str().is_some_and(|c| c.starts_with("source.")), "{again}");
    back.abort();
}

#[tokio::test]
async fn a_worker_at_capacity_leaves_streams_to_another() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "0"], log.path()).await;
    let data_dir = server.data_dir.path().to_owned();
    let workers = [worker_with(&data_dir, 1), worker_with(&data_dir, 1)];
    let (token, prod) = setup(&server, "capacity_two", json!({"profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]})).await;
    let second = json!({"profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 880}}, "outputs": [{"kind": "hls"}]});
    assert_eq!(call(&server, &token, reqwest::Method::POST, &format!("/a/v1/resource/{prod}/stream/abcdefabcde2"), Some(second)).await.0, StatusCode::CREATED);
    assert_eq!(call(&server, &token, reqwest::Method::POST, &format!("/a/v1/stream/{prod}/abcdefabcde2/start"), None).await.0, StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(40);
    let holders = loop {
        let mut holders = Vec::new();
        for id in ["abcdefabcdef", "abcdefabcde2"] {
            let (_, s) = call(&server, &token, reqwest::Method::GET, &format!("/a/v1/stream/{prod}/{id}/status"), None).await;
            if s["state"] == "running" {
                holders.extend(worker_pid(&s));
            }
        }
        if holders.len() == 2 {
            break holders;
        }
        assert!(Instant::now() < deadline, "both streams never ran: {holders:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_ne!(holders[0], holders[1], "each worker (--max-streams 1) runs one stream");
    for w in workers {
        terminate(w);
    }
}
