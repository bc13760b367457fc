//! The job sweeper: finds unfinished jobs the queue no longer carries and
//! sets them going again, or fails them when retrying cannot help. The queue
//! loses a job in two ways a worker never sees:
//! - the message was never sent, or was lost (the process died between the
//!   job's transaction and its send, or the send failed);
//! - a worker died on the message's last delivery: the queue dead-letters it,
//!   and the job stays `running` under an expired lease.
//!
//! Run every minute or so (the embedded scheduler; the tasks function's
//! schedule on AWS). Re-sending is always safe: a worker's claim is a
//! conditional write, so a duplicate message finds the job taken or finished.

use crate::{
    domain::{Guid, Job, JobState, Timestamp},
    ports::{ListQuery, StoreError},
};

use super::{
    jobs::OPEN_JOBS,
    Podops, ServiceError,
};

/// The code a job (and its asset or rendition) fails with when its worker
/// died on every delivery: retrying it would only kill more workers.
pub const WORKER_CRASHED: &str = "job.worker_crashed";

#[derive(Debug, Clone, Copy)]
pub struct SweepPolicy {
    /// A queued job untouched this long (seconds), or a running one whose
    /// lease ended this long ago, has lost its message. Doubles with each re-send of the
    /// same job, so a long backlog costs a few duplicates, not a flood.
    pub lost_after: i64,
    /// The queue's deliveries before dead-lettering: a running job claimed
    /// this often has had its last one.
    pub max_receives: u32,
}

impl Default for SweepPolicy {
    fn default() -> Self {
        Self { lost_after: super::RESEND_AFTER, max_receives: 5 }
    }
}

/// What one sweep did, by job id.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SweepReport {
    /// Sent again.
    pub resent: Vec<String>,
    /// Failed with `WORKER_CRASHED`.
    pub failed: Vec<String>,
    /// Finished or gone: their open-job entry removed.
    pub closed: usize,
}

enum Verdict {
    Wait,
    Resend,
    Fail,
}

fn verdict(job: &Job, now: Timestamp, policy: &SweepPolicy) -> Verdict {
    let patience = policy.lost_after.saturating_mul(1 << job.resends.min(16));
    let quiet_since = match &job.state {
        JobState::Queued => job.sent_at.max(job.updated),
        JobState::Running { lease_until, .. } if job.attempts >= policy.max_receives => {
            // The last delivery's worker died: the message is dead-lettered.
            return if now - lease_until >= policy.lost_after { Verdict::Fail } else { Verdict::Wait };
        }
        JobState::Running { lease_until, .. } => job.sent_at.max(*lease_until),
        JobState::Done | JobState::Failed { .. } => return Verdict::Wait,
    };
    if now - quiet_since >= patience { Verdict::Resend } else { Verdict::Wait }
}

impl Podops {
    /// One pass over the open jobs (see the module's comment).
    pub async fn sweep_jobs(&self, policy: &SweepPolicy) -> Result<SweepReport, ServiceError> {
        let mut report = SweepReport::default();
        let mut after = None;
        loop {
            let page = self.records.list(&ListQuery { partition: OPEN_JOBS.into(), prefix: String::new(), after, limit: 100 }).await?;
            for entry in &page.records {
                let Some((prod, id)) = entry.key.sort.split_once('#') else { continue };
                let Ok(prod) = Guid::parse(prod) else { continue };
                let job = self.load_job(&prod, id).await?;
                match job {
                    Some(job) if !job.is_finished() => self.sweep_one(job, policy, &mut report).await?,
                    // Finished, or expired: nothing will ever need the entry again.
                    _ => match self.records.delete(&entry.key, entry.version).await {
                        Ok(()) => report.closed += 1,
                        Err(StoreError::Conflict) => {}
                        Err(e) => return Err(e.into()),
                    },
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(report),
            }
        }
    }

    async fn sweep_one(&self, job: Job, policy: &SweepPolicy, report: &mut SweepReport) -> Result<(), ServiceError> {
        let now = self.clock.now();
        match verdict(&job, now, policy) {
            Verdict::Wait => Ok(()),
            Verdict::Resend => {
                let resent = Job { sent_at: now, resends: job.resends + 1, version: job.version.next(), ..job.clone() };
                // Conditional: a worker that claims it meanwhile wins, and the job is not lost.
                match self.transition(&job, resent).await {
                    Ok(resent) => {
                        tracing::warn!(job = %resent.id, resends = resent.resends, "job's message presumed lost; sent again");
                        self.send_job(&resent).await?;
                        report.resent.push(resent.id);
                        Ok(())
                    }
                    Err(ServiceError::LeaseLost) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Verdict::Fail => {
                self.record_job_failure(&job, WORKER_CRASHED).await?;
                match self.finish_job(&job, Some(WORKER_CRASHED)).await {
                    Ok(_) => {
                        tracing::warn!(job = %job.id, attempts = job.attempts, "every delivery of the job crashed its worker; failed");
                        // Its open-job entry goes at the next sweep, with every finished job's.
                        report.failed.push(job.id);
                        Ok(())
                    }
                    Err(ServiceError::LeaseLost) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::JobKind;

    fn job(state: JobState, attempts: u32, resends: u32) -> Job {
        let mut job = Job::new(JobKind::Probe, Guid::parse("0123456789ab").unwrap(), Guid::parse("ba9876543210").unwrap(), None, 1000);
        job.state = state;
        job.attempts = attempts;
        job.resends = resends;
        job
    }

    const POLICY: SweepPolicy = SweepPolicy { lost_after: 100, max_receives: 5 };

    #[test]
    fn a_queued_job_is_resent_once_quiet_for_longer_than_its_patience() {
        assert!(matches!(verdict(&job(JobState::Queued, 0, 0), 1099, &POLICY), Verdict::Wait));
        assert!(matches!(verdict(&job(JobState::Queued, 0, 0), 1100, &POLICY), Verdict::Resend));
        // Each re-send doubles the wait: a backlog is not flooded with duplicates.
        assert!(matches!(verdict(&job(JobState::Queued, 0, 2), 1100, &POLICY), Verdict::Wait));
        assert!(matches!(verdict(&job(JobState::Queued, 0, 2), 1400, &POLICY), Verdict::Resend));
    }

    #[test]
    fn a_running_job_waits_for_its_lease_then_is_resent_or_failed_on_its_last_delivery() {
        let running = |lease_until| JobState::Running { lease_until, worker: "w".into() };
        assert!(matches!(verdict(&job(running(5000), 1, 0), 4000, &POLICY), Verdict::Wait), "live lease");
        assert!(matches!(verdict(&job(running(5000), 1, 0), 5100, &POLICY), Verdict::Resend), "holder died, message gone");
        assert!(matches!(verdict(&job(running(5000), 5, 0), 5050, &POLICY), Verdict::Wait));
        assert!(matches!(verdict(&job(running(5000), 5, 0), 5100, &POLICY), Verdict::Fail), "died on the last delivery");
        assert!(matches!(verdict(&job(JobState::Done, 5, 0), 9999, &POLICY), Verdict::Wait));
    }
}
