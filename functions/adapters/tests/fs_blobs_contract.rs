//! FsBlobs: the blobs contract (with and without fsync), plus what only a
//! directory can get wrong: temp files left by cut-off uploads, keys escaping
//! the root, torn files, and the signed URLs the API verifies.

use std::{
    fs,
    ops::RangeInclusive,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use podops_adapters::embedded::FsBlobs;
use podops_core::{
    Timestamp,
    ports::{BlobError, BlobKey, BlobMeta, Blobs, ByteStream, GetBlob, PartMeta, SignedMethod},
    signing::{Signer, media_url_valid},
};
use tempfile::TempDir;

const BASE_URL: &str = "http://localhost:8080";

fn signer() -> Signer {
    Signer::derive(b"test master secret", "media")
}

/// FsBlobs that owns its temp dir, so the dir lives exactly as long as the
/// `Arc<dyn Blobs>` the contract holds, and is removed after.
struct InTempDir {
    blobs: FsBlobs,
    _dir: TempDir,
}

#[async_trait]
impl Blobs for InTempDir {
    async fn put(&self, key: &BlobKey, content_type: &str, body: ByteStream, max_size: u64) -> Result<BlobMeta, BlobError> {
        self.blobs.put(key, content_type, body, max_size).await
    }
    async fn get(&self, key: &BlobKey, range: Option<RangeInclusive<u64>>) -> Result<GetBlob, BlobError> {
        self.blobs.get(key, range).await
    }
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        self.blobs.head(key).await
    }
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.blobs.delete(key).await
    }
    async fn list(&self, prefix: &BlobKey) -> Result<Vec<BlobKey>, BlobError> {
        self.blobs.list(prefix).await
    }
    async fn signed_url(&self, key: &BlobKey, method: SignedMethod, expires_at: Timestamp) -> Result<String, BlobError> {
        self.blobs.signed_url(key, method, expires_at).await
    }
    async fn start_multipart(&self, key: &BlobKey, content_type: &str, part_size: u64) -> Result<String, BlobError> {
        self.blobs.start_multipart(key, content_type, part_size).await
    }
    async fn signed_part_url(&self, key: &BlobKey, upload_id: &str, number: u32, expires_at: Timestamp) -> Result<String, BlobError> {
        self.blobs.signed_part_url(key, upload_id, number, expires_at).await
    }
    async fn put_part(&self, key: &BlobKey, upload_id: &str, number: u32, body: ByteStream, max_size: u64) -> Result<PartMeta, BlobError> {
        self.blobs.put_part(key, upload_id, number, body, max_size).await
    }
    async fn list_parts(&self, key: &BlobKey, upload_id: &str) -> Result<Vec<PartMeta>, BlobError> {
        self.blobs.list_parts(key, upload_id).await
    }
    async fn complete_multipart(&self, key: &BlobKey, upload_id: &str, parts: &[PartMeta]) -> Result<BlobMeta, BlobError> {
        self.blobs.complete_multipart(key, upload_id, parts).await
    }
    async fn abort_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError> {
        self.blobs.abort_multipart(key, upload_id).await
    }
}

async fn fs_blobs(fsync: bool) -> Arc<dyn Blobs> {
    let dir = tempfile::tempdir().expect("temp dir");
    let blobs = FsBlobs::new(dir.path().to_path_buf(), signer(), BASE_URL.into()).expect("FsBlobs::new").with_fsync(fsync);
    Arc::new(InTempDir { blobs, _dir: dir })
}

mod buffered {
    podops_adapters::blobs_contract_tests!(super::fs_blobs(false));
}

mod fsynced {
    podops_adapters::blobs_contract_tests!(super::fs_blobs(true));
}

fn fresh() -> (TempDir, FsBlobs) {
    let dir = tempfile::tempdir().expect("temp dir");
    let blobs = FsBlobs::new(dir.path().to_path_buf(), signer(), BASE_URL.into()).expect("FsBlobs::new");
    (dir, blobs)
}

fn key(s: &str) -> BlobKey {
    BlobKey::parse(s).expect("valid key")
}

fn body(data: &[u8]) -> ByteStream {
    Box::pin(stream::iter([Ok(Bytes::copy_from_slice(data))]))
}

/// One chunk, then a client that never sends again nor goes away.
fn stalled_body() -> ByteStream {
    Box::pin(stream::once(async { Ok(Bytes::from(vec![7u8; 4096])) }).chain(stream::pending()))
}

