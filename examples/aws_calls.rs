//! How many AWS requests one API request costs on the AWS backend — the bill
//! on AWS. Runs the real router in this process on the AWS adapters against an
//! emulator (fresh names), and reads the adapters' per-service request counter
//! around each API request. Numbers go to BENCHMARKS.md.
//!
//!   PODOPS_TEST_AWS_ENDPOINT=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=test \
//!   AWS_SECRET_ACCESS_KEY=test cargo run --example aws_calls

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use podops_adapters::aws::{AwsCallCounter, AwsCalls, AwsClients, AwsConfig, DynamoRecords, S3Blobs, SqsJobs, dlq_name, provision};
use podops_api::{AppParts, AppState, Limits, TokenAuthority};
use podops_core::domain::{ClientId, Scope, Scopes};
use podops_core::ports::{Clock, SystemClock};
use podops_core::service::{MediaRules, Podops, Publishing};
use podops_core::signing::Signer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &[u8] = b"aws-calls benchmark secret, 32 bytes or more";

struct Bench {
    http: reqwest::Client,
    base: String,
    token: String,
    calls: AwsCallCounter,
}

impl Bench {
    /// Sends one request and returns its answer and the AWS requests it cost.
    async fn measure(&self, method: Method, path: &str, body: Option<Body>) -> Result<(StatusCode, Value, AwsCalls)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        request = match body {
            Some(Body::Json(value)) => request.json(&value),
            Some(Body::Bytes(bytes, content_type)) => request.header("content-type", content_type).body(bytes),
            None => request,
        };
        let before = self.calls.snapshot();
        let response = request.send().await?;
        let status = response.status();
        let value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value, self.calls.snapshot() - before))
    }
}

enum Body {
    Json(Value),
    Bytes(Vec<u8>, &'static str),
}

#[tokio::main]
async fn main() -> Result<()> {
    let endpoint = std::env::var("PODOPS_TEST_AWS_ENDPOINT").context("set PODOPS_TEST_AWS_ENDPOINT to an emulator, e.g. moto server")?;
    let base = format!("podops-bench-{:08x}", rand::random::<u32>());
    let config = AwsConfig {
        table: base.clone(),
        media_bucket: format!("{base}-media"),
        public_bucket: format!("{base}-public"),
        queue_name: format!("{base}-jobs"),
        dlq_name: dlq_name(&format!("{base}-jobs")),
        ..AwsConfig::named(Some(endpoint), "us-east-1")
    };
    let clients = AwsClients::new(&config).await;
    provision::provision(&clients, &config).await?;
    let jobs = SqsJobs::connect(clients.sqs.clone(), &config.queue_name, &config.dlq_name).await?;
    let podops = Podops::new(
        Arc::new(DynamoRecords::new(clients.dynamodb.clone(), &config.table)),
        Arc::new(S3Blobs::new(clients.s3.clone(), &config.media_bucket)),
        Arc::new(jobs),
        Arc::new(SystemClock),
        SECRET,
        MediaRules { max_upload: 1 << 30, url_ttl: 3600, ..MediaRules::default() },
    )
    .with_publishing(Publishing {
        public: Arc::new(S3Blobs::new(clients.s3.clone(), &config.public_bucket)),
        feed_base_url: "http://127.0.0.1".into(),
        rebuild_delay: 30,
    });
    let tokens = Arc::new(TokenAuthority::new(SECRET, "podops", "podops-api"));
    let scopes = Scopes::new(vec![Scope::ProductionRead, Scope::ProductionWrite, Scope::ResourceRead, Scope::ResourceWrite]);
    let (token, _) = tokens.mint(&ClientId::parse("bench").map_err(|e| anyhow::anyhow!(e.message))?, &scopes, SystemClock.now(), 3600)?;
    let scheduler = podops.clone();
    let state = AppState::from(AppParts { podops, tokens, media_signer: Signer::derive(SECRET, "media"), limits: Limits::default(), feeds: Default::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, podops_api::router(state)).await });
    let bench = Bench { http: reqwest::Client::new(), base: base_url, token, calls: clients.calls.clone() };

