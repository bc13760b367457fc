//! Streams as users see them: references checked on write, control
//! (start, stop, restart, pause, resume), status, logs and duplication.
//! Control writes `desired`/`generation` into the run record; the worker's
//! heartbeat reads them back (see `stream_runs`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::domain::{
    audit::Target,
    live::{Desired, Live, LiveError, LiveState, OutputStatus},
    AssetState, Guid, Kind, Production, Resource, ResourceBody, Scope, Stream, StreamInput, StreamOutput, Timestamp,
    Version,
};
use crate::ports::{Record, StoreError, WriteOp};

use super::{keys, resources::resource_record, Caller, Need, Podops, ServiceError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamAction {
    Start,
    Stop,
    Restart,
    Pause,
    Resume,
}

impl StreamAction {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "start" => Self::Start,
            "stop" => Self::Stop,
            "restart" => Self::Restart,
            "pause" => Self::Pause,
            "resume" => Self::Resume,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }
}

/// `GET …/status`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StreamStatus {
    pub state: LiveState,
    pub desired: Desired,
    pub worker: Option<String>,
    pub started_at: Option<Timestamp>,
    /// Seconds since `started_at`.
    pub uptime: Option<i64>,
    pub bitrate: Option<f64>,
    pub speed: Option<f64>,
    pub out_time: Option<f64>,
    pub reconnects: u32,
    pub health: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LiveError>,
    pub outputs: Vec<OutputStatus>,
}

/// One line of a stream's log.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    pub seq: u64,
    pub ts: Timestamp,
    pub level: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    /// Pass as `after` to get the lines that follow.
    pub next: u64,
}

/// Lines kept per run, and runs kept (the current one and the two before).
pub const LOG_LINES_PER_RUN: usize = 500;
pub const LOG_RUNS_KEPT: u32 = 3;
/// A log line's sequence number is `run * LOG_SEQ_BASE + n`: ordered across runs.
pub const LOG_SEQ_BASE: u64 = 1_000_000_000;
pub const LOG_TTL: i64 = 7 * 24 * 3600;
/// How often a control write retries after losing a race with a heartbeat.
const CONTROL_ATTEMPTS: usize = 8;

impl Podops {
    pub(crate) async fn load_live(&self, prod: &Guid, id: &Guid) -> Result<Option<(Live, Version)>, ServiceError> {
        let Some(record) = self.records.get(&keys::live(prod, id)).await? else { return Ok(None) };
        let live: Live = serde_json::from_value(record.body).map_err(|e| StoreError::Corrupt(format!("live {id}: {e}")))?;
        Ok(Some((live, record.version)))
    }

