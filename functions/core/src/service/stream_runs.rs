//! Streams as the worker sees them: claim a stream's lease (a conditional
//! write that hands out the next fencing number), renew it with the
//! heartbeat's status, end the run, write log lines, and find streams that
//! should run but whose worker is gone.

use crate::domain::{
    live::{Desired, Lease, Live, LiveError, LiveState},
    notify::Reason,
    Asset, Guid, Kind, Profile, Resource, ResourceBody, Stream, StreamInput, Version,
};
use crate::ports::{BlobKey, ListQuery, Record, StoreError, WriteOp};

use super::{
    keys,
    streams::{LogLine, LOG_RUNS_KEPT, LOG_SEQ_BASE, LOG_TTL},
    Podops, ServiceError,
};

/// A worker's lease on a stream: renewed by its heartbeat's writes, taken
/// over by another worker once it has run out.
pub const STREAM_LEASE_SECS: i64 = 20;
/// Attempts of a heartbeat write that lost a race with a control write.
const WRITE_ATTEMPTS: usize = 6;

/// What a worker gets when it takes a stream.
#[derive(Debug, Clone)]
pub struct StreamClaim {
    pub production: Guid,
    pub production_name: String,
    pub id: Guid,
    pub stream: Stream,
    pub profile: Profile,
    /// Playlist items in order: the asset and where its bytes are.
    pub items: Vec<(Guid, Asset, BlobKey)>,
    pub live: Live,
    pub fence: u64,
}

/// How a stream's definition could not be played.
struct Unplayable(LiveError);

