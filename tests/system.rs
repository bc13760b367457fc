//! `GET /system/health` and `GET /metrics` through a real `podops serve`:
//! health names each dependency (503 when one fails, such as no worker);
//! metrics are read back with prometheus-client's own parser (the venv's),
//! behind `admin` or the metrics token.

mod support;

use std::{
    io::Write,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{call, Server};

/// The samples of a Prometheus text document, parsed by prometheus-client.
fn parse(text: &str) -> Vec<Value> {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/prom_parse.py");
    let mut child = Command::new(python).arg(script).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("{python}: {e} (run ./scripts/test, which installs prometheus-client)"));
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("parser");
    assert!(out.status.success(), "the parser refused the document: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
}

fn sample<'a>(samples: &'a [Value], name: &str, labels: &[(&str, &str)]) -> Option<&'a Value> {
    samples.iter().find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v)).map(|s| &s["value"])
}

async fn health(server: &Server) -> (StatusCode, Value) {
    let r = server.http.get(server.url("/system/health")).send().await.expect("health");
    (r.status(), r.json().await.expect("json"))
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"].as_array().expect("checks").iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name} check: {report}"))
}

#[tokio::test]
async fn health_names_each_dependency_and_needs_no_credentials() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "1"], log.path()).await;
    // The in-process worker announces itself at start.
    let deadline = Instant::now() + Duration::from_secs(15);
    let report = loop {
        let (status, report) = health(&server).await;
        if status == StatusCode::OK {
            break report;
        }
        assert!(Instant::now() < deadline, "never healthy: {report}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(report["status"], "ok");
    for name in ["records", "blobs", "queue", "workers", "ffmpeg"] {
        assert_eq!(check(&report, name)["status"], "ok", "{report}");
    }
    assert!(check(&report, "ffmpeg")["detail"].as_str().is_some_and(|d| d.starts_with("ffmpeg version")), "{report}");
    assert_eq!(check(&report, "workers")["detail"], "1 heard from in 30 s");
    let text = report.to_string();
    assert!(!text.contains(&server.admin_token()) && !text.contains(server.data_dir.path().to_str().expect("utf8")), "nothing secret or local: {text}");
}

#[tokio::test]
async fn without_a_worker_health_is_503_and_says_why() {
    let server = Server::start(&["--workers", "0"]).await;
    let (status, report) = health(&server).await;
    assert_eq!((status, report["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("failing")));
    assert_eq!(check(&report, "workers")["status"], "failing");
    assert!(check(&report, "workers")["detail"].as_str().is_some_and(|d| d.contains("no worker")), "{report}");
    assert_eq!(check(&report, "records")["status"], "ok", "the rest still answers");
}

#[tokio::test]
async fn on_dynamodb_s3_and_sqs_health_checks_the_aws_resources() {
    let (_, flags) = support::aws::provision_fresh();
    let mut args: Vec<&str> = vec!["--backend", "aws", "--workers", "1"];
    args.extend(flags.iter().map(String::as_str));
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&args, log.path()).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, report) = health(&server).await;
        if status == StatusCode::OK {
            assert_eq!(check(&report, "queue")["status"], "ok");
            break;
        }
        assert!(Instant::now() < deadline, "never healthy on AWS: {report}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_for_admins_and_the_scraper_token() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "0", "--metrics-token", "scrape-me-please-0123456789"], log.path()).await;
    let admin = server.admin_token();
    // Something to count: a production, an upload whose probe waits (no worker), a stream asked to start.
    let (s, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "metrics_show", "title": "M"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let r = server.http.post(server.url(&format!("/a/v1/upload/{prod}?filename=tone.wav"))).bearer_auth(&admin).header("content-type", "audio/wav").body(support::tone_wav()).send().await.expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let profile = json!({"name": "talk", "format": "mp3", "bitrate": 128000, "sample_rate": 44100, "channels": 2});
    assert_eq!(call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(profile)).await.0, StatusCode::CREATED);
    let stream = json!({"title": "Live", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]});
    assert_eq!(call(&server, &admin, Method::POST, &format!("/a/v1/resource/{prod}/stream/bbbbbbbbbbb1"), Some(stream)).await.0, StatusCode::CREATED);
    assert_eq!(call(&server, &admin, Method::POST, &format!("/a/v1/stream/{prod}/bbbbbbbbbbb1/start"), None).await.0, StatusCode::ACCEPTED);
    let _ = server.http.get(server.url("/system/health")).send().await;

    // Who may read them.
    let r = server.http.get(server.url("/metrics")).send().await.expect("anonymous");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (s, minted) = call(&server, &admin, Method::POST, "/_a/token", Some(json!({"client_id": "reader", "scopes": ["production:read"]}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, e) = call(&server, minted["token"].as_str().expect("token"), Method::GET, "/metrics", None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("auth.missing_scope")));
    let r = server.http.get(server.url("/metrics")).bearer_auth("scrape-me-please-wrong").send().await.expect("wrong token");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let by_admin = server.http.get(server.url("/metrics")).bearer_auth(&admin).send().await.expect("admin");
    assert_eq!(by_admin.status(), StatusCode::OK);
    let r = server.http.get(server.url("/metrics")).bearer_auth("scrape-me-please-0123456789").send().await.expect("scraper");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain; version=0.0.4"));

    let samples = parse(&r.text().await.expect("text"));
    let n = |name: &str, labels: &[(&str, &str)]| sample(&samples, name, labels).and_then(Value::as_f64);
    assert_eq!(n("podops_http_requests_total", &[("method", "POST"), ("route", "/a/v1/production"), ("status", "201")]), Some(1.0), "requests by route pattern and status");
    assert_eq!(n("podops_http_requests_total", &[("method", "GET"), ("route", "/metrics"), ("status", "403")]), Some(1.0));
    assert!(n("podops_http_request_duration_seconds_count", &[("method", "POST"), ("route", "/a/v1/upload/{prod}")]).is_some_and(|c| c >= 1.0), "latency histograms");
    assert!(sample(&samples, "podops_http_request_duration_seconds_bucket", &[("route", "/a/v1/upload/{prod}"), ("le", "+Inf")]).is_some());
    assert_eq!(n("podops_jobs_open", &[("kind", "probe"), ("state", "queued")]), Some(1.0), "the upload's probe waits");
    assert_eq!(n("podops_streams", &[("state", "queued")]), Some(1.0), "the stream asked to start");
    assert_eq!(n("podops_workers", &[]), Some(0.0));
    assert!(n("podops_queue_depth", &[]).is_some_and(|d| d >= 2.0), "the probe's and the stream's messages wait");
    assert!(!samples.iter().any(|s| s["labels"]["route"].as_str().is_some_and(|r| r.contains(&prod))), "routes are patterns, never ids");
}
