//! Uploads that bypass the API: the client declares the file, gets a signed
//! PUT URL (S3 presigned on AWS, the server's own `/media` on the embedded
//! backend — one protocol for both), sends the bytes there, then completes.
//! Completion checks size and sha256 against the declaration; a mismatch
//! keeps nothing (object, asset and intent are removed). Files too large for
//! a Lambda's 6 MB body go this way.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    domain::{Asset, AssetRel, AssetState, Guid, Invalid, Job, JobKind, Kind, Resource, ResourceBody, Scope, Timestamp, Version},
    ports::{Key, Record, SignedMethod, StoreError, WriteOp},
};

use super::{keys, resources::resource_record, Caller, Need, Podops, ServiceError};

/// How long a presigned PUT URL works, and an unfinished upload is kept.
pub const UPLOAD_WINDOW: Timestamp = 6 * 3600;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadIntent {
    pub filename: String,
    /// Exact size in bytes.
    pub size: u64,
    pub content_type: String,
    /// Lowercase hex sha256; checked at completion when given.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PresignedPut {
    pub method: &'static str,
    pub url: String,
    /// Headers the PUT must carry.
    pub headers: serde_json::Value,
    pub expires_at: Timestamp,
    /// Where to POST once the bytes are sent.
    pub complete: String,
}

fn intent_key(prod: &Guid, asset: &Guid) -> Key {
    Key::new(keys::production_partition(prod), format!("UPLOAD#{asset}"))
}

impl Podops {
    pub async fn start_upload(&self, caller: &Caller, prod: &Guid, intent: UploadIntent) -> Result<(Resource, PresignedPut), ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Write).await?;
        let filename = super::uploads::clean_filename(&intent.filename)?;
        let media_type = self.media.media_type(&intent.content_type, &filename)?;
        if intent.size > self.media.max_upload {
            return Err(ServiceError::TooLarge { limit: self.media.max_upload });
        }
        if let Some(sha) = &intent.sha256 {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(Invalid::new("sha256", "upload.sha256", "sha256 is 64 lowercase hex digits").into());
            }
        }
        let guid = Guid::random();
        let key = self.media.object_key(prod, &guid, media_type)?;
        let now = self.clock.now();
        let expires_at = now + UPLOAD_WINDOW;
        let resource = Resource {
            guid: guid.clone(),
            parent_guid: prod.clone(),
            created: now,
            updated: now,
            version: Version::FIRST,
            body: ResourceBody::Asset(Asset { name: filename, content_type: media_type.to_owned(), rel: AssetRel::Local, state: AssetState::Pending, ..Default::default() }),
        };
        let intent_record = Record {
            key: intent_key(prod, &guid),
            version: Version::FIRST,
            body: json!({ "size": intent.size, "sha256": intent.sha256, "object": key.as_str() }),
            // Kept a little longer than the URL works, so a late completion still finds it.
            expires_at: Some(expires_at + 3600),
        };
        self.records.transact(&[WriteOp::Create(resource_record(&resource)?), WriteOp::Create(intent_record)]).await?;
        let url = self.blobs.signed_url(&key, SignedMethod::Put, expires_at).await?;
        let put = PresignedPut {
            method: "PUT",
            url,
            headers: json!({ "Content-Type": media_type }),
            expires_at,
            complete: format!("/a/v1/upload/{prod}/{guid}/complete"),
        };
        Ok((self.present(resource).await?, put))
    }

    pub async fn complete_upload(&self, caller: &Caller, prod: &Guid, asset: &Guid) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Write).await?;
        let intent = self.records.get(&intent_key(prod, asset)).await?.ok_or(ServiceError::UploadNotStarted)?;
        let object = intent.body.get("object").and_then(|o| o.as_str()).unwrap_or("");
        let key = crate::ports::BlobKey::parse(object).map_err(|_| StoreError::Corrupt(format!("upload intent of {asset}")))?;
        let declared_size = intent.body.get("size").and_then(|s| s.as_u64()).unwrap_or(0);
        let declared_sha = intent.body.get("sha256").and_then(|s| s.as_str()).map(str::to_owned);
        let meta = self.blobs.head(&key).await?.ok_or(ServiceError::UploadIncomplete)?;
        let mismatch = if meta.size != declared_size {
            Some(("size", declared_size.to_string(), meta.size.to_string()))
        } else {
            None
        };
        // The store knows the hash when it computed it on the way in; an S3
        // object PUT straight from the client does not, so it is read once.
        let sha256 = match (&mismatch, meta.sha256.is_empty()) {
            (Some(_), _) => String::new(),
            (None, false) => meta.sha256.clone(),
            (None, true) => self.hash_object(&key).await?,
        };
        let mismatch = mismatch.or_else(|| match &declared_sha {
            Some(d) if *d != sha256 => Some(("sha256", d.clone(), sha256.clone())),
            _ => None,
        });
        let mut resource = self.load(prod, Kind::Asset, asset).await?;
        if let Some((field, declared, received)) = mismatch {
            let ops = [
                WriteOp::Delete { key: intent.key.clone(), expected: intent.version },
                WriteOp::Delete { key: keys::resource(prod, Kind::Asset, asset), expected: resource.version },
            ];
            self.records.transact(&ops).await?;
            if let Err(e) = self.blobs.delete(&key).await {
                tracing::warn!(key = %key, error = %e, "refused upload's object could not be removed");
            }
            return Err(ServiceError::UploadMismatch { field, declared, received });
        }
        let now = self.clock.now();
        let ResourceBody::Asset(a) = &mut resource.body else { return Err(StoreError::Corrupt(format!("{asset} is not an asset")).into()) };
        let probed = a.content_type.starts_with("audio/");
        a.size = Some(meta.size);
        a.sha256 = Some(sha256);
        a.state = if probed { AssetState::Pending } else { AssetState::Ready };
        let expected = resource.version;
        resource.version = expected.next();
        resource.updated = now;
        let probe = probed.then(|| Job::new(JobKind::Probe, prod.clone(), asset.clone(), None, now));
        let mut ops = vec![
            WriteOp::Replace { record: resource_record(&resource)?, expected },
            WriteOp::Delete { key: intent.key.clone(), expected: intent.version },
        ];
        if let Some(job) = &probe {
            ops.push(self.create_job_op(job)?);
        }
        match self.records.transact(&ops).await {
            Ok(()) => {}
            // A concurrent completion won: the asset is already complete.
            Err(StoreError::Conflict) => return Err(ServiceError::UploadNotStarted),
            Err(e) => return Err(e.into()),
        }
        if let Some(job) = &probe {
            if let Err(e) = self.send_job(job).await {
                tracing::warn!(job = %job.id, error = %e, "probe job recorded but its message could not be sent");
            }
        }
        self.present(resource).await
    }

    async fn hash_object(&self, key: &crate::ports::BlobKey) -> Result<String, ServiceError> {
        let mut blob = self.blobs.get(key, None).await?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = blob.body.next().await {
            let chunk = chunk.map_err(|e| StoreError::Unavailable(format!("reading {key}: {e}")))?;
            hasher.update(&chunk);
        }
        Ok(hex::encode(hasher.finalize()))
    }
}
