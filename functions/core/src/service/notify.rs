//! Announcing changed feeds (WebSub, Podcast Index's pubnotify, podping).
//! A publish writes a notification record and a `notify` job together; the
//! job's id holds the feed, the reason and the time window, so every publish
//! within one window makes one job. The worker sends when the window has
//! closed, so the last change of a window is always the one announced, and a
//! feed is announced at most once per window and reason. Failures are retried
//! by the job machinery (the pings are idempotent).

use serde::{Deserialize, Serialize};

use crate::{
    domain::{notify::Reason, Guid, Job, JobKind, Timestamp, Version},
    ports::{Key, Record, StoreError, WriteOp},
};

use super::{keys, Podops, ServiceError};

/// Seconds after a live change's rebuild is due that it is announced.
const LIVE_REBUILD_MARGIN: i64 = 5;
/// Notification records are kept this long.
const NOTIFICATION_TTL: Timestamp = 7 * 24 * 3600;

/// What one `notify` job announces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub feed_url: String,
    pub reason: Reason,
    /// Not sent before this time: the end of the window it coalesces.
    pub due: Timestamp,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Per target, the last attempt's outcome (`websub 202`, `podping error: …`).
    #[serde(default)]
    pub results: Vec<String>,
}

fn notification_key(prod: &Guid, job_id: &str) -> Key {
    Key::new(keys::production_partition(prod), format!("NOTIFY#{job_id}"))
}

impl Podops {
    /// Announces that `prod`'s published feed changed. Nothing when no target
    /// is configured; a failure is logged, never the caller's (the publish stands).
    pub async fn announce(&self, prod: &Guid, reason: Reason) {
        if self.notify.is_empty() {
            return;
        }
        if let Err(e) = self.queue_notification(prod, reason).await {
            tracing::warn!(production = %prod, reason = reason.as_str(), error = %e, "feed announcement not queued");
        }
    }

    async fn queue_notification(&self, prod: &Guid, reason: Reason) -> Result<(), ServiceError> {
        let publishing = self.publishing.as_ref().ok_or(ServiceError::PublishingNotConfigured)?;
        let production = self.production_record(prod).await?.ok_or_else(|| ServiceError::ProductionNotFound(prod.clone()))?;
        let feed_url = format!("{}/feeds/{}/feed.xml", publishing.feed_base_url, production.name.as_str());
        let now = self.clock.now();
        let window = self.notify.window.max(1);
        let bucket = now / window;
        let job = Job { id: format!("notify-{prod}-{}-{bucket}", reason.as_str()), ..Job::new(JobKind::Notify, prod.clone(), prod.clone(), None, now) };
        // A live change shows in the feed only after its rebuild (`rebuild_delay`
        // on this server; up to a minute later on AWS, whose due builds run each
        // minute): announce it after that, or apps would read the old feed.
        let mut due = (bucket + 1) * window;
        if reason != Reason::Update {
            due = due.max(now + publishing.rebuild_delay + LIVE_REBUILD_MARGIN);
        }
        let notification = Notification { feed_url, reason, due, status: "pending".into(), results: Vec::new() };
        let body = serde_json::to_value(&notification).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut ops = vec![WriteOp::Create(Record { key: notification_key(prod, &job.id), version: Version::FIRST, body, expires_at: Some(now + NOTIFICATION_TTL) })];
        ops.extend(self.create_job_ops(&job)?);
        match self.records.transact(&ops).await {
            Ok(()) => self.send_job(&job).await,
            // This window's announcement is queued already: it will carry this change too.
            Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The notification a `notify` job sends, and its record's version.
    pub async fn notification_of(&self, job: &Job) -> Result<Option<(Notification, Version)>, ServiceError> {
        self.load_notification(&job.production, &job.id).await
    }

    /// When a `notify` job's window closes, if it is still to be sent: the
    /// worker hands the message back until then instead of holding a slot.
    pub async fn notification_due(&self, prod: &Guid, job_id: &str) -> Result<Option<Timestamp>, ServiceError> {
        let found = self.load_notification(prod, job_id).await?;
        Ok(found.filter(|(n, _)| n.status == "pending").map(|(n, _)| n.due))
    }

    async fn load_notification(&self, prod: &Guid, job_id: &str) -> Result<Option<(Notification, Version)>, ServiceError> {
        let Some(record) = self.records.get(&notification_key(prod, job_id)).await? else { return Ok(None) };
        let notification = serde_json::from_value(record.body).map_err(|e| StoreError::Corrupt(format!("notification {job_id}: {e}")))?;
        Ok(Some((notification, record.version)))
    }

    /// Records an attempt's outcome on the notification.
    pub async fn record_notification(&self, job: &Job, status: &str, results: Vec<String>) -> Result<(), ServiceError> {
        let Some((mut notification, version)) = self.notification_of(job).await? else { return Ok(()) };
        notification.status = status.to_owned();
        notification.results = results;
        let body = serde_json::to_value(&notification).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expires_at = Some(self.clock.now() + NOTIFICATION_TTL);
        match self.records.replace(&Record { key: notification_key(&job.production, &job.id), version: version.next(), body, expires_at }, version).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn fail_notification(&self, job: &Job) -> Result<(), ServiceError> {
        let results = self.notification_of(job).await?.map(|(n, _)| n.results).unwrap_or_default();
        tracing::warn!(job = %job.id, results = ?results, "a feed announcement failed for good");
        self.record_notification(job, "failed", results).await
    }
}
