//! The queue's at-least-once delivery made exactly-once in effect: duplicates,
//! garbage, failures that outlast every delivery, and shutdown.

mod support;

use std::{path::Path, sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use podops_core::{
    domain::{JobState, Probe},
    ports::{EncodePlan, Jobs, MediaError, MediaTool},
    service::job_message,
};
use podops_worker::{AddressPolicy, Ffmpeg, SystemLookup};
use support::{generate, harness, tone, worker_config, Harness, FULL, MAX_RECEIVES};

/// Real FFmpeg for probes; transcodes that fail for a passing reason, or hang.
struct FlakyTranscodes {
    hang: bool,
}

#[async_trait]
impl MediaTool for FlakyTranscodes {
    async fn probe(&self, input: &Path) -> Result<Probe, MediaError> {
        Ffmpeg::default().probe(input).await
    }
    async fn transcode(&self, _: &Path, _: &Probe, _: &EncodePlan, _: &Path) -> Result<(), MediaError> {
        if self.hang {
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        Err(MediaError::transient("media.tool_unavailable", "the encoder is out of licences today"))
    }
    async fn join(&self, inputs: &[std::path::PathBuf], output: &Path) -> Result<(), MediaError> {
        Ffmpeg::default().join(inputs, output).await
    }
}

/// A probed asset and its rendition's job, with the worker stopped.
async fn probed(h: &mut Harness, name: &str) -> (String, String, String) {
    h.start_worker();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, name).await;
    let id = h.upload(&t, &prod, "tone.wav", generate(&tone(3), &["-c:a", "pcm_s16le"], "wav")).await["guid"].as_str().unwrap().to_owned();
    assert_eq!(h.settled(&t, &prod, &id).await["state"], "ready");
    h.stop_worker().await;
    (t, prod, id)
}

async fn job_state(h: &Harness, prod: &str, id: &str) -> JobState {
    let prod = podops_core::domain::Guid::parse(prod).unwrap();
    let job = format!("transcode-{id}-mp3-64000-1");
    h.podops.load_job(&prod, &job).await.unwrap().expect("job record").state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_message_delivered_twice_makes_one_output_and_one_record_update() {
    let mut h = harness();
    let (t, prod, id) = probed(&mut h, "queue_dupes").await;
    let path = format!("/a/v1/asset/{prod}/{id}/content?format=mp3&bitrate=64000&channels=1");
    assert_eq!(h.call(Method::GET, &path, &t, None).await.status, StatusCode::CONFLICT);
    let (before, _) = h.stored_asset(&prod, &id).await;
    let job = h.podops.load_job(&before.parent_guid, &format!("transcode-{id}-mp3-64000-1")).await.unwrap().unwrap();
    // Two more deliveries of the same job, waiting side by side with the first.
    h.podops.jobs.send(&job_message(&job)).await.unwrap();
    h.podops.jobs.send(&job_message(&job)).await.unwrap();
    h.start_worker();
    h.rendition_url(&t, &prod, &id, "format=mp3&bitrate=64000&channels=1").await;
    // The duplicates that found the job held come back when its lease ends, find it done and go.
    tokio::time::sleep(worker_config(&h).visibility + Duration::from_secs(2)).await;
    h.stop_worker().await;
    let (after, asset) = h.stored_asset(&prod, &id).await;
    assert_eq!(after.version.0, before.version.0 + 1, "one update of the asset");
    assert_eq!(asset.renditions.len(), 1);
    assert_eq!(h.objects().len(), 2, "the original and one rendition: {:?}", h.objects());
    assert_eq!(job_state(&h, &prod, &id).await, JobState::Done);
    assert!(h.jobs.receive(10, Duration::from_secs(30), Duration::from_millis(200)).await.unwrap().is_empty(), "no message left");
    assert_eq!(h.dead_letters().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_message_is_dead_lettered_and_the_worker_keeps_going() {
    let mut h = harness();
    h.start_worker();
    for garbage in ["not json {", r#"{"job": 5}"#, r#"{"production":"0123456789ab","job":"x","run":"rm -rf /"}"#] {
        h.podops.jobs.send(garbage).await.unwrap();
    }
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "queue_garbage").await;
    let id = h.upload(&t, &prod, "tone.wav", generate(&tone(2), &["-c:a", "pcm_s16le"], "wav")).await["guid"].as_str().unwrap().to_owned();
    assert_eq!(h.settled(&t, &prod, &id).await["state"], "ready", "the worker went on with real work");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut dead = Vec::new();
    while dead.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "dead letters so far: {dead:?}");
        dead.extend(h.jobs.receive_dead(10).await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut bodies: Vec<&str> = dead.iter().map(|m| m.body.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, ["not json {", r#"{"job": 5}"#, r#"{"production":"0123456789ab","job":"x","run":"rm -rf /"}"#]);
    assert!(dead.iter().all(|m| m.receive_count == MAX_RECEIVES));
    h.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_on_every_delivery_is_marked_failed_and_dead_lettered_and_a_retry_makes_it() {
    let mut h = harness();
    let (t, prod, id) = probed(&mut h, "queue_retries").await;
    let path = format!("/a/v1/asset/{prod}/{id}/content?format=mp3&bitrate=64000&channels=1");
    assert_eq!(h.call(Method::GET, &path, &t, None).await.code(), "asset.not_ready");
    let config = worker_config(&h);
    h.start_worker_custom(Arc::new(SystemLookup), AddressPolicy::default(), Arc::new(FlakyTranscodes { hang: false }), config);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !matches!(job_state(&h, &prod, &id).await, JobState::Failed { .. }) {
        assert!(tokio::time::Instant::now() < deadline, "job never failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(job_state(&h, &prod, &id).await, JobState::Failed { code: "job.retries_exhausted".into() });
    let r = h.call(Method::GET, &path, &t, None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "asset.rendition_failed"));
    assert_eq!(r.json()["error"]["params"]["error"], "job.retries_exhausted");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let dead = loop {
        let dead = h.jobs.receive_dead(10).await.unwrap();
        if !dead.is_empty() || tokio::time::Instant::now() > deadline {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead.len(), 1, "the message went to the dead-letter queue");
    assert_eq!(dead[0].receive_count, MAX_RECEIVES);
    h.stop_worker().await;

    // The encoder is back: a retry of that rendition (scope resource:write) makes it.
    let retry = format!("/a/v1/asset/{prod}/{id}/retry?format=mp3&bitrate=64000&channels=1");
    let reader = h.token("alice", "resource:read");
    assert_eq!(h.call(Method::POST, &retry, &reader, None).await.status, StatusCode::FORBIDDEN);
    let other = format!("/a/v1/asset/{prod}/{id}/retry?format=mp3&bitrate=128000&channels=1");
    let r = h.call(Method::POST, &other, &t, None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "asset.not_failed"), "a rendition never asked for");
    let r = h.call(Method::POST, &format!("/a/v1/asset/{prod}/{id}/retry"), &t, None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "asset.not_failed"), "the asset itself is ready");
    let r = h.call(Method::POST, &retry, &t, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["renditions"].as_array().is_some_and(|all| all.iter().all(|x| x["state"] != "failed")), "the failure is cleared: {}", r.json());
    assert_eq!(job_state(&h, &prod, &id).await, JobState::Queued);
    assert_eq!(h.call(Method::POST, &retry, &t, None).await.code(), "asset.not_failed", "one retry at a time");
    h.start_worker();
    let url = h.rendition_url(&t, &prod, &id, "format=mp3&bitrate=64000&channels=1").await;
    let made = support::ffprobe(&h.fetch_media(&url).await);
    assert_eq!(made["streams"][0]["codec_name"], "mp3", "{made}");
    h.stop_worker().await;
    let prod_guid = podops_core::domain::Guid::parse(&prod).unwrap();
    let job = h.podops.load_job(&prod_guid, &format!("transcode-{id}-mp3-64000-1")).await.unwrap().expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Done, 1), "fresh counters for the retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_shutdown_a_job_outlasting_the_grace_period_is_handed_back_at_once() {
    let mut h = harness();
    let (t, prod, id) = probed(&mut h, "queue_shutdown").await;
    let path = format!("/a/v1/asset/{prod}/{id}/content?format=mp3&bitrate=64000&channels=1");
    assert_eq!(h.call(Method::GET, &path, &t, None).await.code(), "asset.not_ready");
    let config = podops_worker::WorkerConfig { grace: Duration::from_secs(1), ..worker_config(&h) };
    h.start_worker_custom(Arc::new(SystemLookup), AddressPolicy::default(), Arc::new(FlakyTranscodes { hang: true }), config);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !matches!(job_state(&h, &prod, &id).await, JobState::Running { .. }) {
        assert!(tokio::time::Instant::now() < deadline, "job never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = tokio::time::Instant::now();
    h.stop_worker().await;
    assert!(started.elapsed() < Duration::from_secs(4), "stopped within the grace period: {:?}", started.elapsed());
    assert_eq!(job_state(&h, &prod, &id).await, JobState::Queued, "handed back");
    // Visible again at once, not after its visibility timeout.
    let again = h.jobs.receive(1, Duration::from_secs(30), Duration::from_millis(500)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_probe_is_retried_on_request_and_fails_again_with_the_same_code() {
    let mut h = harness();
    h.start_worker();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "queue_retry_asset").await;
    let id = h.upload(&t, &prod, "notes.wav", b"these are show notes, not audio".to_vec()).await["guid"].as_str().unwrap().to_owned();
    let failed = h.settled(&t, &prod, &id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let code = failed["error"].as_str().expect("code").to_owned();

    let r = h.call(Method::POST, &format!("/a/v1/asset/{prod}/{id}/retry"), &t, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!((r.json()["state"].as_str(), r.json()["error"].as_str()), (Some("pending"), None));
    let again = h.settled(&t, &prod, &id).await;
    assert_eq!((again["state"].as_str(), again["error"].as_str()), (Some("failed"), Some(code.as_str())), "{again}");
    h.stop_worker().await;
    let job = h.podops.load_job(&podops_core::domain::Guid::parse(&prod).unwrap(), &format!("probe-{id}")).await.unwrap().expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Failed { code }, 1));
    assert_eq!(h.dead_letters().await, 0);
}
