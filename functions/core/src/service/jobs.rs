//! Job records as state machines in the store. The queue is at-least-once;
//! every transition here is a conditional write on the record's version, so a
//! redelivered or duplicated message finds the job taken or finished and
//! becomes a no-op instead of a second run.

use crate::{
    domain::{Guid, Job, JobKind, JobMessage, JobState, Timestamp},
    domain::Version,
    ports::{Key, Record, StoreError, WriteOp},
};

use super::{keys, Podops, ServiceError};

/// Finished job records stay this long (TTL), then the store forgets them.
pub const FINISHED_JOB_TTL: i64 = 7 * 24 * 3600;
/// A queued job whose message was sent this long ago without being taken is
/// presumed to have lost its message (a crash between record and send), and
/// the next request for the same work sends it again.
pub const RESEND_AFTER: i64 = 120;

/// What a worker found when it tried to claim a job.
#[derive(Debug)]
pub enum Claim {
    /// The job is this worker's until `lease_until`.
    Claimed(Job),
    /// Done or failed already: the message is a duplicate or a redelivery.
    Finished(Job),
    /// Another worker holds a live lease until this time.
    HeldElsewhere { until: Timestamp },
    /// No such job (its asset was deleted and the record expired).
    Missing,
}

fn job_key(prod: &Guid, id: &str) -> Key {
    Key::new(keys::production_partition(prod), format!("JOB#{id}"))
}

/// Every unfinished job has an entry in this one partition (sort key
/// `<production>#<job id>`), written in the same transaction as the job, so
/// the sweeper finds jobs whose message was lost without scanning the table.
pub(crate) const OPEN_JOBS: &str = "OPEN_JOBS";

/// A job's entry in `OPEN_JOBS`.
pub(crate) fn open_job_record(job: &Job) -> Record {
    Record { key: Key::new(OPEN_JOBS, format!("{}#{}", job.production, job.id)), version: Version::FIRST, body: serde_json::json!({}), expires_at: None }
}

