//! The `feed_import` job: fetches a show's feed through the address guard
//! (redirects checked hop by hop, at most `MAX_FEED_BYTES` read) and hands it
//! to the core, which reports or writes the show and its episodes; then
//! copies each new episode's transcript and chapters into the store, so the
//! feed keeps them when the old host is gone.

use futures::{StreamExt, TryStreamExt};
use podops_core::{
    domain::Job,
    feed::import::MAX_FEED_BYTES,
    ports::BlobError,
    service::{EpisodeFile, ImportProblem},
};

use crate::{tasks::Failure, Worker};

impl Worker {
    pub(crate) async fn feed_import(&self, job: &Job) -> Result<(), Failure> {
        let Some(import) = self.podops.feed_import_of(job).await? else { return Ok(()) };
        if import.state == "done" || import.state == "failed" {
            return Ok(());
        }
        self.podops.feed_import_running(job).await?;
        let response = match self.fetcher.open(&import.url).await {
            Ok(r) => r,
            Err(e) if e.transient => return Err(e.into()),
            Err(e) => {
                self.podops.fail_feed_import(job, e.code, &e.detail).await?;
                return Ok(());
            }
        };
        let mut bytes = Vec::new();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Failure { code: "import.fetch".into(), detail: e.to_string(), transient: true })?;
            if bytes.len() + chunk.len() > MAX_FEED_BYTES {
                // Stop reading: nothing past the limit is ever held.
                self.podops.fail_feed_import(job, "import.too_large", &format!("the feed is larger than {} MB", MAX_FEED_BYTES >> 20)).await?;
                return Ok(());
            }
            bytes.extend_from_slice(&chunk);
        }
        let Some(mut work) = self.podops.apply_feed_import(job, &bytes).await? else { return Ok(()) };
        for file in &work.files {
            // A file that cannot be copied is reported, not retried: a rerun of the job finds
            // its episodes made and would not come back to it.
            if let Err(e) = self.copy_episode_file(file).await {
                let message = format!("{} not copied ({}): the feed links the old host's", file.field, e.detail);
                work.report.problems.push(ImportProblem { guid: Some(file.guid.clone()), code: e.code, message });
            }
        }
        self.podops.finish_feed_import(job, work.report).await?;
        Ok(())
    }

    /// Fetches one transcript or chapters file through the guard and stores it.
    async fn copy_episode_file(&self, file: &EpisodeFile) -> Result<(), Failure> {
        let (key, media_type) = file.object()?;
        let response = self.fetcher.open(&file.url).await?;
        let body = response.bytes_stream().map_err(std::io::Error::other);
        match self.podops.blobs.put(&key, media_type, Box::pin(body), EpisodeFile::MAX_BYTES).await {
            Ok(_) => {}
            Err(BlobError::TooLarge { limit }) => return Err(Failure::input("import.too_large", format!("larger than {limit} bytes"))),
            Err(BlobError::Body(e)) => return Err(Failure { code: "import.fetch".into(), detail: e.to_string(), transient: true }),
            Err(e) => return Err(Failure::store(e)),
        }
        self.podops.store_episode_file(file, &key).await?;
        Ok(())
    }
}
