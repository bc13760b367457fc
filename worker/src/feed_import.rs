//! The `feed_import` job: fetches a show's feed through the address guard
//! (redirects checked hop by hop, at most `MAX_FEED_BYTES` read) and hands it
//! to the core, which reports or writes the show and its episodes.

use futures::StreamExt;
use podops_core::{domain::Job, feed::import::MAX_FEED_BYTES};

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
        self.podops.apply_feed_import(job, &bytes).await?;
        Ok(())
    }
}
