//! The port's multipart uploads as S3's own: CreateMultipartUpload, presigned
//! UploadPart URLs the client PUTs to directly, ListParts to resume, and
//! CompleteMultipartUpload. `put_part` (the server sending a part itself) is
//! for tests and tools; it holds the part in memory, so it is bounded by the
//! part size (5 GiB at most by S3's rules, 8 MiB by PodOps' client).

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::BytesMut;
use futures::StreamExt;
use podops_core::{
    Timestamp,
    ports::{BlobError, BlobKey, BlobMeta, Blobs, ByteStream, MAX_PARTS, PartMeta},
};

use super::s3_blobs::{S3Blobs, presigning, s3_error};

fn no_such_upload<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("NoSuchUpload")
}

/// An unknown (or finished) upload is the port's NotFound; anything else is unavailable.
fn upload_error<E>(op: &str, e: SdkError<E>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match e.as_service_error() {
        Some(se) if no_such_upload(se) || se.code() == Some("InvalidPart") => BlobError::NotFound,
        _ => s3_error(op, e),
    }
}

impl S3Blobs {
    pub(super) async fn s3_start_multipart(&self, key: &BlobKey, content_type: &str) -> Result<String, BlobError> {
        let out = self
            .client()
            .create_multipart_upload()
            .bucket(self.bucket())
            .key(key.as_str())
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", e))?;
        out.upload_id().map(str::to_owned).ok_or_else(|| BlobError::Unavailable("S3 CreateMultipartUpload returned no upload id".into()))
    }

    pub(super) async fn s3_signed_part_url(&self, key: &BlobKey, upload_id: &str, number: u32, expires_at: Timestamp) -> Result<String, BlobError> {
        let config = presigning(expires_at)?;
        let presigned = self
            .client()
            .upload_part()
            .bucket(self.bucket())
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(part_number(number)?)
            .presigned(config)
            .await
            .map_err(|e| s3_error("presign UploadPart", e))?;
        Ok(presigned.uri().to_owned())
    }

    pub(super) async fn s3_put_part(&self, key: &BlobKey, upload_id: &str, number: u32, mut body: ByteStream, max_size: u64) -> Result<PartMeta, BlobError> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(BlobError::Body)?;
            if (buf.len() + chunk.len()) as u64 > max_size {
                return Err(BlobError::TooLarge { limit: max_size });
            }
            buf.extend_from_slice(&chunk);
        }
        let size = buf.len() as u64;
        let out = self
            .client()
            .upload_part()
            .bucket(self.bucket())
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(part_number(number)?)
            .body(SdkBody::from(buf.freeze()))
            .send()
            .await
            .map_err(|e| upload_error("UploadPart", e))?;
        Ok(PartMeta { number, size, etag: out.e_tag().unwrap_or_default().to_owned() })
    }

    pub(super) async fn s3_list_parts(&self, key: &BlobKey, upload_id: &str) -> Result<Vec<PartMeta>, BlobError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client()
                .list_parts()
                .bucket(self.bucket())
                .key(key.as_str())
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| upload_error("ListParts", e))?;
            for part in out.parts() {
                let (Some(number), Some(size)) = (part.part_number(), part.size()) else { continue };
                parts.push(PartMeta {
                    number: u32::try_from(number).unwrap_or(0),
                    size: u64::try_from(size).unwrap_or(0),
                    etag: part.e_tag().unwrap_or_default().to_owned(),
                });
            }
            match (out.is_truncated(), out.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    pub(super) async fn s3_complete_multipart(&self, key: &BlobKey, upload_id: &str, parts: &[PartMeta]) -> Result<BlobMeta, BlobError> {
        let completed = parts
            .iter()
            .map(|p| Ok(CompletedPart::builder().part_number(part_number(p.number)?).e_tag(&p.etag).build()))
            .collect::<Result<Vec<_>, BlobError>>()?;
        self.client()
            .complete_multipart_upload()
            .bucket(self.bucket())
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await
            .map_err(|e| upload_error("CompleteMultipartUpload", e))?;
        self.head(key).await?.ok_or_else(|| BlobError::Unavailable("S3 completed the upload but the object is absent".into()))
    }

    pub(super) async fn s3_abort_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError> {
        match self.client().abort_multipart_upload().bucket(self.bucket()).key(key.as_str()).upload_id(upload_id).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(no_such_upload) => Ok(()),
            // moto (and S3 for an upload already gone) may answer 404 without a code.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(()),
            Err(e) => Err(s3_error("AbortMultipartUpload", e)),
        }
    }
}

fn part_number(number: u32) -> Result<i32, BlobError> {
    if (1..=MAX_PARTS).contains(&number) {
        Ok(number as i32)
    } else {
        Err(BlobError::NotFound)
    }
}
