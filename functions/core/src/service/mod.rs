//! Use cases: what the API does, written against the ports. Handlers parse the
//! request, call one of these, and render the result.

mod access;
mod accounts;
mod analytics;
mod audit;
mod backups;
mod assets;
mod build;
mod channels;
mod cursor;
mod error;
mod external_ids;
mod fleet_stats;
mod imports;
mod feed_imports;
mod notify;
mod inbox;
mod job_sweep;
mod jobs;
mod keys;
mod live_items;
mod media;
mod probes;
mod preflight;
mod presigned;
mod productions;
mod public;
mod recordings;
mod renditions;
mod resource_json;
mod resources;
mod retries;
mod schedules;
mod schedule;
mod stored;
mod sessions;
mod stream_runs;
mod stream_preview;
mod streams;
mod two_factor;
mod uploads;
mod webhooks;
mod workers;

use std::sync::Arc;

pub use access::{Caller, Need};
pub use fleet_stats::FleetStats;
pub use schedules::{ScheduleTick, TimetableSlot};
pub use webhooks::Delivery;
pub use workers::{WorkerBeat, WORKER_BEAT, WORKER_GONE};
pub use audit::{AuditFilter, AuditPage, RequestContext};
pub use accounts::{AccountRules, SignedIn, CODE_ATTEMPTS, LOGIN_TTL};
pub use sessions::REFRESH_TTL;
pub use two_factor::Enrolment;
pub use build::{BuildOutcome, BuildRecord, LeftOut, Publishing, KEPT_BUILDS, PUBLIC_URL_EXPIRY, RSS_TYPE};
pub use assets::AssetUpdate;
pub use error::ServiceError;
pub use notify::Notification;
pub use analytics::{AnalyticsReport, AnalyticsRow, AnalyticsTotals, HitSink, LogIngest, RawHit, CDN_LOG_PREFIX, MAX_DAYS};
pub use backups::{backup_object, ArchiveUrl, Backup, BackupContents, BackupProblem, BackupRequest, Restore, RestoreReport, RestoreRequest, KEPT_BACKUPS};
pub use feed_imports::{EpisodeFile, FeedImport, FeedImportRequest, FeedImportRun, ImportProblem, ImportProgress, ImportReport, ImportedEpisode};
pub use external_ids::{ExternalIdEntry, ExternalIdMapping, ExternalIdPage, MAX_MAPPED_PER_REQUEST};
pub use inbox::{inbox_key, InboxOutcome, INBOX_PREFIX, INBOX_SOURCE};
pub use job_sweep::{SweepPolicy, SweepReport, WORKER_CRASHED};
pub use jobs::{job_message, Claim, FINISHED_JOB_TTL, RESEND_AFTER};
pub use media::MediaRules;
pub use preflight::PreflightSubject;
pub use presigned::{PartUrl, PresignedPut, UploadCompletion, UploadIntent, UPLOAD_WINDOW};
pub use productions::ProductionPage;
pub use public::{PublicEpisode, PublicEpisodeSummary, PublicShow};
pub use renditions::{encode_plan, rendition_key, ContentLocation};
pub use resource_json::{ResourceJson, ResourceJsonPage};
pub use resources::{ResourcePage, Update};
pub use uploads::Upload;
pub use recordings::{recording_folder, recording_format, RecordingList, RecordingSummary, RECORDING_SEGMENT_SECONDS};
pub use stream_runs::{StreamClaim, STREAM_LEASE_SECS};
pub use stream_preview::{Preview, PreviewCommand, PreviewWarning};
pub use streams::{hls_key, stream_message, LogLine, LogPage, StreamAction, StreamStatus, LOG_SEQ_BASE, STREAM_JOB_PREFIX};

use crate::{
    ports::{Blobs, Clock, Jobs, Mailer, Records},
    signing::Signer,
};

/// Everything a use case needs: the ports and the server's own rules.
#[derive(Clone)]
pub struct Podops {
    pub records: Arc<dyn Records>,
    pub blobs: Arc<dyn Blobs>,
    pub jobs: Arc<dyn Jobs>,
    pub clock: Arc<dyn Clock>,
    cursors: Signer,
    pub media: MediaRules,
    /// Where feeds are published; `None` until `with_publishing` (builds then fail).
    pub publishing: Option<Publishing>,
    /// Sign-in by email; `None` until `with_accounts` (sign-in routes then answer 503).
    pub accounts: Option<AccountRules>,
    /// Sends sign-in mail (with `accounts`).
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Counts the feeds this process published: a server's in-memory copies
    /// of feeds are current while it has not moved.
    pub feeds_published: Arc<std::sync::atomic::AtomicU64>,
    /// Where changed feeds are announced (WebSub, pubnotify, podping); empty: nowhere.
    pub notify: Arc<crate::domain::notify::NotifyTargets>,
    /// Where the media route's requests go for analytics; `None`: not recorded.
    pub hits: Option<Arc<dyn analytics::HitSink>>,
}

impl Podops {
    pub fn new(
        records: Arc<dyn Records>,
        blobs: Arc<dyn Blobs>,
        jobs: Arc<dyn Jobs>,
        clock: Arc<dyn Clock>,
        master_secret: &[u8],
        media: MediaRules,
    ) -> Self {
        Self {
            records,
            blobs,
            jobs,
            clock,
            cursors: Signer::derive(master_secret, "cursor"),
            media,
            publishing: None,
            accounts: None,
            mailer: None,
            feeds_published: Arc::default(),
            notify: Arc::default(),
            hits: None,
        }
    }

    /// Accounts: `rules` everywhere keys are checked (they name the
    /// configured admins); a `mailer` where sign-in mail is sent.
    pub fn with_accounts(mut self, rules: AccountRules, mailer: Option<Arc<dyn Mailer>>) -> Self {
        self.accounts = Some(rules);
        self.mailer = mailer;
        self
    }

    /// Mail without accounts (a worker mails the ownership codes of locked feeds).
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    pub fn with_publishing(mut self, publishing: Publishing) -> Self {
        self.publishing = Some(publishing);
        self
    }

    pub fn with_notify(mut self, targets: crate::domain::notify::NotifyTargets) -> Self {
        self.notify = Arc::new(targets);
        self
    }
}

/// Largest page a list returns, whatever the client asks.
pub const MAX_LIMIT: usize = 100;
pub const DEFAULT_LIMIT: usize = 20;

pub(crate) fn clamp_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}
