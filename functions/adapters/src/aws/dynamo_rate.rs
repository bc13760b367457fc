//! Rate budgets shared by every Lambda instance (and `podops serve
//! --backend aws` process): GCRA on one DynamoDB item per bucket and key,
//! `RATE#<bucket>#<key>` / `RATE`, holding the theoretical arrival time
//! `tat` (microseconds since 1970).
//!
//! A request costs one conditional UpdateItem and no read: GCRA's new
//! `tat` is `max(tat, now) + interval`, and an update expression has no
//! `max`, so there are two updates, each conditional on its case — "busy"
//! (`tat` in `[now, now + (burst-1)·interval]`: `tat += interval`) and
//! "idle" (`tat` absent or past: `tat = now + interval`). The case is
//! guessed from the last `tat` this process saw for the key; a wrong guess
//! costs a second update, and a refusal comes back in the failed update's
//! old item (`ReturnValuesOnConditionCheckFailure`), never from a read.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, SdkError},
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure},
    Client,
};
use podops_core::ports::{Budget, RateBudgets, StoreError, Take};

/// Hints kept per process; past this, the map starts afresh (a lost hint
/// only costs one extra update).
const MAX_HINTS: usize = 10_000;

pub struct DynamoRateBudgets {
    client: Client,
    table: String,
    hints: Mutex<HashMap<String, i64>>,
}

#[derive(Clone, Copy)]
enum Case {
    Busy,
    Idle,
}

/// What one conditional update found.
enum Outcome {
    /// Written: the new `tat`.
    Written(i64),
    /// The condition failed; the stored `tat` (absent: none).
    Failed(Option<i64>),
}

impl DynamoRateBudgets {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), hints: Mutex::new(HashMap::new()) }
    }

    async fn update(&self, pk: &str, case: Case, now: i64, interval: i64, limit: i64, expires_at: i64) -> Result<Outcome, StoreError> {
        let key = [("pk", pk), ("sk", "RATE")].map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())));
        let n = |v: i64| AttributeValue::N(v.to_string());
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.into()))
            .expression_attribute_names("#tat", "tat")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":exp", n(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match case {
            Case::Busy => request
                .update_expression("SET #tat = #tat + :interval, #exp = :exp")
                .condition_expression("#tat >= :now AND #tat <= :limit")
                .expression_attribute_values(":interval", n(interval))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":limit", n(limit)),
            Case::Idle => request
                .update_expression("SET #tat = :next, #exp = :exp")
                .condition_expression("attribute_not_exists(#tat) OR #tat < :now")
                .expression_attribute_values(":next", n(now + interval))
                .expression_attribute_values(":now", n(now)),
        };
        match request.send().await {
            Ok(out) => Ok(Outcome::Written(tat_of(out.attributes()).unwrap_or(now + interval))),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => {
                let UpdateItemError::ConditionalCheckFailedException(failed) = e.err() else { unreachable!("matched above") };
                Ok(Outcome::Failed(tat_of(failed.item())))
            }
            Err(e) => Err(StoreError::Unavailable(format!("DynamoDB UpdateItem (rate): {}", DisplayErrorContext(&e)))),
        }
    }

    fn hint(&self, pk: &str) -> Option<i64> {
        self.hints.lock().ok().and_then(|h| h.get(pk).copied())
    }

    fn remember(&self, pk: &str, tat: i64) {
        if let Ok(mut hints) = self.hints.lock() {
            if hints.len() >= MAX_HINTS {
                hints.clear();
            }
            hints.insert(pk.to_owned(), tat);
        }
    }
}

fn tat_of(item: Option<&HashMap<String, AttributeValue>>) -> Option<i64> {
    item?.get("tat")?.as_n().ok()?.parse().ok()
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[async_trait]
impl RateBudgets for DynamoRateBudgets {
    async fn take(&self, bucket: &str, key: &str, budget: Budget) -> Result<Take, StoreError> {
        let pk = format!("RATE#{bucket}#{key}");
        let now = micros(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default());
        let interval = micros(budget.interval).max(1);
        let burst = i64::from(budget.burst.max(1));
        // The latest `tat` that still lets one more request in.
        let limit = now + (burst - 1) * interval;
        // Kept until the budget has refilled, plus a minute; TTL removes it after.
        let expires_at = (now + burst * interval) / 1_000_000 + 60;
        let mut case = if self.hint(&pk).is_some_and(|tat| tat >= now) { Case::Busy } else { Case::Idle };
        // Each failed guess learns the stored `tat`; three rounds settle any race.
        for _ in 0..3 {
            match self.update(&pk, case, now, interval, limit, expires_at).await? {
                Outcome::Written(tat) => {
                    self.remember(&pk, tat);
                    let remaining = ((now + burst * interval - tat) / interval).clamp(0, burst - 1);
                    return Ok(Take::Allowed { remaining: u32::try_from(remaining).unwrap_or(0) });
                }
                Outcome::Failed(Some(tat)) if tat > limit => {
                    self.remember(&pk, tat);
                    return Ok(Take::Refused { retry_after: Duration::from_micros(u64::try_from(tat - limit).unwrap_or(0)) });
                }
                Outcome::Failed(Some(tat)) if tat >= now => case = Case::Busy,
                Outcome::Failed(_) => case = Case::Idle,
            }
        }
        // Contended past reason: count it as refused for one interval.
        Ok(Take::Refused { retry_after: Duration::from_micros(u64::try_from(interval).unwrap_or(0)) })
    }
}
