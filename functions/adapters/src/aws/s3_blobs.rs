//! The blobs port on one S3 bucket: the object's key is the blob key, its
//! `Content-Type` the content type, and its user metadata `sha256` the hash
//! computed while it streamed in (see `s3_upload`). Reads stream the object's
//! body straight through; signed URLs are S3 presigned URLs.

use std::{io, ops::RangeInclusive, time::Duration};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use futures::stream;
use podops_core::{
    Timestamp,
    ports::{BlobError, BlobKey, BlobMeta, Blobs, ByteStream, Clock, GetBlob, PartMeta, SignedMethod, SystemClock},
};

use super::s3_upload::Upload;

/// The user-metadata name (`x-amz-meta-sha256`) holding the object's hash.
pub const SHA256_METADATA: &str = "sha256";

/// S3 refuses presigned URLs valid for longer than a week.
const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone, Debug)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
    /// The public origin (e.g. CloudFront) serving this bucket's keys, if any.
    public_base: Option<String>,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), public_base: None }
    }

    /// Objects are also served, unsigned, at `<base>/<key>` (a CDN in front of
    /// the bucket): feeds link enclosures there, since presigned URLs last 7 days at most.
    pub fn with_public_base(mut self, base: impl Into<String>) -> Self {
        self.public_base = Some(base.into().trim_end_matches('/').to_owned());
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// The size of an object, for the 416 answer to a range outside it.
    async fn size_for_range_error(&self, key: &BlobKey) -> Result<BlobError, BlobError> {
        match self.head(key).await? {
            Some(meta) => Ok(BlobError::RangeNotSatisfiable { size: meta.size }),
            None => Ok(BlobError::NotFound),
        }
    }
}

pub(super) fn s3_error<E>(op: &str, err: SdkError<E>) -> BlobError
where
    E: std::error::Error + Send + Sync + 'static,
{
    BlobError::Unavailable(format!("S3 {op}: {}", DisplayErrorContext(&err)))
}

fn meta(size: Option<i64>, content_type: Option<&str>, metadata: Option<&std::collections::HashMap<String, String>>) -> BlobMeta {
    BlobMeta {
        size: size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        // Objects placed by other tools have no hash; like FsBlobs, report it empty.
        sha256: metadata.and_then(|m| m.get(SHA256_METADATA)).cloned().unwrap_or_default(),
        content_type: content_type.unwrap_or("application/octet-stream").to_owned(),
    }
}

/// A presigned URL's lifetime until `expires_at`, clamped to what S3
/// accepts: at least a second, at most a week.
pub(super) fn presigning(expires_at: Timestamp) -> Result<PresigningConfig, BlobError> {
    let seconds = u64::try_from(expires_at - SystemClock.now()).unwrap_or(0).max(1);
    PresigningConfig::expires_in(Duration::from_secs(seconds).min(MAX_PRESIGN)).map_err(|e| BlobError::Unavailable(format!("presigning: {e}")))
}

/// `bytes 100-199/1000` → (100..=199, 1000).
fn parse_content_range(header: &str) -> Option<(RangeInclusive<u64>, u64)> {
    let (range, size) = header.strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    Some((start.parse().ok()?..=end.parse().ok()?, size.parse().ok()?))
}

