//! The jobs contract: the queue rules every `Jobs` adapter must keep, written
//! against the trait only and loose where SQS is (no ordering, short polls that
//! may come back empty, receive counts on dead letters).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use podops_core::ports::{Jobs, QueueError, Received};
use tokio::time::Instant;

/// Instantiates every rule below as a `#[tokio::test]` (multi-threaded; the
/// calling crate needs `tokio` with the `macros` and `rt-multi-thread` features).
/// `$factory` is an async expression evaluated once per test, yielding an
/// `Arc<dyn Jobs>` on a fresh, empty queue whose max-receives is 3 — a queue
/// is the unit of isolation, since any receive may take any message on it.
#[macro_export]
macro_rules! jobs_contract_tests {
    ($factory:expr) => {
        $crate::jobs_contract_tests!(@rules $factory;
            a_sent_message_comes_back_once_with_its_body_and_id,
            a_received_message_is_hidden_until_its_visibility_ends_then_redelivered,
            extend_keeps_a_message_hidden,
            extend_zero_releases_a_message_at_once,
            delete_with_the_current_receipt_removes_it_for_good,
            after_redelivery_the_new_receipt_extends_and_deletes,
            unknown_receipts_are_refused,
            after_max_receives_deliveries_the_message_is_dead_lettered,
            a_long_poll_returns_a_message_sent_during_the_wait,
            an_empty_long_poll_waits_before_returning_nothing,
            receive_returns_at_most_max,
            concurrent_receivers_get_every_message,
            depth_counts_the_messages_waiting,
        );
    };
    (@rules $factory:expr; $($rule:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $rule() {
                $crate::contract::jobs::$rule($factory.await).await;
            }
        )*
    };
}

/// The max-receives the factory's queues must have.
pub const MAX_RECEIVES: u32 = 3;

const SECOND: Duration = Duration::from_secs(1);
const NO_WAIT: Duration = Duration::ZERO;
/// Long enough that no rule outlives it, so these messages never come back by themselves.
const LONG: Duration = Duration::from_secs(60);

/// Collects `n` messages, polling up to a few seconds: SQS may hand them out
/// over several receives.
async fn receive_n(jobs: &dyn Jobs, n: usize, visibility: Duration) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        got.extend(jobs.receive(n - got.len(), visibility, SECOND).await.expect("receive"));
    }
    assert_eq!(got.len(), n, "received {got:?}");
    got
}

async fn receive_one(jobs: &dyn Jobs, visibility: Duration) -> Received {
    receive_n(jobs, 1, visibility).await.remove(0)
}

async fn assert_empty(jobs: &dyn Jobs, wait: Duration, what: &str) {
    let got = jobs.receive(10, LONG, wait).await.expect("receive");
    assert!(got.is_empty(), "{what}: got {got:?}");
}

fn assert_stale(result: Result<(), QueueError>, what: &str) {
    assert!(matches!(result, Err(QueueError::StaleReceipt)), "{what}: expected StaleReceipt, got {result:?}");
}

pub async fn a_sent_message_comes_back_once_with_its_body_and_id(jobs: Arc<dyn Jobs>) {
    let body = r#"{"job":"render","id":"é-1"}"#;
    let id = jobs.send(body).await.expect("send");
    let got = receive_one(&*jobs, LONG).await;
    assert_eq!((got.id.as_str(), got.body.as_str(), got.receive_count), (id.as_str(), body, 1));
    assert!(!got.receipt.is_empty());
    assert_empty(&*jobs, NO_WAIT, "in flight").await;
    jobs.delete(&got.receipt).await.expect("delete");
}

pub async fn a_received_message_is_hidden_until_its_visibility_ends_then_redelivered(jobs: Arc<dyn Jobs>) {
    let id = jobs.send("again").await.expect("send");
    let first = receive_one(&*jobs, SECOND).await;
    assert_empty(&*jobs, NO_WAIT, "hidden").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = receive_one(&*jobs, LONG).await;
    assert_eq!((second.id.as_str(), second.body.as_str(), second.receive_count), (id.as_str(), "again", 2));
    assert_ne!(second.receipt, first.receipt);
    jobs.delete(&second.receipt).await.expect("delete");
}