pub(crate) fn job_record(job: &Job) -> Result<Record, ServiceError> {
    let body = serde_json::to_value(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let expires_at = job.is_finished().then_some(job.updated + FINISHED_JOB_TTL);
    Ok(Record { key: job_key(&job.production, &job.id), version: job.version, body, expires_at })
}

fn parse_job(record: Record) -> Result<Job, ServiceError> {
    let mut job: Job = serde_json::from_value(record.body).map_err(|e| StoreError::Corrupt(format!("{}: {e}", record.key.sort)))?;
    job.version = record.version;
    Ok(job)
}

pub fn job_message(job: &Job) -> String {
    serde_json::json!({ "production": job.production, "job": job.id }).to_string()
}

impl Podops {
    pub async fn load_job(&self, prod: &Guid, id: &str) -> Result<Option<Job>, ServiceError> {
        self.records.get(&job_key(prod, id)).await?.map(parse_job).transpose()
    }

    /// The creates of a new job's record and its open-job entry, to put in
    /// the same transaction as what asks for it (an upload's asset, an
    /// import's asset).
    pub(crate) fn create_job_ops(&self, job: &Job) -> Result<[WriteOp; 2], ServiceError> {
        Ok([WriteOp::Create(job_record(job)?), WriteOp::Create(open_job_record(job))])
    }

    pub(crate) async fn send_job(&self, job: &Job) -> Result<(), ServiceError> {
        self.jobs.send(&job_message(job)).await?;
        Ok(())
    }

    /// Makes sure `job` exists and has been sent: creates its record if absent
    /// (so asking twice makes one job), and re-sends a message presumed lost.
    /// Returns the job as stored.
    pub(crate) async fn ensure_job(&self, job: Job) -> Result<Job, ServiceError> {
        match self.records.transact(&self.create_job_ops(&job)?).await {
            Ok(()) => {
                self.send_job(&job).await?;
                return Ok(job);
            }
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(stored) = self.load_job(&job.production, &job.id).await? else {
            // It expired between our create and read: the next request makes it anew.
            return Err(ServiceError::Contended);
        };
        let now = self.clock.now();
        let stalled = match &stored.state {
            JobState::Queued => now - stored.sent_at > RESEND_AFTER,
            JobState::Running { lease_until, .. } => now - lease_until > RESEND_AFTER && now - stored.sent_at > RESEND_AFTER,
            JobState::Done | JobState::Failed { .. } => false,
        };
        if !stalled {
            return Ok(stored);
        }
        // Conditional, so of many concurrent requests only one re-sends.
        let resent = Job { sent_at: now, version: stored.version.next(), ..stored.clone() };
        match self.records.replace(&job_record(&resent)?, stored.version).await {
            Ok(()) => {
                tracing::warn!(job = %resent.id, "job message presumed lost; sent again");
                self.send_job(&resent).await?;
                Ok(resent)
            }
            Err(StoreError::Conflict) => Ok(stored),
            Err(e) => Err(e.into()),
        }
    }

    /// queued → running, or running with an expired lease → running (the
    /// previous holder died). Conditional on the version read.
    pub async fn claim_job(&self, msg: &JobMessage, worker: &str, lease_secs: i64) -> Result<Claim, ServiceError> {
        let Some(job) = self.load_job(&msg.production, &msg.job).await? else { return Ok(Claim::Missing) };
        let now = self.clock.now();
        match &job.state {
            JobState::Done | JobState::Failed { .. } => return Ok(Claim::Finished(job)),
            JobState::Running { lease_until, .. } if *lease_until >= now => return Ok(Claim::HeldElsewhere { until: *lease_until }),
            _ => {}
        }
        let claimed = Job {
            state: JobState::Running { lease_until: now + lease_secs, worker: worker.to_owned() },
            attempts: job.attempts + 1,
            updated: now,
            version: job.version.next(),
            ..job.clone()
        };
        match self.records.replace(&job_record(&claimed)?, job.version).await {
            Ok(()) => Ok(Claim::Claimed(claimed)),
            // Another worker claimed it between our read and write.
            Err(StoreError::Conflict) => Ok(Claim::HeldElsewhere { until: now + lease_secs }),
            Err(e) => Err(e.into()),
        }
    }

    /// Extends this worker's lease (the heartbeat). `LeaseLost` if the job
    /// changed hands meanwhile: the caller must stop working on it.
    pub async fn renew_lease(&self, job: &Job, lease_secs: i64) -> Result<Job, ServiceError> {
        let JobState::Running { worker, .. } = &job.state else { return Err(ServiceError::LeaseLost) };
        let now = self.clock.now();
        let renewed = Job {
            state: JobState::Running { lease_until: now + lease_secs, worker: worker.clone() },
            updated: now,
            version: job.version.next(),
            ..job.clone()
        };
        self.transition(job, renewed).await
    }

    /// running → done or failed(code).
    pub async fn finish_job(&self, job: &Job, failure: Option<&str>) -> Result<Job, ServiceError> {
        let state = match failure {
            Some(code) => JobState::Failed { code: code.to_owned() },
            None => JobState::Done,
        };
        let now = self.clock.now();
        let finished = Job { state, updated: now, version: job.version.next(), ..job.clone() };
        self.transition(job, finished).await
    }

    /// running → queued: handed back (shutdown, or a failure worth retrying)
    /// so the next delivery claims it without waiting for the lease to end.
    pub async fn release_job(&self, job: &Job) -> Result<Job, ServiceError> {
        let now = self.clock.now();
        let released = Job { state: JobState::Queued, updated: now, version: job.version.next(), ..job.clone() };
        self.transition(job, released).await
    }

    /// Shows a job's definitive failure where clients look: the rendition's
    /// entry for a transcode, else the asset's state. An asset deleted
    /// meanwhile has nothing to show it on.
    pub async fn record_job_failure(&self, job: &Job, code: &str) -> Result<(), ServiceError> {
        match (&job.kind, &job.rendition) {
            (JobKind::Deliver, _) => self.fail_delivery(job).await,
            (JobKind::Notify, _) => self.fail_notification(job).await,
            (JobKind::FeedImport, _) => self.fail_feed_import(job, code, "the import could not finish (the feed could not be fetched or stored)").await,
            (JobKind::Backup, _) => self.fail_backup(job, code, "the backup could not finish (the store failed)").await,
            (JobKind::Restore, _) => self.fail_restore(job, code, "the restore could not finish (the archive could not be read or stored)").await,
            (JobKind::Preflight | JobKind::DryRun, _) => self.fail_check_run(job, code).await,
            (JobKind::Transcode, Some(spec)) => self.record_rendition(&job.production, &job.asset, spec, Err(code)).await.map(|_| ()),
            _ => match self.fail_asset(&job.production, &job.asset, code).await {
                Err(ServiceError::ResourceNotFound { .. }) => Ok(()),
                other => other,
            },
        }
    }

    pub(crate) async fn transition(&self, from: &Job, to: Job) -> Result<Job, ServiceError> {
        match self.records.replace(&job_record(&to)?, from.version).await {
            Ok(()) => Ok(to),
            Err(StoreError::Conflict) => Err(ServiceError::LeaseLost),
            Err(e) => Err(e.into()),
        }
    }
}
