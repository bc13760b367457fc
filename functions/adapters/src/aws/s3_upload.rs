//! The streaming put of the S3 adapter: the body is cut into parts as it
//! arrives and hashed on the way, so at most two parts (one uploading, one
//! filling) are in memory whatever the object's size.
//!
//! A body that fits in one part is one PutObject. A larger one is a multipart
//! upload to a staging key, then one server-side CopyObject to the real key
//! with its sha256 in the metadata (S3 takes metadata when an upload starts,
//! before the hash is known; the copy is also what makes the replacement of an
//! existing object atomic), then the staging object is deleted. Any failure,
//! and dropping the put, aborts the upload or deletes the staging object.

use std::pin::pin;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::future::{self, Either};
use podops_core::ports::{BlobError, BlobKey, BlobMeta, ByteStream};
use sha2::{Digest, Sha256};

use super::s3_blobs::{SHA256_METADATA, s3_error};

/// Parts are this large (S3 wants ≥ 5 MiB for all but the last): 10,000 parts
/// make an 80 GB object; two parts in memory stay far below 100 MB.
pub const PART_SIZE: usize = 8 << 20;

/// Staging keys start with `~`, which no `BlobKey` contains, so no object a
/// caller can name is ever a staging object. `podops provision` expires this
/// prefix after a day, for puts cut off by a crash.
pub const STAGING_PREFIX: &str = "~staging/";

/// CopyObject's limit; larger objects would need UploadPartCopy.
const COPY_LIMIT: u64 = 5 << 30;

pub(super) struct Upload<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
    pub key: &'a BlobKey,
    pub content_type: &'a str,
    pub max_size: u64,
}

impl Upload<'_> {
    pub async fn run(self, body: ByteStream) -> Result<BlobMeta, BlobError> {
        let mut reader = PartReader { body, carry: None, hasher: Sha256::new(), size: 0, max_size: self.max_size, ended: false };
        let first = reader.next_part().await?;
        if reader.ended {
            let meta = reader.meta(self.content_type);
            self.client
                .put_object()
                .bucket(self.bucket)
                .key(self.key.as_str())
                .content_type(self.content_type)
                .metadata(SHA256_METADATA, &meta.sha256)
                .body(SdkBody::from(first))
                .send()
                .await
                .map_err(|e| s3_error("PutObject", e))?;
            return Ok(meta);
        }
        let staging = format!("{STAGING_PREFIX}{:032x}", rand::random::<u128>());
        let created = self
            .client
            .create_multipart_upload()
            .bucket(self.bucket)
            .key(&staging)
            .content_type(self.content_type)
            .send()
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", e))?;
        let upload_id = created.upload_id().ok_or_else(|| BlobError::Unavailable("S3 gave no upload id".into()))?.to_owned();
        let mut cleanup = Cleanup::new(self.client, self.bucket, &staging, Leftover::Upload(upload_id.clone()));
        let result = self.finish_multipart(&mut reader, first, &staging, &upload_id, &mut cleanup).await;
        // On success only the staging object remains to go; on failure, the
        // upload (so no parts are left, billed) or the staging object.
        cleanup.run().await;
        result
    }

    async fn finish_multipart(
        &self,
        reader: &mut PartReader,
        first: Bytes,
        staging: &str,
        upload_id: &str,
        cleanup: &mut Cleanup,
    ) -> Result<BlobMeta, BlobError> {
        let mut parts = Vec::new();
        let mut pending = first;
        loop {
            let number = i32::try_from(parts.len() + 1).map_err(|_| BlobError::Unavailable("too many parts".into()))?;
            let upload = self.upload_part(staging, upload_id, number, pending);
            if reader.ended {
                parts.push(upload.await?);
                break;
            }
            // Upload this part while the next one fills. A failed upload ends
            // the put at once; a failed read first lets the upload in flight
            // finish, so the abort that follows never races a part landing.
            let (part, next) = match future::select(pin!(upload), pin!(reader.next_part())).await {
                Either::Left((part, read)) => {
                    let part = part?;
                    (part, read.await?)
                }
                Either::Right((next, upload)) => {
                    let part = upload.await;
                    let next = next?;
                    (part?, next)
                }
            };
            parts.push(part);
            pending = next;
        }
        let meta = reader.meta(self.content_type);
        self.client
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(staging)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| s3_error("CompleteMultipartUpload", e))?;
        cleanup.leftover = Leftover::Staged;
        if meta.size > COPY_LIMIT {
            return Err(BlobError::Unavailable(format!("{} bytes: S3 objects over 5 GiB are not supported", meta.size)));
        }
        self.client
            .copy_object()
            .bucket(self.bucket)
            .key(self.key.as_str())
            .copy_source(format!("{}/{staging}", self.bucket))
            .metadata_directive(MetadataDirective::Replace)
            .content_type(self.content_type)
            .metadata(SHA256_METADATA, &meta.sha256)
            .send()
            .await
            .map_err(|e| s3_error("CopyObject", e))?;
        Ok(meta)
    }

    async fn upload_part(&self, staging: &str, upload_id: &str, number: i32, bytes: Bytes) -> Result<CompletedPart, BlobError> {
        let out = self
            .client
            .upload_part()
            .bucket(self.bucket)
            .key(staging)
            .upload_id(upload_id)
            .part_number(number)
            .body(SdkBody::from(bytes))
            .send()
            .await
            .map_err(|e| s3_error("UploadPart", e))?;
        Ok(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag().map(str::to_owned)).build())
    }
}

