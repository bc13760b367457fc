//! The AWS ports of one deployment, built from its `AwsConfig` after checking
//! that the resources a process uses answer: a wrong endpoint, a missing
//! `podops provision` or a missing permission stops the process at start,
//! with the endpoint and the resource named, instead of failing its first
//! requests. `podops serve` checks everything; a Lambda checks only what its
//! routes touch, because its IAM role allows nothing else.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use podops_core::ports::{Blobs, Jobs, QueueError, RateBudgets, Received, Records};
use tokio::sync::OnceCell;

use super::config::{AwsClients, AwsConfig};
use super::{DynamoRecords, S3Blobs, SqsJobs};

/// The ports a backend provides: records, media, published feeds, jobs.
pub struct AwsPorts {
    pub records: Arc<dyn Records>,
    pub blobs: Arc<dyn Blobs>,
    pub public: Arc<dyn Blobs>,
    pub jobs: Arc<dyn Jobs>,
    /// Rate budgets in the table, shared by every process of the deployment.
    pub rate: Arc<dyn RateBudgets>,
}

/// Which resources a process uses, and so which ones `connect_with` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub table: bool,
    pub media: bool,
    pub public: bool,
    pub queue: bool,
}

impl Needs {
    pub const ALL: Needs = Needs { table: true, media: true, public: true, queue: true };
    pub const NONE: Needs = Needs { table: false, media: false, public: false, queue: false };
}

/// How `connect_with` builds the ports beyond what `AwsConfig` names.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub needs: Needs,
    /// The public origin (e.g. CloudFront) serving the media bucket's keys,
    /// which feeds link enclosures to.
    pub public_media_url: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self { needs: Needs::ALL, public_media_url: None }
    }
}

const HINT: &str = "is the endpoint right and running, and has `podops provision` been run with the same names?";

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the DynamoDB table {table} does not exist at {at}: run `podops provision` with the same names first")]
    NoTable { table: String, at: String },
    #[error("cannot reach DynamoDB at {at} ({cause}): {HINT}")]
    DynamoDb { at: String, cause: String },
    #[error("the S3 bucket {bucket} is not usable at {at} ({cause}): {HINT}")]
    Bucket { bucket: String, at: String, cause: String },
    #[error("the SQS queues {queue} / {dlq} are not usable at {at} ({cause}): {HINT}")]
    Queues { queue: String, dlq: String, at: String, cause: String },
}

/// Every port, every resource checked: what `podops serve --backend aws` uses.
pub async fn connect(config: &AwsConfig) -> Result<AwsPorts, ConnectError> {
    connect_with(config, &ConnectOptions::default()).await
}

/// The ports, checking only `options.needs`. The checks run concurrently: on
/// a cold Lambda each is a round trip (and a TLS handshake) to another service.
/// A queue not needed is looked up on first use, never at start.
pub async fn connect_with(config: &AwsConfig, options: &ConnectOptions) -> Result<AwsPorts, ConnectError> {
    let clients = AwsClients::new(config).await;
    let needs = options.needs;
    let queues = async {
        if needs.queue { connect_queues(&clients, config).await.map(Some) } else { Ok(None) }
    };
    let (table, media, public, queues) = tokio::join!(
        check_if(needs.table, check_table(&clients, config)),
        check_if(needs.media, check_bucket(&clients, config, &config.media_bucket)),
        check_if(needs.public, check_bucket(&clients, config, &config.public_bucket)),
        queues,
    );
    table?;
    media?;
    public?;
    let jobs: Arc<dyn Jobs> = match queues? {
        Some(jobs) => Arc::new(jobs),
        None => Arc::new(LazySqsJobs { clients: clients.clone(), queue: config.queue_name.clone(), dlq: config.dlq_name.clone(), jobs: OnceCell::new() }),
    };
    let mut media = S3Blobs::new(clients.s3.clone(), &config.media_bucket);
    if let Some(base) = &options.public_media_url {
        media = media.with_public_base(base);
    }
    Ok(AwsPorts {
        records: Arc::new(DynamoRecords::new(clients.dynamodb.clone(), &config.table)),
        blobs: Arc::new(media),
        public: Arc::new(S3Blobs::new(clients.s3.clone(), &config.public_bucket)),
        jobs,
        rate: Arc::new(super::DynamoRateBudgets::new(clients.dynamodb.clone(), &config.table)),
    })
}

async fn check_if(needed: bool, check: impl Future<Output = Result<(), ConnectError>>) -> Result<(), ConnectError> {
    if needed { check.await } else { Ok(()) }
}

async fn check_table(clients: &AwsClients, config: &AwsConfig) -> Result<(), ConnectError> {
    let at = config.endpoint_label();
    match clients.dynamodb.describe_table().table_name(&config.table).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
            Err(ConnectError::NoTable { table: config.table.clone(), at })
        }
        Err(e) => Err(ConnectError::DynamoDb { at, cause: DisplayErrorContext(&e).to_string() }),
    }
}

async fn check_bucket(clients: &AwsClients, config: &AwsConfig, bucket: &str) -> Result<(), ConnectError> {
    clients.s3.head_bucket().bucket(bucket).send().await.map(|_| ()).map_err(|e| ConnectError::Bucket {
        bucket: bucket.to_owned(),
        at: config.endpoint_label(),
        cause: DisplayErrorContext(&e).to_string(),
    })
}

async fn connect_queues(clients: &AwsClients, config: &AwsConfig) -> Result<SqsJobs, ConnectError> {
    SqsJobs::connect(clients.sqs.clone(), &config.queue_name, &config.dlq_name).await.map_err(|e| ConnectError::Queues {
        queue: config.queue_name.clone(),
        dlq: config.dlq_name.clone(),
        at: config.endpoint_label(),
        cause: e.to_string(),
    })
}

/// The jobs port of a process that may never enqueue (e.g. a Lambda serving
/// reads): the queue URLs are looked up on first use, so such a process needs
/// no SQS permission and spends no start-up round trip on SQS.
struct LazySqsJobs {
    clients: AwsClients,
    queue: String,
    dlq: String,
    jobs: OnceCell<SqsJobs>,
}

impl LazySqsJobs {
    async fn get(&self) -> Result<&SqsJobs, QueueError> {
        // A failed lookup is not cached: the next use tries again.
        self.jobs.get_or_try_init(|| SqsJobs::connect(self.clients.sqs.clone(), &self.queue, &self.dlq)).await
    }
}

#[async_trait]
impl Jobs for LazySqsJobs {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        self.get().await?.send(body).await
    }

    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> Result<Vec<Received>, QueueError> {
        self.get().await?.receive(max, visibility, wait).await
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        self.get().await?.extend(receipt, visibility).await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.get().await?.delete(receipt).await
    }

    async fn receive_dead(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        self.get().await?.receive_dead(max).await
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        self.get().await?.depth().await
    }
}
