//! `infra/template.yaml` and `podops provision` describe the same stack: the
//! template's table, queues and media bucket (read by cfn-lint's loader) are
//! compared with what provisioning really creates on the emulator, so the two
//! never drift apart. The template itself must also pass `cfn-lint`.

mod aws_support;

use std::{path::PathBuf, process::Command};

use aws_sdk_sqs::types::QueueAttributeName;
use podops_adapters::aws::{provision, AwsClients, AwsConfig, DEFAULT_MAX_RECEIVES};
use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_bin(name: &str) -> PathBuf {
    let path = repo().join(".venv/bin").join(name);
    assert!(path.exists(), "{} is missing: run ./scripts/test, which installs cfn-lint", path.display());
    path
}

fn template_facts() -> Value {
    let out = Command::new(venv_bin("python"))
        .arg(repo().join("tests/tools/template_facts.py"))
        .arg(repo().join("infra/template.yaml"))
        .output()
        .expect("run template_facts.py");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("facts JSON")
}

#[test]
fn the_template_passes_cfn_lint() {
    let out = Command::new(venv_bin("cfn-lint")).arg(repo().join("infra/template.yaml")).output().expect("run cfn-lint");
    assert!(out.status.success(), "cfn-lint:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn the_template_declares_what_provision_creates() {
    let facts = template_facts();
    let config = AwsConfig { max_receives: DEFAULT_MAX_RECEIVES, ..aws_support::fresh_config() };
    let clients = AwsClients::new(&config).await;
    provision::provision(&clients, &config).await.expect("provision");

    let table = clients.dynamodb.describe_table().table_name(&config.table).send().await.expect("describe table");
    let table = table.table().expect("table");
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Value {
        schema.iter().map(|k| json!([k.attribute_name(), k.key_type().as_str()])).collect()
    };
    assert_eq!(keys(table.key_schema()), facts["table"]["keys"]);
    let gsis: serde_json::Map<String, Value> = table
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let projection = g.projection().and_then(|p| p.projection_type()).map(|p| p.as_str().to_owned());
            (g.index_name().unwrap_or("").to_owned(), json!({"keys": keys(g.key_schema()), "projection": projection}))
        })
        .collect();
    assert_eq!(Value::Object(gsis), facts["table"]["gsis"]);
    let ttl = clients.dynamodb.describe_time_to_live().table_name(&config.table).send().await.expect("ttl");
    assert_eq!(json!(ttl.time_to_live_description().and_then(|t| t.attribute_name())), facts["table"]["ttl"]);

    let sqs = &clients.sqs;
    let attrs = |name: String| async move {
        let url = sqs.get_queue_url().queue_name(&name).send().await.expect("queue url").queue_url().unwrap_or("").to_owned();
        sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await.expect("attributes")
            .attributes().cloned().unwrap_or_default()
    };
    let queue = attrs(config.queue_name.clone()).await;
    assert_eq!(queue[&QueueAttributeName::VisibilityTimeout], facts["queue"]["visibility"].to_string());
    let redrive: Value = serde_json::from_str(&queue[&QueueAttributeName::RedrivePolicy]).expect("redrive JSON");
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), facts["queue"]["max_receives"].to_string());
    let dlq = attrs(config.dlq_name.clone()).await;
    assert_eq!(dlq[&QueueAttributeName::MessageRetentionPeriod], facts["dlq"]["retention"].to_string());

    let lifecycle = clients.s3.get_bucket_lifecycle_configuration().bucket(&config.media_bucket).send().await.expect("lifecycle");
    let abort: Vec<i32> = lifecycle.rules().iter().filter_map(|r| r.abort_incomplete_multipart_upload()?.days_after_initiation()).collect();
    assert_eq!(json!(abort.first()), facts["media"]["abort_incomplete_days"]);
    let expiring: Vec<Value> = lifecycle
        .rules()
        .iter()
        .filter_map(|r| {
            let days = r.expiration()?.days()?;
            let prefix = r.filter().and_then(|f| f.prefix())?.to_owned();
            Some(json!([prefix, days]))
        })
        .collect();
    assert_eq!(Value::Array(expiring), facts["media"]["staging"]);
}
