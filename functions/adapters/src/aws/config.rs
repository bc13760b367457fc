//! Where the AWS backend lives (endpoint, region, resource names) and the SDK
//! clients built from it, each counting the HTTP requests it sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;

/// Deliveries of a job message before SQS moves it to the dead-letter queue;
/// the embedded queue uses the same number.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// One deployment's AWS resources. Every adapter and `podops provision` read
/// the same struct, so they always agree on names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    /// `None` means the real AWS endpoints; an emulator's URL (moto,
    /// LocalStack) otherwise.
    pub endpoint: Option<String>,
    pub region: String,
    pub table: String,
    pub media_bucket: String,
    pub public_bucket: String,
    pub queue_name: String,
    pub dlq_name: String,
    /// The jobs queue's redrive policy: deliveries before dead-lettering.
    pub max_receives: u32,
    pub sdk: SdkTuning,
}

impl AwsConfig {
    /// The default names (`podops`, `podops-media`, `podops-public`,
    /// `podops-jobs`, `podops-jobs-dlq`) in `region`.
    pub fn named(endpoint: Option<String>, region: impl Into<String>) -> Self {
        Self {
            endpoint,
            region: region.into(),
            table: "podops".into(),
            media_bucket: "podops-media".into(),
            public_bucket: "podops-public".into(),
            queue_name: "podops-jobs".into(),
            dlq_name: dlq_name("podops-jobs"),
            max_receives: DEFAULT_MAX_RECEIVES,
            sdk: SdkTuning::default(),
        }
    }

    /// What to print when the backend cannot be reached.
    pub fn endpoint_label(&self) -> String {
        match &self.endpoint {
            Some(url) => url.clone(),
            None => format!("the AWS endpoints of {}", self.region),
        }
    }
}

/// The dead-letter queue that belongs to `queue`.
pub fn dlq_name(queue: &str) -> String {
    format!("{queue}-dlq")
}

/// How hard the SDK tries before an adapter reports `Unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkTuning {
    /// Attempts per operation, the first included (the SDK's standard mode retries throttling and 5xx).
    pub max_attempts: u32,
    pub connect_timeout: Duration,
}

impl Default for SdkTuning {
    fn default() -> Self {
        // The SDK's own defaults; named here so tests can shorten them.
        Self { max_attempts: 3, connect_timeout: Duration::from_millis(3100) }
    }
}

impl SdkTuning {
    /// One attempt, a short connect timeout: for tests of an unreachable endpoint.
    pub fn fail_fast() -> Self {
        Self { max_attempts: 1, connect_timeout: Duration::from_millis(500) }
    }
}

/// The three SDK clients of one deployment, sharing one call counter.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub calls: AwsCallCounter,
}

impl AwsClients {
    /// Credentials come from the SDK's default chain (for emulators: any
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`). Builds clients only: no
    /// request is sent, so an unreachable endpoint shows at the first call.
    pub async fn new(config: &AwsConfig) -> Self {
        let timeouts = TimeoutConfig::builder().connect_timeout(config.sdk.connect_timeout).build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(config.sdk.max_attempts.max(1)))
            .timeout_config(timeouts);
        if let Some(url) = &config.endpoint {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let calls = AwsCallCounter::default();
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(&shared)
            .interceptor(calls.interceptor(Service::DynamoDb))
            .build();
        let s3 = aws_sdk_s3::config::Builder::from(&shared)
            // Emulators serve every bucket on one host, so the bucket goes in
            // the path, not in a virtual-host name that would need DNS.
            .force_path_style(config.endpoint.is_some())
            .interceptor(calls.interceptor(Service::S3))
            .build();
        let sqs = aws_sdk_sqs::config::Builder::from(&shared).interceptor(calls.interceptor(Service::Sqs)).build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb),
            s3: aws_sdk_s3::Client::from_conf(s3),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            calls,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    S3,
    Sqs,
}

/// HTTP requests answered per service, retries included: what AWS bills.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AwsCalls {
    pub dynamodb: u64,
    pub s3: u64,
    pub sqs: u64,
}

impl std::ops::Sub for AwsCalls {
    type Output = AwsCalls;
    fn sub(self, earlier: AwsCalls) -> AwsCalls {
        AwsCalls {
            dynamodb: self.dynamodb - earlier.dynamodb,
            s3: self.s3 - earlier.s3,
            sqs: self.sqs - earlier.sqs,
        }
    }
}

/// Counts every request the clients send, through an SDK interceptor, so the
/// cost of an API request on AWS can be measured against an emulator.
#[derive(Debug, Clone, Default)]
pub struct AwsCallCounter {
    counts: Arc<[AtomicU64; 3]>,
}

impl AwsCallCounter {
    pub fn snapshot(&self) -> AwsCalls {
        let [dynamodb, s3, sqs] = &*self.counts;
        AwsCalls {
            dynamodb: dynamodb.load(Ordering::Relaxed),
            s3: s3.load(Ordering::Relaxed),
            sqs: sqs.load(Ordering::Relaxed),
        }
    }

    fn interceptor(&self, service: Service) -> CountingInterceptor {
        CountingInterceptor { counts: Arc::clone(&self.counts), service }
    }
}

#[derive(Debug)]
struct CountingInterceptor {
    counts: Arc<[AtomicU64; 3]>,
    service: Service,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "podops-call-counter"
    }

    /// Runs once per attempt that got a response: what AWS saw and bills.
    /// (Not `read_before_transmit`: presigning a URL runs up to that hook too,
    /// though it sends nothing.)
    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.counts[self.service as usize].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
