//! A background job's record: the truth about the job (the queue message only
//! says "look at job X"). Transitions are conditional writes on `version`:
//! queued → running (a lease held by one worker) → done | failed (a code).

use serde::{Deserialize, Serialize};

use super::{Guid, RenditionSpec, Timestamp, Version};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Fetch an imported asset's source URL into the media store.
    Import,
    /// ffprobe + loudness of an asset's bytes.
    Probe,
    /// Make one rendition of an asset.
    Transcode,
    /// POST one webhook delivery (`asset` is the webhook; the delivery is in the id).
    Deliver,
    /// Join a stream's recorded segments into its recording asset.
    Record,
    /// Check a stream before it goes live (`asset` is the stream).
    Preflight,
    /// A 10 s test encode of a stream (`asset` is the stream).
    #[serde(rename = "dry_run")]
    DryRun,
    /// Announce a changed feed to hubs, pubnotify and podping (`asset` is the production).
    Notify,
    /// Import a show from its RSS feed (`asset` is the import).
    #[serde(rename = "feed_import")]
    FeedImport,
    /// Write a production's backup archive (`asset` is the backup).
    Backup,
    /// Restore a production from an archive (`asset` is the restore).
    Restore,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running {
        /// UNIX time until which `worker` holds the job; after it, another may take over.
        lease_until: Timestamp,
        worker: String,
    },
    Done,
    Failed {
        code: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    /// Deterministic: the same work always gets the same id, so asking twice
    /// finds the first job instead of making a second.
    pub id: String,
    pub kind: JobKind,
    pub production: Guid,
    pub asset: Guid,
    #[serde(default)]
    pub rendition: Option<RenditionSpec>,
    #[serde(flatten)]
    pub state: JobState,
    /// Claims so far (a crashed worker's claim counts).
    #[serde(default)]
    pub attempts: u32,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// When a message for this job was last sent (a lost send is re-sent later).
    pub sent_at: Timestamp,
    /// Messages re-sent by the sweeper because the last one seemed lost.
    #[serde(default)]
    pub resends: u32,
    /// The stored record's version (not part of the body).
    #[serde(skip, default = "first_version")]
    pub version: Version,
}

fn first_version() -> Version {
    Version::FIRST
}

impl Job {
    pub fn new(kind: JobKind, production: Guid, asset: Guid, rendition: Option<RenditionSpec>, now: Timestamp) -> Self {
        let id = match (&rendition, kind) {
            (Some(spec), _) => format!("transcode-{asset}-{}", spec.name()),
            (None, JobKind::Import) => format!("import-{asset}"),
            (None, JobKind::Probe) => format!("probe-{asset}"),
            (None, JobKind::Transcode) => format!("transcode-{asset}"),
            // A delivery's job is made with `Job::delivery`, which sets its own id.
            (None, JobKind::Deliver) => format!("deliver-{asset}"),
            (None, JobKind::Record) => format!("record-{asset}"),
            // Each run is new work: `start_run` sets an id with the run in it.
            (None, JobKind::Preflight) => format!("preflight-{asset}"),
            (None, JobKind::DryRun) => format!("dryrun-{asset}"),
            // `notify_feed` sets an id with the reason and the window in it.
            (None, JobKind::Notify) => format!("notify-{asset}"),
            (None, JobKind::FeedImport) => format!("feedimport-{asset}"),
            (None, JobKind::Backup) => format!("backup-{asset}"),
            (None, JobKind::Restore) => format!("restore-{asset}"),
        };
        Self { id, kind, production, asset, rendition, state: JobState::Queued, attempts: 0, created: now, updated: now, sent_at: now, resends: 0, version: Version::FIRST }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, JobState::Done | JobState::Failed { .. })
    }
}

/// The body of a queue message: which job to look at. Nothing else, so a
/// stale or duplicated message can never carry stale instructions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub production: Guid,
    pub job: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RenditionFormat;

    #[test]
    fn job_ids_are_deterministic_per_work() {
        let (p, a) = (Guid::parse("0123456789ab").unwrap(), Guid::parse("ba9876543210").unwrap());
        let spec = RenditionSpec { format: RenditionFormat::Mp3, bitrate: 128_000, channels: 2, loudness: Some(-16) };
        let one = Job::new(JobKind::Transcode, p.clone(), a.clone(), Some(spec), 1);
        let two = Job::new(JobKind::Transcode, p.clone(), a.clone(), Some(spec), 99);
        assert_eq!(one.id, two.id);
        assert_eq!(one.id, "transcode-ba9876543210-mp3-128000-2-l16");
        assert_eq!(Job::new(JobKind::Probe, p, a, None, 1).id, "probe-ba9876543210");
    }

    #[test]
    fn states_round_trip_flat_in_the_record() {
        let mut job = Job::new(JobKind::Probe, Guid::parse("0123456789ab").unwrap(), Guid::parse("ba9876543210").unwrap(), None, 5);
        job.state = JobState::Running { lease_until: 50, worker: "w1".into() };
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!((v["state"].as_str(), v["lease_until"].as_i64()), (Some("running"), Some(50)));
        let back: Job = serde_json::from_value(v).unwrap();
        assert_eq!(back.state, job.state);
        assert!(serde_json::from_str::<JobMessage>(r#"{"production":"0123456789ab","job":"x","extra":1}"#).is_err());
    }
}
