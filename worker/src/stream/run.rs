//! One run of a stream on this worker: start the source, pump, outputs and
//! HLS publisher; every beat read the run record back (desired, generation,
//! lease) and act on it; write the status at most once per beat (when it
//! changed, or every `write_every` to renew the lease); stop cleanly.

use std::{path::PathBuf, sync::Arc, time::Duration};

use podops_core::{
    domain::{
        live::{Desired, Live, LiveError, LiveState},
        OutputKind, StreamInput, StreamOutput,
    },
    live::{command::pcm_bytes_per_second, redact::Redactor},
    ports::{BlobKey, Blobs},
    service::{recording_folder, ServiceError, StreamClaim},
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{
    hls::publish_hls,
    logsink::LogSink,
    output::run_output,
    pump::{Pump, PumpState},
    record::Recorder,
    shared::{unix_now, RunShared},
    source::{run_source, Input, SourceEnd},
    StreamFleet,
};

/// Progress that has not advanced for this long is a stalled run: restart it.
const STALL: Duration = Duration::from_secs(15);

struct Run {
    shared: Arc<RunShared>,
    pump: Arc<PumpState>,
    cancel: CancellationToken,
    hls_cancel: CancellationToken,
    source: Option<JoinHandle<SourceEnd>>,
    pump_task: JoinHandle<()>,
    outputs: Vec<JoinHandle<()>>,
    hls: Option<JoinHandle<()>>,
    dir: PathBuf,
    bytes_per_second: u64,
}

enum Outcome {
    /// desired = stopped: stopped cleanly.
    Stopped,
    /// This worker is shutting down: the stream goes back for another worker.
    Shutdown,
    /// desired generation changed, or the run stalled: start again.
    Restart,
    /// Another worker holds the stream now (or we could not renew in time).
    Lost,
    Failed(LiveError),
    /// A playlist without loop played to its end.
    Finished,
}

pub async fn supervise(fleet: Arc<StreamFleet>, claim: StreamClaim, mut quit: tokio::sync::watch::Receiver<bool>) {
    let (prod, id, fence) = (claim.production.clone(), claim.id.clone(), claim.fence);
    let redactor = Redactor::new(claim.stream.outputs.iter().filter_map(StreamOutput::secret));
    let log = Arc::new(LogSink::new(redactor, claim.live.run));
    log.info(&format!("run {} started on worker {}", claim.live.run, fleet.worker_id));
    tracing::info!(stream = %id, production = %prod, run = claim.live.run, fence, "stream claimed");
    let mut generation = claim.live.generation;
    let mut restarts = claim.live.recent_restarts.clone();
    let mut reconnects = claim.live.reconnects;
    let outcome = loop {
        let mut run = match Run::start(&fleet, &claim, log.clone(), restarts.clone(), generation).await {
            Ok(r) => r,
            Err(error) => break Outcome::Failed(error),
        };
        let outcome = watch(&fleet, &claim, &mut run, &log, &mut generation, reconnects, &mut quit).await;
        restarts = run.shared.recent_restarts();
        reconnects += run.shared.reconnects.load(std::sync::atomic::Ordering::Relaxed);
        match outcome {
            Outcome::Lost => {
                run.kill();
                tracing::warn!(stream = %id, "stream lease lost; its FFmpegs are killed");
                return;
            }
            Outcome::Restart => {
                log.info("restarting");
                run.stop().await;
                restarts.push(unix_now());
                continue;
            }
            other => {
                run.stop().await;
                break other;
            }
        }
    };
    let (state, error) = match outcome {
        Outcome::Stopped => (LiveState::Stopped, None),
        Outcome::Finished => (LiveState::Stopped, None),
        Outcome::Shutdown => (LiveState::Queued, None),
        Outcome::Failed(e) => {
            log.push("error", &format!("the stream failed: {} ({})", e.code, e.hint));
            (LiveState::Failed, Some(e))
        }
        Outcome::Lost | Outcome::Restart => return,
    };
    let _ = fleet.podops.append_stream_logs(&prod, &id, &log.take()).await;
    if let Err(e) = fleet.podops.end_stream_run(&prod, &id, fence, state, error).await {
        tracing::warn!(stream = %id, error = %e, "could not record the end of the run; its lease will run out");
    }
    tracing::info!(stream = %id, state = ?state, "stream run ended");
}

async fn watch(fleet: &Arc<StreamFleet>, claim: &StreamClaim, run: &mut Run, log: &Arc<LogSink>, generation: &mut u64, reconnects_before: u32, quit: &mut tokio::sync::watch::Receiver<bool>) -> Outcome {
    let (prod, id, fence) = (&claim.production, &claim.id, claim.fence);
    let cfg = &fleet.config;
    let mut beat = tokio::time::interval(cfg.beat);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_write = tokio::time::Instant::now();
    let mut written: Option<(LiveState, Desired)> = None;
    loop {
        tokio::select! {
            _ = beat.tick() => {}
            _ = quit.changed() => return Outcome::Shutdown,
        }
        if *quit.borrow() {
            return Outcome::Shutdown;
        }
        if run.source.as_ref().is_some_and(JoinHandle::is_finished) {
            // Only a source that cannot go on ends by itself.
            let ended = match run.source.take() {
                Some(handle) => handle.await.ok(),
                None => None,
            };
            return match ended {
                Some(SourceEnd::Finished) => Outcome::Finished,
                Some(SourceEnd::Failed(code, hint)) => Outcome::Failed(LiveError { code, hint }),
                _ => Outcome::Restart,
            };
        }
        let live = match fleet.podops.read_live(prod, id, fence).await {
            Ok(l) => l,
            Err(ServiceError::LeaseLost) => return Outcome::Lost,
            Err(e) => {
                tracing::warn!(stream = %id, error = %e, "reading the stream's record failed");
                if last_write.elapsed() + Duration::from_secs(5) >= Duration::from_secs(cfg.lease_secs as u64) {
                    // Our lease is about to run out unrenewed: stop before another worker starts.
                    return Outcome::Lost;
                }
                continue;
            }
        };
        match live.desired {
            Desired::Stopped => {
                let _ = fleet.podops.update_live(prod, id, fence, cfg.lease_secs, &|l: &mut Live| l.state = LiveState::Stopping).await;
                log.info("stop requested");
                return Outcome::Stopped;
            }
            _ if live.generation != *generation => {
                *generation = live.generation;
                return Outcome::Restart;
            }
            d => run.pump.paused.store(d == Desired::Paused, std::sync::atomic::Ordering::Relaxed),
        }
        let (any_live, all_failed, out_error, freshest, speed, bitrate) = run.shared.output_summary();
        if all_failed {
            // The outputs' final states, before the run ends.
            let outputs = run.shared.output_statuses();
            let _ = fleet.podops.update_live(prod, id, fence, cfg.lease_secs, &move |l: &mut Live| l.outputs = outputs.clone()).await;
            let code = out_error.unwrap_or_else(|| "output.failed".into());
            let hint = log.last_error().filter(|(c, _)| *c == code).map(|(_, h)| h).unwrap_or_else(|| "Every output failed.".into());
            return Outcome::Failed(LiveError { code, hint });
        }
        if run.shared.restart_budget_spent() {
            let last = run.shared.source_error().map(|e| e.code).or(out_error).unwrap_or_default();
            return Outcome::Failed(LiveError { code: "stream.retries_exhausted".into(), hint: format!("10 restarts in 10 minutes; the last failure: {last}") });
        }
        if any_live && freshest > STALL.as_secs_f64() {
            log.push("error", "the stream stalled (no progress for 15 s); restarting");
            run.shared.record_restart();
            return Outcome::Restart;
        }
        let state = if live.desired == Desired::Paused {
            LiveState::Paused
        } else if run.shared.reconnecting() {
            LiveState::Reconnecting
        } else if any_live {
            LiveState::Running
        } else {
            LiveState::Starting
        };
        let changed = written != Some((state, live.desired));
        if !changed && last_write.elapsed() < cfg.write_every {
            continue;
        }
        let lines = log.take();
        if let Err(e) = fleet.podops.append_stream_logs(prod, id, &lines).await {
            tracing::warn!(stream = %id, error = %e, "stream log lines not stored");
        }
        let now = unix_now();
        let out_time = run.pump.sent.load(std::sync::atomic::Ordering::Relaxed) as f64 / run.bytes_per_second as f64;
        let outputs = run.shared.output_statuses();
        let restarts = run.shared.recent_restarts();
        let reconnects = reconnects_before + run.shared.reconnects.load(std::sync::atomic::Ordering::Relaxed);
        let error = run.shared.source_error().filter(|_| run.shared.reconnecting()).or_else(|| {
            outputs.iter().find_map(|o| o.error.clone()).map(|code| LiveError { hint: log.last_error().filter(|(c, _)| *c == code).map(|(_, h)| h).unwrap_or_default(), code })
        }).or_else(|| run.shared.source_error());
        let progress_at = (freshest.is_finite() && any_live).then(|| now - freshest as i64);
        let apply = move |l: &mut Live| {
            l.state = state;
            l.out_time = Some((out_time * 10.0).round() / 10.0);
            l.speed = speed;
            l.bitrate = bitrate;
            l.progress_at = progress_at.or(l.progress_at);
            l.outputs = outputs.clone();
            l.recent_restarts = restarts.clone();
            l.reconnects = reconnects;
            if error.is_some() {
                l.last_error = error.clone();
            }
        };
        match fleet.podops.update_live(prod, id, fence, cfg.lease_secs, &apply).await {
            Ok(_) => {
                last_write = tokio::time::Instant::now();
                written = Some((state, live.desired));
            }
            Err(ServiceError::LeaseLost) => return Outcome::Lost,
            Err(e) => tracing::warn!(stream = %id, error = %e, "stream status not written; retried next beat"),
        }
    }
}

impl Run {
    async fn start(fleet: &Arc<StreamFleet>, claim: &StreamClaim, log: Arc<LogSink>, restarts: Vec<i64>, generation: u64) -> Result<Run, LiveError> {
        let profile = claim.profile.clone();
        let dir = fleet.config.scratch.join("streams").join(format!("{}-{}-{generation}", claim.id, claim.fence));
        let hls_dir = dir.join("hls");
        tokio::fs::create_dir_all(&hls_dir).await.map_err(|e| LiveError { code: "stream.scratch".into(), hint: format!("cannot make the worker's scratch directory: {e}") })?;
        let input = match &claim.stream.input {
            StreamInput::Tone(t) => Input::Tone(t.frequency),
            StreamInput::Url(u) => Input::Url(u.clone()),
            StreamInput::Playlist(_) => {
                let mut files = Vec::new();
                for (asset, _, key) in &claim.items {
                    files.push(local_copy(&fleet.podops.blobs, key, &fleet.config.scratch).await.map_err(|e| LiveError { code: "stream.asset_unavailable".into(), hint: format!("asset {asset} could not be read: {e}") })?);
                }
                Input::Files(files)
            }
        };
        let kinds: Vec<OutputKind> = claim.stream.outputs.iter().map(StreamOutput::kind).collect();
        let shared = Arc::new(RunShared::new(profile.clone(), fleet.config.ffmpeg.clone(), log, fleet.fetcher.clone(), fleet.lookup.clone(), fleet.policy.clone(), &kinds, restarts));
        let (source_tx, source_rx) = mpsc::channel(16);
        let mut senders = Vec::new();
        let mut outputs = Vec::new();
        for (i, o) in claim.stream.outputs.iter().enumerate() {
            let (tx, rx) = mpsc::channel(50);
            senders.push(tx);
            outputs.push(tokio::spawn(run_output(shared.clone(), i, o.clone(), hls_dir.clone(), rx)));
        }
        if claim.stream.record {
            let (tx, rx) = mpsc::channel(50);
            senders.push(tx);
            let started_at = claim.live.started_at.unwrap_or_else(unix_now);
            let folder = recording_folder(&claim.production, &claim.id, started_at).map_err(|e| LiveError { code: "stream.recording".into(), hint: e.to_string() })?;
            let recorder = Recorder { shared: shared.clone(), blobs: fleet.podops.blobs.clone(), folder, dir: dir.join("rec") };
            outputs.push(tokio::spawn(recorder.run(rx)));
        }
        let cancel = CancellationToken::new();
        let hls_cancel = CancellationToken::new();
        let hls = match (kinds.contains(&OutputKind::Hls), &fleet.podops.publishing) {
            (true, Some(publishing)) => Some(tokio::spawn(publish_hls(publishing.public.clone(), hls_dir, claim.production_name.clone(), claim.id.clone(), hls_cancel.clone()))),
            (true, None) => {
                shared.log.push("error", "this worker has no public store: the HLS output cannot be published");
                None
            }
            _ => None,
        };
        let pump_state = PumpState::new();
        let bytes_per_second = pcm_bytes_per_second(&profile);
        let pump = Pump {
            bytes_per_second,
            frame: usize::from(profile.channels) * 2,
            source: source_rx,
            outputs: senders,
            state: pump_state.clone(),
            drain_when_paused: matches!(claim.stream.input, StreamInput::Url(_)),
        };
        let pump_task = tokio::spawn(pump.run(cancel.clone()));
        let source = tokio::spawn(run_source(shared.clone(), input, claim.stream.looped, source_tx, cancel.clone()));
        Ok(Run { shared, pump: pump_state, cancel, hls_cancel, source: Some(source), pump_task, outputs, hls, dir, bytes_per_second })
    }

    /// Clean stop: the encoders get end-of-input and finish (killed after 5 s).
    async fn stop(self) {
        self.cancel.cancel();
        let _ = self.pump_task.await;
        for o in self.outputs {
            let abort = o.abort_handle();
            if tokio::time::timeout(Duration::from_secs(7), o).await.is_err() {
                abort.abort();
            }
        }
        self.hls_cancel.cancel();
        if let Some(h) = self.hls {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
        if let Some(source) = self.source {
            let _ = source.await;
        }
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
    }

    /// At once: every task aborted, every FFmpeg killed (kill on drop).
    fn kill(self) {
        self.cancel.cancel();
        self.hls_cancel.cancel();
        if let Some(source) = &self.source {
            source.abort();
        }
        self.pump_task.abort();
        for o in &self.outputs {
            o.abort();
        }
        if let Some(h) = &self.hls {
            h.abort();
        }
        let dir = self.dir.clone();
        tokio::spawn(async move {
            let _ = tokio::fs::remove_dir_all(dir).await;
        });
    }
}

/// A playlist item as a local file: the store's own file when it has one,
/// else a copy staged once into the worker's cache (reused by later runs).
pub(super) async fn local_copy(blobs: &Arc<dyn Blobs>, key: &BlobKey, scratch: &std::path::Path) -> Result<PathBuf, String> {
    if let Some(path) = blobs.local_path(key) {
        return Ok(path);
    }
    let cached = scratch.join("stream-cache").join(key.as_str().replace('/', "_"));
    if tokio::fs::metadata(&cached).await.is_ok() {
        return Ok(cached);
    }
    let dir = scratch.join("stream-cache");
    tokio::fs::create_dir_all(&dir).await.map_err(|e| e.to_string())?;
    let tmp = dir.join(format!(".{}-{:08x}", key.as_str().replace('/', "_"), rand::random::<u32>()));
    let mut blob = blobs.get(key, None).await.map_err(|e| e.to_string())?;
    let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| e.to_string())?;
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    while let Some(piece) = blob.body.next().await {
        let piece = piece.map_err(|e| e.to_string())?;
        file.write_all(&piece).await.map_err(|e| e.to_string())?;
    }
    file.flush().await.map_err(|e| e.to_string())?;
    tokio::fs::rename(&tmp, &cached).await.map_err(|e| e.to_string())?;
    Ok(cached)
}
