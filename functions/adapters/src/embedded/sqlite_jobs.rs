//! The jobs port on SQLite, with SQS semantics: visibility timeouts, a receipt
//! per delivery, long polling, and redrive to a dead-letter queue after
//! `max_receives` deliveries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use podops_core::ports::{Jobs, QueueError, Received};
use rusqlite::{Connection, TransactionBehavior, params};
use tokio::time::Instant;

use super::sqlite::{DbError, SqliteDb, millis, unix_millis};

/// How often an empty long poll looks again. Sends in this process wake it at
/// once; this only bounds the delay for visibility expiring or other processes.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// SQS's longest long poll; both backends honour the same bound.
const MAX_WAIT: Duration = Duration::from_secs(20);

/// One named queue in the database file; queues sharing a file are independent.
/// Dead letters stay in the same table, flagged, under the same queue name.
#[derive(Clone, Debug)]
pub struct SqliteJobs {
    db: SqliteDb,
    queue: Arc<str>,
    max_receives: u32,
}

impl SqliteJobs {
    /// A message is delivered at most `max_receives` times (at least once: 0
    /// counts as 1); the receive that would deliver it once more moves it to
    /// the dead-letter queue instead, as SQS's redrive policy does.
    pub fn new(db: SqliteDb, queue: &str, max_receives: u32) -> Self {
        Self { db, queue: Arc::from(queue), max_receives: max_receives.max(1) }
    }

    /// One non-waiting receive, in one write transaction so two receivers never
    /// take the same message.
    async fn take(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        let queue = Arc::clone(&self.queue);
        let max_receives = self.max_receives;
        self.db.write(move |conn| take_visible(conn, &queue, max, max_receives, millis(visibility))).await
    }
}

fn take_visible(
    conn: &mut Connection,
    queue: &str,
    max: usize,
    max_receives: u32,
    visibility_ms: i64,
) -> Result<Vec<Received>, DbError<QueueError>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = unix_millis();
    let hidden_until = now.saturating_add(visibility_ms);
    let mut taken = Vec::new();
    // Rows handled in this call are never read again, even with zero visibility.
    let mut last_seq = 0_i64;
    while taken.len() < max {
        let wanted = i64::try_from(max - taken.len()).unwrap_or(i64::MAX);
        let batch = tx
            .prepare_cached(
                "SELECT seq, id, body, receive_count FROM messages
                 WHERE queue = ?1 AND dead = 0 AND seq > ?2 AND visible_at <= ?3
                 ORDER BY seq LIMIT ?4",
            )?
            .query_map(params![queue, last_seq, now, wanted], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, u32>(3)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if batch.is_empty() {
            break;
        }
        for (seq, id, body, count) in batch {
            last_seq = seq;
            if count >= max_receives {
                tx.prepare_cached("UPDATE messages SET dead = 1 WHERE seq = ?1")?.execute([seq])?;
                continue;
            }
            let receipt = format!("{id}.{:016x}", rand::random::<u64>());
            tx.prepare_cached("UPDATE messages SET receive_count = ?2, visible_at = ?3, receipt = ?4 WHERE seq = ?1")?
                .execute(params![seq, count + 1, hidden_until, receipt])?;
            taken.push(Received { id, receipt, body, receive_count: count + 1 });
        }
    }
    tx.commit()?;
    Ok(taken)
}

/// The message id a receipt names; receipts are `<id>.<nonce>`.
fn receipt_id(receipt: &str) -> Result<&str, QueueError> {
    receipt.split_once('.').map(|(id, _)| id).ok_or(QueueError::StaleReceipt)
}

