//! The recording of a stream: one more encoder on the pump's PCM, writing
//! closed segments (`-f segment`) into scratch; every closed segment is put
//! into the store at once and removed locally. A worker that dies loses only
//! the segment it was writing; the `record` job joins what is stored.

use std::{path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use podops_core::{
    live::command::{encoder_args, Target},
    ports::{BlobKey, Blobs},
    service::{recording_format, RECORDING_SEGMENT_SECONDS},
};
use tokio::sync::mpsc;

use super::{backoff::Backoff, child, shared::{unix_now, RunShared}};

/// How often closed segments are looked for.
const SHIP_EVERY: Duration = Duration::from_secs(2);
const CLOSE_GRACE: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Recorder {
    pub shared: Arc<RunShared>,
    pub blobs: Arc<dyn Blobs>,
    /// `recordings/<production>/<stream>/<started_at>`.
    pub folder: BlobKey,
    pub dir: PathBuf,
}

impl Recorder {
    pub async fn run(self, mut rx: mpsc::Receiver<Bytes>) {
        if let Err(e) = tokio::fs::create_dir_all(&self.dir).await {
            self.shared.log.push("error", &format!("recording: cannot make its scratch directory: {e}"));
            while rx.recv().await.is_some() {}
            return;
        }
        // Segments go to the store from their own task: a slow upload never holds up the
        // encoder's input (the pump drops what a full channel cannot take).
        let stop_shipping = tokio_util::sync::CancellationToken::new();
        let shipper = tokio::spawn(self.clone().ship_every(stop_shipping.clone()));
        self.record(&mut rx).await;
        stop_shipping.cancel();
        let _ = shipper.await;
        self.ship(true).await;
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
    }

    /// Feeds the encoder until the run ends, restarting it (with backoff) when it fails.
    async fn record(&self, rx: &mut mpsc::Receiver<Bytes>) {
        let mut backoff = Backoff::new();
        loop {
            // A new prefix per encoder: a restarted encoder never overwrites a segment.
            let prefix = format!("{:010}", unix_now());
            let args = encoder_args(&self.shared.profile, &Target::Segments { dir: &self.dir, prefix: &prefix, segment_seconds: RECORDING_SEGMENT_SECONDS });
            let mut proc = match child::spawn(&self.shared.ffmpeg, &args, true) {
                Ok(p) => p,
                Err(e) => {
                    self.shared.log.push("error", &format!("recording: cannot start ffmpeg: {e}"));
                    while rx.recv().await.is_some() {}
                    return;
                }
            };
            let (Some(stdin), Some(stdout), Some(stderr)) = (proc.stdin.take(), proc.stdout.take(), proc.stderr.take()) else { return };
            let _errors = child::log_stderr(stderr, self.shared.log.clone(), "recording".into());
            // FFmpeg's -progress lines: read and dropped, or the full pipe would stop the encoder.
            let progress = tokio::spawn(async move {
                let mut stdout = stdout;
                let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
            });
            let closed = child::feed(&mut proc, stdin, rx, CLOSE_GRACE).await;
            progress.abort();
            if closed {
                return;
            }
            self.shared.log.push("error", "recording: the encoder stopped; starting it again");
            if !child::drain_for(rx, backoff.next()).await {
                return;
            }
        }
    }

    /// Stores closed segments every `SHIP_EVERY` until stopped.
    async fn ship_every(self, stop: tokio_util::sync::CancellationToken) {
        let mut tick = tokio::time::interval(SHIP_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => self.ship(false).await,
                () = stop.cancelled() => return,
            }
        }
    }

    /// Puts closed segments into the store, oldest first; the newest is still
    /// being written unless `all`. A segment that fails to upload stays for
    /// the next round.
    async fn ship(&self, all: bool) {
        let Ok(mut entries) = tokio::fs::read_dir(&self.dir).await else { return };
        let mut names = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        if !all {
            names.pop();
        }
        let (content_type, _, _) = recording_format(self.shared.profile.format);
        for name in names {
            let path = self.dir.join(&name);
            let Ok(key) = BlobKey::parse(&format!("{}/{name}", self.folder)) else { continue };
            let Ok(file) = tokio::fs::File::open(&path).await else { continue };
            let body = Box::pin(tokio_util::io::ReaderStream::new(file));
            match self.blobs.put(&key, content_type, body, u64::MAX).await {
                Ok(_) => {
                    let _ = tokio::fs::remove_file(&path).await;
                }
                Err(e) => {
                    self.shared.log.push("warning", &format!("recording: segment {name} not stored yet: {e}"));
                    return;
                }
            }
        }
    }
}
