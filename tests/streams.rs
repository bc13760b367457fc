//! Live streams through a real `podops serve` (its in-process worker runs
//! FFmpeg): resources and their bad input, secrets that never leak, and the
//! outputs read back by ffprobe as a listener — the server's own HLS, an
//! Icecast 2 and an nginx-rtmp on loopback, started by `scripts/test`
//! (`PODOPS_TEST_ICECAST`, `PODOPS_TEST_ICECAST_PASSWORD`, `PODOPS_TEST_RTMP`).

mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use podops_core::live::redact::percent_encode_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::Server;

struct Api<'a> {
    server: &'a Server,
    token: String,
    prod: String,
}

impl<'a> Api<'a> {
    async fn new(server: &'a Server, name: &str) -> Api<'a> {
        let token = server.admin_token();
        let r = server.http.post(server.url("/a/v1/production")).bearer_auth(&token).json(&json!({"name": name, "title": "Live"})).send().await.expect("production");
        assert_eq!(r.status(), StatusCode::CREATED);
        let prod = r.json::<Value>().await.expect("json")["guid"].as_str().expect("guid").to_owned();
        Api { server, token, prod }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.server.http.request(method, self.server.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn create(&self, kind: &str, id: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, &format!("/a/v1/resource/{}/{kind}/{id}", self.prod), Some(body)).await
    }

    async fn control(&self, id: &str, action: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, &format!("/a/v1/stream/{}/{id}/{action}", self.prod), None).await
    }

    async fn status(&self, id: &str) -> Value {
        self.send(reqwest::Method::GET, &format!("/a/v1/stream/{}/{id}/status", self.prod), None).await.1
    }

    /// Polls the status until `pred` holds; panics with the last status after `limit`.
    async fn wait_status(&self, id: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> (Value, Duration) {
        let started = Instant::now();
        loop {
            let s = self.status(id).await;
            if pred(&s) {
                return (s, started.elapsed());
            }
            assert!(started.elapsed() < limit, "status never matched within {limit:?}: {s}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn receiver(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run the suite with ./scripts/test, which starts the receivers"))
}

/// ffprobe as a listener: `(codec, sample_rate, channels)` of the first audio stream.
fn probe(url: &str) -> (String, u64, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "15000000", "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "json", url])
        .output()
        .expect("ffprobe");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let s = &v["streams"][0];
    let rate = s["sample_rate"].as_str().and_then(|r| r.parse().ok()).unwrap_or(0);
    (s["codec_name"].as_str().unwrap_or("").to_owned(), rate, s["channels"].as_u64().unwrap_or(0))
}

fn profile_mp3() -> Value {
    json!({"name": "talk", "format": "mp3", "bitrate": 64000, "sample_rate": 44100, "channels": 1, "hls_segment_seconds": 2})
}

#[tokio::test]
async fn bad_stream_input_is_refused_with_a_code_and_nothing_is_written() {
    let server = Server::start(&["--workers", "0"]).await;
    let api = Api::new(&server, "live_bad_input").await;
    let other = Api::new(&server, "live_other_prod").await;

    let (s, e) = api.create("profile", "aaaaaaaaaaa1", json!({"format": "flac", "bitrate": 128000, "sample_rate": 44100, "channels": 2})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("profile.bitrate")));
    let (s, e) = api.create("profile", "aaaaaaaaaaa1", json!({"format": "opus", "bitrate": 64000, "sample_rate": 44100, "channels": 2})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("profile.sample_rate")));
    assert_eq!(api.create("profile", "aaaaaaaaaaa2", profile_mp3()).await.0, StatusCode::CREATED);
    assert_eq!(api.create("profile", "aaaaaaaaaaa3", json!({"format": "flac", "sample_rate": 48000, "channels": 2})).await.0, StatusCode::CREATED);

    let tone = json!({"tone": {"frequency": 440}});
    let cases = [
        (json!({"profile": "bbbbbbbbbbbb", "input": tone, "outputs": [{"kind": "hls"}]}), StatusCode::UNPROCESSABLE_ENTITY, "stream.profile_missing"),
        (json!({"profile": "aaaaaaaaaaa2", "input": tone, "outputs": [{"kind": "icecast", "url": "file:///etc/passwd", "password": "x"}]}), StatusCode::BAD_REQUEST, "stream.forbidden_scheme"),
        (json!({"profile": "aaaaaaaaaaa2", "input": tone, "outputs": [{"kind": "icecast", "url": "icecast://127.0.0.1:8000/live", "password": "x"}]}), StatusCode::BAD_REQUEST, "stream.forbidden_address"),
        (json!({"profile": "aaaaaaaaaaa2", "input": tone, "outputs": [{"kind": "rtmp", "url": "rtmp://192.168.1.10/live", "stream_key": "k"}]}), StatusCode::BAD_REQUEST, "stream.forbidden_address"),
        (json!({"profile": "aaaaaaaaaaa3", "input": tone, "outputs": [{"kind": "icecast", "url": "icecast://example.com:8000/live", "password": "x"}]}), StatusCode::UNPROCESSABLE_ENTITY, "stream.profile_unsupported"),
        (json!({"profile": "aaaaaaaaaaa2", "input": {"playlist": "cccccccccccc"}, "outputs": [{"kind": "hls"}]}), StatusCode::UNPROCESSABLE_ENTITY, "stream.playlist_missing"),
        (json!({"profile": "aaaaaaaaaaa2", "input": {"url": "http://10.1.2.3/live.mp3"}, "outputs": [{"kind": "hls"}]}), StatusCode::BAD_REQUEST, "stream.forbidden_address"),
    ];
    for (body, status, code) in cases {
        let (s, e) = api.create("stream", "dddddddddddd", body.clone()).await;
        assert_eq!((s, e["error"]["code"].as_str()), (status, Some(code)), "{body}");
        let (s, _) = api.send(reqwest::Method::GET, &format!("/a/v1/resource/{}/stream/dddddddddddd", api.prod), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "nothing is written for {body}");
    }

    // Another production's asset, and a failed asset, are refused in a playlist.
    let upload = other.server.http.post(server.url(&format!("/a/v1/upload/{}?filename=t.wav", other.prod))).bearer_auth(&other.token)
        .header("content-type", "audio/wav").body(support::tone_wav()).send().await.expect("upload");
    let foreign = upload.json::<Value>().await.expect("json")["guid"].as_str().expect("guid").to_owned();
    let (s, e) = api.create("playlist", "eeeeeeeeeee1", json!({"title": "p", "items": [{"asset": foreign}]})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("playlist.asset_missing")));

