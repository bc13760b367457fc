//! Recordings (seed 004 /recordings, /replay): a stream with `record: true`
//! has the worker write its audio in closed segments under
//! `recordings/<production>/<stream>/<started_at>/` as it plays, so a worker
//! that dies loses at most the segment it was writing. When the stream stops
//! for good, the run's end writes a recording asset (`importing`) and a
//! `record` job in the same transaction; the worker joins the segments into
//! the asset's bytes, and the asset is probed like an upload. Once probed it
//! is `recording.ready`, and published as an episode when the stream says so.

use serde::Serialize;
use serde_json::{json, Value};

use crate::{
    domain::{
        live::Live, AudioFormat, Asset, AssetRel, AssetState, ClientId, Guid, Job, JobKind, Kind, Recorded, Resource, ResourceBody, Scope,
        Scopes, Stream, Version,
    },
    ports::{BlobKey, WriteOp},
};

use super::{resources::resource_record, Caller, Need, Podops, RequestContext, ServiceError};

/// Seconds of audio per recorded segment: what a dying worker can lose at most.
pub const RECORDING_SEGMENT_SECONDS: u32 = 10;

/// How a profile's format is recorded: content type, file extension and the
/// FFmpeg muxer of each segment. Every one survives being cut off.
pub fn recording_format(format: AudioFormat) -> (&'static str, &'static str, &'static str) {
    match format {
        AudioFormat::Mp3 => ("audio/mpeg", "mp3", "mp3"),
        AudioFormat::Aac => ("audio/aac", "aac", "adts"),
        AudioFormat::Opus => ("audio/ogg", "ogg", "ogg"),
        AudioFormat::Flac => ("audio/flac", "flac", "flac"),
    }
}

/// The folder of one recording's segments: one per start of the stream
/// (restarts and worker takeovers keep `started_at`, so they add to it).
pub fn recording_folder(prod: &Guid, stream: &Guid, started_at: i64) -> Result<BlobKey, ServiceError> {
    Ok(BlobKey::parse(&format!("recordings/{prod}/{stream}/{started_at}"))?)
}

/// One recording as `GET /a/v1/recordings/{prod}` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordingSummary {
    pub asset: Guid,
    pub stream: Guid,
    pub name: String,
    pub start: i64,
    pub end: i64,
    pub state: AssetState,
    /// Seconds, once probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordingList {
    pub recordings: Vec<RecordingSummary>,
}

impl Podops {
    /// The writes that turn a run that ended for good into a recording: the
    /// asset and its job (none when the stream does not record or never
    /// started). Written with the run's end, so neither is ever lost.
    pub(crate) fn recording_ops(&self, prod: &Guid, id: &Guid, stream: &Stream, live: &Live, profile_format: AudioFormat) -> Result<Option<(Vec<WriteOp>, Job)>, ServiceError> {
        let Some(start) = live.started_at.filter(|_| stream.record) else { return Ok(None) };
        let end = self.clock.now();
        let (content_type, ext, _) = recording_format(profile_format);
        let title = if stream.title.is_empty() { format!("stream {id}") } else { stream.title.clone() };
        let asset = Asset {
            name: format!("{title} {}.{ext}", date_time(start)),
            content_type: content_type.to_owned(),
            rel: AssetRel::Recording,
            source: Some(format!("stream:{id}")),
            state: AssetState::Importing,
            recorded: Some(Recorded { stream: id.clone(), start, end }),
            ..Default::default()
        };
        // One recording per start of the stream: the same start never makes two.
        let guid = recording_guid(id, start);
        let resource = Resource { guid: guid.clone(), parent_guid: prod.clone(), created: end, updated: end, version: Version::FIRST, body: ResourceBody::Asset(asset) };
        let job = Job::new(JobKind::Record, prod.clone(), guid, None, end);
        let mut ops = vec![WriteOp::Create(resource_record(&resource)?)];
        ops.extend(self.create_job_ops(&job)?);
        Ok(Some((ops, job)))
    }

    /// The recording asset and where its segments are, for the worker's `record` job.
    pub async fn recording_of(&self, job: &Job) -> Result<(Asset, BlobKey), ServiceError> {
        let (_, asset) = self.load_asset(&job.production, &job.asset).await?;
        let Some(recorded) = asset.recorded.clone() else { return Err(ServiceError::ResourceNotFound { kind: Kind::Asset, guid: job.asset.clone() }) };
        let folder = recording_folder(&job.production, &recorded.stream, recorded.start)?;
        Ok((asset, folder))
    }