impl Podops {
    /// Takes a stream that should run and is held by no live lease. `None`:
    /// not wanted, held elsewhere, or another worker won the race.
    pub async fn claim_stream(&self, prod: &Guid, id: &Guid, worker: &str, lease_secs: i64) -> Result<Option<StreamClaim>, ServiceError> {
        let Some((live, version)) = self.load_live(prod, id).await? else { return Ok(None) };
        let now = self.clock.now();
        if live.desired == Desired::Stopped || live.lease_live(now) {
            return Ok(None);
        }
        let (name, stream, profile, items) = match self.playable(prod, id).await? {
            Ok(found) => found,
            Err(Unplayable(error)) => {
                // Nothing a retry would fix: the stream fails and stops.
                let failed = Live { desired: Desired::Stopped, state: LiveState::Failed, last_error: Some(error), lease: None, updated: now, ..live };
                let mut ops = vec![WriteOp::Replace { record: Self::live_record(prod, id, &failed, version.next())?, expected: version }];
                if let Some(index) = self.records.get(&keys::live_index(prod, id)).await? {
                    ops.push(WriteOp::Delete { key: index.key, expected: index.version });
                }
                match self.records.transact(&ops).await {
                    Ok(()) | Err(StoreError::Conflict) => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let taken_over = live.lease.is_some();
        let fence = live.fence + 1;
        let claimed = Live {
            lease: Some(Lease { worker: worker.to_owned(), until: now + lease_secs, fence }),
            fence,
            run: live.run + 1,
            state: LiveState::Starting,
            reconnects: live.reconnects + u32::from(taken_over),
            started_at: live.started_at.or(Some(now)),
            progress_at: None,
            outputs: Vec::new(),
            updated: now,
            ..live
        };
        match self.records.replace(&Self::live_record(prod, id, &claimed, version.next())?, version).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        self.prune_stream_logs(prod, id, claimed.run).await;
        Ok(Some(StreamClaim { production: prod.clone(), production_name: name, id: id.clone(), stream, profile, items, live: claimed, fence }))
    }

    /// The stream's definition with what it needs, or why it cannot play.
    async fn playable(&self, prod: &Guid, id: &Guid) -> Result<Result<(String, Stream, Profile, Vec<(Guid, Asset, BlobKey)>), Unplayable>, ServiceError> {
        let unplayable = |code: &str, hint: String| Ok(Err(Unplayable(LiveError { code: code.to_owned(), hint })));
        let Some(production) = self.production_record(prod).await? else { return unplayable("stream.missing", "the production is gone".into()) };
        let stream = match self.load(prod, Kind::Stream, id).await {
            Ok(Resource { body: ResourceBody::Stream(s), .. }) => s,
            Ok(_) | Err(ServiceError::ResourceNotFound { .. }) => return unplayable("stream.missing", "the stream was deleted".into()),
            Err(e) => return Err(e),
        };
        if let Err(e) = self.check_startable(prod, &stream).await {
            return match e {
                ServiceError::Unprocessable { code, message, .. } => unplayable(code, message),
                other => Err(other),
            };
        }
        let profile = self.profile_of(prod, &stream).await?;
        let mut items = Vec::new();
        if let StreamInput::Playlist(pl) = &stream.input {
            if let Resource { body: ResourceBody::Playlist(playlist), .. } = self.load(prod, Kind::Playlist, pl).await? {
                for item in playlist.items {
                    let Resource { body: ResourceBody::Asset(asset), .. } = self.load(prod, Kind::Asset, &item.asset).await? else { continue };
                    match self.media_key(prod, &item.asset, &asset)? {
                        Some(key) => items.push((item.asset, asset, key)),
                        None => return unplayable("stream.asset_not_ready", format!("asset {} has no stored bytes", item.asset)),
                    }
                }
            }
        }
        Ok(Ok((production.name.as_str().to_owned(), stream, profile, items)))
    }

    /// The run record, if this worker (`fence`) still holds the stream.
    pub async fn read_live(&self, prod: &Guid, id: &Guid, fence: u64) -> Result<Live, ServiceError> {
        match self.load_live(prod, id).await? {
            Some((live, _)) if live.lease.as_ref().is_some_and(|l| l.fence == fence) => Ok(live),
            _ => Err(ServiceError::LeaseLost),
        }
    }

    /// The heartbeat's write: `apply` the worker's status to the stored
    /// record and renew the lease, if this worker still holds it.
    pub async fn update_live(&self, prod: &Guid, id: &Guid, fence: u64, lease_secs: i64, apply: &(dyn Fn(&mut Live) + Send + Sync)) -> Result<Live, ServiceError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some((mut live, version)) = self.load_live(prod, id).await? else { return Err(ServiceError::LeaseLost) };
            let now = self.clock.now();
            match &mut live.lease {
                Some(lease) if lease.fence == fence => lease.until = now + lease_secs,
                _ => return Err(ServiceError::LeaseLost),
            }
            let before = live.state;
            apply(&mut live);
            live.updated = now;
            match self.records.replace(&Self::live_record(prod, id, &live, version.next())?, version).await {
                Ok(()) => {
                    let event = match live.state {
                        LiveState::Running if before != LiveState::Running && before != LiveState::Paused => Some("stream.started"),
                        LiveState::Reconnecting if before != LiveState::Reconnecting => Some("stream.reconnecting"),
                        _ => None,
                    };
                    if let Some(event) = event {
                        self.emit(prod, event, serde_json::json!({ "stream": id, "state": live.state })).await;
                        if event == "stream.started" {
                            // The feed's live item moves from pending to live.
                            self.feed_is_stale(prod).await?;
                            self.announce(prod, Reason::Live).await;
                        }
                    }
                    return Ok(live);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// Ends this worker's run: the lease is given up. A failure stops the
    /// stream for good (`desired` stopped); a worker shutting down leaves it
    /// wanted, so another worker takes it at once.
    pub async fn end_stream_run(&self, prod: &Guid, id: &Guid, fence: u64, state: LiveState, error: Option<LiveError>) -> Result<(), ServiceError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some((mut live, version)) = self.load_live(prod, id).await? else { return Ok(()) };
            if live.lease.as_ref().is_none_or(|l| l.fence != fence) {
                return Ok(());
            }
            live.lease = None;
            live.updated = self.clock.now();
            // Failed, or played to its end: not to be restarted. Anything
            // else (a worker shutting down) leaves it for another worker.
            if matches!(state, LiveState::Failed | LiveState::Stopped) {
                live.desired = Desired::Stopped;
            }
            live.state = if live.desired == Desired::Stopped { state } else { LiveState::Queued };
            if error.is_some() {
                live.last_error = error.clone();
            }
            let mut recording = None;
            if live.desired == Desired::Stopped {
                recording = self.close_run(prod, id, &mut live).await?;
            }
            let mut ops = vec![WriteOp::Replace { record: Self::live_record(prod, id, &live, version.next())?, expected: version }];
            if live.desired == Desired::Stopped {
                if let Some(index) = self.records.get(&keys::live_index(prod, id)).await? {
                    ops.push(WriteOp::Delete { key: index.key, expected: index.version });
                }
            }
            let recording_job = recording.map(|(more, job)| {
                ops.extend(more);
                job
            });
            match self.records.transact(&ops).await {
                Ok(()) => {
                    if let Some(job) = recording_job {
                        // A lost send is re-sent by the job sweeper.
                        if let Err(e) = self.send_job(&job).await {
                            tracing::warn!(stream = %id, error = %e, "the recording job was not sent; the sweeper sends it");
                        }
                    }
                    let event = match live.state {
                        LiveState::Failed => Some("stream.failed"),
                        LiveState::Stopped => Some("stream.stopped"),
                        _ => None,
                    };
                    if let Some(event) = event {
                        let error = live.last_error.as_ref().map(|e| serde_json::json!({ "code": e.code }));
                        self.emit(prod, event, serde_json::json!({ "stream": id, "state": live.state, "error": error })).await;
                        // The feed's live item moves from live to ended.
                        self.feed_is_stale(prod).await?;
                        self.announce(prod, Reason::LiveEnd).await;
                    }
                    return Ok(());
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// A run that ended for good: it joins the feed's past runs (the last 3)
    /// and, when the stream records, gives the writes of its recording.
    pub(crate) async fn close_run(&self, prod: &Guid, id: &Guid, live: &mut Live) -> Result<Option<(Vec<WriteOp>, crate::domain::Job)>, ServiceError> {
        let Some(start) = live.started_at else { return Ok(None) };
        if live.past_runs.iter().any(|r| r.start == start) {
            // Already closed (and its recording made): a second end changes nothing.
            return Ok(None);
        }
        live.past_runs.push(crate::domain::live::PastRun { start, end: live.updated });
        let excess = live.past_runs.len().saturating_sub(3);
        live.past_runs.drain(..excess);
        let stream = match self.load(prod, Kind::Stream, id).await {
            Ok(Resource { body: ResourceBody::Stream(s), .. }) => s,
            Ok(_) | Err(ServiceError::ResourceNotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !stream.record {
            return Ok(None);
        }
        let format = match self.profile_of(prod, &stream).await {
            Ok(p) => p.format,
            Err(ServiceError::ResourceNotFound { .. }) => crate::domain::AudioFormat::Mp3,
            Err(e) => return Err(e),
        };
        let Some((ops, job)) = self.recording_ops(prod, id, &stream, live, format)? else { return Ok(None) };
        // Already made for this start (the same start ended twice): keep the first.
        if self.records.get(&keys::resource(prod, Kind::Asset, &job.asset)).await?.is_some() {
            return Ok(None);
        }
        Ok(Some((ops.to_vec(), job)))
    }

    /// Streams that should run but no worker holds (never claimed, or their
    /// worker died and its lease ran out). Entries of stopped streams are removed.
    pub async fn orphaned_streams(&self) -> Result<Vec<(Guid, Guid)>, ServiceError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.records.list(&ListQuery { partition: keys::LIVE_STREAMS.to_owned(), prefix: String::new(), after, limit: 1000 }).await?;
            for entry in &page.records {
                let Some((p, s)) = entry.key.sort.split_once('#') else { continue };
                let (Ok(prod), Ok(id)) = (Guid::parse(p), Guid::parse(s)) else { continue };
                let now = self.clock.now();
                match self.load_live(&prod, &id).await? {
                    Some((live, _)) if live.desired != Desired::Stopped && !live.lease_live(now) => out.push((prod, id)),
                    Some((live, _)) if live.desired != Desired::Stopped || live.lease_live(now) => {}
                    // Stopped while its worker was dead: nobody ended the run.
                    Some((live, version)) if live.lease.is_some() => {
                        if let Err(e) = self.abandon_run(&prod, &id, live, version, entry).await {
                            tracing::warn!(stream = %id, error = %e, "ending a stopped stream whose worker died failed; retried at the next scan");
                        }
                    }
                    _ => {
                        let _ = self.records.delete(&entry.key, entry.version).await;
                    }
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Ends the run of a stream stopped while no worker was alive to end it:
    /// the dead lease is cleared, and the run closed (its recording made from
    /// the segments stored before the worker died).
    async fn abandon_run(&self, prod: &Guid, id: &Guid, mut live: Live, version: Version, index: &Record) -> Result<(), ServiceError> {
        live.lease = None;
        live.updated = self.clock.now();
        if live.state != LiveState::Failed {
            live.state = LiveState::Stopped;
        }
        let recording = self.close_run(prod, id, &mut live).await?;
        let mut ops = vec![
            WriteOp::Replace { record: Self::live_record(prod, id, &live, version.next())?, expected: version },
            WriteOp::Delete { key: index.key.clone(), expected: index.version },
        ];
        let job = recording.map(|(more, job)| {
            ops.extend(more);
            job
        });
        match self.records.transact(&ops).await {
            Ok(()) => {}
            // A control write or another worker's scan got there first.
            Err(StoreError::Conflict) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.emit(prod, "stream.stopped", serde_json::json!({ "stream": id, "state": live.state, "error": null })).await;
        self.feed_is_stale(prod).await?;
        self.announce(prod, Reason::LiveEnd).await;
        if let Some(job) = job {
            self.send_job(&job).await?;
        }
        Ok(())
    }

    /// Stores a batch of log lines (already redacted by the worker).
    pub async fn append_stream_logs(&self, prod: &Guid, id: &Guid, lines: &[LogLine]) -> Result<(), ServiceError> {
        let Some(first) = lines.first() else { return Ok(()) };
        let body = serde_json::json!({ "lines": lines });
        let record = Record { key: keys::live_log(prod, id, first.seq), version: Version::FIRST, body, expires_at: Some(self.clock.now() + LOG_TTL) };
        match self.records.create(&record).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the log chunks of runs older than the ones kept.
    async fn prune_stream_logs(&self, prod: &Guid, id: &Guid, run: u32) {
        let oldest_kept = u64::from(run.saturating_sub(LOG_RUNS_KEPT - 1));
        let Ok(chunks) = self.list_all(prod, &keys::live_log_prefix(id)).await else { return };
        for chunk in chunks {
            let seq = chunk.key.sort.rsplit('#').next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(u64::MAX);
            if seq / LOG_SEQ_BASE < oldest_kept {
                let _ = self.records.delete(&chunk.key, chunk.version).await;
            }
        }
    }
}
