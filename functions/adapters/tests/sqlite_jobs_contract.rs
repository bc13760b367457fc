//! The jobs contract on SQLite, plus what this queue promises beyond SQS:
//! send order, refusing stale receipts on extend and delete, separate queues in one file,
//! messages surviving a restart.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use podops_adapters::contract::jobs::MAX_RECEIVES;
use podops_adapters::embedded::{SqliteDb, SqliteJobs};
use podops_core::ports::{Jobs, QueueError, Received};
use tempfile::TempDir;

/// The queue plus the directory its file lives in, removed when the test's
/// last handle goes.
struct InTempDir {
    jobs: SqliteJobs,
    _dir: TempDir,
}

#[async_trait]
impl Jobs for InTempDir {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        self.jobs.send(body).await
    }
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> Result<Vec<Received>, QueueError> {
        self.jobs.receive(max, visibility, wait).await
    }
    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        self.jobs.extend(receipt, visibility).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.jobs.delete(receipt).await
    }
    async fn receive_dead(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        self.jobs.receive_dead(max).await
    }
    async fn depth(&self) -> Result<u64, QueueError> {
        self.jobs.depth().await
    }
}

async fn fresh_queue() -> Arc<dyn Jobs> {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = SqliteDb::open(&dir.path().join("podops.db")).expect("open");
    Arc::new(InTempDir { jobs: SqliteJobs::new(db, "contract", MAX_RECEIVES), _dir: dir })
}

podops_adapters::jobs_contract_tests!(fresh_queue());

const HOUR: Duration = Duration::from_secs(3600);

fn open(dir: &TempDir) -> SqliteDb {
    SqliteDb::open(&dir.path().join("podops.db")).expect("open")
}

fn bodies(messages: &[Received]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

#[tokio::test]
async fn messages_are_received_in_send_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jobs = SqliteJobs::new(open(&dir), "render", 3);
    for body in ["a", "b", "c", "d", "e"] {
        jobs.send(body).await.expect("send");
    }
    let first = jobs.receive(2, HOUR, Duration::ZERO).await.expect("receive");
    let rest = jobs.receive(10, HOUR, Duration::ZERO).await.expect("receive");
    assert_eq!((bodies(&first), bodies(&rest)), (vec!["a", "b"], vec!["c", "d", "e"]));
}

#[tokio::test]
async fn delete_with_a_stale_receipt_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jobs = SqliteJobs::new(open(&dir), "render", 3);
    jobs.send("job").await.expect("send");
    let first = jobs.receive(1, HOUR, Duration::ZERO).await.expect("receive").remove(0);
    jobs.extend(&first.receipt, Duration::ZERO).await.expect("release");
    let second = jobs.receive(1, HOUR, Duration::ZERO).await.expect("receive").remove(0);
    assert!(matches!(jobs.delete(&first.receipt).await, Err(QueueError::StaleReceipt)));
    jobs.delete(&second.receipt).await.expect("delete with the current receipt");
    assert!(jobs.receive(1, Duration::ZERO, Duration::ZERO).await.expect("receive").is_empty());
}

#[tokio::test]
async fn extend_with_a_stale_receipt_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jobs = SqliteJobs::new(open(&dir), "render", 3);
    jobs.send("job").await.expect("send");
    let first = jobs.receive(1, HOUR, Duration::ZERO).await.expect("receive").remove(0);
    jobs.extend(&first.receipt, Duration::ZERO).await.expect("release");
    let second = jobs.receive(1, HOUR, Duration::ZERO).await.expect("receive").remove(0);
    assert!(matches!(jobs.extend(&first.receipt, HOUR).await, Err(QueueError::StaleReceipt)));
    jobs.extend(&second.receipt, HOUR).await.expect("extend with the current receipt");
}

#[tokio::test]
async fn dead_letters_keep_their_receive_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jobs = SqliteJobs::new(open(&dir), "render", 2);
    jobs.send("poison").await.expect("send");
    jobs.send("fine").await.expect("send");
    // Zero visibility: every receive may deliver again at once.
    for delivery in 1..=2 {
        let got = jobs.receive(1, Duration::ZERO, Duration::ZERO).await.expect("receive");
        assert_eq!((bodies(&got), got[0].receive_count), (vec!["poison"], delivery));
    }
    // The third delivery of "poison" would exceed 2: it is dead-lettered and
    // the same receive moves on to the next message.
    let got = jobs.receive(1, HOUR, Duration::ZERO).await.expect("receive");
    assert_eq!(bodies(&got), ["fine"]);
    let dead = jobs.receive_dead(10).await.expect("receive_dead");
    assert_eq!((bodies(&dead), dead[0].receive_count), (vec!["poison"], 2));
    assert!(matches!(jobs.extend(&dead[0].receipt, HOUR).await, Err(QueueError::StaleReceipt)));
}

#[tokio::test]
async fn queues_sharing_a_file_are_independent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open(&dir);
    let (render, publish) = (SqliteJobs::new(db.clone(), "render", 1), SqliteJobs::new(db, "publish", 1));
    render.send("render job").await.expect("send");
    publish.send("publish job").await.expect("send");
    let got = render.receive(10, Duration::ZERO, Duration::ZERO).await.expect("receive");
    assert_eq!(bodies(&got), ["render job"]);
    // max_receives 1: the next receive dead-letters it, on render's DLQ only.
    assert!(render.receive(10, HOUR, Duration::ZERO).await.expect("receive").is_empty());
    assert!(publish.receive_dead(10).await.expect("receive_dead").is_empty());
    assert_eq!(bodies(&render.receive_dead(10).await.expect("receive_dead")), ["render job"]);
    assert_eq!(bodies(&publish.receive(10, HOUR, Duration::ZERO).await.expect("receive")), ["publish job"]);
}

#[tokio::test]
async fn messages_and_deliveries_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (waiting, in_flight) = {
        let jobs = SqliteJobs::new(open(&dir), "render", 3);
        let in_flight = jobs.send("in flight").await.expect("send");
        let waiting = jobs.send("waiting").await.expect("send");
        let got = jobs.receive(1, HOUR, Duration::ZERO).await.expect("receive");
        assert_eq!(got[0].id, in_flight);
        (waiting, got.into_iter().next().expect("one message"))
    };
    let jobs = SqliteJobs::new(open(&dir), "render", 3);
    let got = jobs.receive(10, HOUR, Duration::ZERO).await.expect("receive");
    assert_eq!(got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [waiting.as_str()]);
    jobs.delete(&in_flight.receipt).await.expect("the receipt still names its delivery");
}

#[tokio::test]
async fn a_long_poll_sees_a_message_whose_visibility_ends_during_the_wait() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jobs = SqliteJobs::new(open(&dir), "render", 3);
    jobs.send("retry me").await.expect("send");
    jobs.receive(1, Duration::from_millis(300), Duration::ZERO).await.expect("receive");
    let started = tokio::time::Instant::now();
    let got = jobs.receive(1, HOUR, Duration::from_secs(2)).await.expect("receive");
    assert_eq!((bodies(&got), got[0].receive_count), (vec!["retry me"], 2));
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

/// Stronger than the shared rule (SQS is at least once): one SQLite
/// transaction per receive means no message is ever delivered twice at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_receivers_never_share_a_message() {
    let deliveries = podops_adapters::contract::jobs::concurrent_receivers_get_every_message(fresh_queue().await).await;
    assert_eq!(deliveries, 50, "every message delivered exactly once");
}