    /// `GET /a/v1/recordings/{prod}`: the production's recordings, newest first.
    pub async fn recordings(&self, caller: &Caller, prod: &Guid) -> Result<RecordingList, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        let assets = self.list_all(prod, &super::keys::resource_prefix(Kind::Asset)).await?;
        let mut recordings: Vec<RecordingSummary> = assets
            .into_iter()
            .filter_map(|record| Resource::from_value(record.body).ok())
            .filter_map(|r| match r.body {
                ResourceBody::Asset(a) => Some((r.guid, a)),
                _ => None,
            })
            .filter_map(|(guid, a)| {
                let r = a.recorded.clone().filter(|_| a.rel == AssetRel::Recording)?;
                Some(RecordingSummary {
                    asset: guid,
                    stream: r.stream,
                    name: a.name,
                    start: r.start,
                    end: r.end,
                    state: a.state,
                    duration: a.probe.as_ref().map(|p| p.duration),
                    size: a.size,
                    error: a.error,
                })
            })
            .collect();
        recordings.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| a.asset.as_str().cmp(b.asset.as_str())));
        Ok(RecordingList { recordings })
    }

    /// `POST /a/v1/recordings/{prod}/{asset}/publish`: an episode enclosing
    /// the recording (the replay). Fields left out default to the stream's
    /// title and the recording's date, published now.
    pub async fn publish_recording(&self, caller: &Caller, prod: &Guid, asset: &Guid, fields: Value) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Write).await?;
        let (_, recording) = self.load_asset(prod, asset).await?;
        let Some(recorded) = recording.recorded.clone().filter(|_| recording.rel == AssetRel::Recording) else {
            return Err(ServiceError::ResourceNotFound { kind: Kind::Asset, guid: asset.clone() });
        };
        match recording.state {
            AssetState::Ready => {}
            AssetState::Failed => return Err(ServiceError::AssetFailed(recording.error.unwrap_or_else(|| "recording.failed".into()))),
            _ => return Err(ServiceError::AssetNotReady { retry_after: 5 }),
        }
        let Value::Object(mut body) = fields else {
            return Err(crate::domain::Invalid::new("", "body.invalid", "the body is a JSON object of episode fields").into());
        };
        let title = match self.load(prod, Kind::Stream, &recorded.stream).await {
            Ok(Resource { body: ResourceBody::Stream(s), .. }) if !s.title.is_empty() => s.title,
            _ => "Live recording".to_owned(),
        };
        body.entry("title").or_insert_with(|| json!(format!("{title} — {}", date_time(recorded.start))));
        body.entry("published").or_insert_with(|| json!(self.clock.now()));
        body.insert("enclosure".into(), json!(asset));
        self.create_resource(caller, prod, Kind::Episode, &Guid::random(), Value::Object(body)).await
    }

    /// A recording was probed: tell the webhooks, and publish it when its
    /// stream asks for that (as the `recorder`, audited as such).
    pub(crate) async fn recording_probed(&self, prod: &Guid, id: &Guid, asset: &Asset) {
        let Some(recorded) = asset.recorded.clone().filter(|_| asset.rel == AssetRel::Recording) else { return };
        let duration = asset.probe.as_ref().map(|p| p.duration);
        self.emit(prod, "recording.ready", json!({ "asset": id, "stream": recorded.stream, "start": recorded.start, "end": recorded.end, "duration": duration })).await;
        let publish = matches!(self.load(prod, Kind::Stream, &recorded.stream).await, Ok(Resource { body: ResourceBody::Stream(s), .. }) if s.publish_recordings);
        if !publish || self.enclosed_by_episode(prod, id).await {
            return;
        }
        let Ok(client) = ClientId::parse("recorder") else { return };
        let caller = Caller { client, scopes: Scopes::new(vec![Scope::Admin]), context: RequestContext { via: "recording", ..RequestContext::default() } };
        match self.publish_recording(&caller, prod, id, json!({})).await {
            Ok(episode) => tracing::info!(production = %prod, recording = %id, episode = %episode.guid, "recording published"),
            Err(e) => tracing::warn!(production = %prod, recording = %id, error = %e, "a recording could not be published"),
        }
    }

    /// Whether an episode already encloses the asset (a second probe of the
    /// same recording must not publish it twice).
    async fn enclosed_by_episode(&self, prod: &Guid, asset: &Guid) -> bool {
        let Ok(records) = self.list_all(prod, &super::keys::resource_prefix(Kind::Episode)).await else { return true };
        records.into_iter().filter_map(|r| Resource::from_value(r.body).ok()).any(|r| matches!(&r.body, ResourceBody::Episode(e) if e.enclosure.as_ref() == Some(asset)))
    }
}

/// The recording of the stream's start at `start`: a guid derived from both,
/// so ending the same run twice (a retried write) finds the first.
fn recording_guid(stream: &Guid, start: i64) -> Guid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("recording:{stream}:{start}").as_bytes());
    let mut bytes = [0u8; 6];
    bytes.copy_from_slice(&digest[..6]);
    Guid::from_bytes(bytes)
}

fn date_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}
