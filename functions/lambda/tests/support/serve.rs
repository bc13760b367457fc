//! The same API as one long-running `podops serve --backend aws` process on a
//! test stack (its data directory holds the stack's secret, so the same
//! tokens work): the baseline the Lambda benchmark compares against.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::Stack;
use super::events::HttpEvent;

pub struct Serve {
    base: String,
    client: reqwest::Client,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// The release `podops` binary (`cargo build --release -p podops`), or `PODOPS_BIN`.
fn binary() -> PathBuf {
    let path = std::env::var("PODOPS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/podops"));
    assert!(path.exists(), "{} is missing: cargo build --release -p podops (or set PODOPS_BIN)", path.display());
    path
}

/// Redirects are answers here (the content route's 302), not something to follow.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client")
}

impl Serve {
    /// Spawns `podops serve` and returns once it listens (not waiting for an answer).
    fn spawn(stack: &Stack) -> (Child, tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("data dir");
        std::fs::write(dir.path().join("secret"), stack.secret_hex()).expect("secret");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = Command::new(binary())
            .args(["serve", "--backend", "aws", "--workers", "0", "--no-rate-limits", "--log-format", "json", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.path())
            .env_clear()
            .envs(stack.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start podops serve");
        (child, dir, format!("http://127.0.0.1:{port}"))
    }

    pub async fn start(stack: &Stack) -> Self {
        let (child, dir, base) = Self::spawn(stack);
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{base}/")).send().await.is_err() {
            assert!(Instant::now() < deadline, "podops serve did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { base, client, _child: child, _dir: dir }
    }

    async fn send(client: &reqwest::Client, base: &str, event: &HttpEvent) -> reqwest::Result<reqwest::Response> {
        let (method, target, headers, body) = event.parts();
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = client.request(method, format!("{base}{target}"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        request.send().await
    }

    /// Median latency of `runs` requests on one kept-alive connection, after one warm-up.
    pub async fn median_latency(&self, event: &HttpEvent, status: u16, runs: usize) -> Duration {
        let mut samples = Vec::with_capacity(runs);
        for i in 0..=runs {
            let start = Instant::now();
            let response = Self::send(&self.client, &self.base, event).await.expect("podops serve answers");
            let code = response.status().as_u16();
            let _ = response.bytes().await;
            assert_eq!(code, status, "podops serve answered {code}");
            if i > 0 {
                samples.push(start.elapsed());
            }
        }
        samples.sort();
        samples[samples.len() / 2]
    }

    /// Median of `runs` fresh processes: spawn → first answer to `event`
    /// (polling every millisecond until the port accepts).
    pub async fn cold_starts(stack: &Stack, event: &HttpEvent, runs: usize) -> Duration {
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let spawned = Instant::now();
            let (_child, _dir, base) = Self::spawn(stack);
            let client = client();
            loop {
                if let Ok(response) = Self::send(&client, &base, event).await {
                    let _ = response.bytes().await;
                    break;
                }
                assert!(spawned.elapsed() < Duration::from_secs(30), "podops serve did not start");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            samples.push(spawned.elapsed());
        }
        samples.sort();
        samples[samples.len() / 2]
    }
}
