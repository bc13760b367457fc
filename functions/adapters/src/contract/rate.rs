//! The rate budgets contract: GCRA as both backends must keep it — a burst
//! passes and the next request waits about one interval; budgets are per
//! key and per bucket; concurrent takes never exceed the burst (the point of
//! a shared store); a refused client is served again after `retry_after`.

use std::sync::Arc;
use std::time::Duration;

use podops_core::ports::{Budget, RateBudgets, Take};

/// Instantiates every rule below as a `#[tokio::test]`; `$factory` is an
/// async expression yielding a fresh `Arc<dyn RateBudgets>`.
#[macro_export]
macro_rules! rate_contract_tests {
    ($factory:expr) => {
        $crate::rate_contract_tests!(@rules $factory;
            a_burst_passes_and_the_next_request_waits_about_one_interval,
            keys_and_buckets_have_their_own_budgets,
            a_refused_client_is_served_again_after_retry_after,
            remaining_counts_down_through_a_burst,
            concurrent_takes_never_exceed_the_burst,
        );
    };
    (@rules $factory:expr; $($rule:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $rule() {
                $crate::contract::rate::$rule($factory.await).await;
            }
        )*
    };
}

/// 2 per second, bursts of 5.
const BUDGET: Budget = Budget { interval: Duration::from_millis(500), burst: 5 };

fn key(rule: &str) -> String {
    format!("{rule}-{:08x}", rand::random::<u32>())
}

async fn take(budgets: &dyn RateBudgets, bucket: &str, key: &str) -> Take {
    budgets.take(bucket, key, BUDGET).await.expect("take")
}

pub async fn a_burst_passes_and_the_next_request_waits_about_one_interval(budgets: Arc<dyn RateBudgets>) {
    let k = key("burst");
    for i in 0..BUDGET.burst {
        assert!(matches!(take(&*budgets, "anonymous", &k).await, Take::Allowed { .. }), "request {i} of the burst");
    }
    match take(&*budgets, "anonymous", &k).await {
        Take::Refused { retry_after } => assert!(retry_after > Duration::ZERO && retry_after <= BUDGET.interval, "{retry_after:?}"),
        Take::Allowed { .. } => panic!("the request after a burst passed"),
    }
}

pub async fn keys_and_buckets_have_their_own_budgets(budgets: Arc<dyn RateBudgets>) {
    let (a, b) = (key("a"), key("b"));
    for _ in 0..BUDGET.burst {
        take(&*budgets, "anonymous", &a).await;
    }
    assert!(matches!(take(&*budgets, "anonymous", &a).await, Take::Refused { .. }));
    assert!(matches!(take(&*budgets, "anonymous", &b).await, Take::Allowed { .. }), "another key");
    assert!(matches!(take(&*budgets, "login", &a).await, Take::Allowed { .. }), "the same key in another bucket");
}

pub async fn a_refused_client_is_served_again_after_retry_after(budgets: Arc<dyn RateBudgets>) {
    let k = key("again");
    for _ in 0..BUDGET.burst {
        take(&*budgets, "anonymous", &k).await;
    }
    let Take::Refused { retry_after } = take(&*budgets, "anonymous", &k).await else { panic!("not refused") };
    tokio::time::sleep(retry_after + Duration::from_millis(20)).await;
    assert!(matches!(take(&*budgets, "anonymous", &k).await, Take::Allowed { .. }), "served after {retry_after:?}");
    assert!(matches!(take(&*budgets, "anonymous", &k).await, Take::Refused { .. }), "one request per interval, no new burst");
}

pub async fn remaining_counts_down_through_a_burst(budgets: Arc<dyn RateBudgets>) {
    let k = key("remaining");
    let mut seen = Vec::new();
    for _ in 0..BUDGET.burst {
        if let Take::Allowed { remaining } = take(&*budgets, "anonymous", &k).await {
            seen.push(remaining);
        }
    }
    assert_eq!(seen, [4, 3, 2, 1, 0]);
}

pub async fn concurrent_takes_never_exceed_the_burst(budgets: Arc<dyn RateBudgets>) {
    let k = key("concurrent");
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (budgets, k) = (Arc::clone(&budgets), k.clone());
            tokio::spawn(async move { budgets.take("anonymous", &k, BUDGET).await.expect("take") })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        if matches!(task.await.expect("task"), Take::Allowed { .. }) {
            allowed += 1;
        }
    }
    // Twelve takes land within well under an interval: the burst, give or take one refill.
    assert!((BUDGET.burst..=BUDGET.burst + 1).contains(&allowed), "{allowed} of 12 allowed with a burst of {}", BUDGET.burst);
}