pub async fn extend_keeps_a_message_hidden(jobs: Arc<dyn Jobs>) {
    jobs.send("slow job").await.expect("send");
    let got = receive_one(&*jobs, SECOND).await;
    jobs.extend(&got.receipt, Duration::from_secs(4)).await.expect("extend");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_empty(&*jobs, NO_WAIT, "extended past its first visibility").await;
    // Extending does not change the delivery, so its receipt still deletes.
    jobs.delete(&got.receipt).await.expect("delete");
    assert_empty(&*jobs, NO_WAIT, "deleted").await;
}

pub async fn extend_zero_releases_a_message_at_once(jobs: Arc<dyn Jobs>) {
    let id = jobs.send("give back").await.expect("send");
    let first = receive_one(&*jobs, LONG).await;
    jobs.extend(&first.receipt, Duration::ZERO).await.expect("release");
    let second = receive_one(&*jobs, LONG).await;
    assert_eq!((second.id.as_str(), second.receive_count), (id.as_str(), 2));
    jobs.delete(&second.receipt).await.expect("delete");
}

pub async fn delete_with_the_current_receipt_removes_it_for_good(jobs: Arc<dyn Jobs>) {
    jobs.send("done soon").await.expect("send");
    let got = receive_one(&*jobs, SECOND).await;
    jobs.delete(&got.receipt).await.expect("delete");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_empty(&*jobs, SECOND, "after its visibility would have ended").await;
    assert_stale(jobs.extend(&got.receipt, SECOND).await, "extend of a deleted message");
    assert!(jobs.receive_dead(10).await.expect("receive_dead").is_empty());
}

/// An earlier delivery's receipt is refused by SQLite but accepted by SQS (its
/// receipts stay valid for the message: moto mirrors AWS here), so the rule
/// only pins what both do: the current receipt works, whatever the old one did.
pub async fn after_redelivery_the_new_receipt_extends_and_deletes(jobs: Arc<dyn Jobs>) {
    jobs.send("twice").await.expect("send");
    let first = receive_one(&*jobs, LONG).await;
    jobs.extend(&first.receipt, Duration::ZERO).await.expect("release");
    let second = receive_one(&*jobs, LONG).await;
    assert_ne!(second.receipt, first.receipt);
    match jobs.extend(&first.receipt, LONG).await {
        Ok(()) | Err(QueueError::StaleReceipt) => {}
        Err(other) => panic!("extend with the first delivery's receipt: {other:?}"),
    }
    jobs.extend(&second.receipt, LONG).await.expect("extend with the current receipt");
    jobs.delete(&second.receipt).await.expect("delete with the current receipt");
    jobs.extend(&second.receipt, Duration::ZERO).await.expect_err("the message is gone");
    assert_empty(&*jobs, NO_WAIT, "deleted").await;
}

pub async fn unknown_receipts_are_refused(jobs: Arc<dyn Jobs>) {
    assert_stale(jobs.extend("not-a-receipt", SECOND).await, "extend");
    assert_stale(jobs.delete("not-a-receipt").await, "delete");
}

pub async fn after_max_receives_deliveries_the_message_is_dead_lettered(jobs: Arc<dyn Jobs>) {
    let id = jobs.send("poison").await.expect("send");
    for delivery in 1..=MAX_RECEIVES {
        let got = receive_one(&*jobs, LONG).await;
        assert_eq!((got.id.as_str(), got.receive_count), (id.as_str(), delivery));
        jobs.extend(&got.receipt, Duration::ZERO).await.expect("release");
    }
    assert_empty(&*jobs, SECOND, "a delivery past max-receives").await;
    let dead = jobs.receive_dead(10).await.expect("receive_dead");
    let dead: Vec<_> = dead.iter().map(|m| (m.id.as_str(), m.body.as_str())).collect();
    assert_eq!(dead, [(id.as_str(), "poison")]);
    assert!(jobs.receive_dead(10).await.expect("receive_dead again").is_empty(), "taken off the dead-letter queue");
    assert_empty(&*jobs, NO_WAIT, "not back on the queue").await;
}