/// The SDK's body as the port's stream, chunk by chunk as it arrives; the
/// stream ends after the first error.
fn body_stream(body: SdkBody) -> ByteStream {
    Box::pin(stream::try_unfold(body, |mut body| async move {
        match body.try_next().await {
            Ok(Some(chunk)) => Ok(Some((chunk, body))),
            Ok(None) => Ok(None),
            Err(e) => Err(io::Error::other(e)),
        }
    }))
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put(&self, key: &BlobKey, content_type: &str, body: ByteStream, max_size: u64) -> Result<BlobMeta, BlobError> {
        Upload { client: &self.client, bucket: &self.bucket, key, content_type, max_size }.run(body).await
    }

    async fn get(&self, key: &BlobKey, range: Option<RangeInclusive<u64>>) -> Result<GetBlob, BlobError> {
        let mut request = self.client.get_object().bucket(&self.bucket).key(key.as_str());
        if let Some(asked) = &range {
            if asked.start() > asked.end() {
                // S3 would ignore a backwards range and send everything.
                return Err(self.size_for_range_error(key).await?);
            }
            request = request.range(format!("bytes={}-{}", asked.start(), asked.end()));
        }
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Err(BlobError::NotFound),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) || e.code() == Some("InvalidRange") => {
                return Err(self.size_for_range_error(key).await?);
            }
            Err(e) => return Err(s3_error("GetObject", e)),
        };
        let mut meta = meta(out.content_length(), out.content_type(), out.metadata());
        let covered = match out.content_range().and_then(parse_content_range) {
            Some((covered, size)) => {
                meta.size = size;
                covered
            }
            // A whole object; the truthful range of an empty one covers no byte.
            None if meta.size == 0 => {
                if range.is_some() {
                    return Err(BlobError::RangeNotSatisfiable { size: 0 });
                }
                #[allow(clippy::reversed_empty_ranges, reason = "the port's empty range is start > end")]
                let nothing = 1..=0;
                nothing
            }
            None => {
                let whole = 0..=meta.size - 1;
                if range.as_ref().is_some_and(|asked| *asked.start() != 0) {
                    return Err(BlobError::Unavailable("S3 ignored the range asked for".into()));
                }
                whole
            }
        };
        Ok(GetBlob { meta, range: covered, body: body_stream(out.body) })
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        match self.client.head_object().bucket(&self.bucket).key(key.as_str()).send().await {
            Ok(out) => Ok(Some(meta(out.content_length(), out.content_type(), out.metadata()))),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(s3_error("HeadObject", e)),
        }
    }

    /// S3's DeleteObject succeeds on absent keys, as the port wants.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map(drop)
            .map_err(|e| s3_error("DeleteObject", e))
    }

    async fn list(&self, prefix: &BlobKey) -> Result<Vec<BlobKey>, BlobError> {
        let folder = format!("{prefix}/");
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&folder).delimiter("/").into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error("ListObjectsV2", e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key()).filter_map(|k| BlobKey::parse(k).ok()));
        }
        keys.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(keys)
    }

    /// Signed locally (no request is sent). The lifetime is clamped to what
    /// S3 accepts: at least a second, at most a week.
    async fn signed_url(&self, key: &BlobKey, method: SignedMethod, expires_at: Timestamp) -> Result<String, BlobError> {
        let config = presigning(expires_at)?;
        let presigned = match method {
            SignedMethod::Get => {
                self.client.get_object().bucket(&self.bucket).key(key.as_str()).presigned(config).await.map_err(|e| s3_error("presign GET", e))?
            }
            SignedMethod::Put => {
                self.client.put_object().bucket(&self.bucket).key(key.as_str()).presigned(config).await.map_err(|e| s3_error("presign PUT", e))?
            }
        };
        Ok(presigned.uri().to_owned())
    }

    /// S3 takes parts of any size (5 MiB or more but the last); the layout is the service's to check.
    async fn start_multipart(&self, key: &BlobKey, content_type: &str, _part_size: u64) -> Result<String, BlobError> {
        self.s3_start_multipart(key, content_type).await
    }

    async fn signed_part_url(&self, key: &BlobKey, upload_id: &str, number: u32, expires_at: Timestamp) -> Result<String, BlobError> {
        self.s3_signed_part_url(key, upload_id, number, expires_at).await
    }

    async fn put_part(&self, key: &BlobKey, upload_id: &str, number: u32, body: ByteStream, max_size: u64) -> Result<PartMeta, BlobError> {
        self.s3_put_part(key, upload_id, number, body, max_size).await
    }

    async fn list_parts(&self, key: &BlobKey, upload_id: &str) -> Result<Vec<PartMeta>, BlobError> {
        self.s3_list_parts(key, upload_id).await
    }

    async fn complete_multipart(&self, key: &BlobKey, upload_id: &str, parts: &[PartMeta]) -> Result<BlobMeta, BlobError> {
        self.s3_complete_multipart(key, upload_id, parts).await
    }

    async fn abort_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError> {
        self.s3_abort_multipart(key, upload_id).await
    }

    fn public_url(&self, key: &BlobKey) -> Option<String> {
        self.public_base.as_ref().map(|base| format!("{base}/{key}"))
    }
}