    // An empty playlist cannot go on air.
    assert_eq!(api.create("playlist", "eeeeeeeeeee2", json!({"title": "empty", "items": []})).await.0, StatusCode::CREATED);
    assert_eq!(api.create("stream", "ffffffffff01", json!({"profile": "aaaaaaaaaaa2", "input": {"playlist": "eeeeeeeeeee2"}, "outputs": [{"kind": "hls"}]})).await.0, StatusCode::CREATED);
    let (s, e) = api.control("ffffffffff01", "start").await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("stream.playlist_empty")));
    let (s, e) = api.control("ffffffffff01", "pause").await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("stream.not_running")));
    assert_eq!(api.status("ffffffffff01").await["state"], "idle");
}

#[tokio::test]
async fn secrets_are_write_only_and_masked_everywhere() {
    let server = Server::start(&["--workers", "0"]).await;
    let api = Api::new(&server, "live_secrets").await;
    api.create("profile", "aaaaaaaaaaa2", profile_mp3()).await;
    let secret = "hunter/%2F-very-secret-9876";
    let body = json!({"title": "Simulcast", "profile": "aaaaaaaaaaa2", "input": {"tone": {"frequency": 440}},
        "outputs": [{"kind": "icecast", "url": "icecast://icecast.example.com:8000/live", "password": secret},
                    {"kind": "rtmp", "url": "rtmp://live.example.com/app", "stream_key": "sk-live-1234567890abcd"}]});
    let (s, created) = api.create("stream", "ab00000000a1", body).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["outputs"][0]["password"], "••••9876");
    assert_eq!(created["outputs"][1]["stream_key"], "••••abcd");

    // A client PUTs back what it read: the stored secrets stay.
    let path = format!("/a/v1/resource/{}/stream/ab00000000a1", api.prod);
    let (_, read) = api.send(reqwest::Method::GET, &path, None).await;
    let (s, _) = api.send(reqwest::Method::PUT, &path, Some(json!({"title": "Renamed", "outputs": read["outputs"]}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, preview) = api.send(reqwest::Method::POST, "/a/v1/ffmpeg/preview", Some(json!({"production": api.prod, "stream": "ab00000000a1"}))).await;
    let argv = preview["commands"][1]["argv"].as_array().expect("argv");
    let at = argv.iter().position(|a| a == "-password").expect("-password");
    assert_eq!(argv[at + 1], "••••", "{preview}");
    assert!(preview["commands"][2]["argv"].as_array().expect("argv").last().expect("url").as_str().expect("str").ends_with("/app/••••"));

    // Duplicate keeps the secrets (shown masked alike).
    let (s, copy) = api.send(reqwest::Method::POST, &format!("/a/v1/stream/{}/ab00000000a1/duplicate", api.prod), None).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(copy["outputs"][0]["password"], "••••9876");
    assert_eq!(copy["state"], "idle");

    // A masked value that stands for nothing stored is refused.
    let (s, e) = api.create("stream", "ab00000000a2", json!({"profile": "aaaaaaaaaaa2", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "rtmp", "url": "rtmp://live.example.com/app", "stream_key": "••••abcd"}]})).await;
    assert_eq!(s, StatusCode::CREATED, "a new stream takes any key: {e}");
    let everything = [created.to_string(), read.to_string(), preview.to_string(), copy.to_string()].join("\n");
    for form in [secret.to_owned(), percent_encode_all(secret), "sk-live-1234567890abcd".to_owned()] {
        assert!(!everything.contains(&form), "secret form {form} leaked");
    }
}

