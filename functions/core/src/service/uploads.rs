//! Uploads: stream a file into the blob store and record it as an asset. The
//! object is written first and the record second; if the record cannot be
//! written the object is removed, so a failed upload leaves nothing behind.
//! Audio is `pending` until the worker has probed it: the asset's record and
//! its probe job are created in one transaction.

use crate::{
    domain::{Asset, AssetRel, AssetState, Guid, Invalid, Job, JobKind, Resource, ResourceBody, Scope, Version},
    ports::{ByteStream, WriteOp},
};

use super::{resources::resource_record, Caller, Need, Podops, ServiceError};

pub struct Upload {
    pub filename: String,
    /// As declared by the client (header or multipart part); may be empty.
    pub content_type: String,
    pub body: ByteStream,
}

impl Podops {
    pub async fn upload_asset(&self, caller: &Caller, prod: &Guid, upload: Upload) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Operate).await?;
        let filename = clean_filename(&upload.filename)?;
        let media_type = self.media.media_type(&upload.content_type, &filename)?;
        // Server-chosen: 48 random bits, so two uploads never race for one object key.
        let guid = Guid::random();
        let key = self.media.object_key(prod, &guid, media_type)?;
        let meta = self.blobs.put(&key, media_type, upload.body, self.media.max_upload).await?;
        let now = self.clock.now();
        // Audio is probed (facts, loudness) before it counts as ready; images and
        // transcripts are ready as stored.
        let probed = media_type.starts_with("audio/");
        let resource = Resource {
            guid: guid.clone(),
            parent_guid: prod.clone(),
            created: now,
            updated: now,
            version: Version::FIRST,
            body: ResourceBody::Asset(Asset {
                name: filename,
                content_type: media_type.to_owned(),
                rel: AssetRel::Local,
                size: Some(meta.size),
                sha256: Some(meta.sha256),
                state: if probed { AssetState::Pending } else { AssetState::Ready },
                ..Default::default()
            }),
        };
        let probe = probed.then(|| Job::new(JobKind::Probe, prod.clone(), guid.clone(), None, now));
        let ops = (|| {
            let mut ops = vec![WriteOp::Create(resource_record(&resource)?)];
            if let Some(job) = &probe {
                ops.extend(self.create_job_ops(job)?);
            }
            ops.extend(self.audit_resource(caller, "upload", &resource, None)?);
            Ok::<_, ServiceError>(ops)
        })();
        let written = match ops {
            Ok(ops) => self.records.transact(&ops).await.map_err(ServiceError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            if let Err(cleanup) = self.blobs.delete(&key).await {
                tracing::warn!(key = %key, error = %cleanup, "upload failed and its object could not be removed");
            }
            return Err(e);
        }
        if let Some(job) = &probe {
            // The asset is stored either way; a lost message leaves it pending
            // and the job queued, and the cause is in the log.
            if let Err(e) = self.send_job(job).await {
                tracing::warn!(job = %job.id, error = %e, "probe job recorded but its message could not be sent");
            }
        }
        self.present(resource).await
    }
}

/// Keeps the last path segment of a client's file name, without control
/// characters; the name is only shown, never used as a path.
pub(crate) fn clean_filename(name: &str) -> Result<String, ServiceError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() {
        return Err(Invalid::new("filename", "upload.filename", "the upload needs a file name (?filename= or the multipart part's filename)").into());
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::clean_filename;

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(clean_filename("../../etc/pilot.mp3").unwrap(), "pilot.mp3");
        assert_eq!(clean_filename("C:\\x\\ep\u{0}1.mp3").unwrap(), "ep1.mp3");
        assert!(clean_filename("dir/").is_err());
    }
}