#[async_trait]
impl Jobs for SqliteJobs {
    async fn depth(&self) -> Result<u64, QueueError> {
        let queue = Arc::clone(&self.queue);
        self.db
            .read(move |reader| {
                let n: i64 = reader
                    .conn
                    .prepare_cached("SELECT count(*) FROM messages WHERE queue = ?1 AND dead = 0 AND visible_at <= ?2")?
                    .query_row(params![queue, unix_millis()], |row| row.get(0))?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
    }

    async fn send(&self, body: &str) -> Result<String, QueueError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let (queue, body, row_id) = (Arc::clone(&self.queue), body.to_owned(), id.clone());
        let sent: Result<(), QueueError> = self
            .db
            .write(move |conn| {
                conn.prepare_cached("INSERT INTO messages (id, queue, body, visible_at) VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![row_id, queue, body, unix_millis()])?;
                Ok(())
            })
            .await;
        sent?;
        self.db.message_sent().notify_waiters();
        Ok(id)
    }

    /// Takes messages in send order. `max` is at least 1; `wait` is capped at 20 s.
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let max = max.max(1);
        let deadline = Instant::now() + wait.min(MAX_WAIT);
        loop {
            // Registered before looking, so a send between the look and the
            // sleep still wakes this poll.
            let sent = self.db.message_sent().notified();
            tokio::pin!(sent);
            sent.as_mut().enable();
            let taken = self.take(max, visibility).await?;
            let now = Instant::now();
            if !taken.is_empty() || now >= deadline {
                return Ok(taken);
            }
            tokio::select! {
                _ = &mut sent => {}
                _ = tokio::time::sleep(POLL_INTERVAL.min(deadline - now)) => {}
            }
        }
    }

    /// Refused unless `receipt` names the current delivery and it is still in
    /// flight (SQS: a message whose visibility ran out is not in flight).
    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        let (id, receipt) = (receipt_id(receipt)?.to_owned(), receipt.to_owned());
        let changed: Result<usize, QueueError> = self
            .db
            .write(move |conn| {
                let now = unix_millis();
                Ok(conn
                    .prepare_cached(
                        "UPDATE messages SET visible_at = ?3
                         WHERE id = ?1 AND receipt = ?2 AND dead = 0 AND visible_at > ?4",
                    )?
                    .execute(params![id, receipt, now.saturating_add(millis(visibility)), now])?)
            })
            .await;
        if changed? == 1 { Ok(()) } else { Err(QueueError::StaleReceipt) }
    }

    /// Only the current delivery's receipt deletes; an older one is refused even
    /// though SQS may accept it. Callers must not rely on either behaviour.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let (id, receipt) = (receipt_id(receipt)?.to_owned(), receipt.to_owned());
        let changed: Result<usize, QueueError> = self
            .db
            .write(move |conn| {
                Ok(conn
                    .prepare_cached("DELETE FROM messages WHERE id = ?1 AND receipt = ?2 AND dead = 0")?
                    .execute(params![id, receipt])?)
            })
            .await;
        if changed? == 1 { Ok(()) } else { Err(QueueError::StaleReceipt) }
    }

    /// Removes the messages from the dead-letter queue as it returns them, in
    /// the order they were sent. Their receipt is their last delivery's and no
    /// longer names anything; `receive_count` is how often they were delivered.
    async fn receive_dead(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let queue = Arc::clone(&self.queue);
        let wanted = i64::try_from(max).unwrap_or(i64::MAX);
        self.db
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let dead = tx
                    .prepare_cached(
                        "DELETE FROM messages WHERE seq IN (
                             SELECT seq FROM messages WHERE queue = ?1 AND dead = 1 ORDER BY seq LIMIT ?2)
                         RETURNING seq, id, coalesce(receipt, ''), body, receive_count",
                    )?
                    .query_map(params![queue, wanted], |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            Received {
                                id: row.get(1)?,
                                receipt: row.get(2)?,
                                body: row.get(3)?,
                                receive_count: row.get(4)?,
                            },
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                tx.commit()?;
                let mut dead = dead;
                // RETURNING promises no order.
                dead.sort_by_key(|(seq, _)| *seq);
                Ok(dead.into_iter().map(|(_, message)| message).collect())
            })
            .await
    }
}
