//! What a shared rate limit costs on AWS: DynamoDB requests per API request
//! (counted by the adapters' SDK interceptor) and time per take, next to one
//! plain GetItem on the same emulator. Two budget instances on one table
//! stand for two Lambda instances. Numbers go to BENCHMARKS.md.
//!
//!   PODOPS_TEST_AWS_ENDPOINT=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=test \
//!   AWS_SECRET_ACCESS_KEY=test cargo run --release --example rate_cost

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use podops_adapters::aws::{AwsCallCounter, AwsClients, AwsConfig, DynamoRateBudgets, provision};
use podops_core::ports::{Budget, RateBudgets, Take};

const N: usize = 500;

struct Row {
    what: &'static str,
    takes: usize,
    dynamodb: u64,
    allowed: usize,
    elapsed: Duration,
}

async fn run(calls: &AwsCallCounter, what: &'static str, takes: Vec<(&DynamoRateBudgets, String, Budget)>) -> Result<Row> {
    let before = calls.snapshot();
    let started = Instant::now();
    let mut allowed = 0;
    let n = takes.len();
    for (instance, key, budget) in takes {
        if matches!(instance.take("anonymous", &key, budget).await?, Take::Allowed { .. }) {
            allowed += 1;
        }
    }
    Ok(Row { what, takes: n, dynamodb: (calls.snapshot() - before).dynamodb, allowed, elapsed: started.elapsed() })
}

#[tokio::main]
async fn main() -> Result<()> {
    let endpoint = std::env::var("PODOPS_TEST_AWS_ENDPOINT").context("set PODOPS_TEST_AWS_ENDPOINT to an emulator, e.g. moto server")?;
    let config = AwsConfig { table: format!("podops-rate-{:08x}", rand::random::<u32>()), ..AwsConfig::named(Some(endpoint), "us-east-1") };
    let clients = AwsClients::new(&config).await;
    provision::provision_table(&clients, &config.table).await?;
    let one = DynamoRateBudgets::new(clients.dynamodb.clone(), &config.table);
    let two = DynamoRateBudgets::new(clients.dynamodb.clone(), &config.table);
    let roomy = Budget { interval: Duration::from_millis(1), burst: 100_000 };
    // Requests come faster than the interval: the budget's clock runs ahead of now.
    let ahead = Budget { interval: Duration::from_millis(50), burst: 100_000 };
    let tight = Budget { interval: Duration::from_secs(60), burst: 5 };
    let mut rows = Vec::new();

    rows.push(run(&clients.calls, "a steady client (budget refilled between requests), one instance", (0..N).map(|_| (&one, "198.51.100.1".to_owned(), roomy)).collect()).await?);
    rows.push(run(&clients.calls, "a steady client alternating between two instances", (0..N).map(|i| (if i % 2 == 0 { &one } else { &two }, "198.51.100.2".to_owned(), roomy)).collect()).await?);
    rows.push(run(&clients.calls, "a client within a burst, one instance", (0..N).map(|_| (&one, "198.51.100.5".to_owned(), ahead)).collect()).await?);
    rows.push(run(&clients.calls, "within a burst, alternating between two instances", (0..N).map(|i| (if i % 2 == 0 { &one } else { &two }, "198.51.100.6".to_owned(), ahead)).collect()).await?);
    let fresh = DynamoRateBudgets::new(clients.dynamodb.clone(), &config.table);
    rows.push(run(&clients.calls, "within a burst, a new instance's first request", vec![(&fresh, "198.51.100.6".to_owned(), ahead)]).await?);
    rows.push(run(&clients.calls, "first request of new clients", (0..N).map(|i| (&one, format!("203.0.113.{i}"), roomy)).collect()).await?);
    rows.push(run(&clients.calls, "a client over its budget (5 allowed, then refusals)", (0..N).map(|_| (&one, "198.51.100.3".to_owned(), tight)).collect()).await?);
    rows.push(run(&clients.calls, "over budget, alternating between two instances", (0..N).map(|i| (if i % 2 == 0 { &one } else { &two }, "198.51.100.4".to_owned(), tight)).collect()).await?);

    // The plain tool: one GetItem of an item that exists, the cheapest round trip there is.
    let key = [("pk", "RATE#anonymous#198.51.100.1"), ("sk", "RATE")].map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())));
    let started = Instant::now();
    for _ in 0..N {
        clients.dynamodb.get_item().table_name(&config.table).set_key(Some(key.clone().into())).send().await?;
    }
    let get_item = started.elapsed() / N as u32;

    println!("| pattern | takes | allowed | DynamoDB requests per take | µs per take | × one GetItem |\n|---|---|---|---|---|---|");
    for r in rows {
        let per = r.elapsed / r.takes as u32;
        println!(
            "| {} | {} | {} | {:.2} | {} | {:.2} |",
            r.what,
            r.takes,
            r.allowed,
            r.dynamodb as f64 / r.takes as f64,
            per.as_micros(),
            per.as_secs_f64() / get_item.as_secs_f64()
        );
    }
    println!("\none GetItem: {} µs", get_item.as_micros());
    Ok(())
}
