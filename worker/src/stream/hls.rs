//! Publishes a run's HLS output: FFmpeg writes segments and `index.m3u8` into
//! a local directory; every second the new segments are put into the public
//! store, then the playlist (so a reader never sees a playlist naming a
//! segment that is not there yet). Segments that left the playlist are
//! removed from the store a minute later (players may still be reading them).

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use podops_core::{
    domain::Guid,
    ports::{BlobKey, Blobs},
    service::hls_key,
};
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(1);
const KEEP_AFTER_LISTED: Duration = Duration::from_secs(60);

pub async fn publish_hls(public: Arc<dyn Blobs>, dir: PathBuf, production_name: String, id: Guid, cancel: CancellationToken) {
    let mut published: HashMap<String, Option<tokio::time::Instant>> = HashMap::new();
    let mut last_playlist = String::new();
    loop {
        let stop = tokio::select! {
            () = tokio::time::sleep(EVERY) => false,
            () = cancel.cancelled() => true,
        };
        // One last sync after the stop, so the final playlist (with its end) is out.
        if let Ok(playlist) = tokio::fs::read_to_string(dir.join("index.m3u8")).await {
            if playlist != last_playlist {
                let listed: Vec<String> = playlist.lines().filter(|l| !l.starts_with('#') && l.ends_with(".ts")).map(str::to_owned).collect();
                let mut complete = true;
                for seg in &listed {
                    if published.contains_key(seg) {
                        continue;
                    }
                    match put_file(&*public, &dir.join(seg), &hls_key(&production_name, &id, seg), "video/mp2t").await {
                        Ok(()) => {
                            published.insert(seg.clone(), None);
                        }
                        Err(e) => {
                            tracing::warn!(segment = %seg, error = %e, "HLS segment not published; retried");
                            complete = false;
                        }
                    }
                }
                if complete && put_bytes(&*public, Bytes::from(playlist.clone()), &hls_key(&production_name, &id, "index.m3u8"), "application/vnd.apple.mpegurl").await.is_ok() {
                    last_playlist = playlist;
                    let now = tokio::time::Instant::now();
                    for (seg, dropped) in published.iter_mut() {
                        if !listed.contains(seg) && dropped.is_none() {
                            *dropped = Some(now);
                        }
                    }
                }
            }
        }
        let expired: Vec<String> = published.iter().filter(|(_, d)| d.is_some_and(|t| t.elapsed() >= KEEP_AFTER_LISTED)).map(|(s, _)| s.clone()).collect();
        for seg in expired {
            if let Ok(key) = BlobKey::parse(&hls_key(&production_name, &id, &seg)) {
                let _ = public.delete(&key).await;
            }
            published.remove(&seg);
        }
        if stop {
            return;
        }
    }
}

async fn put_file(public: &dyn Blobs, path: &std::path::Path, key: &str, content_type: &str) -> Result<(), String> {
    let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
    put_bytes(public, Bytes::from(bytes), key, content_type).await
}

async fn put_bytes(public: &dyn Blobs, bytes: Bytes, key: &str, content_type: &str) -> Result<(), String> {
    let key = BlobKey::parse(key).map_err(|e| e.to_string())?;
    let len = bytes.len() as u64;
    let body: podops_core::ports::ByteStream = Box::pin(futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) }));
    public.put(&key, content_type, body, len + 1).await.map(|_| ()).map_err(|e| e.to_string())
}
