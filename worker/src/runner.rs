//! The queue loop: receive up to the free concurrency, run each message's
//! job with a heartbeat, finish it conditionally, delete the message last.
//! On shutdown: receive no more, let running jobs finish within the grace
//! period, then stop the rest and hand them back (job queued, message
//! visible at once) so another worker takes them without waiting.

use std::{future::Future, sync::Arc, time::Duration};

use podops_core::{
    domain::{Job, JobMessage},
    ports::Received,
    service::{Claim, ServiceError, STREAM_JOB_PREFIX},
};
use tokio::{sync::{watch, Semaphore}, task::JoinSet};

use crate::{
    fault::{self, FaultPoint},
    tasks::Failure,
    Worker,
};

/// A long poll this short keeps shutdown prompt without cancelling a receive
/// mid-way (a cancelled receive could hide messages until their visibility ends).
const POLL_WAIT: Duration = Duration::from_secs(1);
/// Pause after the queue itself failed, so an outage is not a busy loop.
const QUEUE_ERROR_PAUSE: Duration = Duration::from_secs(2);

enum Ended {
    Finished(Result<(), Failure>),
    LeaseLost,
    Stopped,
}

impl Worker {
    /// Runs until `shutdown` resolves, then drains as described above.
    /// Announces this worker every `WORKER_BEAT` until it quits (see
    /// `service::workers`): its job and stream slots, and its FFmpeg.
    async fn beat(self: Arc<Self>, slots: Arc<Semaphore>, mut quit: watch::Receiver<bool>) {
        let ffmpeg = ffmpeg_version().await;
        let started = podops_core::ports::Clock::now(&*self.podops.clock);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
        loop {
            let (stream_slots, streams_running) = self.streams.as_ref().map_or((0, 0), |f| f.capacity());
            let job_slots = self.config.concurrency.max(1);
            let beat = podops_core::service::WorkerBeat {
                id: self.config.worker_id.clone(),
                host: host.clone(),
                pid: std::process::id(),
                started,
                seen: self.podops.clock.now(),
                job_slots,
                jobs_running: job_slots.saturating_sub(slots.available_permits()),
                stream_slots,
                streams_running,
                ffmpeg: ffmpeg.clone(),
            };
            if let Err(e) = self.podops.worker_beat(&beat).await {
                tracing::warn!(error = %e, "the worker's beat was not recorded");
            }
            tokio::select! {
                () = tokio::time::sleep(podops_core::service::WORKER_BEAT) => {}
                _ = quit.changed() => return,
            }
        }
    }

    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (quit_tx, quit_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = quit_tx.send(true);
        });
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut running = JoinSet::new();
        tracing::info!(worker = %self.config.worker_id, concurrency = self.config.concurrency, streams = self.streams.as_ref().map_or(0, |s| s.config.max_streams), "worker started");
        if let Some(fleet) = &self.streams {
            tokio::spawn(fleet.clone().scan());
        }
        tokio::spawn(self.clone().beat(Arc::clone(&slots), quit_rx.clone()));
        while !*quit_rx.borrow() {
            while running.try_join_next().is_some() {}
            let Ok(first) = slots.clone().acquire_owned().await else { break };
            let free = 1 + slots.available_permits();
            let messages = match self.podops.jobs.receive(free.min(10), self.config.visibility, POLL_WAIT).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "receiving jobs failed");
                    tokio::time::sleep(QUEUE_ERROR_PAUSE).await;
                    continue;
                }
            };
            let mut first = Some(first);
            for message in messages {
                let slot = match first.take() {
                    Some(s) => s,
                    None => match slots.clone().try_acquire_owned() {
                        Ok(s) => s,
                        // Cannot happen (we asked for no more than were free); hand it back.
                        Err(_) => {
                            let _ = self.podops.jobs.extend(&message.receipt, Duration::ZERO).await;
                            continue;
                        }
                    },
                };
                let (worker, stop) = (self.clone(), stop_rx.clone());
                running.spawn(async move {
                    worker.handle(message, stop).await;
                    drop(slot);
                });
            }
        }
        tracing::info!(running = running.len(), grace = ?self.config.grace, "worker stopping: finishing running jobs");
        // Streams stop cleanly and go back at once for another worker, while
        // the jobs get their grace period.
        let streams_down = async {
            if let Some(fleet) = &self.streams {
                fleet.shutdown().await;
            }
        };
        let jobs_down = async {
            let drained = tokio::time::timeout(self.config.grace, async { while running.join_next().await.is_some() {} }).await;
            if drained.is_err() {
                let _ = stop_tx.send(true);
                while running.join_next().await.is_some() {}
            }
        };
        tokio::join!(streams_down, jobs_down);
        tracing::info!("worker stopped");
    }

    async fn handle(&self, message: Received, stop: watch::Receiver<bool>) {
        let jobs = &self.podops.jobs;
        let Ok(parsed) = serde_json::from_str::<JobMessage>(&message.body) else {
            // Never retried into success: released at once, so the queue's
            // redrive moves it to the dead-letter queue within max-receives.
            tracing::warn!(message = %message.id, receive_count = message.receive_count, body_len = message.body.len(), "unparseable job message; left for the dead-letter queue");
            let _ = jobs.extend(&message.receipt, Duration::ZERO).await;
            return;
        };
        if let Some(stream) = parsed.job.strip_prefix(STREAM_JOB_PREFIX) {
            return self.offer_stream(&parsed.production, stream, &message).await;
        }
        if parsed.job.starts_with("notify-") {
            // An announcement waits for its window to close: the message comes back
            // then, rather than the job holding a slot while it waits.
            if let Ok(Some(due)) = self.podops.notification_due(&parsed.production, &parsed.job).await {
                let wait = due - self.podops.clock.now();
                if wait > 0 {
                    let _ = jobs.extend(&message.receipt, Duration::from_secs(wait as u64)).await;
                    return;
                }
            }
        }
        let lease = self.config.visibility.as_secs().max(1) as i64;
        match self.podops.claim_job(&parsed, &self.config.worker_id, lease).await {
            Ok(Claim::Claimed(job)) => self.run_claimed(job, &message, stop).await,
            Ok(Claim::Finished(_)) | Ok(Claim::Missing) => {
                // A duplicate or a redelivery of finished work: nothing to do.
                let _ = jobs.delete(&message.receipt).await;
            }
            Ok(Claim::HeldElsewhere { until }) => {
                // Come back when that lease ends, in case its holder died.
                let wait = (until - self.podops.clock.now()).max(0) as u64 + 1;
                let _ = jobs.extend(&message.receipt, Duration::from_secs(wait)).await;
            }
            Err(e) => {
                tracing::warn!(job = %parsed.job, error = %e, "could not claim; retried after the visibility timeout");
            }
        }
    }

    /// A stream message is only a nudge (workers also scan for orphaned
    /// streams): deleted once a worker took the stream or it is not wanted;
    /// left for another worker when this one is full or runs no streams.
    async fn offer_stream(&self, prod: &podops_core::domain::Guid, stream: &str, message: &Received) {
        let jobs = &self.podops.jobs;
        let Ok(id) = podops_core::domain::Guid::parse(stream) else {
            let _ = jobs.extend(&message.receipt, Duration::ZERO).await;
            return;
        };
        let offer = match &self.streams {
            Some(fleet) => fleet.offer(prod, &id).await,
            None => crate::stream::Offer::AtCapacity,
        };
        match offer {
            crate::stream::Offer::AtCapacity => {
                let _ = jobs.extend(&message.receipt, Duration::from_secs(5)).await;
            }
            _ => {
                let _ = jobs.delete(&message.receipt).await;
            }
        }
    }

    async fn run_claimed(&self, job: Job, message: &Received, mut stop: watch::Receiver<bool>) {
        fault::hit(FaultPoint::AfterClaim);
        let started = std::time::Instant::now();
        let jobs = &self.podops.jobs;
        let mut current = job.clone();
        let work = tokio::time::timeout(self.config.job_timeout, self.execute(&job));
        tokio::pin!(work);
        let mut beat = tokio::time::interval(self.config.visibility / 3);
        beat.tick().await;
        let lease = self.config.visibility.as_secs().max(1) as i64;
        let ended = loop {
            tokio::select! {
                out = &mut work => break Ended::Finished(out.unwrap_or_else(|_| Err(Failure { code: "job.timeout".into(), detail: format!("longer than {:?}", self.config.job_timeout), transient: false }))),
                _ = beat.tick() => {
                    // The heartbeat runs to completion here, between polls of the
                    // work, so the job's version stays in step with the store.
                    let _ = jobs.extend(&message.receipt, self.config.visibility).await;
                    match self.podops.renew_lease(&current, lease).await {
                        Ok(renewed) => current = renewed,
                        Err(ServiceError::LeaseLost) => break Ended::LeaseLost,
                        Err(e) => tracing::warn!(job = %job.id, error = %e, "lease renewal failed; retrying at the next beat"),
                    }
                }
                () = stopped(&mut stop) => break Ended::Stopped,
            }
        };
        // Dropping the work here kills any FFmpeg still running.
        match ended {
            Ended::LeaseLost => tracing::warn!(job = %job.id, "lease lost to another worker; dropped"),
            Ended::Stopped => {
                tracing::info!(job = %job.id, "shutdown: job handed back");
                let _ = self.podops.release_job(&current).await;
                let _ = jobs.extend(&message.receipt, Duration::ZERO).await;
            }
            Ended::Finished(Ok(())) => self.complete(&current, message, None).await,
            Ended::Finished(Err(failure)) => self.failed(&current, message, failure).await,
        }
        tracing::info!(job = %job.id, kind = ?job.kind, elapsed_ms = started.elapsed().as_millis() as u64, "job handled");
    }

    async fn failed(&self, job: &Job, message: &Received, failure: Failure) {
        let last_delivery = message.receive_count >= self.config.max_receives;
        if failure.transient && !last_delivery {
            tracing::warn!(job = %job.id, code = %failure.code, detail = %failure.detail, attempt = message.receive_count, "job failed; will retry");
            let _ = self.podops.release_job(job).await;
            let backoff = self.config.retry_backoff * message.receive_count;
            let _ = self.podops.jobs.extend(&message.receipt, backoff).await;
            return;
        }
        let code = if failure.transient { "job.retries_exhausted".to_owned() } else { failure.code.clone() };
        tracing::warn!(job = %job.id, code = %code, detail = %failure.detail, "job failed");
        if let Err(e) = self.podops.record_job_failure(job, &code).await {
            tracing::warn!(job = %job.id, error = %e, "could not record the failure; retried");
            return;
        }
        if failure.transient {
            // Out of deliveries: marked failed, and the message goes on to the
            // dead-letter queue (released, its next receive redrives it).
            let _ = self.podops.finish_job(job, Some(&code)).await;
            let _ = self.podops.jobs.extend(&message.receipt, Duration::ZERO).await;
        } else {
            self.complete(job, message, Some(&code)).await;
        }
    }

    async fn complete(&self, job: &Job, message: &Received, failure: Option<&str>) {
        match self.podops.finish_job(job, failure).await {
            Ok(_) => {}
            Err(ServiceError::LeaseLost) => {
                // Another worker took over after our lease lapsed; the output is
                // the same deterministic object, so its finish is as good as ours.
                tracing::warn!(job = %job.id, "lease lost before finishing");
                return;
            }
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "could not finish the job record; retried");
                return;
            }
        }
        fault::hit(FaultPoint::BeforeDelete);
        if let Err(e) = self.podops.jobs.delete(&message.receipt).await {
            tracing::warn!(job = %job.id, error = %e, "job done but its message was not deleted; a redelivery will find it done");
        }
        tracing::info!(job = %job.id, kind = ?job.kind, failed = failure.is_some(), "job finished");
    }
}

/// Resolves once shutdown's grace period is over (or the worker is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// `ffmpeg -version`'s first line, or `None` when FFmpeg cannot run here.
pub(crate) async fn ffmpeg_version() -> Option<String> {
    let out = tokio::process::Command::new("ffmpeg").arg("-version").kill_on_drop(true).output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success().then(|| text.lines().next().unwrap_or_default().to_owned())
}
