//! `podops provision` and the AWS backend of `podops serve`: the one place the
//! binary turns its AWS flags into adapters.

use anyhow::{Context, Result};
use podops_adapters::aws::provision::{Outcome, provision};
use podops_adapters::aws::{AwsClients, AwsConfig, ConnectOptions, DEFAULT_MAX_RECEIVES, SdkTuning, connect_with, dlq_name};

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

/// The AWS adapters, after checking that every resource answers (see
/// `podops_adapters::aws::connect`): a wrong endpoint or a missing `podops
/// provision` stops the server at start, with the endpoint named.
pub async fn aws_ports(args: &AwsArgs) -> Result<Ports> {
    let options = ConnectOptions { public_media_url: args.public_media_url.clone(), ..ConnectOptions::default() };
    let ports = connect_with(&args.config(DEFAULT_MAX_RECEIVES), &options).await?;
    Ok(Ports { records: ports.records, blobs: ports.blobs, public: ports.public, jobs: ports.jobs })
}
