//! The jobs contract on SQS (on the emulator at PODOPS_TEST_AWS_ENDPOINT, a
//! fresh queue and dead-letter queue per test, redrive after
//! `contract::jobs::MAX_RECEIVES`), plus an unreachable endpoint.

mod aws_support;

use std::time::{Duration, Instant};

use aws_support::{fresh_jobs, fresh_queue, unreachable_config};
use podops_adapters::aws::{AwsClients, SqsJobs};
use podops_adapters::contract::jobs::MAX_RECEIVES;
use podops_core::ports::{Jobs, QueueError};

podops_adapters::jobs_contract_tests!(fresh_jobs());

#[tokio::test]
async fn the_queue_redrives_to_its_own_dead_letter_queue_after_max_receives() {
    let (clients, config, jobs) = fresh_queue().await;
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(jobs.queue_url())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .expect("attributes");
    let policy = attributes.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)).expect("a redrive policy");
    let policy: serde_json::Value = serde_json::from_str(policy).expect("JSON");
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), MAX_RECEIVES.to_string());
    assert!(policy["deadLetterTargetArn"].as_str().expect("an ARN").ends_with(&format!(":{}", config.dlq_name)), "{policy}");
}

#[tokio::test]
async fn sub_second_visibility_is_rounded_up_to_a_whole_second() {
    let (_, _, jobs) = fresh_queue().await;
    jobs.send("soon back").await.expect("send");
    let first = jobs.receive(1, Duration::from_millis(200), Duration::from_secs(1)).await.expect("receive");
    assert_eq!(first.len(), 1);
    // Hidden for a whole second, not 200 ms (SQS counts in seconds).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(jobs.receive(1, Duration::from_secs(60), Duration::ZERO).await.expect("receive").is_empty());
    let again = jobs.receive(1, Duration::from_secs(60), Duration::from_secs(2)).await.expect("receive");
    assert_eq!((again.len(), again[0].receive_count), (1, 2));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_quickly() {
    let config = unreachable_config();
    let clients = AwsClients::new(&config).await;
    let started = Instant::now();
    match SqsJobs::connect(clients.sqs, &config.queue_name, &config.dlq_name).await {
        Err(QueueError::Unavailable(message)) => assert!(message.contains("GetQueueUrl"), "{message}"),
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("connected to nothing"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn receive_dead_of_an_empty_dead_letter_queue_is_empty() {
    let (_, _, jobs) = fresh_queue().await;
    assert!(jobs.receive_dead(10).await.expect("receive_dead").is_empty());
}