/// Frequencies heard, one per `window` seconds, from mono s16le PCM (zero crossings).
fn frequencies(pcm: &[u8], rate: usize, window: f64) -> Vec<u32> {
    let samples: Vec<i16> = pcm.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let n = (rate as f64 * window) as usize;
    samples
        .chunks(n)
        .filter(|w| w.len() == n)
        .map(|w| {
            let loud = w.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0) > 1000;
            let crossings = w.windows(2).filter(|p| (p[0] < 0) != (p[1] < 0)).count();
            if loud { ((crossings as f64 / 2.0 / window) / 50.0).round() as u32 * 50 } else { 0 }
        })
        .collect()
}

/// Listens to an Icecast mount for `secs` seconds and returns the heard frequencies.
fn listen(url: &str, secs: u32) -> Vec<u32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-rw_timeout", "15000000", "-i", url, "-t", &secs.to_string(), "-ac", "1", "-ar", "8000", "-f", "s16le", "pipe:1"])
        .output()
        .expect("ffmpeg listener");
    frequencies(&out.stdout, 8000, 0.5)
}

fn tone_file(freq: u32, secs: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("t.mp3");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", &format!("sine=frequency={freq}:duration={secs}:sample_rate=44100"), "-c:a", "libmp3lame", "-b:a", "96k"])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(ok.success());
    std::fs::read(path).expect("read")
}

