//! Shared by the AWS adapter tests: the emulator's endpoint (from
//! `PODOPS_TEST_AWS_ENDPOINT`, set by `./scripts/test`) and fresh resource
//! names per test, so tests run in parallel without resetting the emulator.
#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::Arc;

use podops_adapters::aws::{AwsClients, AwsConfig, DynamoRecords, S3Blobs, SdkTuning, SqsJobs, dlq_name, provision};
use podops_adapters::contract::jobs::MAX_RECEIVES;
use podops_core::ports::{Blobs, Jobs, Records};

/// Never skips: a missing emulator is a failure, with the way to fix it.
pub fn endpoint() -> String {
    match std::env::var("PODOPS_TEST_AWS_ENDPOINT") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PODOPS_TEST_AWS_ENDPOINT is not set. Run the tests with ./scripts/test (it starts moto server), \
             or set it to a running emulator, e.g. PODOPS_TEST_AWS_ENDPOINT=http://localhost:4566 ./scripts/test"
        ),
    }
}

/// A name valid for a table, a bucket and a queue alike (lowercase, digits, `-`).
pub fn unique(what: &str) -> String {
    format!("podops-test-{what}-{:012x}", rand::random::<u64>() >> 16)
}

/// Fresh names for every resource, on the test emulator.
pub fn fresh_config() -> AwsConfig {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let queue = unique("jobs");
    AwsConfig {
        table: unique("table"),
        media_bucket: unique("media"),
        public_bucket: unique("public"),
        dlq_name: dlq_name(&queue),
        queue_name: queue,
        max_receives: MAX_RECEIVES,
        ..AwsConfig::named(Some(endpoint()), region)
    }
}

/// A config whose endpoint is a loopback port nothing listens on, failing fast.
pub fn unreachable_config() -> AwsConfig {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
    AwsConfig { endpoint: Some(format!("http://127.0.0.1:{port}")), sdk: SdkTuning::fail_fast(), ..fresh_config() }
}

pub async fn fresh_table() -> (AwsClients, AwsConfig) {
    let config = fresh_config();
    let clients = AwsClients::new(&config).await;
    provision::provision_table(&clients, &config.table).await.expect("provision table");
    (clients, config)
}

pub async fn fresh_records() -> Arc<dyn Records> {
    let (clients, config) = fresh_table().await;
    Arc::new(DynamoRecords::new(clients.dynamodb, config.table))
}

pub async fn fresh_bucket() -> (AwsClients, S3Blobs) {
    let config = fresh_config();
    let clients = AwsClients::new(&config).await;
    provision::provision_bucket(&clients, &config, &config.media_bucket).await.expect("provision bucket");
    let blobs = S3Blobs::new(clients.s3.clone(), config.media_bucket);
    (clients, blobs)
}

pub async fn fresh_blobs() -> Arc<dyn Blobs> {
    Arc::new(fresh_bucket().await.1)
}

pub async fn fresh_queue() -> (AwsClients, AwsConfig, SqsJobs) {
    let config = fresh_config();
    let clients = AwsClients::new(&config).await;
    provision::provision_queues(&clients, &config.queue_name, &config.dlq_name, config.max_receives).await.expect("provision queues");
    let jobs = SqsJobs::connect(clients.sqs.clone(), &config.queue_name, &config.dlq_name).await.expect("connect");
    (clients, config, jobs)
}

pub async fn fresh_jobs() -> Arc<dyn Jobs> {
    Arc::new(fresh_queue().await.2)
}
