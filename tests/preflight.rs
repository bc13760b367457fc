//! Preflight and dry run of a stream, for real: the checks run on the worker
//! with the real FFmpeg against the real receivers Icecast 2 and nginx-rtmp
//! (started by ./scripts/test), a relayed source on loopback, and the guard
//! that keeps FFmpeg off private addresses.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{call, free_port, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn receiver(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run the suite with ./scripts/test, which starts the receivers"))
}

async fn setup(server: &Server, name: &str, sample_rate: u32) -> (String, String) {
    let token = server.admin_token();
    let (_, p) = call(server, &token, Method::POST, "/a/v1/production", Some(json!({"name": name, "title": "Preflight"}))).await;
    let prod = p["guid"].as_str().expect("guid").to_owned();
    let profile = json!({"format": "mp3", "bitrate": 128000, "sample_rate": sample_rate, "channels": 2});
    let (s, e) = call(server, &token, Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(profile)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    (token, prod)
}

async fn stream(server: &Server, token: &str, prod: &str, id: &str, body: Value) {
    let (s, e) = call(server, token, Method::POST, &format!("/a/v1/resource/{prod}/stream/{id}"), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
}

/// `POST …/preflight`, waiting for the report.
async fn preflight(server: &Server, token: &str, prod: &str, id: &str) -> Value {
    let started = Instant::now();
    let (s, report) = call(server, token, Method::POST, &format!("/a/v1/stream/{prod}/{id}/preflight"), None).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["state"], "done", "{report}");
    assert!(started.elapsed() < Duration::from_secs(25), "a preflight takes at most ~20 s: {:?}", started.elapsed());
    report
}

fn find<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["checks"].as_array().expect("checks").iter().filter(|c| c["code"] == code).collect()
}

/// A loopback source: `/live.mp3` is MP3 (mono 44.1 kHz, 64 kbit/s), `/locked.mp3` asks for a
/// password, `/redirect.mp3` sends to the cloud metadata address, anything else is a web page.
async fn serve(listener: tokio::net::TcpListener, mp3: Vec<u8>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { return };
        let mp3 = mp3.clone();
        tokio::spawn(async move {
            let mut request = vec![0u8; 4096];
            let n = socket.read(&mut request).await.unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or_default().to_owned();
            let (head, body): (&str, Vec<u8>) = if line.contains(" /live.mp3 ") {
                ("HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n", mp3)
            } else if line.contains(" /redirect.mp3 ") {
                ("HTTP/1.0 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n", Vec::new())
            } else if line.contains(" /locked.mp3 ") {
                ("HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"radio\"\r\nContent-Length: 0\r\n\r\n", Vec::new())
            } else {
                ("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n", b"<html><body>not a radio</body></html>".repeat(200))
            };
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
        });
    }
}

