//! The jobs port: an at-least-once queue with visibility timeouts and a
//! dead-letter queue (SQS's model; SQLite implements the same). The message
//! only names a job; the job's record in the store is the truth.

use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: String,
    /// Names this delivery; extend and delete take it. A later delivery of the
    /// same message gets a new receipt.
    pub receipt: String,
    pub body: String,
    /// How many times the message has been delivered, this one included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The receipt names no message that is still there (unknown, or
    /// deleted). An earlier delivery's receipt may get this (SQLite) or be
    /// accepted (SQS keeps old receipts valid): callers rely on neither.
    #[error("stale or unknown receipt")]
    StaleReceipt,
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Jobs: Send + Sync {
    /// Enqueues a message; returns its id.
    async fn send(&self, body: &str) -> Result<String, QueueError>;
    /// Up to `max` visible messages, each hidden for `visibility` afterwards.
    /// Waits up to `wait` for one to arrive (long polling). A message received
    /// more than the queue's max-receives times goes to the dead-letter queue
    /// instead of being delivered.
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> Result<Vec<Received>, QueueError>;
    /// Keeps a message in flight for `visibility` from now (zero releases it at once).
    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError>;
    /// Removes a message for good.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;
    /// Takes up to `max` messages off the dead-letter queue (for inspection and redrive).
    async fn receive_dead(&self, max: usize) -> Result<Vec<Received>, QueueError>;
    /// Messages waiting to be received (approximate on SQS): the backlog, and
    /// the cheapest proof that the queue answers (health, metrics).
    async fn depth(&self) -> Result<u64, QueueError>;
}
