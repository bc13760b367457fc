//! Creates what the AWS backend needs, idempotently: the table (keys, GSI,
//! TTL), the two buckets (with a lifecycle rule for cut-off puts) and the jobs
//! queue with its dead-letter queue. Each step looks first and only writes
//! what is missing or different, so a second run changes nothing.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::config::{AwsClients, AwsConfig};
use super::s3_upload::STAGING_PREFIX;

/// The GSI for "productions of an owner" (partition `gsi1pk`, sort `gsi1sk`).
/// Declared now so it never needs a table migration; items opt in by carrying
/// the two attributes.
pub const GSI1: &str = "gsi1";
const LIFECYCLE_RULE_ID: &str = "podops-staging-cleanup";
/// The default visibility of the jobs queue, for receives that set none.
const QUEUE_VISIBILITY_SECS: &str = "300";
/// The dead-letter queue keeps messages as long as SQS allows (14 days).
const DLQ_RETENTION_SECS: &str = "1209600";
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// One resource and what provisioning did to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub resource: String,
    pub outcome: Outcome,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProvisionError(String);

fn failed<E>(what: &str, err: SdkError<E>) -> ProvisionError
where
    E: std::error::Error + Send + Sync + 'static,
{
    ProvisionError(format!("{what}: {}", DisplayErrorContext(&err)))
}

/// Everything, in dependency order (the DLQ before the queue that names it).
pub async fn provision(clients: &AwsClients, config: &AwsConfig) -> Result<Vec<Step>, ProvisionError> {
    let mut steps = provision_table(clients, &config.table).await?;
    steps.extend(provision_bucket(clients, config, &config.media_bucket).await?);
    steps.extend(provision_bucket(clients, config, &config.public_bucket).await?);
    steps.extend(provision_queues(clients, &config.queue_name, &config.dlq_name, config.max_receives).await?);
    Ok(steps)
}

fn step(resource: String, outcome: Outcome) -> Step {
    Step { resource, outcome }
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, ProvisionError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| ProvisionError(e.to_string()))
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, ProvisionError> {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().map_err(|e| ProvisionError(e.to_string()))
}

