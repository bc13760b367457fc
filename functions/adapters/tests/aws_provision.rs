//! `provision` on the emulator: what it creates, and that a second run finds
//! everything in place and changes nothing.

mod aws_support;

use aws_sdk_dynamodb::types::{KeyType, TimeToLiveStatus};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_support::fresh_config;
use podops_adapters::aws::provision::{GSI1, Outcome, provision};
use podops_adapters::aws::{AwsClients, STAGING_PREFIX};

#[tokio::test]
async fn provisioning_creates_everything_once_and_a_second_run_changes_nothing() {
    let config = fresh_config();
    let clients = AwsClients::new(&config).await;
    let first = provision(&clients, &config).await.expect("first run");
    let created: Vec<_> = first.iter().filter(|s| s.outcome != Outcome::Unchanged).map(|s| s.resource.as_str()).collect();
    assert_eq!(created.len(), first.len(), "everything is new on the first run: {first:?}");
    assert_eq!(first.len(), 8, "table, TTL, 2 × (bucket, lifecycle), DLQ, queue: {first:?}");

    let second = provision(&clients, &config).await.expect("second run");
    let changed: Vec<_> = second.iter().filter(|s| s.outcome != Outcome::Unchanged).collect();
    assert!(changed.is_empty(), "the second run changed {changed:?}");
    assert_eq!(second.iter().map(|s| &s.resource).collect::<Vec<_>>(), first.iter().map(|s| &s.resource).collect::<Vec<_>>());

    // The table: keys, the owner index, TTL on expires_at, on-demand billing.
    let table = clients.dynamodb.describe_table().table_name(&config.table).send().await.expect("describe");
    let table = table.table().expect("a table");
    let keys: Vec<_> = table.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().clone())).collect();
    assert_eq!(keys, [("pk", KeyType::Hash), ("sk", KeyType::Range)]);
    let gsi = table.global_secondary_indexes().iter().find(|i| i.index_name() == Some(GSI1)).expect("gsi1");
    let gsi_keys: Vec<_> = gsi.key_schema().iter().map(|k| k.attribute_name()).collect();
    assert_eq!(gsi_keys, ["gsi1pk", "gsi1sk"]);
    let billing = table.billing_mode_summary().and_then(|b| b.billing_mode()).map(|m| m.as_str().to_owned());
    assert_eq!(billing.as_deref(), Some("PAY_PER_REQUEST"));
    let ttl = clients.dynamodb.describe_time_to_live().table_name(&config.table).send().await.expect("ttl");
    let ttl = ttl.time_to_live_description().expect("ttl description");
    assert_eq!((ttl.time_to_live_status(), ttl.attribute_name()), (Some(&TimeToLiveStatus::Enabled), Some("expires_at")));

    // Both buckets, each cleaning up cut-off puts.
    for bucket in [&config.media_bucket, &config.public_bucket] {
        let lifecycle = clients.s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await.expect("lifecycle");
        let rule = lifecycle.rules().first().expect("one rule");
        assert_eq!(rule.filter().and_then(|f| f.prefix()), Some(STAGING_PREFIX));
        assert_eq!(rule.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()), Some(1));
    }

    // The jobs queue redrives to its dead-letter queue after max_receives.
    let url = clients.sqs.get_queue_url().queue_name(&config.queue_name).send().await.expect("queue url");
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url.queue_url().expect("url"))
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let attributes = attributes.attributes().expect("attributes");
    let redrive: serde_json::Value = serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).expect("JSON");
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), config.max_receives.to_string());
    assert!(redrive["deadLetterTargetArn"].as_str().expect("arn").ends_with(&format!(":{}", config.dlq_name)));
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "300");
}

#[tokio::test]
async fn provisioning_corrects_a_queue_whose_redrive_policy_drifted() {
    let config = fresh_config();
    let clients = AwsClients::new(&config).await;
    provision(&clients, &config).await.expect("first run");
    let changed = podops_adapters::aws::AwsConfig { max_receives: config.max_receives + 4, ..config.clone() };
    let steps = provision(&clients, &changed).await.expect("second run");
    let updated: Vec<_> = steps.iter().filter(|s| s.outcome != Outcome::Unchanged).map(|s| s.resource.clone()).collect();
    assert_eq!(updated, [format!("queue {} (redrive to {} after {})", config.queue_name, config.dlq_name, config.max_receives + 4)]);
}

#[tokio::test]
async fn provisioning_refuses_a_table_with_other_keys() {
    let config = fresh_config();
    let clients = AwsClients::new(&config).await;
    let id = aws_sdk_dynamodb::types::AttributeDefinition::builder()
        .attribute_name("id")
        .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
        .build()
        .expect("attribute");
    let key = aws_sdk_dynamodb::types::KeySchemaElement::builder().attribute_name("id").key_type(KeyType::Hash).build().expect("key");
    clients
        .dynamodb
        .create_table()
        .table_name(&config.table)
        .attribute_definitions(id)
        .key_schema(key)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .expect("a foreign table");
    let err = provision(&clients, &config).await.expect_err("refused");
    assert!(err.to_string().contains("another key schema"), "{err}");
}
