//! An inbox import: the bytes are already ours, in the media store's
//! `inbox/<production>/` — moved to the asset's own key (hashed on the way,
//! like a download), then the inbox object is removed.

use podops_core::{
    domain::{Asset, AssetState, Job},
    ports::{BlobError, BlobKey},
};

use crate::{tasks::Failure, Worker};

impl Worker {
    pub(crate) async fn import_inbox(&self, job: &Job, asset: &Asset, key: BlobKey) -> Result<(), Failure> {
        // Only the job's own production's inbox, whatever the record says.
        if !key.as_str().starts_with(&format!("{}{}/", podops_core::service::INBOX_PREFIX, job.production)) {
            return Err(Failure::input("inbox.bad_key", format!("{key} is not in this production's inbox")));
        }
        if asset.state != AssetState::Importing {
            // Moved by an earlier run that crashed before removing the original.
            self.remove_inbox_object(&key).await;
            return Ok(());
        }
        let name = key.as_str().rsplit('/').next().unwrap_or("");
        let media_type =
            self.podops.media.audio_type("", name).ok_or_else(|| Failure::input("media.unsupported", format!("not audio: {name:?}")))?;
        let limit = self.podops.media.max_upload;
        let blob = match self.podops.blobs.get(&key, None).await {
            Ok(blob) => blob,
            Err(BlobError::NotFound) => return Err(Failure::input("inbox.missing", format!("{key} is gone"))),
            Err(e) => return Err(Failure::store(e)),
        };
        if blob.meta.size > limit {
            return Err(Failure::input("import.too_large", format!("larger than {limit} bytes")));
        }
        self.store_import(job, media_type, blob.body).await?;
        self.remove_inbox_object(&key).await;
        Ok(())
    }

    async fn remove_inbox_object(&self, key: &BlobKey) {
        match self.podops.blobs.delete(key).await {
            Ok(()) | Err(BlobError::NotFound) => {}
            Err(e) => tracing::warn!(key = %key, error = %e, "imported from the inbox; the inbox object was not removed"),
        }
    }
}
