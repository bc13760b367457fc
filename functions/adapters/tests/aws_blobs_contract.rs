//! The blobs contract on S3 (on the emulator at PODOPS_TEST_AWS_ENDPOINT, a
//! fresh bucket per test), plus what only the S3 adapter has to keep:
//! multipart puts that never leave parts or staging objects behind, the hash
//! in the object's metadata, and an unreachable endpoint.

mod aws_support;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_support::{fresh_blobs, fresh_bucket, unreachable_config};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use podops_adapters::aws::{AwsCalls, AwsClients, PART_SIZE, S3Blobs, SHA256_METADATA, STAGING_PREFIX};
use podops_core::ports::{BlobError, BlobKey, Blobs, ByteStream};
use sha2::{Digest, Sha256};

podops_adapters::blobs_contract_tests!(fresh_blobs());

const NO_LIMIT: u64 = 1 << 40;

fn key(name: &str) -> BlobKey {
    BlobKey::parse(name).expect("valid key")
}

/// `len` bytes in 1 MiB chunks, each byte depending on its offset.
fn body_of(len: usize) -> (Vec<u8>, ByteStream) {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8 ^ (i >> 20) as u8).collect();
    let bytes = Bytes::from(data.clone());
    let chunks: Vec<_> = (0..len).step_by(1 << 20).map(|at| Ok(bytes.slice(at..(at + (1 << 20)).min(len)))).collect();
    (data, Box::pin(stream::iter(chunks)))
}

/// Unfinished multipart uploads and staging objects left in the bucket.
async fn leftovers(clients: &AwsClients, bucket: &str) -> (usize, usize) {
    let uploads = clients.s3.list_multipart_uploads().bucket(bucket).send().await.expect("list uploads");
    let staged = clients.s3.list_objects_v2().bucket(bucket).prefix(STAGING_PREFIX).send().await.expect("list objects");
    (uploads.uploads().len(), staged.contents().len())
}

#[tokio::test]
async fn a_multipart_put_stores_the_bytes_with_their_sha256_and_leaves_no_staging() {
    let (clients, blobs) = fresh_bucket().await;
    let len = 2 * PART_SIZE + 12_345;
    let (data, body) = body_of(len);
    let meta = blobs.put(&key("media/big.wav"), "audio/wav", body, NO_LIMIT).await.expect("put");
    let sha = hex::encode(Sha256::digest(&data));
    assert_eq!((meta.size, meta.sha256.as_str(), meta.content_type.as_str()), (len as u64, sha.as_str(), "audio/wav"));
    let head = clients.s3.head_object().bucket(blobs.bucket()).key("media/big.wav").send().await.expect("head");
    assert_eq!(head.metadata().and_then(|m| m.get(SHA256_METADATA)), Some(&sha));
    assert_eq!((head.content_type(), head.content_length()), (Some("audio/wav"), Some(len as i64)));
    let got = blobs.get(&key("media/big.wav"), Some(PART_SIZE as u64 - 10..=PART_SIZE as u64 + 9)).await.expect("get");
    let slice: Vec<u8> = got.body.try_fold(Vec::new(), |mut all, c| async move { all.extend_from_slice(&c); Ok(all) }).await.expect("read");
    assert_eq!(slice, data[PART_SIZE - 10..PART_SIZE + 10], "a range across the part boundary");
    assert_eq!(leftovers(&clients, blobs.bucket()).await, (0, 0));
}

