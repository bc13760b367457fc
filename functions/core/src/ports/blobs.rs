//! The blobs port: media and feed bytes, streamed in and out, never held whole
//! in memory. A put is all-or-nothing: a failed or cut-off put leaves no object.

use std::{fmt, ops::RangeInclusive, pin::Pin};

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::{domain::Invalid, Timestamp};

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// An object key: 1–512 chars of `[A-Za-z0-9._/-]`, no empty, `.` or `..`
/// segments, so every backend (and a plain directory) can hold it safely.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let chars_ok = s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
        let segments_ok = s.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..");
        if !s.is_empty() && s.len() <= 512 && chars_ok && segments_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new("key", "blob.key", "invalid object key"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub size: u64,
    /// Lowercase hex sha256 of the whole object.
    pub sha256: String,
    pub content_type: String,
}

pub struct GetBlob {
    pub meta: BlobMeta,
    /// The inclusive byte range this body covers (the whole object when no range was asked).
    pub range: RangeInclusive<u64>,
    pub body: ByteStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedMethod {
    Get,
    Put,
}

impl SignedMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignedMethod::Get => "GET",
            SignedMethod::Put => "PUT",
        }
    }
}

/// One stored part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PartMeta {
    /// 1-based.
    pub number: u32,
    pub size: u64,
    /// The store's tag of this copy of the part (S3's ETag; a random tag per
    /// stored copy on a directory): completing with a stale tag is refused.
    pub etag: String,
}

/// S3's limits, kept by every store so one protocol serves both.
pub const MAX_PARTS: u32 = 10_000;
pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PART_SIZE: u64 = 5 << 30;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no such object")]
    NotFound,
    #[error("the object is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("range not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    /// Reading the incoming body failed (client went away, cut-off upload).
    #[error("reading the body failed: {0}")]
    Body(std::io::Error),
    #[error("blob storage unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Blobs: Send + Sync {
    /// Streams `body` into `key`, computing size and sha256 on the way. Fails
    /// with `TooLarge` as soon as more than `max_size` bytes arrive. On any
    /// error nothing is visible at `key` (a previous object there is kept).
    async fn put(&self, key: &BlobKey, content_type: &str, body: ByteStream, max_size: u64) -> Result<BlobMeta, BlobError>;
    /// The object, or the inclusive `range` of it (end clamped to the size).
    async fn get(&self, key: &BlobKey, range: Option<RangeInclusive<u64>>) -> Result<GetBlob, BlobError>;
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError>;
    /// Idempotent: deleting an absent object succeeds.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
    /// The objects directly inside the folder `prefix` (keys `prefix/<name>`,
    /// `<name>` without `/`), in key order. Deeper keys are not listed.
    async fn list(&self, prefix: &BlobKey) -> Result<Vec<BlobKey>, BlobError>;
    /// A URL that lets its holder `method` the object until `expires_at`, without a token.
    async fn signed_url(&self, key: &BlobKey, method: SignedMethod, expires_at: Timestamp) -> Result<String, BlobError>;
    /// A permanent, unsigned URL of the object when the store sits behind a
    /// public origin (S3 behind CloudFront). Feeds prefer it for enclosures,
    /// since a signed URL either expires (S3: at most 7 days) or must be
    /// signed with a far-future expiry. `None`: the store has no such origin.
    fn public_url(&self, _key: &BlobKey) -> Option<String> {
        None
    }
    /// Where the object's bytes already are on this machine, if the store is
    /// a local directory: the worker then lets FFmpeg read them in place
    /// instead of copying an hour of audio first. Objects are replaced by
    /// rename, so a reader never sees a half-written file. Default: none.
    fn local_path(&self, _key: &BlobKey) -> Option<std::path::PathBuf> {
        None
    }

    // Multipart uploads: a large object arrives as numbered parts, each its
    // own request (retried or resumed alone), and appears at `key` only when
    // completed. An unknown or finished `upload_id` is `NotFound`.

    /// Starts a multipart upload of `key`; the answer is its upload id.
    /// `part_size` is the size of every part but the last (which may be
    /// shorter): a store may place each part at its offset as it arrives
    /// and refuse a larger one. Completing joins parts 1..=n in that layout.
    async fn start_multipart(&self, key: &BlobKey, content_type: &str, part_size: u64) -> Result<String, BlobError>;
    /// A URL that lets its holder PUT part `number` until `expires_at`, without a token.
    async fn signed_part_url(&self, key: &BlobKey, upload_id: &str, number: u32, expires_at: Timestamp) -> Result<String, BlobError>;
    /// Stores part `number` (sending it again replaces it).
    async fn put_part(&self, key: &BlobKey, upload_id: &str, number: u32, body: ByteStream, max_size: u64) -> Result<PartMeta, BlobError>;
    /// The parts stored so far, by number.
    async fn list_parts(&self, key: &BlobKey, upload_id: &str) -> Result<Vec<PartMeta>, BlobError>;
    /// Joins `parts` (as listed, in order) into the object at `key` and ends the upload.
    async fn complete_multipart(&self, key: &BlobKey, upload_id: &str, parts: &[PartMeta]) -> Result<BlobMeta, BlobError>;
    /// Ends the upload and drops its parts. Idempotent.
    async fn abort_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError>;
}
