//! `podops provision`, and the one place the binary turns its AWS flags into
//! an `AwsConfig`.

use anyhow::{Context, Result};
use podops_adapters::aws::provision::{Outcome, provision};
use podops_adapters::aws::{AwsClients, AwsConfig, SdkTuning, dlq_name};

use crate::cli::{AwsArgs, ProvisionArgs};

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
