//! The jobs port on an SQS standard queue and its dead-letter queue. SQS
//! itself does the dead-lettering, through the queue's redrive policy
//! (`maxReceiveCount`, set by `podops provision`), so the adapter only polls,
//! hides, extends and deletes.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use podops_core::ports::{Jobs, QueueError, Received};

/// SQS's bounds: 10 messages per receive, 20 s of long polling, 12 h of visibility.
const MAX_BATCH: usize = 10;
const MAX_WAIT_SECS: u64 = 20;
const MAX_VISIBILITY_SECS: u64 = 12 * 3600;
/// A short long poll on the dead-letter queue: SQS's short polls sample only
/// some servers and may miss the few messages such a queue holds.
const DEAD_WAIT_SECS: i32 = 1;
/// Dead letters taken are deleted at once; if the process dies in between,
/// they reappear on the dead-letter queue after this.
const DEAD_VISIBILITY_SECS: i32 = 30;

#[derive(Clone, Debug)]
pub struct SqsJobs {
    client: Client,
    queue_url: String,
    dlq_url: String,
}

impl SqsJobs {
    /// Looks up both queues' URLs (the queues must exist: `podops provision`).
    pub async fn connect(client: Client, queue: &str, dlq: &str) -> Result<Self, QueueError> {
        let (queue_url, dlq_url) = (url_of(&client, queue).await?, url_of(&client, dlq).await?);
        Ok(Self { client, queue_url, dlq_url })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    async fn take(&self, url: &str, max: usize, visibility: i32, wait: i32) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(i32::try_from(max.clamp(1, MAX_BATCH)).unwrap_or(1))
            .visibility_timeout(visibility)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| unavailable("ReceiveMessage", e))?;
        out.messages().iter().map(received).collect()
    }
}

async fn url_of(client: &Client, name: &str) -> Result<String, QueueError> {
    let out = client.get_queue_url().queue_name(name).send().await.map_err(|e| unavailable(&format!("GetQueueUrl {name}"), e))?;
    out.queue_url().map(str::to_owned).ok_or_else(|| QueueError::Unavailable(format!("SQS gave no URL for {name}")))
}

fn unavailable<E>(op: &str, err: SdkError<E>) -> QueueError
where
    E: std::error::Error + Send + Sync + 'static,
{
    QueueError::Unavailable(format!("SQS {op}: {}", DisplayErrorContext(&err)))
}

/// Whether SQS refused a receipt handle: malformed, from an older delivery,
/// of a deleted message, or of one no longer in flight. Real SQS reports the
/// latter as `InvalidParameterValue` naming the receipt handle; with the
/// visibility clamped to SQS's range nothing else here can cause that code.
fn refused_receipt<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    let Some(service) = err.as_service_error() else { return false };
    match service.code() {
        Some("ReceiptHandleIsInvalid" | "InvalidIdFormat" | "MessageNotInflight" | "AWS.SimpleQueueService.MessageNotInflight") => true,
        Some("InvalidParameterValue") => service.message().is_some_and(|m| m.to_ascii_lowercase().contains("receipt")),
        _ => false,
    }
}

fn received(message: &Message) -> Result<Received, QueueError> {
    let missing = |what: &str| QueueError::Unavailable(format!("SQS message without {what}"));
    let receive_count = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| missing("a receive count"))?;
    Ok(Received {
        id: message.message_id().ok_or_else(|| missing("an id"))?.to_owned(),
        receipt: message.receipt_handle().ok_or_else(|| missing("a receipt handle"))?.to_owned(),
        body: message.body().unwrap_or_default().to_owned(),
        receive_count,
    })
}

/// Whole seconds, rounded up (SQS takes no fractions), within SQS's bound.
fn seconds(duration: Duration, max: u64) -> i32 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(secs.min(max)).unwrap_or(i32::MAX)
}

#[async_trait]
impl Jobs for SqsJobs {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| unavailable("SendMessage", e))?;
        out.message_id().map(str::to_owned).ok_or_else(|| QueueError::Unavailable("SQS gave no message id".into()))
    }

    /// At most 10 messages per call (SQS's limit), in no particular order.
    /// Visibility and wait are rounded up to whole seconds; wait is capped at 20 s.
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> Result<Vec<Received>, QueueError> {
        self.take(&self.queue_url, max, seconds(visibility, MAX_VISIBILITY_SECS), seconds(wait, MAX_WAIT_SECS)).await
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        match self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(visibility, MAX_VISIBILITY_SECS))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if refused_receipt(&e) => Err(QueueError::StaleReceipt),
            Err(e) => Err(unavailable("ChangeMessageVisibility", e)),
        }
    }

    /// SQS may accept an older delivery's receipt (and then not delete);
    /// callers must not rely on either behaviour, as the port says.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        match self.client.delete_message().queue_url(&self.queue_url).receipt_handle(receipt).send().await {
            Ok(_) => Ok(()),
            Err(e) if refused_receipt(&e) => Err(QueueError::StaleReceipt),
            Err(e) => Err(unavailable("DeleteMessage", e)),
        }
    }

    /// Receives from the dead-letter queue and deletes what it received. The
    /// receipts returned no longer name anything.
    async fn depth(&self) -> Result<u64, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| unavailable("GetQueueAttributes", e))?;
        let n = out.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages));
        Ok(n.and_then(|n| n.parse().ok()).unwrap_or(0))
    }

    async fn receive_dead(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let mut dead = Vec::new();
        while dead.len() < max {
            let wanted = (max - dead.len()).min(MAX_BATCH);
            let got = self.take(&self.dlq_url, wanted, DEAD_VISIBILITY_SECS, DEAD_WAIT_SECS).await?;
            let more = got.len() == wanted;
            for message in &got {
                self.client
                    .delete_message()
                    .queue_url(&self.dlq_url)
                    .receipt_handle(&message.receipt)
                    .send()
                    .await
                    .map_err(|e| unavailable("DeleteMessage (dead-letter queue)", e))?;
            }
            dead.extend(got);
            // A short batch means the queue is drained; don't wait on it again.
            if !more {
                break;
            }
        }
        Ok(dead)
    }
}