async fn read_all(blob: GetBlob) -> Vec<u8> {
    let chunks: Vec<Bytes> = blob.body.try_collect().await.expect("body reads");
    chunks.concat()
}

/// Every regular file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                found.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    found
}

#[tokio::test]
async fn dropped_put_leaves_no_file_under_root() {
    let (dir, blobs) = fresh();
    let k = key("show/episode.mp3");
    let mut put = blobs.put(&k, "audio/mpeg", stalled_body(), 1 << 20);
    assert!(tokio::time::timeout(Duration::from_millis(300), &mut put).await.is_err(), "a stalled put cannot finish");
    // Proves the drop below has a temp file to clean up.
    assert_eq!(files_under(&dir.path().join(".tmp")).len(), 1, "the upload is in progress in .tmp");
    drop(put);
    assert_eq!(files_under(dir.path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn dropped_put_over_an_existing_object_keeps_it() {
    let (dir, blobs) = fresh();
    let k = key("show/episode.mp3");
    let old = blobs.put(&k, "audio/mpeg", body(b"old episode"), 1 << 20).await.expect("put");
    let before = files_under(dir.path());
    let mut put = blobs.put(&k, "audio/mpeg", stalled_body(), 1 << 20);
    assert!(tokio::time::timeout(Duration::from_millis(300), &mut put).await.is_err(), "a stalled put cannot finish");
    drop(put);
    assert_eq!(files_under(dir.path()), before);
    let got = blobs.get(&k, None).await.expect("get");
    assert_eq!(got.meta, old);
    assert_eq!(read_all(got).await, b"old episode");
}

#[tokio::test]
async fn keys_cannot_escape_root() {
    // `~` is refused too: it is what keeps sidecar names out of the key space.
    for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "a\\b", "", "x~1.json"] {
        assert!(BlobKey::parse(bad).is_err(), "{bad:?} must not be a key");
    }
    let (dir, blobs) = fresh();
    let tricky = [".tmp/put-abc", "b/.tmp", "...", "a/..b", "objects", ".tmp.json"];
    for k in tricky {
        blobs.put(&key(k), "text/plain", body(k.as_bytes()), 1 << 20).await.unwrap_or_else(|e| panic!("put {k}: {e}"));
    }
    let files = files_under(dir.path());
    assert_eq!(files.len(), 2 * tricky.len(), "one data file and one sidecar per key: {files:?}");
    assert!(files.iter().all(|f| f.starts_with("objects")), "everything lands under objects/: {files:?}");
    for k in tricky {
        assert!(files.contains(&Path::new("objects").join(k)), "{k} is stored at objects/{k}");
        assert_eq!(read_all(blobs.get(&key(k), None).await.expect("get")).await, k.as_bytes());
    }
}

#[tokio::test]
async fn signed_url_verifies_only_for_its_method_and_key() {
    let (_dir, blobs) = fresh();
    let k = key("show/episode.mp3");
    let expires = 2_000_000_000;
    let now = expires - 60;
    for (method, other) in [(SignedMethod::Get, "PUT"), (SignedMethod::Put, "GET")] {
        let url = blobs.signed_url(&k, method, expires).await.expect("signed url");
        let rest = url.strip_prefix("http://localhost:8080/media/").unwrap_or_else(|| panic!("{url} is not under /media/"));
        let (path, query) = rest.split_once('?').expect("a query");
        assert_eq!(path, k.as_str());
        let expires_at: i64 = query_param(query, "expires").parse().expect("numeric expiry");
        let sig = query_param(query, "signature");
        assert_eq!(expires_at, expires);
        assert!(media_url_valid(&signer(), method.as_str(), k.as_str(), expires_at, sig, now));
        assert!(!media_url_valid(&signer(), other, k.as_str(), expires_at, sig, now), "{url} must not allow {other}");
        assert!(!media_url_valid(&signer(), method.as_str(), "show/other.mp3", expires_at, sig, now));
        assert!(!media_url_valid(&signer(), method.as_str(), k.as_str(), expires_at, sig, expires + 1), "expired");
        assert!(!media_url_valid(&Signer::derive(b"other secret", "media"), method.as_str(), k.as_str(), expires_at, sig, now));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let trailing = FsBlobs::new(dir.path().to_path_buf(), signer(), "https://cdn.example/".into()).expect("FsBlobs::new");
    let url = trailing.signed_url(&k, SignedMethod::Get, expires).await.expect("signed url");
    assert!(url.starts_with("https://cdn.example/media/show/episode.mp3?expires="), "{url}");
}

fn query_param<'a>(query: &'a str, name: &str) -> &'a str {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).unwrap_or_else(|| panic!("no {name} in {query}"))
}

#[tokio::test]
async fn data_file_without_sidecar_is_served_as_octet_stream() {
    let (dir, blobs) = fresh();
    let path = dir.path().join("objects/legacy/episode.mp3");
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(&path, b"placed by hand").expect("write");
    let expected = BlobMeta { size: 14, sha256: String::new(), content_type: "application/octet-stream".into() };
    let k = key("legacy/episode.mp3");
    assert_eq!(blobs.head(&k).await.expect("head"), Some(expected.clone()));
    let got = blobs.get(&k, Some(7..=100)).await.expect("get");
    assert_eq!((got.meta.clone(), got.range.clone()), (expected, 7..=13));
    assert_eq!(read_all(got).await, b"by hand");
    blobs.delete(&k).await.expect("delete");
    assert_eq!(files_under(dir.path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn torn_data_file_is_treated_as_absent() {
    let (dir, blobs) = fresh();
    let k = key("show/episode.mp3");
    blobs.put(&k, "audio/mpeg", body(&[9u8; 10_000]), 1 << 20).await.expect("put");
    // What a power loss without fsync can leave: the rename durable, the bytes not.
    fs::OpenOptions::new().write(true).open(dir.path().join("objects/show/episode.mp3")).expect("open").set_len(5_000).expect("truncate");
    assert_eq!(blobs.head(&k).await.expect("head"), None);
    assert!(matches!(blobs.get(&k, None).await, Err(BlobError::NotFound)));
    let meta = blobs.put(&k, "audio/mpeg", body(&[8u8; 3]), 1 << 20).await.expect("a new put repairs it");
    assert_eq!(blobs.head(&k).await.expect("head"), Some(meta));
    assert_eq!(files_under(dir.path()).len(), 2, "the torn file's sidecar went with it");
}

#[tokio::test]
async fn key_and_its_prefix_cannot_both_be_objects_and_failures_leave_nothing() {
    // A directory cannot be both a file and a folder: the one place this
    // backend is stricter than S3.
    let (dir, blobs) = fresh();
    blobs.put(&key("a/b"), "text/plain", body(b"inner"), 1 << 20).await.expect("put a/b");
    let before = files_under(dir.path());
    assert!(matches!(blobs.put(&key("a"), "text/plain", body(b"outer"), 1 << 20).await, Err(BlobError::Unavailable(_))));
    assert!(matches!(blobs.put(&key("a/b/c"), "text/plain", body(b"deeper"), 1 << 20).await, Err(BlobError::Unavailable(_))));
    assert_eq!(files_under(dir.path()), before, "no temp file or sidecar left behind");
    assert_eq!(blobs.head(&key("a/b/c")).await.expect("head"), None);
    blobs.delete(&key("a")).await.expect("deleting a directory-shaped key is a no-op");
    assert_eq!(files_under(dir.path()), before);
}

#[tokio::test]
async fn stale_temp_files_are_swept_on_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tmp = dir.path().join(".tmp");
    fs::create_dir_all(&tmp).expect("mkdir");
    fs::write(tmp.join("put-crashed"), b"half an upload").expect("write");
    fs::write(tmp.join("put-live"), b"an upload in progress").expect("write");
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    fs::File::options().write(true).open(tmp.join("put-crashed")).expect("open").set_modified(two_hours_ago).expect("set mtime");
    FsBlobs::new(dir.path().to_path_buf(), signer(), BASE_URL.into()).expect("FsBlobs::new");
    assert_eq!(files_under(&tmp), vec![PathBuf::from("put-live")]);
}

// Multipart uploads assembled in place: what only this store promises.

const PART_SIZE: u64 = 1 << 20;

fn sha_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn data_of(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).expect("stat"))
}

#[tokio::test]
async fn completing_renames_the_assembled_file_without_writing_it_again() {
    let (dir, blobs) = fresh();
    let k = key("show/long.wav");
    let data = data_of(1, 2 * PART_SIZE as usize + 123);
    let upload = blobs.start_multipart(&k, "audio/wav", PART_SIZE).await.expect("start");
    // Out of order, as a client sending four at once delivers them.
    for (number, range) in [(3, 2 * PART_SIZE as usize..data.len()), (1, 0..PART_SIZE as usize), (2, PART_SIZE as usize..2 * PART_SIZE as usize)] {
        blobs.put_part(&k, &upload, number, body(&data[range]), u64::MAX).await.expect("put part");
    }
    let assembled = dir.path().join(".uploads").join(&upload).join("data");
    let before = inode(&assembled);
    let parts = blobs.list_parts(&k, &upload).await.expect("list");
    let meta = blobs.complete_multipart(&k, &upload, &parts).await.expect("complete");
    assert_eq!((meta.size, meta.sha256.as_str()), (data.len() as u64, sha_hex(&data).as_str()));
    assert_eq!(inode(&dir.path().join("objects/show/long.wav")), before, "the object is the file the parts were written into");
    assert_eq!(read_all(blobs.get(&k, None).await.expect("get")).await, data);
    assert_eq!(files_under(&dir.path().join(".uploads")), Vec::<PathBuf>::new(), "nothing of the upload is left");
}

#[tokio::test]
async fn a_part_larger_than_the_declared_part_size_is_refused() {
    let (_dir, blobs) = fresh();
    let k = key("show/too-big.wav");
    let upload = blobs.start_multipart(&k, "audio/wav", PART_SIZE).await.expect("start");
    let result = blobs.put_part(&k, &upload, 1, body(&data_of(2, PART_SIZE as usize + 1)), u64::MAX).await;
    assert!(matches!(result, Err(BlobError::TooLarge { limit: PART_SIZE })), "{:?}", result.err());
    assert_eq!(blobs.list_parts(&k, &upload).await.expect("list"), []);
}

#[tokio::test]
async fn the_hash_is_right_when_a_hashed_part_is_sent_again_or_the_process_restarts() {
    let (dir, blobs) = fresh();
    let k = key("show/resent.wav");
    let first = data_of(3, PART_SIZE as usize);
    let second = data_of(4, 500);
    let upload = blobs.start_multipart(&k, "audio/wav", PART_SIZE).await.expect("start");
    blobs.put_part(&k, &upload, 1, body(&first), u64::MAX).await.expect("part 1");
    blobs.put_part(&k, &upload, 2, body(&second), u64::MAX).await.expect("part 2");
    // The background hash has (or soon will have) read part 1; its new copy must not be hashed as the old.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let replaced = data_of(5, PART_SIZE as usize);
    blobs.put_part(&k, &upload, 1, body(&replaced), u64::MAX).await.expect("part 1 again");
    // A second store on the same directory knows none of the first one's hashing.
    let restarted = FsBlobs::new(dir.path().to_path_buf(), signer(), BASE_URL.into()).expect("FsBlobs::new");
    let parts = restarted.list_parts(&k, &upload).await.expect("list");
    let meta = restarted.complete_multipart(&k, &upload, &parts).await.expect("complete");
    let whole = [replaced, second].concat();
    assert_eq!((meta.size, meta.sha256), (whole.len() as u64, sha_hex(&whole)));
    assert_eq!(read_all(blobs.get(&k, None).await.expect("get")).await, whole);
}

#[tokio::test]
async fn a_newer_copy_of_a_part_stops_the_older_one_still_arriving() {
    let (_dir, blobs) = fresh();
    let blobs = Arc::new(blobs);
    let k = key("show/raced.wav");
    let upload = blobs.start_multipart(&k, "audio/wav", PART_SIZE).await.expect("start");
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
    tx.unbounded_send(Ok(Bytes::from(vec![b'o'; 1000]))).expect("send");
    let older = {
        let (blobs, k, upload) = (Arc::clone(&blobs), k.clone(), upload.clone());
        tokio::spawn(async move { blobs.put_part(&k, &upload, 1, Box::pin(rx), u64::MAX).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let newer = data_of(6, 3000);
    blobs.put_part(&k, &upload, 1, body(&newer), u64::MAX).await.expect("the newer copy");
    // The older client finally sends the rest: it must not overwrite the newer copy.
    tx.unbounded_send(Ok(Bytes::from(vec![b'o'; 2000]))).expect("send");
    drop(tx);
    assert!(older.await.expect("join").is_err(), "the older copy is refused");
    let parts = blobs.list_parts(&k, &upload).await.expect("list");
    let meta = blobs.complete_multipart(&k, &upload, &parts).await.expect("complete");
    assert_eq!(meta.sha256, sha_hex(&newer));
    assert_eq!(read_all(blobs.get(&k, None).await.expect("get")).await, newer);
}
