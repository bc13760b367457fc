//! Uploads that bypass the API: the client declares the file, gets a signed
//! PUT URL (S3 presigned on AWS, the server's own `/media` on the embedded
//! backend — one protocol for both), sends the bytes there, then completes.
//! Completion checks size and sha256 against the declaration; a mismatch
//! keeps nothing (object, asset and intent are removed). Files too large for
//! a Lambda's 6 MB body go this way.
//!
//! With `part_size` the upload is multipart: one signed URL per part, parts
//! sent in any order and concurrently, and resumable — `upload_status` says
//! which parts the store holds and signs fresh URLs for the rest, so a client
//! cut off half-way sends only what is missing.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{
    domain::{audit::Target, Asset, AssetRel, AssetState, Guid, Invalid, Job, JobKind, Kind, Resource, ResourceBody, Scope, Timestamp, Version},
    ports::{BlobKey, Key, PartMeta, Record, SignedMethod, StoreError, WriteOp, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE},
};

use super::{keys, resources::resource_record, Caller, Need, Podops, ServiceError};

/// How long a presigned PUT URL works, and an unfinished upload is kept.
pub const UPLOAD_WINDOW: Timestamp = 6 * 3600;
/// How much longer than its URLs an upload's intent is kept, so a late completion still finds it.
const COMPLETION_GRACE: Timestamp = 3600;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadIntent {
    #[schema(pattern = r"^([\s\S]*[/\\])?[^/\\]*[^\s/\\\x00-\x1f\x7f-\x9f][^/\\]*$")]
    pub filename: String,
    /// Exact size in bytes (at most the server's `--max-upload`: 413 beyond).
    #[serde(deserialize_with = "crate::domain::whole::u64")]
    #[schema(minimum = 0)]
    pub size: u64,
    /// One of the media types an upload may have (the document lists them).
    pub content_type: String,
    /// Lowercase hex sha256; checked at completion when given.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: Option<String>,
    /// Multipart: the size of every part but the last (5 MiB – 5 GiB, at most 10,000 parts).
    #[serde(default, deserialize_with = "crate::domain::whole::option_u64")]
    #[schema(minimum = 5242880, maximum = 5368709120_u64)]
    pub part_size: Option<u64>,
}

/// What a client may say when it completes: the sha256 it computed while sending.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadCompletion {
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartUrl {
    pub number: u32,
    /// Where the part starts in the file, and its exact size.
    pub offset: u64,
    pub size: u64,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PresignedPut {
    pub method: &'static str,
    /// Single upload: where to PUT the whole file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Headers the PUT must carry.
    pub headers: serde_json::Value,
    pub expires_at: Timestamp,
    /// Where to POST once the bytes are sent.
    pub complete: String,
    /// Multipart: the size of every part but the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_size: Option<u64>,
    /// Multipart: the parts still to send, each with its own URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<PartUrl>>,
    /// Multipart: the parts already stored (skip these when resuming).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Vec<PartMeta>>,
}

/// The upload as its intent record keeps it.
struct Intent {
    record: Record,
    key: BlobKey,
    size: u64,
    sha256: Option<String>,
    expires_at: Timestamp,
    multipart: Option<(String, u64)>,
}

impl Intent {
    fn read(record: Record, asset: &Guid) -> Result<Self, ServiceError> {
        let body = &record.body;
        let corrupt = || StoreError::Corrupt(format!("upload intent of {asset}"));
        let key = BlobKey::parse(body.get("object").and_then(|o| o.as_str()).unwrap_or("")).map_err(|_| corrupt())?;
        let multipart = match (body.get("upload_id").and_then(|u| u.as_str()), body.get("part_size").and_then(|p| p.as_u64())) {
            (Some(id), Some(part_size)) if part_size > 0 => Some((id.to_owned(), part_size)),
            (None, None) => None,
            _ => return Err(corrupt().into()),
        };
        Ok(Self {
            key,
            size: body.get("size").and_then(|s| s.as_u64()).unwrap_or(0),
            sha256: body.get("sha256").and_then(|s| s.as_str()).map(str::to_owned),
            // The record outlives its URLs by the grace period.
            expires_at: record.expires_at.map_or(0, |at| at - COMPLETION_GRACE),
            multipart,
            record,
        })
    }

    /// Each part's number, offset and size.
    fn layout(&self, part_size: u64) -> Vec<(u32, u64, u64)> {
        let count = self.size.div_ceil(part_size).max(1);
        (0..count).map(|i| (i as u32 + 1, i * part_size, part_size.min(self.size - (i * part_size).min(self.size)))).collect()
    }
}

fn check_sha256(sha: &str) -> Result<(), ServiceError> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(Invalid::new("sha256", "upload.sha256", "sha256 is 64 lowercase hex digits").into());
    }
    Ok(())
}