fn mp3_tone() -> Vec<u8> {
    support::generated_audio("sine=frequency=500:duration=20:sample_rate=44100", &["-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k"], "src.mp3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_outputs_are_green_and_a_refused_login_or_connect_is_red() {
    let icecast = receiver("PODOPS_TEST_ICECAST");
    let password = receiver("PODOPS_TEST_ICECAST_PASSWORD");
    let rtmp = receiver("PODOPS_TEST_RTMP");
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--allow-address", "127.0.0.1"], log.path()).await;
    let (token, prod) = setup(&server, "preflight_outputs", 44100).await;
    let mount = format!("preflight-{}.mp3", &prod[..6]);
    stream(&server, &token, &prod, "bbbbbbbbbbb1", json!({"title": "Good", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}},
        "outputs": [{"kind": "hls"}, {"kind": "icecast", "url": format!("icecast://{icecast}/{mount}"), "password": password}, {"kind": "rtmp", "url": format!("rtmp://{rtmp}/live"), "stream_key": "preflight-good"}]})).await;
    let good = preflight(&server, &token, &prod, "bbbbbbbbbbb1").await;
    assert_eq!(good["level"], "green", "{good}");
    for code in ["preflight.encoder", "preflight.secrets", "preflight.profile"] {
        assert_eq!(find(&good, code).len(), 1, "{code}: {good}");
    }
    let outputs = find(&good, "preflight.output");
    assert_eq!(outputs.len(), 3, "one check per output: {good}");
    assert!(good["checks"].as_array().expect("checks").iter().all(|c| c["took_ms"].as_u64().is_some()), "{good}");

    // A wrong Icecast password and an RTMP port where nothing listens: both red, with their codes.
    let closed = free_port();
    stream(&server, &token, &prod, "bbbbbbbbbbb2", json!({"title": "Bad", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}},
        "outputs": [{"kind": "icecast", "url": format!("icecast://{icecast}/{mount}"), "password": "not-the-password-4321"}, {"kind": "rtmp", "url": format!("rtmp://127.0.0.1:{closed}/live"), "stream_key": "k"}]})).await;
    let bad = preflight(&server, &token, &prod, "bbbbbbbbbbb2").await;
    assert_eq!(bad["level"], "red", "{bad}");
    let auth = find(&bad, "preflight.output_auth_failed");
    assert_eq!((auth.len(), auth.first().map(|c| c["params"]["output"].clone())), (1, Some(json!(0))), "{bad}");
    let unreachable = find(&bad, "preflight.output_unreachable");
    assert_eq!((unreachable.len(), unreachable.first().map(|c| c["params"]["kind"].clone())), (1, Some(json!("rtmp"))), "{bad}");
    // The wrong password is nowhere: not in the report, not in the server's log.
    let text = format!("{bad}{}", std::fs::read_to_string(log.path()).unwrap_or_default());
    assert!(!text.contains("not-the-password-4321"), "the password leaked");

    // The report stays readable; an unknown stream has none.
    let (s, again) = call(&server, &token, Method::GET, &format!("/a/v1/stream/{prod}/bbbbbbbbbbb2/preflight"), None).await;
    assert_eq!((s, &again["run"]), (StatusCode::OK, &bad["run"]));
    let (s, e) = call(&server, &token, Method::POST, &format!("/a/v1/stream/{prod}/abcabcabcabc/preflight"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_are_checked_for_reach_audio_and_credentials_and_the_profile_against_them() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let source = tokio::spawn(serve(listener, mp3_tone()));
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--allow-address", "127.0.0.1"], log.path()).await;
    // 48 kHz stereo 128k from a 44.1 kHz mono 64k source: yellow.
    let (token, prod) = setup(&server, "preflight_sources", 48000).await;
    let relay = |path: &str| json!({"title": "Relay", "profile": "aaaaaaaaaaa1", "input": {"url": format!("http://{addr}{path}")}, "outputs": [{"kind": "hls"}]});
    stream(&server, &token, &prod, "ccccccccccc1", relay("/live.mp3")).await;
    stream(&server, &token, &prod, "ccccccccccc2", relay("/locked.mp3")).await;
    stream(&server, &token, &prod, "ccccccccccc3", relay("/page.html")).await;

    let live = preflight(&server, &token, &prod, "ccccccccccc1").await;
    assert_eq!(live["level"], "yellow", "{live}");
    let src = find(&live, "preflight.source");
    assert_eq!(src.first().map(|c| (c["params"]["sample_rate"].clone(), c["params"]["channels"].clone())), Some((json!(44100), json!(1))), "{live}");
    let profile = find(&live, "preflight.upsampling");
    assert_eq!(profile.first().map(|c| c["level"].clone()), Some(json!("yellow")), "{live}");
    let findings: Vec<&str> = profile[0]["params"]["findings"].as_array().expect("findings").iter().filter_map(|f| f["code"].as_str()).collect();
    assert_eq!(findings, ["preflight.upsampling", "preflight.bitrate_above_source", "preflight.mono_to_stereo"], "{live}");

    let locked = preflight(&server, &token, &prod, "ccccccccccc2").await;
    assert_eq!((locked["level"].as_str(), find(&locked, "preflight.source_auth_failed").len()), (Some("red"), 1), "{locked}");
    let page = preflight(&server, &token, &prod, "ccccccccccc3").await;
    assert_eq!((page["level"].as_str(), find(&page, "preflight.source_no_audio").len()), (Some("red"), 1), "{page}");
    // A public-looking source that redirects to the cloud metadata address: the guard stops it.
    stream(&server, &token, &prod, "ccccccccccc5", relay("/redirect.mp3")).await;
    let sneaky = preflight(&server, &token, &prod, "ccccccccccc5").await;
    assert_eq!((sneaky["level"].as_str(), find(&sneaky, "preflight.address_blocked").len()), (Some("red"), 1), "{sneaky}");
    source.abort();

    // A playlist item without stored bytes is red.
    let (s, e) = call(&server, &token, Method::POST, &format!("/a/v1/resource/{prod}/asset/ddddddddddd1"), Some(json!({"name": "hosted elsewhere", "rel": "external", "source": "https://cdn.example.com/a.mp3"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, e) = call(&server, &token, Method::POST, &format!("/a/v1/resource/{prod}/playlist/eeeeeeeeeee1"), Some(json!({"title": "p", "items": [{"asset": "ddddddddddd1"}]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    stream(&server, &token, &prod, "ccccccccccc4", json!({"title": "Playlist", "profile": "aaaaaaaaaaa1", "input": {"playlist": "eeeeeeeeeee1"}, "outputs": [{"kind": "hls"}]})).await;
    let playlist = preflight(&server, &token, &prod, "ccccccccccc4").await;
    let not_ready = find(&playlist, "preflight.asset_not_ready");
    assert_eq!(not_ready.first().map(|c| c["params"]["assets"].clone()), Some(json!(["ddddddddddd1"])), "{playlist}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_events_send_each_check_then_the_report() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--allow-address", "127.0.0.1"], log.path()).await;
    let (token, prod) = setup(&server, "preflight_events", 44100).await;
    stream(&server, &token, &prod, "abababababa1", json!({"title": "Events", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]})).await;
    let r = server.http.post(server.url(&format!("/a/v1/stream/{prod}/abababababa1/preflight"))).bearer_auth(&token).header("prefer", "respond-async").send().await.expect("post");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let queued: Value = r.json().await.expect("json");
    let r = server.http.get(server.url(&format!("/a/v1/stream/{prod}/abababababa1/preflight/events"))).bearer_auth(&token).send().await.expect("events");
    assert_eq!(r.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
    let mut body = r.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !text.contains("event: done") {
        let piece = tokio::time::timeout_at(deadline.into(), body.next()).await.expect("done within 30 s").expect("more events").expect("bytes");
        text.push_str(&String::from_utf8_lossy(&piece));
    }
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter_map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = e.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).ok()?))
        })
        .collect();
    let (last, report) = events.last().expect("events");
    assert_eq!(last, "done");
    assert_eq!(report["run"], queued["run"], "the events follow the preflight just asked for");
    let checks: Vec<&Value> = events.iter().filter(|(n, _)| n == "check").map(|(_, c)| c).collect();
    assert_eq!(checks.len(), report["checks"].as_array().expect("checks").len(), "one event per check: {text}");
    assert_eq!(checks.iter().map(|c| c["code"].clone()).collect::<Vec<_>>(), report["checks"].as_array().expect("checks").iter().map(|c| c["code"].clone()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_encodes_ten_seconds_with_the_real_commands_and_reports_the_output() {
    let icecast = receiver("PODOPS_TEST_ICECAST");
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--allow-address", "127.0.0.1"], log.path()).await;
    let (token, prod) = setup(&server, "dry_run_show", 44100).await;
    stream(&server, &token, &prod, "ddddddddddd9", json!({"title": "Dry", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}},
        "outputs": [{"kind": "icecast", "url": format!("icecast://{icecast}/dry-run-never.mp3"), "password": "dry-run-secret-9876"}]})).await;
    let (s, e) = call(&server, &token, Method::GET, &format!("/a/v1/stream/{prod}/ddddddddddd9/dry-run"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("dry_run.none")), "{e}");
    let (s, queued) = call(&server, &token, Method::POST, &format!("/a/v1/stream/{prod}/ddddddddddd9/dry-run"), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{queued}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let (_, r) = call(&server, &token, Method::GET, &format!("/a/v1/stream/{prod}/ddddddddddd9/dry-run"), None).await;
        if r["state"] == "done" || r["state"] == "failed" {
            break r;
        }
        assert!(Instant::now() < deadline, "dry run not done: {r}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!((report["state"].as_str(), &report["run"]), (Some("done"), &queued["run"]), "{report}");
    let out = &report["output"];
    assert_eq!((out["codec"].as_str(), out["channels"].as_u64(), out["sample_rate"].as_u64()), (Some("mp3"), Some(2), Some(44100)), "{report}");
    assert!((9.5..=10.5).contains(&out["duration"].as_f64().expect("duration")), "{report}");
    assert!((120_000..=136_000).contains(&out["bitrate"].as_u64().expect("bitrate")), "{report}");
    assert!(out["lufs"].as_f64().is_some(), "loudness measured: {report}");
    assert!(report["speed"].as_f64().expect("speed") > 1.0, "a tone encodes faster than real time: {report}");
    // The real commands: the profile's encoder, its output a local file (never the Icecast server).
    let encoder: Vec<&str> = report["commands"][1].as_array().expect("encoder argv").iter().filter_map(Value::as_str).collect();
    assert!(encoder.windows(2).any(|w| w == ["-c:a", "libmp3lame"]) && encoder.windows(2).any(|w| w == ["-b:a", "128000"]), "{encoder:?}");
    assert!(encoder.last().is_some_and(|a| a.ends_with("dry-run.mp3")), "{encoder:?}");
    let text = format!("{report}{}", std::fs::read_to_string(log.path()).unwrap_or_default());
    assert!(!text.contains("dry-run-secret-9876"), "the password leaked");
}
