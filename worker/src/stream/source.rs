//! A stream's source: decodes the input to the profile's PCM for the pump.
//! - tone: one FFmpeg for the whole run;
//! - playlist: one FFmpeg per item, in order, from local files (the embedded
//!   store's own files; S3 objects staged once into a cache and reused), and
//!   from the first item again when the stream loops;
//! - url: the worker fetches the source with the guarded client (public
//!   addresses only, every redirect re-checked) and feeds FFmpeg's stdin, so
//!   FFmpeg itself never opens a connection: an audio stream's body as it
//!   comes, or an HLS playlist's segments in order (`hls_source`). A source
//!   that ends or drops is reconnected with backoff; the pump sends silence
//!   meanwhile.

use std::{path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::StreamExt;
use podops_core::live::command::{source_args, Source};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::mpsc,
};
use tokio_util::sync::CancellationToken;

use super::{backoff::Backoff, child, hls_source, shared::RunShared};

/// How a source ended.
pub enum SourceEnd {
    /// Cancelled by the supervisor.
    Cancelled,
    /// A playlist without `loop` played to its end.
    Finished,
    /// It cannot play (e.g. too many failures); `(code, hint)`.
    Failed(String, String),
}

pub enum Input {
    Tone(u32),
    Files(Vec<PathBuf>),
    Url(String),
}

pub async fn run_source(shared: Arc<RunShared>, input: Input, looped: bool, tx: mpsc::Sender<Bytes>, cancel: CancellationToken) -> SourceEnd {
    match input {
        Input::Tone(f) => {
            loop {
                let args = source_args(&Source::Tone(f), &shared.profile);
                match decode(&shared, &args, None, &tx, &cancel).await {
                    Decoded::Cancelled => return SourceEnd::Cancelled,
                    _ => {
                        shared.log.info("source: the tone generator stopped; starting it again");
                        if sleep_or_cancel(Duration::from_secs(1), &cancel).await {
                            return SourceEnd::Cancelled;
                        }
                    }
                }
            }
        }
        Input::Files(files) => loop {
            for (i, path) in files.iter().enumerate() {
                shared.log.info(&format!("source: playing item {} of {}", i + 1, files.len()));
                let args = source_args(&Source::File(path), &shared.profile);
                if let Decoded::Cancelled = decode(&shared, &args, None, &tx, &cancel).await {
                    return SourceEnd::Cancelled;
                }
            }
            if !looped {
                shared.log.info("source: the playlist has played to its end");
                return SourceEnd::Finished;
            }
        },
        Input::Url(url) => relay(shared, url, tx, cancel).await,
    }
}

async fn relay(shared: Arc<RunShared>, url: String, tx: mpsc::Sender<Bytes>, cancel: CancellationToken) -> SourceEnd {
    let mut backoff = Backoff::new();
    loop {
        let opened = tokio::select! {
            r = shared.fetcher.open(&url) => r,
            () = cancel.cancelled() => return SourceEnd::Cancelled,
        };
        let started = tokio::time::Instant::now();
        let failure = match opened {
            Err(e) => {
                let code = match e.code {
                    "import.forbidden_address" | "import.forbidden_scheme" => "source.address_blocked",
                    "import.http_status" if e.detail.contains("401") || e.detail.contains("403") => "source.auth_failed",
                    "import.http_status" => "source.http_status",
                    _ => "source.unreachable",
                };
                if code == "source.address_blocked" {
                    return SourceEnd::Failed(code.into(), "The source resolves to a private, loopback or link-local address.".into());
                }
                shared.log.push("error", &format!("source: cannot open the source: {}", e.code));
                (code.to_owned(), "The source could not be reached; retrying.".to_owned())
            }
            Ok(response) => {
                let feed = if hls_source::is_playlist(&response) {
                    shared.log.info("source: connected (HLS playlist)");
                    Feed::Hls(response)
                } else {
                    shared.log.info("source: connected");
                    Feed::Body(response)
                };
                shared.set_reconnecting(false);
                let args = source_args(&Source::Stdin, &shared.profile);
                match decode(&shared, &args, Some(feed), &tx, &cancel).await {
                    Decoded::Cancelled => return SourceEnd::Cancelled,
                    _ => ("source.dropped".to_owned(), "The source ended or dropped the connection; reconnecting.".to_owned()),
                }
            }
        };
        if started.elapsed() >= Duration::from_secs(30) {
            backoff.reset();
        }
        shared.set_reconnecting(true);
        shared.source_failed(&failure.0, &failure.1);
        if shared.restart_budget_spent() {
            return SourceEnd::Failed("stream.retries_exhausted".into(), format!("The source failed 10 times in 10 minutes; last: {}", failure.0));
        }
        let wait = backoff.next();
        shared.log.info(&format!("source: reconnecting in {:.1} s", wait.as_secs_f64()));
        if sleep_or_cancel(wait, &cancel).await {
            return SourceEnd::Cancelled;
        }
    }
}

