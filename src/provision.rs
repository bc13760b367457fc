//! `podops provision` and the AWS backend of `podops serve`: the one place the
//! binary turns its AWS flags into adapters.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use podops_adapters::aws::provision::{Outcome, provision};
use podops_adapters::aws::{AwsClients, AwsConfig, DEFAULT_MAX_RECEIVES, DynamoRecords, S3Blobs, SdkTuning, SqsJobs, dlq_name};

use crate::cli::{AwsArgs, ProvisionArgs};
use crate::serve::Ports;

impl AwsArgs {
    pub fn config(&self, max_receives: u32) -> AwsConfig {
        AwsConfig {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            table: self.table.clone(),
            media_bucket: self.media_bucket.clone(),
            public_bucket: self.public_bucket.clone(),
            queue_name: self.queue.clone(),
            dlq_name: dlq_name(&self.queue),
            max_receives,
            sdk: SdkTuning::default(),
        }
    }
}

pub async fn run(args: ProvisionArgs) -> Result<()> {
    let config = args.aws.config(args.max_receives);
    let clients = AwsClients::new(&config).await;
    let steps = provision(&clients, &config).await.with_context(|| format!("provisioning at {} failed", config.endpoint_label()))?;
    for step in steps {
        let outcome = match step.outcome {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        };
        println!("{outcome:<9}  {}", step.resource);
    }
    Ok(())
}

/// The AWS adapters, after checking that every resource answers: a wrong
/// endpoint or a missing `podops provision` stops the server at start, with
/// the endpoint named, instead of failing the first requests.
pub async fn aws_ports(args: &AwsArgs) -> Result<Ports> {
    let config = args.config(DEFAULT_MAX_RECEIVES);
    let at = config.endpoint_label();
    let clients = AwsClients::new(&config).await;
    let hint = "is the endpoint right and running, and has `podops provision` been run with the same flags?";
    if let Err(e) = clients.dynamodb.describe_table().table_name(&config.table).send().await {
        if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) {
            bail!("the DynamoDB table {} does not exist at {at}: run `podops provision` with the same flags first", config.table);
        }
        bail!("cannot reach DynamoDB at {at} ({}): {hint}", aws_sdk_error(&e));
    }
    for bucket in [&config.media_bucket, &config.public_bucket] {
        if let Err(e) = clients.s3.head_bucket().bucket(bucket).send().await {
            bail!("the S3 bucket {bucket} is not usable at {at} ({}): {hint}", aws_sdk_error(&e));
        }
    }
    let jobs = SqsJobs::connect(clients.sqs.clone(), &config.queue_name, &config.dlq_name)
        .await
        .with_context(|| format!("the SQS queues {} / {} are not usable at {at}: {hint}", config.queue_name, config.dlq_name))?;
    Ok(Ports {
        records: Arc::new(DynamoRecords::new(clients.dynamodb.clone(), &config.table)),
        blobs: Arc::new(S3Blobs::new(clients.s3.clone(), &config.media_bucket)),
        public: Arc::new(S3Blobs::new(clients.s3.clone(), &config.public_bucket)),
        jobs: Arc::new(jobs),
    })
}

fn aws_sdk_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
