//! The work of each job kind. Every output goes to a deterministic key and
//! every record change is idempotent, so running a job again after a crash
//! (at any point) ends in the same state with one output.

use std::path::Path;

use futures::StreamExt;
use podops_core::{
    domain::{AssetState, Job, JobKind},
    ports::{BlobError, BlobKey, ByteStream, MediaError},
    service::{encode_plan, inbox_key, rendition_key, ServiceError},
};
use tokio::io::AsyncWriteExt;

use crate::{
    fault::{self, FaultPoint},
    fetch, Worker,
};

/// Why a job did not succeed. `code` is what the asset shows.
#[derive(Debug)]
pub struct Failure {
    pub code: String,
    pub detail: String,
    /// Worth another delivery (the store or a tool was unavailable).
    pub transient: bool,
}

impl Failure {
    pub(crate) fn input(code: &str, detail: impl Into<String>) -> Self {
        Self { code: code.to_owned(), detail: detail.into(), transient: false }
    }

    /// The media store failed: worth another delivery.
    pub(crate) fn store(e: impl std::fmt::Display) -> Self {
        Self { code: "job.store".into(), detail: e.to_string(), transient: true }
    }
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::ResourceNotFound { .. } => Failure::input("asset.gone", e.to_string()),
            other => Failure::store(other),
        }
    }
}

impl From<MediaError> for Failure {
    fn from(e: MediaError) -> Self {
        Failure { code: e.code.to_owned(), detail: e.detail, transient: e.transient }
    }
}

impl From<fetch::FetchError> for Failure {
    fn from(e: fetch::FetchError) -> Self {
        Failure { code: e.code.to_owned(), detail: e.detail, transient: e.transient }
    }
}

impl Worker {
    pub(crate) async fn execute(&self, job: &Job) -> Result<(), Failure> {
        match job.kind {
            JobKind::Import => self.import(job).await,
            JobKind::Probe => self.probe(job).await,
            JobKind::Transcode => self.transcode(job).await,
            JobKind::Deliver => self.deliver(job).await,
            JobKind::Notify => self.notify(job).await,
            JobKind::FeedImport => self.feed_import(job).await,
            JobKind::Backup => self.backup(job).await,
            JobKind::Restore => self.restore(job).await,
            JobKind::Record => self.record(job).await,
            JobKind::Preflight | JobKind::DryRun => {
                // They run where streams run: a worker without streams hands them on.
                let Some(fleet) = &self.streams else {
                    return Err(Failure { code: "stream.no_stream_worker".into(), detail: "this worker runs no streams".into(), transient: true });
                };
                let done = if job.kind == JobKind::Preflight { fleet.preflight(job).await } else { fleet.dry_run(job, &*self.tool).await };
                done.map_err(Failure::from)
            }
        }
    }