/// Cuts the body into parts of exactly `PART_SIZE` bytes (the last one
/// shorter), counting and hashing every byte once.
struct PartReader {
    body: ByteStream,
    /// Bytes read past the end of the previous part.
    carry: Option<Bytes>,
    hasher: Sha256,
    size: u64,
    max_size: u64,
    /// The body has ended: the part last returned was the last one.
    ended: bool,
}

impl PartReader {
    async fn next_part(&mut self) -> Result<Bytes, BlobError> {
        let mut part = BytesMut::with_capacity(PART_SIZE);
        loop {
            let Some(chunk) = self.next_chunk().await? else {
                self.ended = true;
                break;
            };
            if part.len() == PART_SIZE {
                // Full, and more follows: keep the chunk for the next part.
                self.carry = Some(chunk);
                break;
            }
            let take = chunk.len().min(PART_SIZE - part.len());
            self.size += take as u64;
            if self.size > self.max_size {
                return Err(BlobError::TooLarge { limit: self.max_size });
            }
            self.hasher.update(&chunk[..take]);
            part.extend_from_slice(&chunk[..take]);
            if take < chunk.len() {
                self.carry = Some(chunk.slice(take..));
            }
        }
        Ok(part.freeze())
    }

    /// The next non-empty chunk, or `None` at the end of the body.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, BlobError> {
        if let Some(chunk) = self.carry.take() {
            return Ok(Some(chunk));
        }
        while let Some(chunk) = self.body.next().await {
            let chunk = chunk.map_err(BlobError::Body)?;
            if !chunk.is_empty() {
                return Ok(Some(chunk));
            }
        }
        Ok(None)
    }

    fn meta(&self, content_type: &str) -> BlobMeta {
        BlobMeta { size: self.size, sha256: hex::encode(self.hasher.clone().finalize()), content_type: content_type.to_owned() }
    }
}

/// What a multipart put may leave behind if it stops here.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Leftover {
    Upload(String),
    Staged,
    Nothing,
}

/// Removes what a put leaves behind, when told to or, if the put's future is
/// dropped first (client gone, request cancelled), from a spawned task.
struct Cleanup {
    client: Client,
    bucket: String,
    key: String,
    leftover: Leftover,
}

impl Cleanup {
    fn new(client: &Client, bucket: &str, key: &str, leftover: Leftover) -> Self {
        Self { client: client.clone(), bucket: bucket.to_owned(), key: key.to_owned(), leftover }
    }

    async fn run(&mut self) {
        let leftover = std::mem::replace(&mut self.leftover, Leftover::Nothing);
        remove(&self.client, &self.bucket, &self.key, leftover).await;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let leftover = std::mem::replace(&mut self.leftover, Leftover::Nothing);
        if leftover == Leftover::Nothing {
            return;
        }
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { remove(&client, &bucket, &key, leftover).await });
            }
            // No runtime left (process exiting): the bucket's lifecycle rule
            // removes it within a day.
            Err(_) => tracing::warn!(%bucket, %key, "cut-off S3 put left for the lifecycle rule"),
        }
    }
}

async fn remove(client: &Client, bucket: &str, key: &str, leftover: Leftover) {
    let failed = match leftover {
        Leftover::Nothing => return,
        Leftover::Upload(upload_id) => {
            client.abort_multipart_upload().bucket(bucket).key(key).upload_id(upload_id).send().await.err().map(|e| s3_error("AbortMultipartUpload", e))
        }
        Leftover::Staged => client.delete_object().bucket(bucket).key(key).send().await.err().map(|e| s3_error("DeleteObject", e)),
    };
    if let Some(e) = failed {
        tracing::warn!(%bucket, %key, error = %e, "could not clean up after an S3 put; the lifecycle rule will");
    }
}
