//! The rate budgets port: token buckets (GCRA) keyed by client, one budget
//! per key across every process that shares the store — in process on the
//! embedded backend, in DynamoDB for the Lambda functions.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;

/// A bucket's shape: one request costs `interval` (the sustained rate is one
/// per interval), and up to `burst` requests may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Budget {
    pub interval: Duration,
    pub burst: u32,
}

/// What taking one request from a budget answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Allowed; `remaining` more could come at once right now.
    Allowed { remaining: u32 },
    /// Refused; the next request is allowed after `retry_after`.
    Refused { retry_after: Duration },
}

#[async_trait]
pub trait RateBudgets: Send + Sync {
    /// Takes one request from `key`'s budget in `bucket` (a bucket is a
    /// policy: `anonymous`, `login`…; the same key in two buckets is two budgets).
    async fn take(&self, bucket: &str, key: &str, budget: Budget) -> Result<Take, StoreError>;
}
