//! The rules every `Blobs` adapter must pass, written against `Arc<dyn Blobs>`
//! only, so the S3 adapter later runs them unchanged:
//! `podops_adapters::blobs_contract_tests!(make_blobs());` in an adapter's
//! tests (the calling crate needs `tokio` for `#[tokio::test]`).
//!
//! Every rule writes under a random prefix, so rules can share one bucket.

use std::{io, ops::RangeInclusive, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use podops_core::ports::{BlobError, BlobKey, BlobMeta, Blobs, ByteStream, MIN_PART_SIZE, PartMeta, SignedMethod};
use sha2::{Digest, Sha256};

/// High enough that only the size-limit rules ever hit it.
const NO_LIMIT: u64 = 1 << 30;
const CHUNK: usize = 64 * 1024;
static FILLER: [u8; CHUNK] = [0x5a; CHUNK];

pub async fn put_reports_size_and_sha256(blobs: Arc<dyn Blobs>) {
    let key = unique_key("put-reports");
    let data = pattern(100_000);
    let meta = blobs.put(&key, "audio/mpeg", chunked(&data, CHUNK), NO_LIMIT).await.expect("put succeeds");
    assert_eq!(meta, BlobMeta { size: 100_000, sha256: sha_hex(&data), content_type: "audio/mpeg".into() });
}

pub async fn get_returns_the_exact_bytes(blobs: Arc<dyn Blobs>) {
    let key = unique_key("get-exact");
    let data = pattern(300_000);
    let meta = put(&blobs, &key, "audio/mpeg", &data).await;
    let got = blobs.get(&key, None).await.expect("get succeeds");
    assert_eq!(got.meta, meta);
    assert_eq!(got.range, 0..=299_999);
    assert!(read_all(got.body).await == data, "body differs from what was put");
}

pub async fn ranged_get_returns_exactly_the_slice(blobs: Arc<dyn Blobs>) {
    let key = unique_key("ranged-get");
    let data = pattern(200_000);
    let meta = put(&blobs, &key, "audio/mpeg", &data).await;
    let cases: [(RangeInclusive<u64>, RangeInclusive<u64>); 5] = [
        (0..=0, 0..=0),                           // first byte
        (1_000..=70_000, 1_000..=70_000),         // middle, across read chunks
        (199_999..=199_999, 199_999..=199_999),   // last byte
        (150_000..=10_000_000, 150_000..=199_999), // end beyond the size is clamped
        (0..=u64::MAX, 0..=199_999),
    ];
    for (asked, expected) in cases {
        let got = blobs.get(&key, Some(asked.clone())).await.unwrap_or_else(|e| panic!("get {asked:?}: {e}"));
        assert_eq!(got.range, expected, "range reported for {asked:?}");
        assert_eq!(got.meta, meta, "meta reported for {asked:?}");
        let slice = &data[*expected.start() as usize..=*expected.end() as usize];
        assert!(read_all(got.body).await == slice, "body of {asked:?} is not exactly the slice");
    }
}

pub async fn range_outside_the_object_is_not_satisfiable(blobs: Arc<dyn Blobs>) {
    let key = unique_key("range-outside");
    put(&blobs, &key, "audio/mpeg", &pattern(1_000)).await;
    for asked in [1_000..=1_000, 1_000..=5_000, 5_000..=6_000, 10..=5] {
        let result = blobs.get(&key, Some(asked.clone())).await;
        assert!(matches!(result, Err(BlobError::RangeNotSatisfiable { size: 1_000 })), "range {asked:?}: {:?}", result.err());
    }
}

pub async fn head_reports_size_content_type_and_sha256(blobs: Arc<dyn Blobs>) {
    let key = unique_key("head-reports");
    let data = pattern(12_345);
    put(&blobs, &key, "image/png", &data).await;
    let head = blobs.head(&key).await.expect("head succeeds");
    assert_eq!(head, Some(BlobMeta { size: 12_345, sha256: sha_hex(&data), content_type: "image/png".into() }));
}

pub async fn head_of_missing_is_none(blobs: Arc<dyn Blobs>) {
    let key = unique_key("head-missing");
    assert_eq!(blobs.head(&key).await.expect("head succeeds"), None);
    // A prefix of a stored key is not an object.
    let longer = BlobKey::parse(&format!("{key}/inner.bin")).expect("valid key");
    put(&blobs, &longer, "audio/mpeg", b"inner").await;
    assert_eq!(blobs.head(&key).await.expect("head succeeds"), None);
}

pub async fn get_of_missing_is_not_found(blobs: Arc<dyn Blobs>) {
    let key = unique_key("get-missing");
    assert!(matches!(blobs.get(&key, None).await, Err(BlobError::NotFound)));
    assert!(matches!(blobs.get(&key, Some(0..=10)).await, Err(BlobError::NotFound)));
    let longer = BlobKey::parse(&format!("{key}/inner.bin")).expect("valid key");
    put(&blobs, &longer, "audio/mpeg", b"inner").await;
    assert!(matches!(blobs.get(&key, None).await, Err(BlobError::NotFound)));
}

pub async fn delete_removes_and_is_idempotent(blobs: Arc<dyn Blobs>) {
    let key = unique_key("delete");
    put(&blobs, &key, "audio/mpeg", &pattern(5_000)).await;
    blobs.delete(&key).await.expect("delete succeeds");
    assert_eq!(blobs.head(&key).await.expect("head succeeds"), None);
    assert!(matches!(blobs.get(&key, None).await, Err(BlobError::NotFound)));
    blobs.delete(&key).await.expect("deleting again succeeds");
    blobs.delete(&unique_key("never-stored")).await.expect("deleting an absent key succeeds");
}

pub async fn list_names_the_objects_of_a_folder_in_order(blobs: Arc<dyn Blobs>) {
    let folder = BlobKey::parse(&format!("contract/{:016x}/list", rand::random::<u64>())).expect("valid");
    assert!(blobs.list(&folder).await.expect("listing an empty folder succeeds").is_empty());
    for name in ["b.mp3", "a.mp3", "c.mp3"] {
        let key = BlobKey::parse(&format!("{folder}/{name}")).expect("valid");
        put(&blobs, &key, "audio/mpeg", name.as_bytes()).await;
    }
    put(&blobs, &BlobKey::parse(&format!("{folder}/deeper/d.mp3")).expect("valid"), "audio/mpeg", b"d").await;
    put(&blobs, &BlobKey::parse(&format!("{folder}-sibling")).expect("valid"), "audio/mpeg", b"s").await;
    let listed: Vec<String> = blobs.list(&folder).await.expect("list succeeds").iter().map(|k| k.as_str().to_owned()).collect();
    assert_eq!(listed, ["a.mp3", "b.mp3", "c.mp3"].map(|n| format!("{folder}/{n}")));
    blobs.delete(&BlobKey::parse(&format!("{folder}/b.mp3")).expect("valid")).await.expect("delete");
    assert_eq!(blobs.list(&folder).await.expect("list succeeds").len(), 2);
}

pub async fn put_over_max_size_fails_with_too_large_and_leaves_nothing(blobs: Arc<dyn Blobs>) {
    let exact = unique_key("limit-exact");
    let meta = blobs.put(&exact, "audio/mpeg", chunked(&pattern(1_000), 300), 1_000).await.expect("exactly the limit fits");
    assert_eq!(meta.size, 1_000);

    let one_over = unique_key("limit-one-over");
    let result = blobs.put(&one_over, "audio/mpeg", chunked(&pattern(1_001), 300), 1_000).await;
    assert!(matches!(result, Err(BlobError::TooLarge { limit: 1_000 })), "{:?}", result.err());
    assert_eq!(blobs.head(&one_over).await.expect("head succeeds"), None);

    // An endless body: only refusing as soon as the limit is passed ends this put.
    let endless = unique_key("limit-endless");
    let body: ByteStream = Box::pin(stream::repeat_with(|| Ok(Bytes::from_static(&FILLER))));
    let put = tokio::time::timeout(Duration::from_secs(60), blobs.put(&endless, "audio/mpeg", body, 1_000_000));
    let result = put.await.expect("the put stops at the limit instead of reading the whole body");
    assert!(matches!(result, Err(BlobError::TooLarge { limit: 1_000_000 })), "{:?}", result.err());
    assert_eq!(blobs.head(&endless).await.expect("head succeeds"), None);
}

pub async fn body_error_midway_fails_with_body_and_leaves_nothing(blobs: Arc<dyn Blobs>) {
    let key = unique_key("body-error");
    let result = blobs.put(&key, "audio/mpeg", cut_off_body(), NO_LIMIT).await;
    match result {
        Err(BlobError::Body(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected BlobError::Body, got {:?}", other.err()),
    }
    assert_eq!(blobs.head(&key).await.expect("head succeeds"), None);
    assert!(matches!(blobs.get(&key, None).await, Err(BlobError::NotFound)));
}

pub async fn failed_put_keeps_the_existing_object(blobs: Arc<dyn Blobs>) {
    let key = unique_key("failed-over-existing");
    let data = pattern(70_000);
    let meta = put(&blobs, &key, "audio/mpeg", &data).await;

    let cut = blobs.put(&key, "image/png", cut_off_body(), NO_LIMIT).await;
    assert!(matches!(cut, Err(BlobError::Body(_))), "{:?}", cut.err());
    let too_large = blobs.put(&key, "image/png", chunked(&pattern(2_000), 500), 1_000).await;
    assert!(matches!(too_large, Err(BlobError::TooLarge { limit: 1_000 })), "{:?}", too_large.err());

    assert_eq!(blobs.head(&key).await.expect("head succeeds"), Some(meta.clone()));
    let got = blobs.get(&key, None).await.expect("get succeeds");
    assert_eq!(got.meta, meta);
    assert!(read_all(got.body).await == data, "the old object's bytes changed");
}

pub async fn put_replaces_an_existing_object(blobs: Arc<dyn Blobs>) {
    let key = unique_key("overwrite");
    put(&blobs, &key, "audio/mpeg", &pattern(100_000)).await;
    let new: Vec<u8> = pattern(5_000).into_iter().map(|b| b ^ 0xff).collect();
    let meta = put(&blobs, &key, "image/png", &new).await;
    assert_eq!(meta, BlobMeta { size: 5_000, sha256: sha_hex(&new), content_type: "image/png".into() });
    assert_eq!(blobs.head(&key).await.expect("head succeeds"), Some(meta.clone()));
    let got = blobs.get(&key, None).await.expect("get succeeds");
    assert_eq!((got.meta, got.range), (meta, 0..=4_999));
    assert!(read_all(got.body).await == new, "the shorter new object must replace, not overlay, the old one");
}

pub async fn multi_chunk_put_hashes_correctly(blobs: Arc<dyn Blobs>) {
    let key = unique_key("multi-chunk");
    let data = Bytes::from(pattern(5 << 20));
    // Mostly 64 KiB, plus an empty and a 1-byte chunk, as a real network delivers.
    let mut chunks = vec![data.slice(0..1), Bytes::new(), data.slice(1..CHUNK)];
    chunks.extend((CHUNK..data.len()).step_by(CHUNK).map(|at| data.slice(at..(at + CHUNK).min(data.len()))));
    let body: ByteStream = Box::pin(stream::iter(chunks.into_iter().map(Ok)));
    let meta = blobs.put(&key, "audio/mpeg", body, NO_LIMIT).await.expect("put succeeds");
    assert_eq!(meta, BlobMeta { size: 5 << 20, sha256: sha_hex(&data), content_type: "audio/mpeg".into() });
    let got = read_all(blobs.get(&key, None).await.expect("get succeeds").body).await;
    assert_eq!((got.len(), sha_hex(&got)), (5 << 20, sha_hex(&data)));
}

pub async fn zero_byte_object_works(blobs: Arc<dyn Blobs>) {
    let key = unique_key("zero-bytes");
    let empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let expected = BlobMeta { size: 0, sha256: empty_sha.into(), content_type: "text/plain".into() };
    let body: ByteStream = Box::pin(stream::empty());
    assert_eq!(blobs.put(&key, "text/plain", body, NO_LIMIT).await.expect("put succeeds"), expected);
    assert_eq!(blobs.head(&key).await.expect("head succeeds"), Some(expected.clone()));
    let got = blobs.get(&key, None).await.expect("get succeeds");
    assert_eq!(got.meta, expected);
    // No byte exists, so the range covers none (start > end), not `0..=0`.
    assert!(got.range.is_empty(), "range {:?} claims bytes", got.range);
    assert!(read_all(got.body).await.is_empty());
    assert!(matches!(blobs.get(&key, Some(0..=0)).await, Err(BlobError::RangeNotSatisfiable { size: 0 })));
}

pub async fn signed_url_names_the_key_and_the_method(blobs: Arc<dyn Blobs>) {
    let key = unique_key("signed-url");
    let get = blobs.signed_url(&key, SignedMethod::Get, 2_000_000_000).await.expect("signing succeeds");
    let put = blobs.signed_url(&key, SignedMethod::Put, 2_000_000_000).await.expect("signing succeeds");
    assert!(get.contains(key.as_str()), "{get} does not name {key}");
    assert!(put.contains(key.as_str()), "{put} does not name {key}");
    assert_ne!(get, put, "a GET URL must not also allow a PUT");
}

/// One `#[tokio::test]` per rule, each on a fresh `$factory.await`
/// (an async expression producing `Arc<dyn Blobs>`).
// Multipart uploads. Parts are S3's smallest allowed (5 MiB) but the last.

const PART: usize = MIN_PART_SIZE as usize;

async fn send_part(blobs: &Arc<dyn Blobs>, key: &BlobKey, upload: &str, number: u32, data: &[u8]) -> PartMeta {
    let part = blobs.put_part(key, upload, number, chunked(data, CHUNK), NO_LIMIT).await.expect("put_part succeeds");
    assert_eq!((part.number, part.size), (number, data.len() as u64));
    part
}

pub async fn multipart_upload_joins_parts_in_number_order(blobs: Arc<dyn Blobs>) {
    let key = unique_key("multipart-joins");
    let data = pattern(2 * PART + 1_000);
    let upload = blobs.start_multipart(&key, "audio/mpeg", PART as u64).await.expect("start succeeds");
    // Sent out of order, as concurrent clients do.
    send_part(&blobs, &key, &upload, 3, &data[2 * PART..]).await;
    send_part(&blobs, &key, &upload, 1, &data[..PART]).await;
    assert_eq!(blobs.head(&key).await.expect("head"), None, "nothing is visible before completion");
    send_part(&blobs, &key, &upload, 2, &data[PART..2 * PART]).await;
    let parts = blobs.list_parts(&key, &upload).await.expect("list succeeds");
    let listed: Vec<_> = parts.iter().map(|p| (p.number, p.size)).collect();
    assert_eq!(listed, [(1, PART as u64), (2, PART as u64), (3, 1_000)]);
    let meta = blobs.complete_multipart(&key, &upload, &parts).await.expect("complete succeeds");
    assert_eq!((meta.size, meta.content_type.as_str()), (data.len() as u64, "audio/mpeg"));
    // A store that cannot hash while joining (S3) reports no hash, never a wrong one.
    assert!(meta.sha256.is_empty() || meta.sha256 == sha_hex(&data), "sha256 of the joined object");
    let got = blobs.get(&key, None).await.expect("get succeeds");
    assert!(read_all(got.body).await == data, "the object is the parts joined in order");
    assert!(matches!(blobs.list_parts(&key, &upload).await, Err(BlobError::NotFound)), "a completed upload is over");
}

pub async fn part_sent_again_replaces_the_first(blobs: Arc<dyn Blobs>) {
    let key = unique_key("multipart-again");
    let upload = blobs.start_multipart(&key, "audio/mpeg", PART as u64).await.expect("start succeeds");
    send_part(&blobs, &key, &upload, 1, &pattern(3_000)).await;
    let again = send_part(&blobs, &key, &upload, 1, &pattern(2_000)).await;
    let parts = blobs.list_parts(&key, &upload).await.expect("list succeeds");
    assert_eq!(parts, [again.clone()]);
    let meta = blobs.complete_multipart(&key, &upload, &parts).await.expect("complete succeeds");
    assert_eq!(meta.size, 2_000);
}

pub async fn cut_off_part_is_not_stored(blobs: Arc<dyn Blobs>) {
    let key = unique_key("multipart-cut");
    let upload = blobs.start_multipart(&key, "audio/mpeg", PART as u64).await.expect("start succeeds");
    let result = blobs.put_part(&key, &upload, 1, cut_off_body(), NO_LIMIT).await;
    assert!(matches!(result, Err(BlobError::Body(_))), "{:?}", result.err());
    assert_eq!(blobs.list_parts(&key, &upload).await.expect("list succeeds"), []);
    blobs.abort_multipart(&key, &upload).await.expect("abort succeeds");
}

pub async fn abort_drops_the_upload_and_is_idempotent(blobs: Arc<dyn Blobs>) {
    let key = unique_key("multipart-abort");
    let upload = blobs.start_multipart(&key, "audio/mpeg", PART as u64).await.expect("start succeeds");
    send_part(&blobs, &key, &upload, 1, &pattern(1_000)).await;
    blobs.abort_multipart(&key, &upload).await.expect("abort succeeds");
    blobs.abort_multipart(&key, &upload).await.expect("a second abort succeeds");
    assert!(matches!(blobs.list_parts(&key, &upload).await, Err(BlobError::NotFound)));
    assert_eq!(blobs.head(&key).await.expect("head"), None);
}

pub async fn unknown_upload_is_not_found(blobs: Arc<dyn Blobs>) {
    let key = unique_key("multipart-unknown");
    let upload = blobs.start_multipart(&key, "audio/mpeg", PART as u64).await.expect("start succeeds");
    let made_up = "0123456789abcdef0123456789abcdef";
    assert!(matches!(blobs.list_parts(&key, made_up).await, Err(BlobError::NotFound)));
    // (UploadPart to a made-up id is not a rule here: moto answers it with a
    // 500 where S3 says NoSuchUpload, which the S3 adapter maps to NotFound.)
    // (That an upload belongs to its key is not a rule here either: moto lists
    // an upload's parts under any key. The service only ever names an
    // upload together with the key it recorded for it.)
    blobs.abort_multipart(&key, &upload).await.expect("abort succeeds");
}

pub async fn completing_with_a_stale_part_list_fails_and_keeps_nothing(blobs: Arc<dyn Blobs>) {
    let key = unique_key("multipart-stale");
    let upload = blobs.start_multipart(&key, "audio/mpeg", PART as u64).await.expect("start succeeds");
    let mut part = send_part(&blobs, &key, &upload, 1, &pattern(1_000)).await;
    part.etag = "\"0000\"".into();
    let result = blobs.complete_multipart(&key, &upload, &[part]).await;
    assert!(result.is_err(), "a part list that does not match the stored parts is refused");
    assert_eq!(blobs.head(&key).await.expect("head"), None);
    blobs.abort_multipart(&key, &upload).await.expect("abort succeeds");
}

pub async fn signed_part_url_names_the_key_and_the_part(blobs: Arc<dyn Blobs>) {
    let key = unique_key("multipart-url");
    let upload = blobs.start_multipart(&key, "audio/mpeg", PART as u64).await.expect("start succeeds");
    let url = blobs.signed_part_url(&key, &upload, 7, i64::from(u32::MAX)).await.expect("signed part url");
    assert!(url.contains(key.as_str()), "{url}");
    assert!(url.contains("7") && url.contains(&upload), "{url}");
    blobs.abort_multipart(&key, &upload).await.expect("abort succeeds");
}

#[macro_export]
macro_rules! blobs_contract_tests {
    ($factory:expr) => {
        $crate::blobs_contract_tests!(@rules $factory;
            put_reports_size_and_sha256,
            get_returns_the_exact_bytes,
            ranged_get_returns_exactly_the_slice,
            range_outside_the_object_is_not_satisfiable,
            head_reports_size_content_type_and_sha256,
            head_of_missing_is_none,
            get_of_missing_is_not_found,
            delete_removes_and_is_idempotent,
            list_names_the_objects_of_a_folder_in_order,
            put_over_max_size_fails_with_too_large_and_leaves_nothing,
            body_error_midway_fails_with_body_and_leaves_nothing,
            failed_put_keeps_the_existing_object,
            put_replaces_an_existing_object,
            multi_chunk_put_hashes_correctly,
            zero_byte_object_works,
            signed_url_names_the_key_and_the_method,
            multipart_upload_joins_parts_in_number_order,
            part_sent_again_replaces_the_first,
            cut_off_part_is_not_stored,
            abort_drops_the_upload_and_is_idempotent,
            unknown_upload_is_not_found,
            completing_with_a_stale_part_list_fails_and_keeps_nothing,
            signed_part_url_names_the_key_and_the_part,
        );
    };
    (@rules $factory:expr; $($rule:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $rule() {
                $crate::contract::blobs::$rule($factory.await).await;
            }
        )*
    };
}

fn unique_key(rule: &str) -> BlobKey {
    BlobKey::parse(&format!("contract/{:016x}/{rule}.bin", rand::random::<u64>())).expect("generated keys are valid")
}

async fn put(blobs: &Arc<dyn Blobs>, key: &BlobKey, content_type: &str, data: &[u8]) -> BlobMeta {
    blobs.put(key, content_type, chunked(data, CHUNK), NO_LIMIT).await.expect("put succeeds")
}

fn chunked(data: &[u8], chunk: usize) -> ByteStream {
    let data = Bytes::copy_from_slice(data);
    let chunks: Vec<_> = (0..data.len()).step_by(chunk).map(|at| Ok(data.slice(at..(at + chunk).min(data.len())))).collect();
    Box::pin(stream::iter(chunks))
}

/// Two good chunks, then the client goes away.
fn cut_off_body() -> ByteStream {
    let good = stream::iter([Ok(Bytes::from_static(&FILLER)), Ok(Bytes::from_static(&FILLER))]);
    let cut = stream::once(async { Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away")) });
    Box::pin(good.chain(cut))
}

async fn read_all(body: ByteStream) -> Vec<u8> {
    body.try_fold(Vec::new(), |mut all, chunk| async move {
        all.extend_from_slice(&chunk);
        Ok(all)
    })
    .await
    .expect("the body reads to the end")
}

/// Bytes that differ from their neighbours, so an off-by-one slice cannot match.
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect()
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
