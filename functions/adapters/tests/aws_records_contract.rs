//! The records contract on DynamoDB (on the emulator at
//! PODOPS_TEST_AWS_ENDPOINT, a fresh table per test), plus what only DynamoDB
//! needs pinned: the item shape, races between transactions, TTL's lag, and an
//! unreachable endpoint.

mod aws_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_support::{fresh_records, fresh_table, unreachable_config};
use podops_adapters::aws::{AwsClients, DynamoRecords};
use podops_core::domain::Version;
use podops_core::ports::{Clock, Key, Record, Records, StoreError, SystemClock, WriteOp};
use serde_json::json;

podops_adapters::records_contract_tests!(fresh_records());

fn record(partition: &str, sort: &str, version: u64, body: serde_json::Value) -> Record {
    Record { key: Key::new(partition, sort), version: Version(version), body, expires_at: None }
}

#[tokio::test]
async fn items_hold_pk_sk_a_numeric_version_the_json_body_and_a_numeric_ttl() {
    let (clients, config) = fresh_table().await;
    let records = DynamoRecords::new(clients.dynamodb.clone(), &config.table);
    let mut written = record("PROD#1", "EPISODE#2", 3, json!({"title": "Pilot", "n": [1, 2]}));
    written.expires_at = Some(SystemClock.now() + 3600);
    records.create(&written).await.expect("create");
    let key = [("pk", "PROD#1"), ("sk", "EPISODE#2")].map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())));
    let raw = clients.dynamodb.get_item().table_name(&config.table).set_key(Some(key.into())).send().await.expect("raw get");
    let item = raw.item().expect("stored");
    assert_eq!(item.get("version"), Some(&AttributeValue::N("3".into())));
    let body = item.get("body").and_then(|b| b.as_s().ok()).expect("body is a string");
    assert_eq!(serde_json::from_str::<serde_json::Value>(body).expect("JSON text"), written.body);
    assert_eq!(item.get("expires_at"), Some(&AttributeValue::N(written.expires_at.expect("set").to_string())));
    assert_eq!(item.len(), 5, "no other attributes: {item:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_conflicting_transactions_exactly_one_wins_and_the_loser_writes_nothing() {
    let (clients, config) = fresh_table().await;
    let records: Arc<dyn Records> = Arc::new(DynamoRecords::new(clients.dynamodb, &config.table));
    records.create(&record("p", "counter", 1, json!({"n": 0}))).await.expect("create");
    let tasks: Vec<_> = (0..2)
        .map(|writer| {
            let records = Arc::clone(&records);
            tokio::spawn(async move {
                let ops = [
                    WriteOp::Replace { record: record("p", "counter", 2, json!({"n": writer})), expected: Version(1) },
                    WriteOp::Create(record("p", &format!("marker-{writer}"), 1, json!({}))),
                ];
                records.transact(&ops).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (writer, task) in tasks.into_iter().enumerate() {
        match task.await.expect("task") {
            Ok(()) => winners.push(writer),
            Err(StoreError::Conflict) => {}
            Err(other) => panic!("the loser must see Conflict, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let winner = winners[0];
    let stored = records.get(&Key::new("p", "counter")).await.expect("get").expect("present");
    assert_eq!((stored.version, stored.body), (Version(2), json!({"n": winner})));
    let loser = 1 - winner;
    assert_eq!(records.get(&Key::new("p", format!("marker-{loser}"))).await.expect("get"), None);
    assert!(records.get(&Key::new("p", format!("marker-{winner}"))).await.expect("get").is_some());
}

#[tokio::test]
async fn an_expired_item_ttl_has_not_deleted_yet_is_absent_and_can_be_recreated() {
    let (clients, config) = fresh_table().await;
    let records = DynamoRecords::new(clients.dynamodb.clone(), &config.table);
    let mut old = record("sessions", "s1", 1, json!({"old": true}));
    old.expires_at = Some(SystemClock.now() - 60);
    records.create(&old).await.expect("create");
    // Still stored: DynamoDB's TTL sweep runs up to days late.
    let raw = clients.dynamodb.scan().table_name(&config.table).send().await.expect("scan");
    assert_eq!(raw.count(), 1);
    assert_eq!(records.get(&old.key).await.expect("get"), None);
    let new = record("sessions", "s1", 1, json!({"new": true}));
    records.create(&new).await.expect("create over the expired item");
    assert_eq!(records.get(&new.key).await.expect("get"), Some(new));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_quickly() {
    let config = unreachable_config();
    let records = DynamoRecords::new(AwsClients::new(&config).await.dynamodb, &config.table);
    let started = Instant::now();
    let result = records.get(&Key::new("p", "s")).await;
    match result {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("GetItem"), "{message}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let written = records.create(&record("p", "s", 1, json!({}))).await;
    assert!(matches!(written, Err(StoreError::Unavailable(_))), "{written:?}");
}