    /// Joins a stopped stream's recorded segments into its recording asset,
    /// which is then probed like an upload; the segments are removed after.
    async fn record(&self, job: &Job) -> Result<(), Failure> {
        let (asset, folder) = self.podops.recording_of(job).await?;
        let segments = self.podops.blobs.list(&folder).await.map_err(Failure::store)?;
        if asset.state != AssetState::Importing {
            // A previous run stored the recording and crashed before cleaning up.
            self.remove_segments(&segments).await;
            return Ok(());
        }
        if segments.is_empty() {
            return Err(Failure::input("recording.empty", "no recorded segment was stored (the stream played for less than a segment?)"));
        }
        let dir = self.scratch()?;
        let mut files = Vec::with_capacity(segments.len());
        for (i, key) in segments.iter().enumerate() {
            let ext = key.as_str().rsplit_once('.').map_or("bin", |(_, e)| e);
            let file = dir.path().join(format!("{i:06}.{ext}"));
            self.download(key, &file).await?;
            files.push(file);
        }
        let ext = asset.content_type.as_str();
        let joined = dir.path().join(format!("recording.{}", self.podops.media.extension_of(ext).unwrap_or("bin")));
        self.tool.join(&files, &joined).await?;
        let media_type = self.podops.media.audio_type(&asset.content_type, "").ok_or_else(|| Failure::input("media.unsupported", asset.content_type.clone()))?;
        let file = tokio::fs::File::open(&joined).await.map_err(|e| Failure { code: "job.scratch".into(), detail: e.to_string(), transient: true })?;
        self.store_import(job, media_type, Box::pin(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20))).await?;
        self.remove_segments(&segments).await;
        Ok(())
    }

    async fn remove_segments(&self, segments: &[BlobKey]) {
        for key in segments {
            if let Err(e) = self.podops.blobs.delete(key).await {
                tracing::warn!(key = %key, error = %e, "a recorded segment was not removed");
            }
        }
    }

    /// One webhook delivery, signed per Standard Webhooks. A 2xx answer
    /// delivers it; anything else is an attempt to retry later (the job's
    /// backoff), until the queue's deliveries run out.
    async fn deliver(&self, job: &Job) -> Result<(), Failure> {
        let Some((delivery, hook)) = self.podops.delivery_of(job).await? else { return Ok(()) };
        if delivery.status != "pending" {
            return Ok(());
        }
        let timestamp = podops_core::ports::Clock::now(&*self.podops.clock);
        let headers = [
            ("webhook-id", delivery.id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", hook.signature(&delivery.id, timestamp, &delivery.payload)),
            ("user-agent", concat!("PodOps-Webhooks/", env!("CARGO_PKG_VERSION")).to_owned()),
        ];
        match self.fetcher.post(&hook.url, &headers, delivery.payload.clone()).await {
            Ok(status) if status.is_success() => {
                self.podops.record_attempt(&job.production, &delivery, Some(status.as_u16()), None, "delivered").await?;
                Ok(())
            }
            Ok(status) => {
                self.podops.record_attempt(&job.production, &delivery, Some(status.as_u16()), None, "pending").await?;
                Err(Failure { code: "webhook.http_status".into(), detail: format!("{} answered {status}", hook.url), transient: true })
            }
            Err(e) => {
                self.podops.record_attempt(&job.production, &delivery, None, Some(e.code.to_owned()), "pending").await?;
                // An address the guard refuses never becomes deliverable: no retries.
                Err(Failure { code: e.code.to_owned(), detail: e.detail, transient: e.transient })
            }
        }
    }

    async fn import(&self, job: &Job) -> Result<(), Failure> {
        let (_, asset) = self.podops.load_asset(&job.production, &job.asset).await?;
        if let Some(key) = asset.source.as_deref().and_then(inbox_key) {
            return self.import_inbox(job, &asset, key).await;
        }
        if asset.state != AssetState::Importing {
            // A previous run stored the bytes and crashed before finishing the job.
            return Ok(());
        }
        let source = asset.source.clone().unwrap_or_default();
        let response = self.fetcher.open(&source).await?;
        let declared_type = response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let filename = response.url().path_segments().and_then(|mut s| s.next_back()).unwrap_or("").to_owned();
        let media_type = self
            .podops
            .media
            .audio_type(&declared_type, &filename)
            .ok_or_else(|| Failure::input("media.unsupported", format!("not audio: '{declared_type}' '{filename}'")))?;
        let limit = self.podops.media.max_upload;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(Failure::input("import.too_large", format!("larger than {limit} bytes")));
        }
        self.store_import(job, media_type, fetch::body_stream(response)).await
    }

    /// Streams an import's bytes to the asset's own key (hashing them on the
    /// way) and hands them over to the asset.
    pub(crate) async fn store_import(&self, job: &Job, media_type: &'static str, body: ByteStream) -> Result<(), Failure> {
        let limit = self.podops.media.max_upload;
        let key = self.podops.import_key(&job.production, &job.asset, media_type)?;
        let meta = self.podops.blobs.put(&key, media_type, body, limit).await.map_err(|e| match e {
            BlobError::TooLarge { .. } => Failure::input("import.too_large", format!("larger than {limit} bytes")),
            BlobError::Body(e) => Failure { code: "import.fetch_failed".into(), detail: e.to_string(), transient: true },
            other => Failure::store(other),
        })?;
        fault::hit(FaultPoint::AfterOutput);
        self.podops.finish_import(&job.production, &job.asset, media_type, &key, &meta).await?;
        Ok(())
    }

    async fn probe(&self, job: &Job) -> Result<(), Failure> {
        let (_, asset) = self.podops.load_asset(&job.production, &job.asset).await?;
        let key = self.podops.media_key(&job.production, &job.asset, &asset)?.ok_or_else(|| Failure::input("media.missing", "no stored bytes"))?;
        let dir = self.scratch()?;
        let input = self.source_file(&key, dir.path()).await?;
        let probe = self.tool.probe(&input).await?;
        self.podops.record_probe(&job.production, &job.asset, &probe).await?;
        Ok(())
    }

    async fn transcode(&self, job: &Job) -> Result<(), Failure> {
        let spec = job.rendition.ok_or_else(|| Failure::input("job.invalid", "a transcode job without a rendition"))?;
        let (_, asset) = self.podops.load_asset(&job.production, &job.asset).await?;
        let (Some(probe), Some(sha)) = (asset.probe.clone(), asset.sha256.clone()) else {
            return Err(Failure::input("asset.not_probed", "the source has no probe facts"));
        };
        let source_key = self.podops.media_key(&job.production, &job.asset, &asset)?.ok_or_else(|| Failure::input("media.missing", "no stored bytes"))?;
        let out_key = rendition_key(&job.production, &sha, &spec)?;
        // Made by an earlier run that crashed before recording it: same key, same bytes.
        let size = match self.podops.blobs.head(&out_key).await.map_err(Failure::store)? {
            Some(meta) => meta.size,
            None => {
                let dir = self.scratch()?;
                let output = dir.path().join(format!("out.{}", spec.format.extension()));
                let input = self.source_file(&source_key, dir.path()).await?;
                self.tool.transcode(&input, &probe, &encode_plan(&spec, &probe), &output).await?;
                self.upload(&output, &out_key, spec.format.content_type()).await?
            }
        };
        fault::hit(FaultPoint::AfterOutput);
        self.podops.record_rendition(&job.production, &job.asset, &spec, Ok((&out_key, size))).await?;
        Ok(())
    }

    pub(crate) fn scratch(&self) -> Result<tempfile::TempDir, Failure> {
        std::fs::create_dir_all(&self.config.scratch_dir).and_then(|()| tempfile::tempdir_in(&self.config.scratch_dir))
            .map_err(|e| Failure { code: "job.scratch".into(), detail: e.to_string(), transient: true })
    }

    /// A local file of a stored object for FFmpeg: the store's own file when
    /// it has one (checked first, so a torn object is refused as missing),
    /// else a copy in `dir`.
    async fn source_file(&self, key: &BlobKey, dir: &Path) -> Result<std::path::PathBuf, Failure> {
        let blobs = &self.podops.blobs;
        match blobs.head(key).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(Failure::input("media.missing", format!("{key} is gone"))),
            Err(e) => return Err(Failure::store(e)),
        }
        if let Some(path) = blobs.local_path(key) {
            return Ok(path);
        }
        let copy = dir.join("source");
        self.download(key, &copy).await?;
        Ok(copy)
    }

    /// Copies a stored object to a local file.
    pub(crate) async fn download(&self, key: &BlobKey, to: &Path) -> Result<(), Failure> {
        let io = |e: std::io::Error| Failure { code: "job.scratch".into(), detail: e.to_string(), transient: true };
        let blob = self.podops.blobs.get(key, None).await.map_err(|e| match e {
            BlobError::NotFound => Failure::input("media.missing", format!("{key} is gone")),
            other => Failure::store(other),
        })?;
        let mut file = tokio::fs::File::create(to).await.map_err(io)?;
        let mut body = blob.body;
        while let Some(chunk) = body.next().await {
            file.write_all(&chunk.map_err(io)?).await.map_err(io)?;
        }
        file.flush().await.map_err(io)
    }

    async fn upload(&self, from: &Path, key: &BlobKey, content_type: &str) -> Result<u64, Failure> {
        let file = tokio::fs::File::open(from).await.map_err(|e| Failure { code: "job.scratch".into(), detail: e.to_string(), transient: true })?;
        let body = Box::pin(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
        let meta = self.podops.blobs.put(key, content_type, body, u64::MAX).await.map_err(Failure::store)?;
        Ok(meta.size)
    }
}
