//! A PodOps API and a worker on the real embedded adapters in a temp dir:
//! requests go through the router in-process, the worker runs its real loop
//! (real FFmpeg), and media is generated per test with FFmpeg's lavfi.
#![allow(dead_code)]

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{header, HeaderMap, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use podops_adapters::embedded::{FsBlobs, SqliteDb, SqliteJobs, SqliteRecords};
use podops_api::{AppParts, AppState, Limits, TokenAuthority};
use podops_core::{
    domain::{ClientId, Resource, ResourceBody, Scopes},
    ports::{Clock, Jobs, Key, MediaTool, SystemClock},
    service::{MediaRules, Podops},
    signing::Signer,
};
use podops_worker::{AddressPolicy, FetchConfig, Fetcher, NameLookup, SystemLookup, Worker, WorkerConfig};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tower::ServiceExt;

pub const FULL: &str = "production:read production:write resource:read resource:write";
pub const MAX_RECEIVES: u32 = 3;

pub struct Harness {
    pub router: Router,
    pub podops: Podops,
    pub jobs: Arc<SqliteJobs>,
    pub dir: tempfile::TempDir,
    pub tokens: Arc<TokenAuthority>,
    stop: Option<oneshot::Sender<()>>,
    pub worker_task: Option<tokio::task::JoinHandle<()>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or("").to_owned()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

pub fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = b"worker-test-secret-worker-test-secret";
    let db = SqliteDb::open(&dir.path().join("podops.db")).expect("db");
    let signer = Signer::derive(secret, "media");
    let blobs = FsBlobs::new(dir.path().join("media"), signer.clone(), "http://podops.test".into()).expect("blobs");
    let jobs = Arc::new(SqliteJobs::new(db.clone(), "jobs", MAX_RECEIVES));
    let podops = Podops::new(Arc::new(SqliteRecords::new(db)), Arc::new(blobs), jobs.clone(), Arc::new(SystemClock), secret, MediaRules::default());
    let tokens = Arc::new(TokenAuthority::new(b"jwt-key-jwt-key-jwt-key-jwt-key!", "podops", "podops-api"));
    let state = AppState::from(AppParts { podops: podops.clone(), tokens: tokens.clone(), media_signer: signer, limits: Limits::default(), feeds: Default::default() });
    Harness { router: podops_api::router(state), podops, jobs, dir, tokens, stop: None, worker_task: None }
}

pub fn worker_config(h: &Harness) -> WorkerConfig {
    WorkerConfig {
        concurrency: 2,
        visibility: Duration::from_secs(6),
        max_receives: MAX_RECEIVES,
        job_timeout: Duration::from_secs(60),
        grace: Duration::from_secs(5),
        worker_id: "test-worker".into(),
        scratch_dir: h.dir.path().join("scratch"),
        retry_backoff: Duration::ZERO,
    }
}

impl Harness {
    /// Starts the worker loop with the public-only fetcher.
    pub fn start_worker(&mut self) {
        self.start_worker_with(Arc::new(SystemLookup), AddressPolicy::default());
    }

    pub fn start_worker_with(&mut self, lookup: Arc<dyn NameLookup>, policy: AddressPolicy) {
        let tool = podops_worker::Ffmpeg { time_limit: Duration::from_secs(30), ..Default::default() };
        self.start_worker_custom(lookup, policy, Arc::new(tool), worker_config(self));
    }

    pub fn start_worker_custom(&mut self, lookup: Arc<dyn NameLookup>, policy: AddressPolicy, tool: Arc<dyn MediaTool>, config: WorkerConfig) {
        let fetcher = Fetcher::new(lookup, policy, FetchConfig { connect_timeout: Duration::from_secs(2), ..FetchConfig::default() }).expect("fetcher");
        let worker = Arc::new(Worker::new(self.podops.clone(), tool, fetcher, config));
        let (tx, rx) = oneshot::channel::<()>();
        self.stop = Some(tx);
        self.worker_task = Some(tokio::spawn(worker.run(async move {
            let _ = rx.await;
        })));
    }

    /// Asks the worker to stop and waits until it has.
    pub async fn stop_worker(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.worker_task.take() {
            tokio::time::timeout(Duration::from_secs(30), task).await.expect("worker stops").expect("worker task");
        }
    }

    pub fn token(&self, client: &str, scopes: &str) -> String {
        let client = ClientId::parse(client).expect("client");
        self.tokens.mint(&client, &Scopes::parse(scopes).expect("scopes"), SystemClock.now(), 3600).expect("mint").0
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let (status, headers) = (resp.status(), resp.headers().clone());
        Reply { status, headers, body: resp.into_body().collect().await.expect("body").to_bytes() }
    }

    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        let req = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.expect("request")).await
    }

    pub async fn production(&self, token: &str, name: &str) -> String {
        let r = self.call(Method::POST, "/a/v1/production", token, Some(json!({"name": name, "title": "T"}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
        r.json()["guid"].as_str().expect("guid").to_owned()
    }

    /// Uploads a file; returns the new asset's JSON.
    pub async fn upload(&self, token: &str, prod: &str, name: &str, bytes: Vec<u8>) -> Value {
        let req = Request::post(format!("/a/v1/upload/{prod}?filename={name}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(bytes))
            .expect("request");
        let r = self.send(req).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    pub async fn asset(&self, token: &str, prod: &str, id: &str) -> Value {
        let r = self.call(Method::GET, &format!("/a/v1/resource/{prod}/asset/{id}"), token, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    /// Polls the asset until its state is no longer pending/importing.
    pub async fn settled(&self, token: &str, prod: &str, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let a = self.asset(token, prod, id).await;
            if a["state"] != "pending" && a["state"] != "importing" {
                return a;
            }
            assert!(tokio::time::Instant::now() < deadline, "asset still {}", a["state"]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `GET …/content?query` until it redirects; returns the Location.
    pub async fn rendition_url(&self, token: &str, prod: &str, id: &str, query: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let r = self.call(Method::GET, &format!("/a/v1/asset/{prod}/{id}/content?{query}"), token, None).await;
            match r.status {
                StatusCode::FOUND => return r.header("location").to_owned(),
                StatusCode::CONFLICT if r.code() == "asset.not_ready" => {}
                other => panic!("{other}: {}", String::from_utf8_lossy(&r.body)),
            }
            assert!(tokio::time::Instant::now() < deadline, "rendition {query} never became ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The bytes behind a signed media URL, through the router.
    pub async fn fetch_media(&self, url: &str) -> Bytes {
        let path = url.strip_prefix("http://podops.test").expect("a signed URL of this server");
        let r = self.send(Request::get(path).body(Body::empty()).expect("request")).await;
        assert_eq!(r.status, StatusCode::OK, "{url}");
        r.body
    }

    pub async fn stored_asset(&self, prod: &str, id: &str) -> (Resource, podops_core::domain::Asset) {
        let key = Key::new(format!("PROD#{prod}"), format!("ASSET#{id}"));
        let record = self.podops.records.get(&key).await.expect("get").expect("asset record");
        let r = Resource::from_value(record.body).expect("resource");
        let ResourceBody::Asset(a) = r.body.clone() else { panic!("not an asset") };
        (r, a)
    }

    /// Every stored object's path under the media directory.
    pub fn objects(&self) -> Vec<String> {
        fn walk(dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() { walk(&p, out) } else if !p.to_string_lossy().ends_with(".json") { out.push(p.display().to_string()) }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.path().join("media").join("objects"), &mut out);
        out.sort();
        out
    }

    pub async fn dead_letters(&self) -> usize {
        self.jobs.receive_dead(100).await.expect("dlq").len()
    }
}

/// Generates audio with FFmpeg's lavfi: `source` is a lavfi graph, `args`
/// the encoder options, `ext` the container.
pub fn generate(source: &str, args: &[&str], ext: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("gen.{ext}"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", source])
        .args(args)
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg generated {source}");
    std::fs::read(&path).expect("generated file")
}

/// A 997 Hz tone at amplitude 0.25 (-12.04 dBFS) in both channels: its
/// integrated loudness is -12.0 LUFS and its true peak -12.0 dBTP.
pub fn tone(seconds: u32) -> String {
    format!("aevalsrc=0.25*sin(2*PI*997*t)|0.25*sin(2*PI*997*t):s=44100:d={seconds}")
}

/// ffprobe's view of some bytes: (format_name, codec, bit_rate, channels, sample_rate, duration).
pub fn ffprobe(bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("probe.bin");
    std::fs::write(&path, bytes).expect("write");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

/// Integrated loudness and true peak of some bytes, measured by ffmpeg's ebur128.
pub fn measure_loudness(bytes: &[u8]) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("measure.bin");
    std::fs::write(&path, bytes).expect("write");
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-nostats", "-i"])
        .arg(&path)
        .args(["-filter:a", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let log = String::from_utf8_lossy(&out.stderr);
    let summary = log.rsplit("Summary:").next().expect("summary");
    let value = |label: &str| -> f64 {
        summary.lines().find_map(|l| l.trim().strip_prefix(label)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).expect(label)
    };
    (value("I:"), value("Peak:"))
}
