//! Live streams on the worker (seed 004): a `StreamFleet` takes streams —
//! from a queue message (`stream-<id>`, the fast path when a user starts one)
//! or from its own scan for streams whose worker is gone — claims each with a
//! fenced lease in the store, and supervises it (`run`) until told otherwise.
//! See docs/streams.md for the design and its figures.

mod address;
mod backoff;
mod child;
mod dry_run;
mod hls;
mod hls_source;
mod logsink;
mod output;
mod preflight;
mod pump;
mod record;
mod run;
mod shared;
mod source;

use std::{path::PathBuf, sync::Arc, time::Duration};

use podops_core::{domain::Guid, service::{Podops, STREAM_LEASE_SECS}};
use tokio::sync::{watch, Semaphore};

use crate::fetch::{AddressPolicy, Fetcher, NameLookup};

#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Streams this worker runs at once; a worker at capacity leaves the rest to others.
    pub max_streams: usize,
    pub lease_secs: i64,
    /// How often a run reads its record back (stop, pause, restart reach it within this).
    pub beat: Duration,
    /// The status is written when it changes, else this often (renewing the lease).
    pub write_every: Duration,
    /// How often the worker looks for streams without a live worker.
    pub scan_every: Duration,
    pub scratch: PathBuf,
    pub ffmpeg: PathBuf,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            max_streams: 4,
            lease_secs: STREAM_LEASE_SECS,
            beat: Duration::from_secs(2),
            write_every: Duration::from_secs(5),
            scan_every: Duration::from_secs(3),
            scratch: std::env::temp_dir().join("podops-worker"),
            ffmpeg: PathBuf::from("ffmpeg"),
        }
    }
}

pub struct StreamFleet {
    pub(crate) podops: Podops,
    pub(crate) fetcher: Arc<Fetcher>,
    pub(crate) lookup: Arc<dyn NameLookup>,
    pub(crate) policy: AddressPolicy,
    pub(crate) config: StreamConfig,
    pub(crate) worker_id: String,
    slots: Arc<Semaphore>,
    quit: watch::Sender<bool>,
    running: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
}

/// What became of a stream offered to this worker.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Taken,
    /// Not wanted any more, or held by another worker.
    NotClaimed,
    AtCapacity,
}

impl StreamFleet {
    pub fn new(podops: Podops, fetcher: Arc<Fetcher>, lookup: Arc<dyn NameLookup>, policy: AddressPolicy, config: StreamConfig, worker_id: String) -> Arc<Self> {
        let slots = Arc::new(Semaphore::new(config.max_streams));
        Arc::new(Self { podops, fetcher, lookup, policy, config, worker_id, slots, quit: watch::channel(false).0, running: Default::default() })
    }

    /// Streams this worker may run, and runs now.
    pub fn capacity(&self) -> (usize, usize) {
        (self.config.max_streams, self.config.max_streams - self.slots.available_permits())
    }

    pub async fn offer(self: &Arc<Self>, prod: &Guid, id: &Guid) -> Offer {
        if *self.quit.borrow() {
            return Offer::AtCapacity;
        }
        let Ok(slot) = self.slots.clone().try_acquire_owned() else { return Offer::AtCapacity };
        match self.podops.claim_stream(prod, id, &self.worker_id, self.config.lease_secs).await {
            Ok(Some(claim)) => {
                let (fleet, quit) = (self.clone(), self.quit.subscribe());
                self.running.lock().await.spawn(async move {
                    run::supervise(fleet, claim, quit).await;
                    drop(slot);
                });
                Offer::Taken
            }
            Ok(None) => Offer::NotClaimed,
            Err(e) => {
                tracing::warn!(stream = %id, error = %e, "claiming a stream failed");
                Offer::NotClaimed
            }
        }
    }

    /// Takes over streams that should run and no worker holds, every `scan_every`.
    pub async fn scan(self: Arc<Self>) {
        let mut quit = self.quit.subscribe();
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.config.scan_every) => {}
                _ = quit.changed() => return,
            }
            if self.slots.available_permits() == 0 {
                continue;
            }
            match self.podops.orphaned_streams().await {
                Ok(orphans) => {
                    for (prod, id) in orphans {
                        if self.offer(&prod, &id).await == Offer::AtCapacity {
                            break;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "looking for streams without a worker failed"),
            }
        }
    }

    /// Stops every run cleanly and hands its stream back (another worker takes it at once).
    pub async fn shutdown(&self) {
        let _ = self.quit.send(true);
        let mut running = self.running.lock().await;
        while running.join_next().await.is_some() {}
    }
}