pub async fn a_long_poll_returns_a_message_sent_during_the_wait(jobs: Arc<dyn Jobs>) {
    let sender = Arc::clone(&jobs);
    let send = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sender.send("late").await.expect("send")
    });
    let started = Instant::now();
    let got = jobs.receive(1, LONG, Duration::from_secs(2)).await.expect("receive");
    let id = send.await.expect("sender");
    assert_eq!(got.iter().map(|m| (m.id.as_str(), m.body.as_str())).collect::<Vec<_>>(), [(id.as_str(), "late")]);
    assert!(started.elapsed() < Duration::from_millis(1900), "returned when the message came");
    jobs.delete(&got[0].receipt).await.expect("delete");
}

pub async fn an_empty_long_poll_waits_before_returning_nothing(jobs: Arc<dyn Jobs>) {
    let started = Instant::now();
    assert_empty(&*jobs, Duration::from_millis(600), "empty queue").await;
    assert!(started.elapsed() >= Duration::from_millis(550), "returned after {:?}", started.elapsed());
}

pub async fn receive_returns_at_most_max(jobs: Arc<dyn Jobs>) {
    let mut sent = HashSet::new();
    for n in 0..5 {
        sent.insert(jobs.send(&format!("m{n}")).await.expect("send"));
    }
    let first = jobs.receive(2, LONG, SECOND).await.expect("receive");
    assert!((1..=2).contains(&first.len()), "got {}", first.len());
    let rest = receive_n(&*jobs, 5 - first.len(), LONG).await;
    let got: HashSet<String> = first.iter().chain(&rest).map(|m| m.id.clone()).collect();
    assert_eq!(got, sent);
    for message in first.iter().chain(&rest) {
        jobs.delete(&message.receipt).await.expect("delete");
    }
}

/// SQS standard queues deliver at least once: under load a message may come
/// twice (seen on moto). The rule is that every message arrives and none is
/// lost; duplicates are the worker's job records' business. Returns how many
/// deliveries there were, so an adapter that promises more (SQLite: exactly
/// once) can assert it.
pub async fn concurrent_receivers_get_every_message(jobs: Arc<dyn Jobs>) -> usize {
    const MESSAGES: usize = 50;
    let mut sent = HashSet::new();
    for n in 0..MESSAGES {
        sent.insert(jobs.send(&format!("job {n}")).await.expect("send"));
    }
    let seen = Arc::new(Mutex::new(Vec::<Received>::new()));
    let receivers: Vec<_> = (0..4)
        .map(|_| {
            let (jobs, seen) = (Arc::clone(&jobs), Arc::clone(&seen));
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(10);
                while seen.lock().expect("lock").len() < MESSAGES && Instant::now() < deadline {
                    let got = jobs.receive(5, LONG, Duration::from_millis(200)).await.expect("receive");
                    seen.lock().expect("lock").extend(got);
                }
            })
        })
        .collect();
    for receiver in receivers {
        receiver.await.expect("receiver");
    }
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    let ids: HashSet<String> = seen.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, sent, "every message delivered at least once");
    let receipts: HashSet<&str> = seen.iter().map(|m| m.receipt.as_str()).collect();
    assert_eq!(receipts.len(), seen.len(), "each delivery has its own receipt");
    for message in &seen {
        // A duplicate's older receipt may be refused once the message is gone.
        let _ = jobs.delete(&message.receipt).await;
    }
    seen.len()
}

/// Polls `depth` until it reads `n` (SQS's count is approximate and may lag).
async fn depth_reaches(jobs: &dyn Jobs, n: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let depth = jobs.depth().await.expect("depth");
        if depth == n || Instant::now() > deadline {
            return depth;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn depth_counts_the_messages_waiting(jobs: Arc<dyn Jobs>) {
    assert_eq!(jobs.depth().await.expect("depth"), 0, "a fresh queue is empty");
    jobs.send("one").await.expect("send");
    jobs.send("two").await.expect("send");
    assert_eq!(depth_reaches(&*jobs, 2).await, 2);
    let got = receive_n(&*jobs, 1, LONG).await;
    assert_eq!(got.len(), 1);
    assert_eq!(depth_reaches(&*jobs, 1).await, 1, "a message in flight is not waiting");
}