fn intent_key(prod: &Guid, asset: &Guid) -> Key {
    Key::new(keys::production_partition(prod), format!("UPLOAD#{asset}"))
}

impl Podops {
    pub async fn start_upload(&self, caller: &Caller, prod: &Guid, intent: UploadIntent) -> Result<(Resource, PresignedPut), ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Operate).await?;
        let filename = super::uploads::clean_filename(&intent.filename)?;
        let media_type = self.media.media_type(&intent.content_type, &filename)?;
        if intent.size > self.media.max_upload {
            return Err(ServiceError::TooLarge { limit: self.media.max_upload });
        }
        if let Some(sha) = &intent.sha256 {
            check_sha256(sha)?;
        }
        if let Some(part_size) = intent.part_size {
            if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) || intent.size.div_ceil(part_size) > u64::from(MAX_PARTS) {
                return Err(Invalid::new("part_size", "upload.part_size", format!(
                    "part_size is {MIN_PART_SIZE}–{MAX_PART_SIZE} bytes and makes at most {MAX_PARTS} parts"
                ))
                .into());
            }
        }
        let guid = Guid::random();
        let key = self.media.object_key(prod, &guid, media_type)?;
        let now = self.clock.now();
        let expires_at = now + UPLOAD_WINDOW;
        let upload_id = match intent.part_size {
            Some(part_size) => Some(self.blobs.start_multipart(&key, media_type, part_size).await?),
            None => None,
        };
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
            body: json!({
                "size": intent.size, "sha256": intent.sha256, "object": key.as_str(),
                "upload_id": upload_id, "part_size": intent.part_size,
            }),
            expires_at: Some(expires_at + COMPLETION_GRACE),
        };
        let ops = (|| {
            let mut ops = vec![WriteOp::Create(resource_record(&resource)?), WriteOp::Create(intent_record.clone())];
            ops.extend(self.audit_resource(caller, "upload_start", &resource, None)?);
            Ok::<_, ServiceError>(ops)
        })();
        let written = match ops {
            Ok(ops) => self.records.transact(&ops).await.map_err(ServiceError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            if let Some(id) = &upload_id {
                if let Err(abort) = self.blobs.abort_multipart(&key, id).await {
                    tracing::warn!(key = %key, error = %abort, "upload refused and its multipart upload could not be aborted");
                }
            }
            return Err(e);
        }
        let put = self.presigned_put(prod, &guid, &Intent::read(intent_record, &guid)?, media_type, &[]).await?;
        Ok((self.present(resource).await?, put))
    }

    /// Where a started upload stands: for a multipart one, the parts stored so
    /// far and fresh URLs for the others — what a client needs to resume.
    pub async fn upload_status(&self, caller: &Caller, prod: &Guid, asset: &Guid) -> Result<(Resource, PresignedPut), ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Operate).await?;
        let record = self.records.get(&intent_key(prod, asset)).await?.ok_or(ServiceError::UploadNotStarted)?;
        let intent = Intent::read(record, asset)?;
        let resource = self.load(prod, Kind::Asset, asset).await?;
        let ResourceBody::Asset(a) = &resource.body else { return Err(StoreError::Corrupt(format!("{asset} is not an asset")).into()) };
        let received = match &intent.multipart {
            Some((id, _)) => self.blobs.list_parts(&intent.key, id).await?,
            None => Vec::new(),
        };
        let put = self.presigned_put(prod, asset, &intent, &a.content_type, &received).await?;
        Ok((self.present(resource).await?, put))
    }

    /// Abandons a started upload: its parts, its object and its pending asset go.
    pub async fn cancel_upload(&self, caller: &Caller, prod: &Guid, asset: &Guid) -> Result<(), ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Operate).await?;
        let record = self.records.get(&intent_key(prod, asset)).await?.ok_or(ServiceError::UploadNotStarted)?;
        let intent = Intent::read(record, asset)?;
        let resource = self.load(prod, Kind::Asset, asset).await?;
        let audit = self.audit_ops(caller, "asset.upload_cancel", Target::new("asset", asset), Some(prod), Default::default())?;
        self.discard(&intent, &resource, audit).await
    }

    /// Removes a started upload: its records (with `audit`, if a person
    /// asked for it), then its parts and object.
    async fn discard(&self, intent: &Intent, resource: &Resource, audit: Vec<WriteOp>) -> Result<(), ServiceError> {
        let mut ops = vec![
            WriteOp::Delete { key: intent.record.key.clone(), expected: intent.record.version },
            WriteOp::Delete { key: keys::resource(&resource.parent_guid, Kind::Asset, &resource.guid), expected: resource.version },
        ];
        ops.extend(audit);
        self.records.transact(&ops).await?;
        if let Some((id, _)) = &intent.multipart {
            if let Err(e) = self.blobs.abort_multipart(&intent.key, id).await {
                tracing::warn!(key = %intent.key, error = %e, "discarded upload's parts could not be removed");
            }
        }
        if let Err(e) = self.blobs.delete(&intent.key).await {
            tracing::warn!(key = %intent.key, error = %e, "discarded upload's object could not be removed");
        }
        Ok(())
    }

    /// The URLs of an upload: the whole file's, or those of the parts not yet `received`.
    async fn presigned_put(&self, prod: &Guid, asset: &Guid, intent: &Intent, media_type: &str, received: &[PartMeta]) -> Result<PresignedPut, ServiceError> {
        let mut put = PresignedPut {
            method: "PUT",
            url: None,
            headers: json!({ "Content-Type": media_type }),
            expires_at: intent.expires_at,
            complete: format!("/a/v1/upload/{prod}/{asset}/complete"),
            part_size: None,
            parts: None,
            received: None,
        };
        match &intent.multipart {
            None => put.url = Some(self.blobs.signed_url(&intent.key, SignedMethod::Put, intent.expires_at).await?),
            Some((id, part_size)) => {
                let layout = intent.layout(*part_size);
                let held: Vec<PartMeta> = received.iter().filter(|p| layout.iter().any(|(n, _, size)| *n == p.number && *size == p.size)).cloned().collect();
                let mut parts = Vec::new();
                for (number, offset, size) in layout {
                    if !held.iter().any(|p| p.number == number) {
                        let url = self.blobs.signed_part_url(&intent.key, id, number, intent.expires_at).await?;
                        parts.push(PartUrl { number, offset, size, url });
                    }
                }
                // A part's PUT carries no type: the object's was fixed when the upload started.
                put.headers = json!({});
                put.part_size = Some(*part_size);
                put.parts = Some(parts);
                put.received = Some(held);
            }
        }
        Ok(put)
    }

    pub async fn complete_upload(&self, caller: &Caller, prod: &Guid, asset: &Guid, completion: UploadCompletion) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Operate).await?;
        if let Some(sha) = &completion.sha256 {
            check_sha256(sha)?;
        }
        let intent = self.records.get(&intent_key(prod, asset)).await?.ok_or(ServiceError::UploadNotStarted)?;
        let intent = Intent::read(intent, asset)?;
        let key = intent.key.clone();
        let declared_size = intent.size;
        if let Some((id, part_size)) = &intent.multipart {
            if let Err(e) = self.join_parts(&intent, id, *part_size).await {
                if matches!(e, ServiceError::UploadMismatch { .. }) {
                    let resource = self.load(prod, Kind::Asset, asset).await?;
                    self.discard(&intent, &resource, Vec::new()).await?;
                }
                return Err(e);
            }
        }
        let meta = self.blobs.head(&key).await?.ok_or(ServiceError::UploadIncomplete { missing: Vec::new() })?;
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
        let mismatch = mismatch.or_else(|| {
            [&intent.sha256, &completion.sha256].into_iter().flatten().find(|d| **d != sha256).map(|d| ("sha256", d.clone(), sha256.clone()))
        });
        let mut resource = self.load(prod, Kind::Asset, asset).await?;
        if let Some((field, declared, received)) = mismatch {
            self.discard(&intent, &resource, Vec::new()).await?;
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
            WriteOp::Delete { key: intent.record.key.clone(), expected: intent.record.version },
        ];
        let change = BTreeMap::from([("size".to_owned(), [Value::Null, json!(meta.size)])]);
        ops.extend(self.audit_ops(caller, "asset.upload_complete", Target::new("asset", asset), Some(prod), change)?);
        if let Some(job) = &probe {
            ops.extend(self.create_job_ops(job)?);
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

    /// Joins the parts into the object, once each part of the declared layout
    /// is there with its exact size. A completion retried after the join
    /// finds the upload gone and the object in place: nothing to do.
    async fn join_parts(&self, intent: &Intent, upload_id: &str, part_size: u64) -> Result<(), ServiceError> {
        let stored = match self.blobs.list_parts(&intent.key, upload_id).await {
            Ok(stored) => stored,
            Err(crate::ports::BlobError::NotFound) if self.blobs.head(&intent.key).await?.is_some() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let layout = intent.layout(part_size);
        let mut parts = Vec::with_capacity(layout.len());
        let mut missing = Vec::new();
        for (number, _, size) in layout {
            match stored.iter().find(|p| p.number == number) {
                Some(p) if p.size == size => parts.push(p.clone()),
                Some(p) => {
                    return Err(ServiceError::UploadMismatch { field: "size", declared: format!("part {number}: {size}"), received: p.size.to_string() });
                }
                None => missing.push(number),
            }
        }
        if !missing.is_empty() {
            return Err(ServiceError::UploadIncomplete { missing });
        }
        self.blobs.complete_multipart(&intent.key, upload_id, &parts).await?;
        Ok(())
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