#[tokio::test]
async fn one_stream_goes_to_hls_icecast_and_rtmp_and_obeys_pause_stop_and_restart() {
    let icecast = receiver("PODOPS_TEST_ICECAST");
    let password = receiver("PODOPS_TEST_ICECAST_PASSWORD");
    let rtmp = receiver("PODOPS_TEST_RTMP");
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--allow-address", "127.0.0.1"], log.path()).await;
    let api = Api::new(&server, "live_outputs").await;
    api.create("profile", "aaaaaaaaaaa2", profile_mp3()).await;

    // A playlist of three tones, looped: heard in order on the listener's side.
    let mut items = Vec::new();
    for f in [400, 800, 1600] {
        let r = server.http.post(server.url(&format!("/a/v1/upload/{}?filename=t{f}.mp3", api.prod))).bearer_auth(&api.token)
            .header("content-type", "audio/mpeg").body(tone_file(f, 3)).send().await.expect("upload");
        items.push(json!({"asset": r.json::<Value>().await.expect("json")["guid"], "title": format!("{f} Hz")}));
    }
    for item in &items {
        let path = format!("/a/v1/resource/{}/asset/{}", api.prod, item["asset"].as_str().expect("id"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.send(reqwest::Method::GET, &path, None).await.1["state"] != "ready" {
            assert!(Instant::now() < deadline, "asset never probed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(api.create("playlist", "eeeeeeeeeee1", json!({"title": "tones", "items": items})).await.0, StatusCode::CREATED);
    let mount = format!("podops-{}.mp3", &api.prod[..6]);
    let key = format!("key{}", &api.prod[..6]);
    let (s, e) = api.create("stream", "ab00000000b1", json!({"title": "Live", "profile": "aaaaaaaaaaa2", "input": {"playlist": "eeeeeeeeeee1"}, "loop": true,
        "outputs": [{"kind": "hls"}, {"kind": "icecast", "url": format!("icecast://{icecast}/{mount}"), "password": password},
                    {"kind": "rtmp", "url": format!("rtmp://{rtmp}/live"), "stream_key": key}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, started) = api.control("ab00000000b1", "start").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    let (status, took) = api.wait_status("ab00000000b1", Duration::from_secs(30), |s| s["state"] == "running" && s["outputs"].as_array().is_some_and(|o| o.iter().all(|o| o["state"] == "live"))).await;
    eprintln!("running after {took:?}: {status}");
    assert!(status["health"].as_u64().unwrap_or(0) > 50, "{status}");

    // Each output, read by a listener, carries the profile.
    let listen_url = status["outputs"][1]["url"].as_str().expect("icecast listen url").to_owned();
    assert_eq!(probe(&listen_url), ("mp3".to_owned(), 44100, 1));
    assert_eq!(probe(&format!("rtmp://{rtmp}/live/{key}")), ("mp3".to_owned(), 44100, 1));
    let hls = status["outputs"][0]["url"].as_str().expect("hls url").to_owned();
    assert!(hls.ends_with(&format!("/live/live_outputs/ab00000000b1/index.m3u8")), "{hls}");
    // The window is 6 segments of 2 s: after 16 s the media sequence has moved.
    let sequence = |text: &str| text.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).and_then(|n| n.trim().parse::<u64>().ok()).expect("media sequence");
    let first = server.http.get(&hls).send().await.expect("playlist").text().await.expect("text");
    tokio::time::sleep(Duration::from_secs(16)).await;
    let second = server.http.get(&hls).send().await.expect("playlist").text().await.expect("text");
    assert!(sequence(&second) > sequence(&first), "the live playlist advances:\n{first}\n{second}");
    assert!(!second.contains("#EXT-X-ENDLIST"));
    let segment = second.lines().filter(|l| l.ends_with(".ts")).last().expect("a segment");
    let seg_url = hls.replace("index.m3u8", segment);
    assert_eq!(probe(&seg_url), ("mp3".to_owned(), 44100, 1), "segment {seg_url} decodes");

    // The three tones in order, and again (looped): 3 s each, heard on Icecast.
    let heard: Vec<u32> = listen(&listen_url, 14).into_iter().filter(|f| *f > 0).collect();
    let mut order: Vec<u32> = Vec::new();
    for f in heard {
        let near = [400, 800, 1600].into_iter().find(|t| (f64::from(f) - f64::from(*t)).abs() < f64::from(*t) * 0.1);
        if let Some(t) = near {
            if order.last() != Some(&t) {
                order.push(t);
            }
        }
    }
    let joined = order.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    assert!(joined.contains("400,800,1600") || joined.contains("800,1600,400") || joined.contains("1600,400,800"), "heard {joined}");
    assert!(order.len() >= 4, "the playlist loops: heard {joined}");

    // Pause keeps the outputs connected (silence), resume, restart, stop: each within 5 s.
    api.control("ab00000000b1", "pause").await;
    let (_, took) = api.wait_status("ab00000000b1", Duration::from_secs(5), |s| s["state"] == "paused").await;
    eprintln!("paused after {took:?}");
    // A new listener first gets Icecast's burst (seconds of what was played before the pause).
    let quiet = listen(&listen_url, 14);
    assert!(quiet.len() >= 20 && quiet[quiet.len() - 4..].iter().all(|f| *f == 0), "paused stream is silent but connected: {quiet:?}");
    api.control("ab00000000b1", "resume").await;
    api.wait_status("ab00000000b1", Duration::from_secs(5), |s| s["state"] == "running").await;
    let before = api.status("ab00000000b1").await;
    api.control("ab00000000b1", "restart").await;
    api.wait_status("ab00000000b1", Duration::from_secs(5), |s| s["state"] != "running" || s["out_time"].as_f64() < before["out_time"].as_f64()).await;
    api.wait_status("ab00000000b1", Duration::from_secs(20), |s| s["state"] == "running").await;
    let (s, e) = api.send(reqwest::Method::DELETE, &format!("/a/v1/resource/{}/stream/ab00000000b1", api.prod), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("stream.running")));
    api.control("ab00000000b1", "stop").await;
    let (_, took) = api.wait_status("ab00000000b1", Duration::from_secs(8), |s| s["state"] == "stopped").await;
    eprintln!("stopped after {took:?}");
    assert!(took <= Duration::from_secs(5) + Duration::from_millis(1500), "stop took {took:?}");

    // The logs say what happened; nothing in them or the server's log holds the password.
    let (_, logs) = api.send(reqwest::Method::GET, &format!("/a/v1/stream/{}/ab00000000b1/logs?limit=1000", api.prod), None).await;
    let text = logs.to_string();
    assert!(text.contains("playing item 1 of 3") && text.contains("stop requested"), "{logs}");
    let server_log = std::fs::read_to_string(log.path()).expect("server log");
    for form in [password.clone(), percent_encode_all(&password)] {
        assert!(!text.contains(&form) && !server_log.contains(&form), "the password leaked");
    }
}

#[tokio::test]
async fn a_wrong_icecast_password_fails_with_a_code_and_leaks_nowhere() {
    let icecast = receiver("PODOPS_TEST_ICECAST");
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--allow-address", "127.0.0.1"], log.path()).await;
    let api = Api::new(&server, "live_wrong_pw").await;
    api.create("profile", "aaaaaaaaaaa2", profile_mp3()).await;
    let wrong = "wr0ng/pass%2Fword-5555";
    let (s, e) = api.create("stream", "ab00000000c1", json!({"profile": "aaaaaaaaaaa2", "input": {"tone": {"frequency": 440}},
        "outputs": [{"kind": "icecast", "url": format!("icecast://{icecast}/wrong.mp3"), "password": wrong}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    api.control("ab00000000c1", "start").await;
    let (status, took) = api.wait_status("ab00000000c1", Duration::from_secs(40), |s| s["state"] == "failed").await;
    eprintln!("failed after {took:?}: {status}");
    assert_eq!(status["last_error"]["code"], "output.auth_failed", "{status}");
    assert!(!status["last_error"]["hint"].as_str().unwrap_or("").is_empty());
    let (_, logs) = api.send(reqwest::Method::GET, &format!("/a/v1/stream/{}/ab00000000c1/logs", api.prod), None).await;
    assert!(logs["lines"].as_array().expect("lines").iter().any(|l| l["code"] == "output.auth_failed"), "{logs}");
    let (_, preview) = api.send(reqwest::Method::POST, "/a/v1/ffmpeg/preview", Some(json!({"production": api.prod, "stream": "ab00000000c1"}))).await;
    let (_, read) = api.send(reqwest::Method::GET, &format!("/a/v1/resource/{}/stream/ab00000000c1", api.prod), None).await;
    let events = server.http.get(server.url(&format!("/a/v1/stream/{}/ab00000000c1/events", api.prod))).bearer_auth(&api.token).send().await.expect("events");
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut sse = String::new();
    let mut body = events;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(2), body.chunk()).await {
        sse.push_str(&String::from_utf8_lossy(&chunk));
        if sse.contains("event: status") {
            break;
        }
    }
    assert!(sse.contains("event: log") && sse.contains("event: status"), "{sse}");
    // Resumed after the last line seen: only what follows (here: the status, no old lines).
    let last = logs["next"].as_u64().expect("next");
    let mut resumed = server.http.get(server.url(&format!("/a/v1/stream/{}/ab00000000c1/events", api.prod))).bearer_auth(&api.token)
        .header("last-event-id", last.to_string()).send().await.expect("events");
    let mut again = String::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(2), resumed.chunk()).await {
        again.push_str(&String::from_utf8_lossy(&chunk));
        if again.contains("event: status") {
            break;
        }
    }
    assert!(again.contains("event: status") && !again.contains("event: log"), "{again}");
    assert!(again.contains(&format!("id: {last}")), "{again}");
    let server_log = std::fs::read_to_string(log.path()).expect("server log");
    let everything = [status.to_string(), logs.to_string(), preview.to_string(), read.to_string(), sse, server_log].join("\n");
    for form in [wrong.to_owned(), percent_encode_all(wrong), percent_encode_all(wrong).to_lowercase()] {
        assert!(!everything.contains(&form), "the password leaked as {form}");
    }
}

#[tokio::test]
async fn a_viewer_reads_streams_and_an_editor_controls_them() {
    let server = Server::start(&["--workers", "0"]).await;
    let api = Api::new(&server, "live_roles").await;
    api.create("profile", "aaaaaaaaaaa2", profile_mp3()).await;
    assert_eq!(api.create("stream", "ab00000000d1", json!({"profile": "aaaaaaaaaaa2", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]})).await.0, StatusCode::CREATED);
    let token_for = |client: &'static str| {
        let api = &api;
        async move {
            let (s, t) = api.send(reqwest::Method::POST, "/_a/token", Some(json!({"client_id": client, "scopes": ["resource:read", "resource:write", "production:read"]}))).await;
            assert_eq!(s, StatusCode::CREATED, "{t}");
            t["token"].as_str().expect("token").to_owned()
        }
    };
    for (client, role) in [("viewer-app", "viewer"), ("editor-app", "editor")] {
        let (s, e) = api.send(reqwest::Method::PUT, &format!("/a/v1/production/{}/member/{client}", api.prod), Some(json!({"role": role}))).await;
        assert!(s.is_success(), "{e}");
    }
    let as_client = |token: String| Api { server: &server, token, prod: api.prod.clone() };
    let viewer = as_client(token_for("viewer-app").await);
    let editor = as_client(token_for("editor-app").await);

    let (s, e) = viewer.control("ab00000000d1", "start").await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("production.forbidden")));
    assert_eq!(viewer.status("ab00000000d1").await["state"], "idle");
    let (s, read) = viewer.send(reqwest::Method::GET, &format!("/a/v1/resource/{}/stream/ab00000000d1", api.prod), None).await;
    assert_eq!((s, read["state"].as_str()), (StatusCode::OK, Some("idle")));
    let (s, _) = viewer.send(reqwest::Method::PUT, &format!("/a/v1/resource/{}/stream/ab00000000d1", api.prod), Some(json!({"title": "mine"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, started) = editor.control("ab00000000d1", "start").await;
    assert_eq!((s, started["desired"].as_str()), (StatusCode::ACCEPTED, Some("running")));
    assert_eq!(editor.status("ab00000000d1").await["state"], "queued", "no worker runs here (--workers 0)");
    let (s, e) = editor.send(reqwest::Method::DELETE, &format!("/a/v1/resource/{}/stream/ab00000000d1", api.prod), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("stream.running")));
    assert_eq!(editor.control("ab00000000d1", "stop").await.0, StatusCode::ACCEPTED);
    assert_eq!(editor.status("ab00000000d1").await["state"], "stopped");
    let (s, _) = editor.send(reqwest::Method::DELETE, &format!("/a/v1/resource/{}/stream/ab00000000d1", api.prod), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "a stopped stream is deleted");
    // Another production's member sees nothing of it.
    let (s, e) = as_client(token_for("stranger-app").await).send(reqwest::Method::GET, &format!("/a/v1/stream/{}/ab00000000d1/status", api.prod), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("production.not_found")));
}

#[tokio::test]
async fn an_hls_source_is_relayed_segment_by_segment_through_the_guard() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--allow-address", "127.0.0.1"], log.path()).await;
    let api = Api::new(&server, "live_hls_relay").await;
    let aac = json!({"format": "aac", "bitrate": 64000, "sample_rate": 44100, "channels": 1, "hls_segment_seconds": 1});
    api.create("profile", "aaaaaaaaaaa3", aac).await;
    // Stream A: a 700 Hz tone, published as HLS by PodOps itself.
    api.create("stream", "ab00000000e1", json!({"profile": "aaaaaaaaaaa3", "input": {"tone": {"frequency": 700}}, "outputs": [{"kind": "hls"}]})).await;
    api.control("ab00000000e1", "start").await;
    let (a, _) = api.wait_status("ab00000000e1", Duration::from_secs(30), |s| s["state"] == "running").await;
    let a_hls = a["outputs"][0]["url"].as_str().expect("url").to_owned();
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Stream B relays A's HLS (a loopback address: allowed by --allow-address) to its own HLS.
    let (s, e) = api.create("stream", "ab00000000e2", json!({"profile": "aaaaaaaaaaa3", "input": {"url": a_hls}, "outputs": [{"kind": "hls"}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    api.control("ab00000000e2", "start").await;
    let (b, _) = api.wait_status("ab00000000e2", Duration::from_secs(30), |s| s["state"] == "running").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let heard: Vec<u32> = listen(b["outputs"][0]["url"].as_str().expect("url"), 4).into_iter().filter(|f| *f > 0).collect();
    assert!(heard.len() >= 3 && heard.iter().all(|f| (650..=750).contains(f)), "B plays A's tone: {heard:?}");
    let (_, logs) = api.send(reqwest::Method::GET, &format!("/a/v1/stream/{}/ab00000000e2/logs", api.prod), None).await;
    assert!(logs.to_string().contains("HLS playlist"), "{logs}");
    api.control("ab00000000e2", "stop").await;
    api.control("ab00000000e1", "stop").await;
}
