//! The job sweeper on the real embedded stack: a job whose message was lost
//! is sent again and completes; a job whose worker died on the message's last
//! delivery is failed with a code instead of staying `running`; finished
//! jobs leave the open-job index.

mod support;

use std::time::Duration;

use podops_core::{
    domain::{Guid, JobMessage, JobState},
    ports::{Jobs, ListQuery},
    service::{Claim, SweepPolicy, WORKER_CRASHED},
};
use support::{generate, harness, tone, Harness, FULL, MAX_RECEIVES};

/// Sweeps that take every quiet job as lost at once.
const EAGER: SweepPolicy = SweepPolicy { lost_after: 0, max_receives: MAX_RECEIVES };

/// Takes every message off the queue without running it: what a lost send,
/// or a queue that lost the message, leaves behind.
async fn lose_messages(h: &Harness) -> usize {
    let got = h.jobs.receive(10, Duration::from_secs(60), Duration::ZERO).await.expect("receive");
    for m in &got {
        h.jobs.delete(&m.receipt).await.expect("delete");
    }
    got.len()
}

async fn open_jobs(h: &Harness) -> u64 {
    let q = ListQuery { partition: "OPEN_JOBS".into(), prefix: String::new(), after: None, limit: 100 };
    h.podops.records.list(&q).await.expect("list").total
}

/// An upload whose probe job's message is gone: the asset stays `pending`.
async fn upload_with_lost_probe(h: &Harness, name: &str) -> (String, String, String) {
    let t = h.token("alice", FULL);
    let prod = h.production(&t, name).await;
    let id = h.upload(&t, &prod, "tone.wav", generate(&tone(2), &["-c:a", "pcm_s16le"], "wav")).await["guid"].as_str().unwrap().to_owned();
    assert_eq!(lose_messages(h).await, 1, "the probe's message");
    (t, prod, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_message_was_lost_is_sent_again_and_completes_once() {
    let mut h = harness();
    let (t, prod, id) = upload_with_lost_probe(&h, "sweep_lost").await;
    assert_eq!(open_jobs(&h).await, 1);

    // Not yet presumed lost: the default patience has not passed.
    let report = h.podops.sweep_jobs(&SweepPolicy { max_receives: MAX_RECEIVES, ..SweepPolicy::default() }).await.expect("sweep");
    assert!(report.resent.is_empty(), "{report:?}");

    let report = h.podops.sweep_jobs(&EAGER).await.expect("sweep");
    assert_eq!(report.resent, vec![format!("probe-{id}")]);
    // The re-send doubled its patience: an immediate second sweep sends nothing more.
    let again = h.podops.sweep_jobs(&SweepPolicy { lost_after: 30, max_receives: MAX_RECEIVES }).await.expect("sweep");
    assert!(again.resent.is_empty(), "{again:?}");

    h.start_worker();
    let asset = h.settled(&t, &prod, &id).await;
    assert_eq!(asset["state"], "ready", "{asset}");
    assert!((asset["probe"]["duration"].as_f64().unwrap() - 2.0).abs() < 0.05, "{asset}");
    h.stop_worker().await;

    // The finished job leaves the index at the next sweep; nothing is re-sent.
    let report = h.podops.sweep_jobs(&EAGER).await.expect("sweep");
    assert_eq!((report.resent.len(), report.closed), (0, 1), "{report:?}");
    assert_eq!(open_jobs(&h).await, 0);
    let job = h.podops.load_job(&Guid::parse(&prod).unwrap(), &format!("probe-{id}")).await.unwrap().expect("job");
    assert_eq!((job.state, job.attempts, job.resends), (JobState::Done, 1, 1));
    assert_eq!(h.dead_letters().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_died_on_the_last_delivery_is_failed_with_a_code() {
    let h = harness();
    let (t, prod, id) = upload_with_lost_probe(&h, "sweep_crashed").await;
    let msg = JobMessage { production: Guid::parse(&prod).unwrap(), job: format!("probe-{id}") };
    // Every delivery claimed the job and its worker died (a lease already over, as after the crash).
    for attempt in 1..=MAX_RECEIVES {
        match h.podops.claim_job(&msg, &format!("doomed-{attempt}"), -1).await.expect("claim") {
            Claim::Claimed(job) => assert_eq!(job.attempts, attempt),
            other => panic!("claim {attempt}: {other:?}"),
        }
    }
    // Its lease ended long ago by the policy's measure; a lease still live is left alone.
    let patient = SweepPolicy { lost_after: 3600, max_receives: MAX_RECEIVES };
    assert!(h.podops.sweep_jobs(&patient).await.expect("sweep").failed.is_empty());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = h.podops.sweep_jobs(&EAGER).await.expect("sweep");
    assert_eq!((report.failed.clone(), report.resent.len()), (vec![format!("probe-{id}")], 0), "{report:?}");

    let asset = h.asset(&t, &prod, &id).await;
    assert_eq!((asset["state"].as_str(), asset["error"].as_str()), (Some("failed"), Some(WORKER_CRASHED)), "{asset}");
    let job = h.podops.load_job(&msg.production, &msg.job).await.unwrap().expect("job");
    assert_eq!(job.state, JobState::Failed { code: WORKER_CRASHED.into() });
    // Done with: the next sweep closes its entry and touches nothing else.
    let report = h.podops.sweep_jobs(&EAGER).await.expect("sweep");
    assert_eq!((report.closed, report.failed.len(), report.resent.len()), (1, 0, 0), "{report:?}");
    assert_eq!(open_jobs(&h).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_that_lost_its_message_before_the_last_delivery_is_sent_again() {
    let mut h = harness();
    let (t, prod, id) = upload_with_lost_probe(&h, "sweep_running").await;
    let msg = JobMessage { production: Guid::parse(&prod).unwrap(), job: format!("probe-{id}") };
    assert!(matches!(h.podops.claim_job(&msg, "doomed", -1).await.expect("claim"), Claim::Claimed(_)));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = h.podops.sweep_jobs(&EAGER).await.expect("sweep");
    assert_eq!(report.resent, vec![msg.job.clone()], "{report:?}");
    h.start_worker();
    assert_eq!(h.settled(&t, &prod, &id).await["state"], "ready");
    h.stop_worker().await;
    let job = h.podops.load_job(&msg.production, &msg.job).await.unwrap().expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Done, 2));
}