#[tokio::test]
async fn a_multipart_put_whose_body_fails_after_two_parts_leaves_no_object_and_no_upload() {
    let (clients, blobs) = fresh_bucket().await;
    let (_, good) = body_of(2 * PART_SIZE + 1_000);
    let cut = stream::once(async { Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away")) });
    let body: ByteStream = Box::pin(good.chain(cut));
    let result = blobs.put(&key("media/cut.wav"), "audio/wav", body, NO_LIMIT).await;
    assert!(matches!(result, Err(BlobError::Body(ref e)) if e.kind() == io::ErrorKind::ConnectionReset), "{:?}", result.err());
    assert_eq!(blobs.head(&key("media/cut.wav")).await.expect("head"), None);
    assert_eq!(leftovers(&clients, blobs.bucket()).await, (0, 0), "(unfinished uploads, staging objects)");
}

#[tokio::test]
async fn a_multipart_put_over_the_limit_is_too_large_and_aborted() {
    let (clients, blobs) = fresh_bucket().await;
    let limit = 2 * PART_SIZE as u64 + 1;
    let (_, body) = body_of(3 * PART_SIZE);
    let result = blobs.put(&key("media/huge.wav"), "audio/wav", body, limit).await;
    assert!(matches!(result, Err(BlobError::TooLarge { limit: l }) if l == limit), "{:?}", result.err());
    assert_eq!(blobs.head(&key("media/huge.wav")).await.expect("head"), None);
    assert_eq!(leftovers(&clients, blobs.bucket()).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_multipart_put_midway_aborts_its_upload() {
    let (clients, blobs) = fresh_bucket().await;
    let blobs = Arc::new(blobs);
    // Two parts, then a body that never ends nor sends: the put waits forever.
    let (_, good) = body_of(2 * PART_SIZE + 1);
    let body: ByteStream = Box::pin(good.chain(stream::pending()));
    let put = {
        let blobs = Arc::clone(&blobs);
        tokio::spawn(async move { blobs.put(&key("media/dropped.wav"), "audio/wav", body, NO_LIMIT).await })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while leftovers(&clients, blobs.bucket()).await.0 == 0 {
        assert!(Instant::now() < deadline, "the multipart upload never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    put.abort();
    assert!(put.await.expect_err("aborted").is_cancelled());
    // The abort runs in a task the dropped put spawned.
    let deadline = Instant::now() + Duration::from_secs(10);
    while leftovers(&clients, blobs.bucket()).await != (0, 0) {
        assert!(Instant::now() < deadline, "the dropped put left {:?}", leftovers(&clients, blobs.bucket()).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(blobs.head(&key("media/dropped.wav")).await.expect("head"), None);
}

#[tokio::test]
async fn signed_urls_are_s3_presigned_urls_with_the_asked_lifetime() {
    let (_, blobs) = fresh_bucket().await;
    let expires_at = podops_core::ports::Clock::now(&podops_core::ports::SystemClock) + 600;
    let url = blobs.signed_url(&key("media/a.mp3"), podops_core::ports::SignedMethod::Get, expires_at).await.expect("sign");
    let endpoint = aws_support::endpoint();
    assert!(url.starts_with(&format!("{endpoint}/{}/media/a.mp3?", blobs.bucket())), "{url}");
    let expires: Vec<&str> = url.split(['?', '&']).filter(|p| p.starts_with("X-Amz-Expires=")).collect();
    let seconds: u64 = expires.first().and_then(|p| p["X-Amz-Expires=".len()..].parse().ok()).expect("X-Amz-Expires");
    assert!((598..=600).contains(&seconds), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
}

#[tokio::test]
async fn a_put_to_an_endpoint_where_nothing_listens_is_unavailable_quickly() {
    let config = unreachable_config();
    let blobs = S3Blobs::new(AwsClients::new(&config).await.s3, &config.media_bucket);
    let started = Instant::now();
    let (_, body) = body_of(10_000);
    match blobs.put(&key("media/x.mp3"), "audio/mpeg", body, NO_LIMIT).await {
        Err(BlobError::Unavailable(message)) => assert!(message.contains("PutObject"), "{message}"),
        other => panic!("expected Unavailable, got {:?}", other.map(|m| m.size)),
    }
    assert!(matches!(blobs.head(&key("media/x.mp3")).await, Err(BlobError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn the_call_counter_counts_requests_sent_not_urls_presigned() {
    let (clients, blobs) = fresh_bucket().await;
    let before = clients.calls.snapshot();
    let (_, body) = body_of(1_000);
    blobs.put(&key("media/counted.mp3"), "audio/mpeg", body, NO_LIMIT).await.expect("put");
    blobs.head(&key("media/counted.mp3")).await.expect("head");
    let expires_at = podops_core::ports::Clock::now(&podops_core::ports::SystemClock) + 60;
    blobs.signed_url(&key("media/counted.mp3"), podops_core::ports::SignedMethod::Get, expires_at).await.expect("sign");
    assert_eq!(clients.calls.snapshot() - before, AwsCalls { dynamodb: 0, s3: 2, sqs: 0 });
}

/// The feed builder asks for far-future URLs; S3 refuses presigned URLs
/// longer than a week, so they are capped there (feeds on AWS need a CDN).
#[tokio::test]
async fn signed_url_lifetimes_are_capped_at_s3s_one_week() {
    let (_, blobs) = fresh_bucket().await;
    let url = blobs.signed_url(&key("media/far.mp3"), podops_core::ports::SignedMethod::Get, 253_402_300_799).await.expect("sign");
    assert!(url.contains("X-Amz-Expires=604800&") || url.ends_with("X-Amz-Expires=604800"), "{url}");
}

#[tokio::test]
async fn a_public_base_gives_permanent_unsigned_urls_for_feeds() {
    use podops_core::ports::{BlobKey, Blobs};
    let (_, blobs) = aws_support::fresh_bucket().await;
    let key = BlobKey::parse("media/0123456789ab/ba9876543210.mp3").unwrap();
    assert_eq!(blobs.public_url(&key), None, "no public origin configured");
    let public = blobs.with_public_base("https://d111.cloudfront.net/");
    assert_eq!(public.public_url(&key).as_deref(), Some("https://d111.cloudfront.net/media/0123456789ab/ba9876543210.mp3"));
}