    let mut rows: Vec<(String, AwsCalls)> = Vec::new();
    let mut row = |what: &str, status: StatusCode, expected: StatusCode, calls: AwsCalls| -> Result<()> {
        if status != expected {
            bail!("{what}: {status}, expected {expected}");
        }
        rows.push((what.to_owned(), calls));
        Ok(())
    };

    let (status, prod, calls) = bench.measure(Method::POST, "/a/v1/production", Some(Body::Json(json!({"name": base, "title": "Bench"})))).await?;
    row("create a production", status, StatusCode::CREATED, calls)?;
    let prod = prod["guid"].as_str().context("production guid")?.to_owned();
    let show = json!({"title": "Bench", "language": "en", "author": "Me", "owner": {"name": "Me", "email": "me@example.com"}});
    let (status, _, calls) = bench.measure(Method::POST, &format!("/a/v1/resource/{prod}/show/c7b5414a9c02"), Some(Body::Json(show))).await?;
    row("create the show", status, StatusCode::CREATED, calls)?;

    let small: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (status, asset, calls) = bench.measure(Method::POST, &format!("/a/v1/upload/{prod}?filename=a.mp3"), Some(Body::Bytes(small, "audio/mpeg"))).await?;
    row("upload 1 MB (one PutObject)", status, StatusCode::CREATED, calls)?;
    let asset = asset["guid"].as_str().context("asset guid")?.to_owned();
    let large: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 251) as u8).collect();
    let (status, _, calls) = bench.measure(Method::POST, &format!("/a/v1/upload/{prod}?filename=b.wav"), Some(Body::Bytes(large, "audio/wav"))).await?;
    row("upload 20 MiB (multipart: 3 parts)", status, StatusCode::CREATED, calls)?;

    for n in 0..100 {
        let episode = json!({"title": format!("Episode {n}"), "enclosure": asset});
        let (status, _, calls) = bench.measure(Method::POST, &format!("/a/v1/resource/{prod}/episode/{n:012x}"), Some(Body::Json(episode))).await?;
        if n == 99 {
            row("create an episode (with an enclosure)", status, StatusCode::CREATED, calls)?;
        }
    }
    let (status, _, calls) = bench.measure(Method::GET, &format!("/a/v1/resource/{prod}/episode/{:012x}", 7), None).await?;
    row("get an episode", status, StatusCode::OK, calls)?;
    let (status, _, calls) = bench.measure(Method::GET, &format!("/a/v1/resource/{prod}/asset/{asset}"), None).await?;
    row("get an asset (presigns its URL locally)", status, StatusCode::OK, calls)?;
    let (status, list, calls) = bench.measure(Method::GET, &format!("/a/v1/resource/{prod}/episode?limit=100"), None).await?;
    row("list 100 episodes", status, StatusCode::OK, calls)?;
    if list["items"].as_array().map(Vec::len) != Some(100) {
        bail!("the list held {:?} items", list["items"].as_array().map(Vec::len));
    }
    let (status, _, calls) = bench.measure(Method::PUT, &format!("/a/v1/resource/{prod}/episode/{:012x}", 7), Some(Body::Json(json!({"title": "Renamed"})))).await?;
    row("update an episode (PUT)", status, StatusCode::NO_CONTENT, calls)?;
    let (status, _, calls) = bench.measure(Method::DELETE, &format!("/a/v1/resource/{prod}/episode/{:012x}", 8), None).await?;
    row("delete an episode", status, StatusCode::NO_CONTENT, calls)?;

    // Not an API request: what `podops serve`'s scheduler costs every second.
    let before = bench.calls.snapshot();
    scheduler.run_due_builds().await?;
    rows.push(("scheduler tick, nothing due (every second in podops serve)".into(), bench.calls.snapshot() - before));

    println!("| API request | DynamoDB | S3 | SQS |\n|---|---|---|---|");
    for (what, calls) in rows {
        println!("| {what} | {} | {} | {} |", calls.dynamodb, calls.s3, calls.sqs);
    }
    Ok(())
}