/// What the worker writes into a decoder's stdin.
enum Feed {
    /// An audio stream's body, as it comes.
    Body(reqwest::Response),
    /// An HLS playlist: its segments, followed in order.
    Hls(reqwest::Response),
}

enum Decoded {
    Ended,
    Failed,
    Cancelled,
}

/// Runs one decoder to its end, copying its PCM into `tx`; with `feed`,
/// copies that HTTP body into its stdin.
async fn decode(shared: &Arc<RunShared>, args: &[String], feed: Option<Feed>, tx: &mpsc::Sender<Bytes>, cancel: &CancellationToken) -> Decoded {
    let mut proc = match child::spawn(&shared.ffmpeg, args, feed.is_some()) {
        Ok(c) => c,
        Err(e) => {
            shared.log.push("error", &format!("source: cannot start ffmpeg: {e}"));
            return Decoded::Failed;
        }
    };
    let (Some(mut stdout), Some(stderr)) = (proc.stdout.take(), proc.stderr.take()) else { return Decoded::Failed };
    let errors = child::log_stderr(stderr, shared.log.clone(), "source".into());
    let feeder = match (feed, proc.stdin.take()) {
        (Some(Feed::Hls(playlist)), Some(stdin)) => {
            let (fetcher, log) = (shared.fetcher.clone(), shared.log.clone());
            Some(tokio::spawn(async move {
                let why = hls_source::follow(&fetcher, playlist, stdin).await;
                log.info(&format!("source: the HLS source ended ({why})"));
            }))
        }
        (Some(Feed::Body(response)), Some(mut stdin)) => Some(tokio::spawn(async move {
            let mut body = response.bytes_stream();
            // No byte for this long is a dropped source.
            while let Ok(Some(Ok(piece))) = tokio::time::timeout(Duration::from_secs(10), body.next()).await {
                if stdin.write_all(&piece).await.is_err() {
                    break;
                }
            }
        })),
        _ => None,
    };
    let mut buf = vec![0u8; 32 * 1024];
    let result = loop {
        tokio::select! {
            read = stdout.read(&mut buf) => match read {
                Ok(0) | Err(_) => break Decoded::Ended,
                Ok(n) => {
                    tokio::select! {
                        sent = tx.send(Bytes::copy_from_slice(&buf[..n])) => if sent.is_err() { break Decoded::Cancelled },
                        () = cancel.cancelled() => break Decoded::Cancelled,
                    }
                }
            },
            () = cancel.cancelled() => break Decoded::Cancelled,
        }
    };
    if let Some(f) = feeder {
        f.abort();
    }
    if matches!(result, Decoded::Cancelled) {
        let _ = proc.kill().await;
        errors.abort();
        return result;
    }
    let status = proc.wait().await;
    let _ = errors.await;
    match status {
        Ok(s) if s.success() => Decoded::Ended,
        _ => Decoded::Failed,
    }
}

/// True if cancelled before the time was up.
pub async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => false,
        () = cancel.cancelled() => true,
    }
}
