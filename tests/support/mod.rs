//! Starts the real `podops serve` binary on a free port with its own data
//! directory, and stops it (SIGTERM) when dropped.
#![allow(dead_code)]

pub mod aws;
pub mod mail;

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Server {
    pub base: String,
    pub data_dir: tempfile::TempDir,
    pub child: Child,
    pub http: reqwest::Client,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_podops"))
}

impl Server {
    pub async fn start(extra: &[&str]) -> Server {
        Self::start_with_stderr(extra, Stdio::piped()).await
    }

    /// Logs (JSON lines) go to `log`, to be read while the server runs.
    pub async fn start_logging_to(extra: &[&str], log: &std::path::Path) -> Server {
        let file = std::fs::File::create(log).expect("log file");
        Self::start_with_stderr(extra, Stdio::from(file)).await
    }

    async fn start_with_stderr(extra: &[&str], stderr: Stdio) -> Server {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = Command::new(binary())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--log-format", "json"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn podops serve");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/")).send().await.is_err() {
            assert!(Instant::now() < deadline, "podops serve did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { base, data_dir, child, http }
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("admin-token")).expect("admin token").trim().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM, then waits (at most 20 s) for the process to exit.
pub fn terminate(mut child: Child) -> std::process::ExitStatus {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Three seconds of a stereo 997 Hz tone as 16-bit WAV, made by FFmpeg.
pub fn tone_wav() -> Vec<u8> {
    generated_audio("aevalsrc=0.25*sin(2*PI*997*t)|0.25*sin(2*PI*997*t):s=44100:d=3", &["-c:a", "pcm_s16le"], "tone.wav")
}

/// Audio FFmpeg makes from the lavfi `source` with `encode` flags, as the file `name` (its extension picks the container).
pub fn generated_audio(source: &str, encode: &[&str], name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let ok = Command::new("ffmpeg").args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", source]).args(encode).arg(&path).status().expect("ffmpeg");
    assert!(ok.success(), "ffmpeg could not make {name}");
    std::fs::read(path).expect("generated audio")
}

/// One API call with a bearer token: the status and the JSON body (null if none).
pub async fn call(server: &Server, token: &str, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> (reqwest::StatusCode, serde_json::Value) {
    let mut req = server.http.request(method, server.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// UNIX seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// What feedparser, podcastparser and the namespace XSD make of a feed (`tests/tools/feed_check.py`, in the venv `./scripts/test` makes).
pub fn feed_parsers(feed: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("feed.xml");
    std::fs::write(&path, feed).expect("write");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join(".venv/bin/python")).arg(root.join("tests/tools/feed_check.py")).arg(&path).arg(root.join("tests/schemas")).output().expect("python");
    assert!(out.status.success(), "feed_check: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}