pub async fn provision_table(clients: &AwsClients, table: &str) -> Result<Vec<Step>, ProvisionError> {
    let db = &clients.dynamodb;
    let created = match db.describe_table().table_name(table).send().await {
        Ok(out) => {
            let description = out.table();
            let keys: Vec<(&str, &KeyType)> =
                description.map(|t| t.key_schema().iter().map(|k| (k.attribute_name(), k.key_type())).collect()).unwrap_or_default();
            if keys != [("pk", &KeyType::Hash), ("sk", &KeyType::Range)] {
                return Err(ProvisionError(format!("table {table} exists with another key schema: {keys:?}; expected pk (hash), sk (range)")));
            }
            if !description.is_some_and(|t| t.global_secondary_indexes().iter().any(|i| i.index_name() == Some(GSI1))) {
                return Err(ProvisionError(format!("table {table} exists without the index {GSI1}")));
            }
            false
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
            let gsi = GlobalSecondaryIndex::builder()
                .index_name(GSI1)
                .key_schema(key("gsi1pk", KeyType::Hash)?)
                .key_schema(key("gsi1sk", KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(|e| ProvisionError(e.to_string()))?;
            let create = db
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(string_attribute("pk")?)
                .attribute_definitions(string_attribute("sk")?)
                .attribute_definitions(string_attribute("gsi1pk")?)
                .attribute_definitions(string_attribute("gsi1sk")?)
                .key_schema(key("pk", KeyType::Hash)?)
                .key_schema(key("sk", KeyType::Range)?)
                .global_secondary_indexes(gsi)
                .send()
                .await;
            match create {
                Ok(_) => true,
                // Another provisioner got there first.
                Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => false,
                Err(e) => return Err(failed(&format!("create table {table}"), e)),
            }
        }
        Err(e) => return Err(failed(&format!("describe table {table}"), e)),
    };
    wait_until_active(clients, table).await?;
    let mut steps = vec![step(format!("table {table}"), if created { Outcome::Created } else { Outcome::Unchanged })];

    let ttl = db.describe_time_to_live().table_name(table).send().await.map_err(|e| failed(&format!("describe TTL of {table}"), e))?;
    let ttl = ttl.time_to_live_description();
    let enabled = matches!(ttl.and_then(|t| t.time_to_live_status()), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
    if !(enabled && ttl.and_then(|t| t.attribute_name()) == Some("expires_at")) {
        let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name("expires_at").build().map_err(|e| ProvisionError(e.to_string()))?;
        db.update_time_to_live()
            .table_name(table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| failed(&format!("enable TTL on {table}"), e))?;
        steps.push(step(format!("TTL on {table}.expires_at"), if created { Outcome::Created } else { Outcome::Updated }));
    } else {
        steps.push(step(format!("TTL on {table}.expires_at"), Outcome::Unchanged));
    }
    Ok(steps)
}

async fn wait_until_active(clients: &AwsClients, table: &str) -> Result<(), ProvisionError> {
    let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
    loop {
        let out = clients.dynamodb.describe_table().table_name(table).send().await.map_err(|e| failed(&format!("describe table {table}"), e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(ProvisionError(format!("table {table} is not ACTIVE after {TABLE_ACTIVE_TIMEOUT:?}")));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn provision_bucket(clients: &AwsClients, config: &AwsConfig, bucket: &str) -> Result<Vec<Step>, ProvisionError> {
    let s3 = &clients.s3;
    let outcome = match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Outcome::Unchanged,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {
            let mut create = s3.create_bucket().bucket(bucket);
            // us-east-1 is the one region that refuses to be named here.
            if config.region != "us-east-1" {
                let location = BucketLocationConstraint::from(config.region.as_str());
                create = create.create_bucket_configuration(CreateBucketConfiguration::builder().location_constraint(location).build());
            }
            match create.send().await {
                Ok(_) => Outcome::Created,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => Outcome::Unchanged,
                Err(e) => return Err(failed(&format!("create bucket {bucket}"), e)),
            }
        }
        Err(e) => return Err(failed(&format!("look up bucket {bucket}"), e)),
    };
    Ok(vec![step(format!("bucket {bucket}"), outcome), provision_lifecycle(clients, bucket).await?])
}

/// The media bucket's expiring prefixes, as infra/template.yaml declares them:
/// multipart puts go to `~staging/` and are copied out (see `s3_upload`), so a
/// put cut off by a crash leaves an upload or an object there; CloudFront's
/// access logs (raw addresses) are counted and deleted as they land
/// (docs/analytics.md); archives uploaded for a restore that never ran.
const EXPIRING: [(&str, &str, i32); 3] =
    [(LIFECYCLE_RULE_ID, STAGING_PREFIX, 1), ("podops-expire-cdn-logs", "cdn-logs/", 2), ("podops-expire-archive-uploads", "backups/uploads/", 7)];

/// Adds the rules of `EXPIRING` the bucket lacks (by id); other rules on the bucket are kept.
async fn provision_lifecycle(clients: &AwsClients, bucket: &str) -> Result<Step, ProvisionError> {
    let resource = format!("lifecycle rules on {bucket}");
    let mut rules = match clients.s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
        Ok(out) => out.rules().to_vec(),
        Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Vec::new(),
        Err(e) => return Err(failed(&format!("read the lifecycle of {bucket}"), e)),
    };
    let before = rules.len();
    for (id, prefix, days) in EXPIRING {
        if rules.iter().any(|rule| rule.id() == Some(id)) {
            continue;
        }
        let mut rule = LifecycleRule::builder()
            .id(id)
            .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
            .status(ExpirationStatus::Enabled)
            .expiration(LifecycleExpiration::builder().days(days).build());
        if prefix == STAGING_PREFIX {
            rule = rule.abort_incomplete_multipart_upload(AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build());
        }
        rules.push(rule.build().map_err(|e| ProvisionError(e.to_string()))?);
    }
    if rules.len() == before {
        return Ok(step(resource, Outcome::Unchanged));
    }
    let lifecycle = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().map_err(|e| ProvisionError(e.to_string()))?;
    clients
        .s3
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(lifecycle)
        .send()
        .await
        .map_err(|e| failed(&format!("set the lifecycle of {bucket}"), e))?;
    Ok(step(resource, Outcome::Created))
}

pub async fn provision_queues(clients: &AwsClients, queue: &str, dlq: &str, max_receives: u32) -> Result<Vec<Step>, ProvisionError> {
    let sqs = &clients.sqs;
    let (dlq_url, dlq_outcome) = ensure_queue(clients, dlq, &[(QueueAttributeName::MessageRetentionPeriod, DLQ_RETENTION_SECS.to_owned())]).await?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed(&format!("read the ARN of {dlq}"), e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| ProvisionError(format!("SQS gave no ARN for {dlq}")))?;
    let redrive = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives.max(1).to_string()}).to_string();
    let wanted = [
        (QueueAttributeName::VisibilityTimeout, QUEUE_VISIBILITY_SECS.to_owned()),
        (QueueAttributeName::RedrivePolicy, redrive),
    ];
    let (_, queue_outcome) = ensure_queue(clients, queue, &wanted).await?;
    Ok(vec![step(format!("queue {dlq}"), dlq_outcome), step(format!("queue {queue} (redrive to {dlq} after {max_receives})"), queue_outcome)])
}

/// The queue's URL, creating it with `wanted` or correcting attributes that
/// differ (CreateQueue itself fails on an existing queue with other attributes).
async fn ensure_queue(clients: &AwsClients, name: &str, wanted: &[(QueueAttributeName, String)]) -> Result<(String, Outcome), ProvisionError> {
    let sqs = &clients.sqs;
    let url = match sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => out.queue_url().map(str::to_owned),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_queue_does_not_exist()) => None,
        Err(e) => return Err(failed(&format!("look up queue {name}"), e)),
    };
    let Some(url) = url else {
        let out = sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(wanted.iter().cloned().collect()))
            .send()
            .await
            .map_err(|e| failed(&format!("create queue {name}"), e))?;
        let url = out.queue_url().ok_or_else(|| ProvisionError(format!("SQS gave no URL for {name}")))?;
        return Ok((url.to_owned(), Outcome::Created));
    };
    let current = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| failed(&format!("read the attributes of {name}"), e))?;
    let current = current.attributes().cloned().unwrap_or_default();
    let differing: Vec<_> = wanted.iter().filter(|(attr, value)| !same_attribute(current.get(attr), value)).cloned().collect();
    if differing.is_empty() {
        return Ok((url, Outcome::Unchanged));
    }
    sqs.set_queue_attributes()
        .queue_url(&url)
        .set_attributes(Some(differing.into_iter().collect()))
        .send()
        .await
        .map_err(|e| failed(&format!("update the attributes of {name}"), e))?;
    Ok((url, Outcome::Updated))
}

/// Compares attribute values; JSON ones (the redrive policy) by meaning,
/// since SQS may hand `maxReceiveCount` back as a number.
fn same_attribute(current: Option<&String>, wanted: &str) -> bool {
    let Some(current) = current else { return false };
    let normal = |text: &str| -> Option<serde_json::Value> {
        let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
        if let Some(count) = value.get_mut("maxReceiveCount") {
            *count = serde_json::Value::String(count.to_string().trim_matches('"').to_owned());
        }
        Some(value)
    };
    current == wanted || matches!((normal(current), normal(wanted)), (Some(a), Some(b)) if a.is_object() && a == b)
}
