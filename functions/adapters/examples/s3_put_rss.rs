//! Peak memory of a 1 GiB streaming put through the S3 adapter (multipart,
//! two 8 MiB parts in memory at most) into an emulator. Prints the growth of
//! this process's peak RSS (VmHWM) and the throughput; fails above 100 MB.
//!
//!   PODOPS_TEST_AWS_ENDPOINT=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=test \
//!   AWS_SECRET_ACCESS_KEY=test cargo run --release -p podops-adapters --example s3_put_rss

use std::time::Instant;

use bytes::Bytes;
use futures::stream;
use podops_adapters::aws::{AwsClients, AwsConfig, S3Blobs, provision};
use podops_core::ports::{BlobKey, Blobs, ByteStream};

const GIB: u64 = 1 << 30;
static CHUNK: [u8; 64 * 1024] = [0x5a; 64 * 1024];

fn kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("PODOPS_TEST_AWS_ENDPOINT").map_err(|_| "set PODOPS_TEST_AWS_ENDPOINT to an emulator")?;
    let config = AwsConfig { media_bucket: format!("podops-rss-{:08x}", rand::random::<u32>()), ..AwsConfig::named(Some(endpoint), "us-east-1") };
    let clients = AwsClients::new(&config).await;
    provision::provision_bucket(&clients, &config, &config.media_bucket).await?;
    let blobs = S3Blobs::new(clients.s3.clone(), &config.media_bucket);
    let key = BlobKey::parse("bench/one-gib.wav")?;

    let before = kib("VmRSS");
    let calls_before = clients.calls.snapshot();
    let body: ByteStream = Box::pin(stream::iter((0..GIB / CHUNK.len() as u64).map(|_| Ok(Bytes::from_static(&CHUNK)))));
    let started = Instant::now();
    let meta = blobs.put(&key, "audio/wav", body, GIB).await?;
    let secs = started.elapsed().as_secs_f64();
    let peak = kib("VmHWM");
    let calls = clients.calls.snapshot() - calls_before;
    blobs.delete(&key).await?;

    println!("put 1 GiB: {:.1} s ({:.0} MiB/s), {} S3 requests", secs, 1024.0 / secs, calls.s3);
    println!("RSS before the put {} MiB, peak {} MiB, peak growth {} MiB", before / 1024, peak / 1024, peak.saturating_sub(before) / 1024);
    if meta.size != GIB {
        return Err(format!("stored {} bytes", meta.size).into());
    }
    if peak.saturating_sub(before) * 1024 > 100_000_000 {
        return Err("peak RSS grew by more than 100 MB".into());
    }
    Ok(())
}
