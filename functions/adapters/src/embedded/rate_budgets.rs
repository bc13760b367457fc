//! Rate budgets in this process's memory (governor's keyed GCRA limiters):
//! `podops serve` is one process, so its memory is the one budget.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use async_trait::async_trait;
use governor::{
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    Quota, RateLimiter,
};
use podops_core::ports::{Budget, RateBudgets, StoreError, Take};

type Keyed = RateLimiter<String, governor::state::keyed::DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

#[derive(Default)]
pub struct InProcessBudgets {
    /// One limiter per bucket and shape.
    limiters: Mutex<HashMap<(String, Budget), Arc<Keyed>>>,
    takes: AtomicU64,
}

impl InProcessBudgets {
    pub fn new() -> Self {
        Self::default()
    }

    fn limiter(&self, bucket: &str, budget: Budget) -> Arc<Keyed> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let limiter = limiters.entry((bucket.to_owned(), budget)).or_insert_with(|| {
            let quota = Quota::with_period(budget.interval.max(std::time::Duration::from_nanos(1)))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(budget.burst).unwrap_or(NonZeroU32::MIN));
            Arc::new(RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>())
        });
        Arc::clone(limiter)
    }
}

#[async_trait]
impl RateBudgets for InProcessBudgets {
    async fn take(&self, bucket: &str, key: &str, budget: Budget) -> Result<Take, StoreError> {
        let limiter = self.limiter(bucket, budget);
        // Keyed maps grow with clients; forget idle ones now and then.
        if self.takes.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            limiter.retain_recent();
        }
        Ok(match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => Take::Allowed { remaining: snapshot.remaining_burst_capacity() },
            Err(not_until) => Take::Refused { retry_after: not_until.wait_time_from(DefaultClock::default().now()) },
        })
    }
}
