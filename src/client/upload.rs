//! Resumable uploads over the presigned multipart protocol. The file is read
//! once, in order, hashing as it goes; parts the server lacks are PUT to
//! their signed URLs, several at once, each retried on its own. The upload's
//! server-side id is remembered in the state directory, keyed by API,
//! production, path, size and mtime: running the same command again after a
//! cut asks the server which parts it holds and sends only the others.

use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    sync::{atomic::{AtomicU64, Ordering}, Arc},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{api::{refusal, unreachable, Api}, args::UploadArgs, config::state_dir, ClientError};

const MIB: u64 = 1 << 20;
const ATTEMPTS: u32 = 5;
/// Bytes per chunk of a part's body: the granularity of progress and rate limiting.
const CHUNK: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct Remembered {
    asset: String,
}

struct Part {
    number: u32,
    offset: u64,
    size: u64,
    url: Option<String>,
}

pub async fn upload(api: &Api, prod: &str, args: &UploadArgs) -> Result<Value, ClientError> {
    let path = &args.file;
    let meta = std::fs::metadata(path).map_err(|e| ClientError::usage(format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(ClientError::usage(format!("{} is not a file", path.display())));
    }
    if !(5..=5120).contains(&args.part_size) || args.concurrency == 0 {
        return Err(ClientError::usage("--part-size is 5–5120 (MiB) and --concurrency at least 1"));
    }
    let size = meta.len();
    let state = state_file(api, prod, path, &meta)?;
    let upload = match resume(api, prod, &state).await? {
        Some(upload) => upload,
        None => start(api, prod, path, size, args.part_size * MIB, &state).await?,
    };
    let asset = upload["asset"]["guid"].as_str().unwrap_or_default().to_owned();
    let parts = layout(&upload["upload"])?;

    let progress = progress_bar(size);
    let already: u64 = parts.iter().filter(|p| p.url.is_none()).map(|p| p.size).sum();
    progress.set_position(already);
    let limiter = args.limit_rate.map(|rate| Arc::new(Limiter { start: Instant::now(), sent: AtomicU64::new(0), rate }));

    let mut file = std::fs::File::open(path).map_err(|e| ClientError::usage(format!("{}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    // Read in order (the hash needs every byte, sent or not), then send the
    // parts the server lacks with bounded concurrency.
    let reads = futures::stream::iter(parts).map(|part| -> Result<Option<(Part, Bytes)>, ClientError> {
        let bytes = read_part(&mut file, &part).map_err(|e| ClientError::usage(format!("{}: {e}", path.display())))?;
        hasher.update(&bytes);
        Ok(part.url.is_some().then_some((part, bytes)))
    });
    reads
        .try_filter_map(|part| async move { Ok(part) })
        .map_ok(|(part, bytes)| send_part(api, part, bytes, &progress, limiter.clone()))
        .try_buffer_unordered(args.concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    progress.finish_and_clear();

    let sha256 = hex::encode(hasher.finalize());
    let done = api.post(&format!("/a/v1/upload/{prod}/{asset}/complete"), &json!({ "sha256": sha256 })).await?;
    let _ = std::fs::remove_file(&state);
    Ok(done)
}

/// The remembered upload's status, or None when there is none (or it is over).
async fn resume(api: &Api, prod: &str, state: &Path) -> Result<Option<Value>, ClientError> {
    let Ok(text) = std::fs::read_to_string(state) else { return Ok(None) };
    let Ok(remembered) = serde_json::from_str::<Remembered>(&text) else { return Ok(None) };
    match api.get(&format!("/a/v1/upload/{prod}/{}", remembered.asset)).await {
        Ok(status) => Ok(Some(status)),
        // Completed, expired or cancelled meanwhile: start afresh.
        Err(ClientError::Refused { code, .. }) if code == "upload.not_started" || code == "resource.not_found" => Ok(None),
        Err(e) => Err(e),
    }
}

async fn start(api: &Api, prod: &str, path: &Path, size: u64, part_size: u64, state: &Path) -> Result<Value, ClientError> {
    let filename = path.file_name().and_then(|n| n.to_str()).unwrap_or("upload").to_owned();
    // The server takes the type from the name (mp3, m4a, png, …) when told octet-stream.
    let intent = json!({ "filename": filename, "size": size, "content_type": "application/octet-stream", "part_size": part_size });
    let started = api.post(&format!("/a/v1/upload/{prod}"), &intent).await?;
    let asset = started["asset"]["guid"].as_str().unwrap_or_default().to_owned();
    if let Some(dir) = state.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(state, serde_json::to_vec(&Remembered { asset }).unwrap_or_default()) {
        eprintln!("podops: cannot remember the upload in {} ({e}); it will not resume", state.display());
    }
    Ok(started)
}

/// Every part of the file: those to send carry their URL.
fn layout(upload: &Value) -> Result<Vec<Part>, ClientError> {
    let bad = || ClientError::Failed("the API's upload answer has no parts (is it a PodOps API with multipart uploads?)".into());
    let number = |p: &Value| p["number"].as_u64().map(|n| n as u32);
    let mut parts: Vec<Part> = Vec::new();
    for p in upload["parts"].as_array().ok_or_else(bad)? {
        parts.push(Part {
            number: number(p).ok_or_else(bad)?,
            offset: p["offset"].as_u64().ok_or_else(bad)?,
            size: p["size"].as_u64().ok_or_else(bad)?,
            url: Some(p["url"].as_str().ok_or_else(bad)?.to_owned()),
        });
    }
    let part_size = upload["part_size"].as_u64().ok_or_else(bad)?;
    for p in upload["received"].as_array().into_iter().flatten() {
        let n = number(p).ok_or_else(bad)?;
        parts.push(Part { number: n, offset: u64::from(n - 1) * part_size, size: p["size"].as_u64().unwrap_or(0), url: None });
    }
    parts.sort_by_key(|p| p.number);
    Ok(parts)
}

fn read_part(file: &mut std::fs::File, part: &Part) -> std::io::Result<Bytes> {
    let mut buf = vec![0; part.size as usize];
    file.seek(SeekFrom::Start(part.offset))?;
    file.read_exact(&mut buf)?;
    Ok(Bytes::from(buf))
}

async fn send_part(api: &Api, part: Part, bytes: Bytes, progress: &ProgressBar, limiter: Option<Arc<Limiter>>) -> Result<(), ClientError> {
    let url = part.url.unwrap_or_default();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = Arc::new(AtomicU64::new(0));
        let body = body(bytes.clone(), progress.clone(), limiter.clone(), Arc::clone(&sent));
        let outcome = api.http.put(&url).header("content-length", bytes.len()).body(body).send().await;
        let retry = match outcome {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if r.status().is_server_error() => format!("part {} answered {}", part.number, r.status()),
            Ok(r) => {
                let status = r.status();
                let text = r.bytes().await.unwrap_or_default();
                progress.abandon();
                return Err(refusal(&format!("part {} of the upload", part.number), status, &text));
            }
            Err(e) => unreachable(&format!("part {} URL", part.number), &e).to_string(),
        };
        // What this attempt counted is sent again.
        progress.dec(sent.load(Ordering::Relaxed));
        if attempt == ATTEMPTS {
            progress.abandon();
            return Err(ClientError::Failed(format!("{retry}; gave up after {ATTEMPTS} attempts (run the command again to resume)")));
        }
        progress.suspend(|| eprintln!("podops: {retry}; retrying"));
        tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
    }
}

/// A part's bytes as a stream of chunks, counted into the progress bar and
/// paced by the rate limit as they are sent.
fn body(bytes: Bytes, progress: ProgressBar, limiter: Option<Arc<Limiter>>, sent: Arc<AtomicU64>) -> reqwest::Body {
    let chunks: Vec<Bytes> = (0..bytes.len()).step_by(CHUNK).map(|at| bytes.slice(at..(at + CHUNK).min(bytes.len()))).collect();
    let stream = futures::stream::iter(chunks).then(move |chunk| {
        let (progress, limiter, sent) = (progress.clone(), limiter.clone(), Arc::clone(&sent));
        async move {
            if let Some(limiter) = &limiter {
                limiter.take(chunk.len() as u64).await;
            }
            progress.inc(chunk.len() as u64);
            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Ok::<_, std::io::Error>(chunk)
        }
    });
    reqwest::Body::wrap_stream(stream)
}

/// All parts together send at most `rate` bytes per second.
struct Limiter {
    start: Instant,
    sent: AtomicU64,
    rate: u64,
}

impl Limiter {
    async fn take(&self, n: u64) {
        let total = self.sent.fetch_add(n, Ordering::Relaxed) + n;
        let due = self.start + Duration::from_secs_f64(total as f64 / self.rate as f64);
        tokio::time::sleep_until(due.into()).await;
    }
}

/// Bytes, rate and ETA on a terminal; nothing when stderr is piped.
fn progress_bar(size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}") {
        bar.set_style(style);
    }
    bar
}

fn state_file(api: &Api, prod: &str, path: &Path, meta: &std::fs::Metadata) -> Result<PathBuf, ClientError> {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
    let id = Sha256::digest(format!("{}\n{prod}\n{}\n{}\n{mtime}", api.base, absolute.display(), meta.len()));
    Ok(state_dir()?.join("uploads").join(format!("{}.json", hex::encode(&id[..16]))))
}
