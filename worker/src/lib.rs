//! The PodOps job worker: one library, two front doors (`podops worker` for
//! the fleet, and the in-process loop of `podops serve`). It takes messages
//! from the jobs queue, claims each job's record, runs it (imports through a
//! guarded HTTP client, probes and renditions through FFmpeg) with a
//! heartbeat, and completes it with conditional writes — so an at-least-once
//! queue gives exactly-once effects.

pub mod fault;
pub mod ffmpeg;
pub mod fetch;
mod backup;
mod feed_import;
mod inbox;
mod notify;
mod probe;
mod process;
mod runner;
pub mod stream;
mod tasks;

use std::{path::PathBuf, sync::Arc, time::Duration};

use podops_core::{ports::MediaTool, service::Podops};

pub use ffmpeg::{transcode_args, Ffmpeg};
pub use fetch::{AddressPolicy, FetchConfig, Fetcher, NameLookup, StaticLookup, SystemLookup};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a received message stays hidden, and a claim's lease; the
    /// heartbeat renews both every third of it.
    pub visibility: Duration,
    /// Deliveries before the queue dead-letters a message (the queue's own
    /// setting): the last delivery's failure marks the job failed.
    pub max_receives: u32,
    /// Wall-clock limit of one job.
    pub job_timeout: Duration,
    /// On shutdown, how long running jobs may take to finish before they are
    /// stopped and handed back to the queue.
    pub grace: Duration,
    /// Names this worker in job leases (logs, debugging).
    pub worker_id: String,
    /// Where FFmpeg's local copies go (one temp dir per job, removed after).
    pub scratch_dir: PathBuf,
    /// A job that failed for a passing reason is retried after this times its delivery count.
    pub retry_backoff: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            visibility: Duration::from_secs(60),
            max_receives: 5,
            job_timeout: Duration::from_secs(3 * 3600),
            grace: Duration::from_secs(30),
            worker_id: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            scratch_dir: std::env::temp_dir().join("podops-worker"),
            retry_backoff: Duration::from_secs(5),
        }
    }
}

pub struct Worker {
    pub(crate) podops: Podops,
    pub(crate) tool: Arc<dyn MediaTool>,
    pub(crate) fetcher: Fetcher,
    pub(crate) config: WorkerConfig,
    /// Live streams; `None`: this worker runs none (their messages go back to the queue).
    pub(crate) streams: Option<Arc<stream::StreamFleet>>,
}

impl Worker {
    pub fn new(podops: Podops, tool: Arc<dyn MediaTool>, fetcher: Fetcher, config: WorkerConfig) -> Self {
        Self { podops, tool, fetcher, config, streams: None }
    }

    /// Lets this worker run live streams too.
    pub fn with_streams(mut self, streams: Arc<stream::StreamFleet>) -> Self {
        self.streams = Some(streams);
        self
    }

    /// A worker with FFmpeg from PATH and the public-only HTTP client.
    pub fn standard(podops: Podops, config: WorkerConfig) -> Result<Self, fetch::FetchError> {
        let tool = Ffmpeg { time_limit: config.job_timeout, ..Ffmpeg::default() };
        Ok(Self::new(podops, Arc::new(tool), Fetcher::public()?, config))
    }
}

/// The in-process loop of `podops serve`: `concurrency` jobs at once until the
/// process gets SIGINT or SIGTERM. Zero runs none (a separate `podops worker` does).
pub async fn run_in_process(podops: Podops, concurrency: usize, allow: Vec<std::net::IpAddr>, streams: stream::StreamConfig) {
    if concurrency == 0 {
        return;
    }
    let config = WorkerConfig { concurrency, ..WorkerConfig::default() };
    let policy = AddressPolicy { also_allowed: allow };
    let built = Fetcher::new(Arc::new(SystemLookup), policy.clone(), FetchConfig::default())
        .and_then(|imports| Ok((imports, stream_fetcher(policy.clone())?)));
    match built {
        Ok((imports, relay)) => {
            let tool = Ffmpeg { time_limit: config.job_timeout, ..Ffmpeg::default() };
            let fleet = stream::StreamFleet::new(podops.clone(), Arc::new(relay), Arc::new(SystemLookup), policy, streams, config.worker_id.clone());
            let worker = Worker::new(podops, Arc::new(tool), imports, config).with_streams(fleet);
            Arc::new(worker).run(shutdown_signal()).await
        }
        Err(e) => tracing::error!(error = %e, "the worker could not start; imports, probes, renditions and streams wait"),
    }
}

/// The guarded client for relayed stream sources: the imports' checks, with
/// no limit on the whole transfer (a live source never ends) but a short read timeout.
pub fn stream_fetcher(policy: AddressPolicy) -> Result<Fetcher, fetch::FetchError> {
    let config = FetchConfig { read_timeout: Duration::from_secs(10), total_timeout: Duration::from_secs(366 * 24 * 3600), ..FetchConfig::default() };
    Fetcher::new(Arc::new(SystemLookup), policy, config)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, () = term => {} }
}