    pub(crate) fn live_record(prod: &Guid, id: &Guid, live: &Live, version: Version) -> Result<Record, ServiceError> {
        let body = serde_json::to_value(live).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Record { key: keys::live(prod, id), version, body, expires_at: None })
    }

    /// What a stream's definition refers to must exist in the production, and
    /// the profile must fit every output. Playlists must not hold failed assets.
    pub(crate) async fn check_live_references(&self, production: &Production, body: &ResourceBody) -> Result<(), ServiceError> {
        match body {
            ResourceBody::Playlist(p) => {
                for (i, item) in p.items.iter().enumerate() {
                    let asset = self.asset_of(&production.guid, &item.asset, &format!("items[{i}].asset"), "playlist.asset_missing").await?;
                    if asset.state == AssetState::Failed {
                        return Err(unprocessable("playlist.asset_failed", format!("items[{i}].asset"), format!("asset {} failed; retry or replace it", item.asset)));
                    }
                }
                Ok(())
            }
            ResourceBody::Stream(s) => {
                let profile = self.profile_of(&production.guid, s).await?;
                for (i, o) in s.outputs.iter().enumerate() {
                    if let Err(why) = profile.carried_by(o.kind()) {
                        return Err(unprocessable("stream.profile_unsupported", format!("outputs[{i}]"), why));
                    }
                }
                if let StreamInput::Playlist(pl) = &s.input {
                    if self.records.get(&keys::resource(&production.guid, Kind::Playlist, pl)).await?.is_none() {
                        return Err(unprocessable("stream.playlist_missing", "input.playlist", format!("playlist {pl} is not in this production")));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn asset_of(&self, prod: &Guid, id: &Guid, field: &str, code: &'static str) -> Result<crate::domain::Asset, ServiceError> {
        match self.load(prod, Kind::Asset, id).await {
            Ok(Resource { body: ResourceBody::Asset(a), .. }) => Ok(a),
            Ok(_) | Err(ServiceError::ResourceNotFound { .. }) => Err(unprocessable(code, field, format!("asset {id} is not in this production"))),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn profile_of(&self, prod: &Guid, s: &Stream) -> Result<crate::domain::Profile, ServiceError> {
        match self.load(prod, Kind::Profile, &s.profile).await {
            Ok(Resource { body: ResourceBody::Profile(p), .. }) => Ok(p),
            Ok(_) | Err(ServiceError::ResourceNotFound { .. }) => {
                Err(unprocessable("stream.profile_missing", "profile", format!("profile {} is not in this production", s.profile)))
            }
            Err(e) => Err(e),
        }
    }

    /// What must hold before a stream can go on air (422 with a code otherwise).
    pub(crate) async fn check_startable(&self, prod: &Guid, s: &Stream) -> Result<(), ServiceError> {
        let production = self.production_record(prod).await?.ok_or_else(|| ServiceError::ProductionNotFound(prod.clone()))?;
        self.check_live_references(&production, &ResourceBody::Stream(s.clone())).await?;
        if let StreamInput::Playlist(pl) = &s.input {
            let Resource { body: ResourceBody::Playlist(playlist), .. } = self.load(prod, Kind::Playlist, pl).await? else {
                return Err(unprocessable("stream.playlist_missing", "input.playlist", "not a playlist"));
            };
            if playlist.items.is_empty() {
                return Err(unprocessable("stream.playlist_empty", "input.playlist", format!("playlist {pl} has no items")));
            }
            for (i, item) in playlist.items.iter().enumerate() {
                let asset = self.asset_of(prod, &item.asset, &format!("items[{i}].asset"), "stream.asset_missing").await?;
                if asset.state != AssetState::Ready {
                    return Err(unprocessable("stream.asset_not_ready", format!("items[{i}].asset"), format!("asset {} is {:?}, not ready", item.asset, asset.state).to_lowercase()));
                }
            }
        }
        Ok(())
    }

    async fn load_stream(&self, prod: &Guid, id: &Guid) -> Result<(Resource, Stream), ServiceError> {
        let resource = self.load(prod, Kind::Stream, id).await?;
        let ResourceBody::Stream(s) = &resource.body else { return Err(StoreError::Corrupt(format!("{id} is not a stream")).into()) };
        let s = s.clone();
        Ok((resource, s))
    }

    pub async fn control_stream(&self, caller: &Caller, prod: &Guid, id: &Guid, action: StreamAction) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Operate).await?;
        let (resource, stream) = self.load_stream(prod, id).await?;
        if matches!(action, StreamAction::Start | StreamAction::Restart) {
            self.check_startable(prod, &stream).await?;
        }
        let mut send = false;
        let mut done = false;
        let mut recording_job = None;
        for _ in 0..CONTROL_ATTEMPTS {
            let now = self.clock.now();
            let mut recording = None;
            let stored = self.load_live(prod, id).await?;
            let index = self.records.get(&keys::live_index(prod, id)).await?;
            let (mut live, version) = stored.clone().unwrap_or_else(|| (Live { updated: now, ..Live::default() }, Version::FIRST));
            let leased = live.lease_live(now);
            match action {
                StreamAction::Start | StreamAction::Restart => {
                    let fresh = live.desired == Desired::Stopped;
                    if fresh {
                        live.reconnects = 0;
                        live.recent_restarts.clear();
                        live.last_error = None;
                        live.started_at = None;
                    }
                    if fresh || action == StreamAction::Restart {
                        live.generation += 1;
                    }
                    live.desired = Desired::Running;
                    if !leased {
                        live.state = LiveState::Queued;
                    }
                    send = !leased;
                }
                StreamAction::Stop => {
                    // No worker holds it (its worker died): this stop ends the run.
                    let orphaned = !leased && live.desired != Desired::Stopped;
                    live.desired = Desired::Stopped;
                    if !leased && live.state != LiveState::Failed {
                        live.state = LiveState::Stopped;
                    }
                    if orphaned {
                        live.updated = now;
                        // The run ends here: a worker that only missed its renewals finds no lease.
                        live.lease = None;
                        recording = self.close_run(prod, id, &mut live).await?;
                    }
                }
                StreamAction::Pause | StreamAction::Resume => {
                    if live.desired == Desired::Stopped {
                        return Err(ServiceError::StreamNotRunning);
                    }
                    live.desired = if action == StreamAction::Pause { Desired::Paused } else { Desired::Running };
                }
            }
            live.updated = now;
            let mut ops = vec![match &stored {
                Some(_) => WriteOp::Replace { record: Self::live_record(prod, id, &live, version.next())?, expected: version },
                None => WriteOp::Create(Self::live_record(prod, id, &live, Version::FIRST)?),
            }];
            let wanted = live.desired != Desired::Stopped || leased;
            match (&index, wanted) {
                (None, true) => ops.push(WriteOp::Create(Record { key: keys::live_index(prod, id), version: Version::FIRST, body: serde_json::json!({}), expires_at: None })),
                (Some(r), false) => ops.push(WriteOp::Delete { key: r.key.clone(), expected: r.version }),
                _ => {}
            }
            let change = BTreeMap::from([("desired".to_owned(), [json!(stored.as_ref().map(|(l, _)| l.desired)), json!(live.desired)])]);
            ops.extend(self.audit_ops(caller, &format!("stream.{}", action.as_str()), Target::new("stream", id), Some(prod), change)?);
            let job = recording.map(|(more, job)| {
                ops.extend(more);
                job
            });
            match self.records.transact(&ops).await {
                Ok(()) => {
                    recording_job = job;
                    done = true;
                    break;
                }
                // A heartbeat wrote in between: read again and reapply.
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if !done {
            return Err(ServiceError::Contended);
        }
        if send {
            self.jobs.send(&stream_message(prod, id)).await?;
        }
        if let Some(job) = recording_job {
            self.send_job(&job).await?;
        }
        self.present(resource).await
    }

    pub async fn stream_status(&self, caller: &Caller, prod: &Guid, id: &Guid) -> Result<StreamStatus, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        let production = self.authorize(caller, prod, Need::Read).await?;
        let (_, stream) = self.load_stream(prod, id).await?;
        let now = self.clock.now();
        let live = self.load_live(prod, id).await?.map(|(l, _)| l).unwrap_or_default();
        let running = live.lease_live(now);
        let mut outputs = live.outputs.clone();
        if outputs.is_empty() && running {
            outputs = stream.outputs.iter().map(|o| OutputStatus { kind: o.kind(), state: crate::domain::OutputState::Connecting, url: None, error: None }).collect();
        }
        for (o, def) in outputs.iter_mut().zip(&stream.outputs) {
            o.url = self.listen_url(production.name.as_str(), id, def);
        }
        Ok(StreamStatus {
            state: live.state,
            desired: live.desired,
            worker: live.lease.as_ref().filter(|_| running).map(|l| l.worker.clone()),
            started_at: live.started_at,
            uptime: live.started_at.filter(|_| running).map(|t| now - t),
            bitrate: live.bitrate,
            speed: live.speed,
            out_time: live.out_time,
            reconnects: live.reconnects,
            health: live.health(now),
            last_error: live.last_error.clone(),
            outputs,
        })
    }

    /// Where listeners find an output: the public HLS playlist, the Icecast mount.
    pub fn listen_url(&self, production_name: &str, id: &Guid, output: &StreamOutput) -> Option<String> {
        match output {
            StreamOutput::Hls {} => {
                let base = self.publishing.as_ref()?.feed_base_url.trim_end_matches('/').to_owned();
                Some(format!("{base}/{}", hls_key(production_name, id, "index.m3u8")))
            }
            StreamOutput::Icecast { url, .. } => {
                let u = url::Url::parse(url).ok()?;
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                Some(format!("http://{}{port}{}", u.host_str()?, u.path()))
            }
            StreamOutput::Rtmp { .. } => None,
        }
    }

    pub async fn stream_logs(&self, caller: &Caller, prod: &Guid, id: &Guid, after: u64, limit: usize) -> Result<LogPage, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        self.load_stream(prod, id).await?;
        let lines = self.kept_log_lines(prod, id).await?;
        let page: Vec<LogLine> = lines.into_iter().filter(|l| l.seq > after).take(limit.clamp(1, 1000)).collect();
        let next = page.last().map_or(after, |l| l.seq);
        Ok(LogPage { lines: page, next })
    }

    /// The last `LOG_LINES_PER_RUN` lines of each of the last `LOG_RUNS_KEPT` runs, in order.
    pub(crate) async fn kept_log_lines(&self, prod: &Guid, id: &Guid) -> Result<Vec<LogLine>, ServiceError> {
        let mut lines = Vec::new();
        for record in self.list_all(prod, &keys::live_log_prefix(id)).await? {
            if let Some(chunk) = record.body.get("lines").cloned() {
                let chunk: Vec<LogLine> = serde_json::from_value(chunk).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                lines.extend(chunk);
            }
        }
        lines.sort_by_key(|l| l.seq);
        let newest_run = lines.last().map_or(0, |l| l.seq / LOG_SEQ_BASE);
        let first_run = newest_run.saturating_sub(u64::from(LOG_RUNS_KEPT) - 1);
        let mut kept = Vec::with_capacity(lines.len());
        for run in first_run..=newest_run {
            let of_run: Vec<&LogLine> = lines.iter().filter(|l| l.seq / LOG_SEQ_BASE == run).collect();
            kept.extend(of_run.iter().skip(of_run.len().saturating_sub(LOG_LINES_PER_RUN)).map(|l| (*l).clone()));
        }
        Ok(kept)
    }

    /// A copy of a stream, secrets included, under a new id; its run state starts afresh.
    pub async fn duplicate_stream(&self, caller: &Caller, prod: &Guid, id: &Guid) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Write).await?;
        let (_, mut stream) = self.load_stream(prod, id).await?;
        stream.title = format!("{} (copy)", if stream.title.is_empty() { "stream" } else { stream.title.as_str() });
        stream.title = stream.title.chars().take(255).collect();
        for _ in 0..4 {
            let copy_id = Guid::parse(&format!("{:012x}", rand::random::<u64>() >> 16)).map_err(ServiceError::Invalid)?;
            let now = self.clock.now();
            let copy = Resource { guid: copy_id, parent_guid: prod.clone(), created: now, updated: now, version: Version::FIRST, body: ResourceBody::Stream(stream.clone()) };
            let mut ops = vec![WriteOp::Create(resource_record(&copy)?)];
            ops.extend(self.audit_resource(caller, "duplicate", &copy, None)?);
            match self.records.transact(&ops).await {
                Ok(()) => return self.present(copy).await,
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// A stream may be deleted only when stopped: the ops that remove its run
    /// record with it.
    pub(crate) async fn stream_delete_ops(&self, prod: &Guid, id: &Guid) -> Result<Vec<WriteOp>, ServiceError> {
        let Some((live, version)) = self.load_live(prod, id).await? else { return Ok(Vec::new()) };
        if live.desired != Desired::Stopped || live.lease_live(self.clock.now()) {
            return Err(ServiceError::StreamRunning);
        }
        let mut ops = vec![WriteOp::Delete { key: keys::live(prod, id), expected: version }];
        if let Some(index) = self.records.get(&keys::live_index(prod, id)).await? {
            ops.push(WriteOp::Delete { key: index.key, expected: index.version });
        }
        Ok(ops)
    }

    /// A stream as clients see it: secrets masked, run state shown.
    pub(crate) async fn present_stream(&self, prod: &Guid, id: &Guid, stream: &mut Stream) -> Result<(), ServiceError> {
        *stream = stream.masked();
        let live = self.load_live(prod, id).await?.map(|(l, _)| l).unwrap_or_default();
        stream.desired = Some(live.desired);
        stream.state = Some(live.state);
        Ok(())
    }
}

/// The queue message that asks a worker to take a stream.
pub fn stream_message(prod: &Guid, id: &Guid) -> String {
    serde_json::json!({ "production": prod, "job": format!("{STREAM_JOB_PREFIX}{id}") }).to_string()
}

/// Job names of stream messages start with this; the rest is the stream id.
pub const STREAM_JOB_PREFIX: &str = "stream-";

/// The public store key of a stream's HLS file (`index.m3u8` or a segment).
pub fn hls_key(production_name: &str, id: &Guid, file: &str) -> String {
    format!("live/{production_name}/{id}/{file}")
}

fn unprocessable(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> ServiceError {
    ServiceError::Unprocessable { code, field: field.into(), message: message.into() }
}

