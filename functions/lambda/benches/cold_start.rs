//! Cold starts of the function binaries (issue 6), through the same runtime
//! API emulator the tests use, on moto: for each function, 20 times a fresh
//! process answering one representative request — Lambda's "Init Duration"
//! (spawn → first `/invocation/next`) and spawn → response — then 20 warm
//! requests to one process; the same routes on a long-running `podops serve
//! --backend aws` (same stack, same secret) for comparison; binary sizes.
//!
//!   ./bench/lambda.sh     (starts moto, builds release, runs this)

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use podops_lambda::Function;
use serde_json::json;
use support::events::{HttpEvent, HttpResponse, get, post};
use support::runtime_api::Outcome;
use support::{Lambda, Stack};

const RUNS: usize = 20;

/// What the representative requests need: a published production.
struct Fixture {
    token: String,
    prod: String,
    /// A ready asset (an image: audio waits for the worker's probe).
    cover: String,
}

impl Fixture {
    async fn create(stack: &Stack) -> Self {
        let token = stack.token("bench", "production:read production:write production:build resource:read resource:write");
        let (productions, resources, upload, build) = tokio::join!(
            stack.start(Function::Productions),
            stack.start(Function::Resources),
            stack.start(Function::Upload),
            stack.start(Function::Build)
        );
        let r = productions.http(post("/a/v1/production").bearer(&token).json(json!({"name": "bench-show", "title": "Bench"}))).await;
        let prod = r.json()["guid"].as_str().expect("production").to_owned();
        let r = upload.http(post(&format!("/a/v1/upload/{prod}?filename=cover.png")).bearer(&token).bytes("image/png", &[7u8; 2048])).await;
        let cover = r.json()["guid"].as_str().expect("cover").to_owned();
        let show = json!({"title": "Bench", "description": "d", "language": "en", "category": "Technology", "image": cover.clone(),
            "author": "A", "owner": {"name": "A", "email": "a@example.com"}});
        resources.http(post(&format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa")).bearer(&token).json(show)).await;
        let episode = json!({"title": "One", "published": 1_700_000_000, "tracks": [{"artist": "A", "title": "B", "offset": 1}]});
        resources.http(post(&format!("/a/v1/resource/{prod}/episode/bbbbbbbbbbbb")).bearer(&token).json(episode)).await;
        let r = build.http(post("/a/v1/build").bearer(&token).json(json!({"production": prod}))).await;
        assert_eq!(r.status, 201, "publish: {}", r.text());
        Self { token, prod, cover }
    }

    /// One request per function that reads its part of the backend, and its status.
    fn request(&self, function: Function) -> (HttpEvent, u16) {
        let (t, p) = (&self.token, &self.prod);
        match function {
            Function::Auth => (get("/_a/token").bearer(t), 200),
            Function::Productions => (get("/a/v1/productions").bearer(t), 200),
            Function::Resources => (get(&format!("/a/v1/resource/{p}/episode/bbbbbbbbbbbb")).bearer(t), 200),
            Function::Upload => (post(&format!("/a/v1/upload/{p}?filename=c.png")).bearer(t).bytes("image/png", &[1u8; 1024]), 201),
            Function::Build => (post("/a/v1/build?dry_run=true").bearer(t).json(json!({"production": p})), 200),
            Function::Feeds => (get("/feeds/bench-show/feed.xml"), 200),
            Function::Tasks => (get(&format!("/a/v1/asset/{p}/{}/content", self.cover)).bearer(t), 302),
            Function::Streams => (get(&format!("/a/v1/stream/{p}/cccccccccccc/status")).bearer(t), 404),
            Function::StreamEvents => (get(&format!("/a/v1/stream/{p}/cccccccccccc/events")).bearer(t), 404),
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

async fn answer(lambda: &Lambda, event: &HttpEvent, status: u16) -> Instant {
    let outcome = lambda.api.invoke(event.to_json().to_string().into_bytes()).await.expect("an answer");
    let at = Instant::now();
    match outcome {
        Outcome::Response(body) => assert_eq!(HttpResponse::parse(&body).status, status, "{}", String::from_utf8_lossy(&body)),
        // The events function streams (SSE); its prelude carries the status.
        Outcome::Stream { prelude, .. } => assert_eq!(prelude["statusCode"].as_u64(), Some(u64::from(status)), "{prelude}"),
        Outcome::Error { .. } => panic!("{} failed: {}", lambda.function.binary(), lambda.log()),
    }
    at
}

struct Row {
    function: Function,
    init: Duration,
    first: Duration,
    warm: Duration,
    serve_warm: Duration,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut stack = Stack::fresh_with_ssm_key().await;
    // The shared limits stay on (each request pays their DynamoDB check, as
    // deployed), raised so the bench's 280 requests on one token are not refused.
    stack.set("PODOPS_RATE_SIGNED_IN", "1000/s:10000");
    stack.set("PODOPS_RATE_PER_IP", "1000/s:10000");
    let fixture = Fixture::create(&stack).await;
    let serve = support::serve::Serve::start(&stack).await;
    let mut rows = Vec::new();
    for function in Function::ALL {
        let (event, status) = fixture.request(function);
        let (mut init, mut first) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let lambda = stack.start(function).await;
            let done = answer(&lambda, &event, status).await;
            init.push(lambda.api.first_next().expect("asked for an event") - lambda.spawned);
            first.push(done - lambda.spawned);
        }
        let lambda = stack.start(function).await;
        answer(&lambda, &event, status).await;
        let mut warm = Vec::new();
        for _ in 0..RUNS {
            let start = Instant::now();
            warm.push(answer(&lambda, &event, status).await - start);
        }
        let serve_warm = serve.median_latency(&event, status, RUNS).await;
        rows.push(Row { function, init: median(init), first: median(first), warm: median(warm), serve_warm });
    }
    let serve_cold = support::serve::Serve::cold_starts(&stack, &fixture.request(Function::Productions).0, RUNS).await;

    println!("| function | binary | stripped | init (spawn → /next) | spawn → first response | warm request | same route on `podops serve` (warm) |");
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        let (size, stripped) = sizes(support::function::binary(row.function));
        println!(
            "| {} | {:.1} MB | {:.1} MB | {} ms | {} ms | {} ms | {} ms |",
            row.function.binary(),
            size,
            stripped,
            ms(row.init),
            ms(row.first),
            ms(row.warm),
            ms(row.serve_warm)
        );
    }
    println!("\n`podops serve --backend aws`: spawn → first response of GET /a/v1/productions, median of {RUNS}: {} ms", ms(serve_cold));
    println!("medians of {RUNS}; sizes in MB of 10^6 bytes");
}

/// The binary's size, and its size after `strip` (a copy; the binary stays as built).
fn sizes(path: &str) -> (f64, f64) {
    let size = std::fs::metadata(path).expect("binary").len();
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("stripped");
    let ok = std::process::Command::new("strip").arg("-o").arg(&copy).arg(path).status().is_ok_and(|s| s.success());
    let stripped = if ok { std::fs::metadata(&copy).expect("stripped").len() } else { 0 };
    (size as f64 / 1e6, stripped as f64 / 1e6)
}
