//! `podops export` and `podops restore`: a production's archive out of one
//! PodOps and into another (or the same), over the API and signed URLs only,
//! so they work against `podops serve` and AWS alike. The archive streams to
//! and from the file: nothing holds it in memory.

use std::{path::Path, time::Duration};

use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{api::{refusal, unreachable, Api}, ClientError};

fn io(path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Failed(format!("{}: {e}", path.display()))
}

/// Waits until `path` answers a finished state; `pick` finds the object in the answer.
async fn wait(api: &Api, path: &str, what: &str, timeout: Duration, pick: impl Fn(&Value) -> Option<Value>) -> Result<Value, ClientError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let answer = api.get(path).await?;
        let now = pick(&answer).unwrap_or(Value::Null);
        let state = now["state"].as_str().unwrap_or_default();
        if state == "done" {
            return Ok(now);
        }
        if state == "failed" {
            let e = &now["error"];
            return Err(ClientError::Failed(format!("{}: {}", e["code"].as_str().unwrap_or("backup.failed"), e["message"].as_str().unwrap_or(""))));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ClientError::Failed(format!("{what} is still {state} after {} s (follow it: GET {path})", timeout.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Backs `prod` up and downloads the archive to `to` (written beside it, then renamed).
pub async fn export(api: &Api, prod: &str, to: &Path, timeout: Duration) -> Result<Value, ClientError> {
    let started = api.post("/a/v1/backups", &json!({ "production": prod })).await?;
    let id = started["id"].as_str().unwrap_or_default().to_owned();
    let done = wait(api, &format!("/a/v1/backups/{prod}"), &format!("backup {id}"), timeout, |list| {
        list["items"].as_array().and_then(|items| items.iter().find(|b| b["id"] == id.as_str()).cloned())
    })
    .await?;
    let link = api.get(&format!("/a/v1/backups/{prod}/{id}/download")).await?;
    let url = link["url"].as_str().unwrap_or_default();
    let response = api.http.get(url).send().await.map_err(|e| unreachable(url, &e))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.bytes().await.unwrap_or_default();
        return Err(refusal(url, status, &body));
    }
    let partial = to.with_extension("partial");
    let mut file = tokio::fs::File::create(&partial).await.map_err(|e| io(&partial, e))?;
    let mut body = response.bytes_stream();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| unreachable(url, &e))?;
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(|e| io(&partial, e))?;
    }
    file.sync_all().await.map_err(|e| io(&partial, e))?;
    if Some(size) != done["size"].as_u64() {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(ClientError::Failed(format!("the archive arrived with {size} bytes, not {}", done["size"])));
    }
    tokio::fs::rename(&partial, to).await.map_err(|e| io(to, e))?;
    Ok(done)
}

/// Uploads the archive at `from` to a signed URL and restores it.
pub async fn restore(api: &Api, from: &Path, name: Option<&str>, timeout: Duration) -> Result<Value, ClientError> {
    let file = tokio::fs::File::open(from).await.map_err(|e| ClientError::usage(format!("{}: {e}", from.display())))?;
    let size = file.metadata().await.map_err(|e| io(from, e))?.len();
    let slot = api.post("/a/v1/backups/uploads", &json!({})).await?;
    let (archive, url) = (slot["archive"].as_str().unwrap_or_default(), slot["url"].as_str().unwrap_or_default());
    if slot["size"].as_u64().is_some_and(|max| size > max) {
        return Err(ClientError::usage(format!("{} is {size} bytes; this server takes archives of at most {} bytes", from.display(), slot["size"])));
    }
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
    let response = api.http.put(url).header("content-length", size).header("content-type", "application/x-tar").body(body).send().await.map_err(|e| unreachable(url, &e))?;
    let status = response.status();
    if !status.is_success() {
        let bytes = response.bytes().await.unwrap_or_default();
        return Err(refusal(url, status, &bytes));
    }
    let started = api.post("/a/v1/backups/restore", &json!({ "archive": archive, "name": name })).await?;
    let id = started["id"].as_str().unwrap_or_default().to_owned();
    wait(api, &format!("/a/v1/backups/restore/{id}"), &format!("restore {id}"), timeout, |r| Some(r.clone())).await
}
