//! The `feed_import` job: fetches a show's feed through the address guard
//! (redirects checked hop by hop, at most `MAX_FEED_BYTES` read) and hands it
//! to the core, which reports or writes the show and its episodes; then
//! copies each new episode's transcript and chapters into the store, so the
//! feed keeps them when the old host is gone.

use futures::{StreamExt, TryStreamExt};
use podops_core::{
    domain::Job,
    feed::import::{FeedReader, NotAFeed, MAX_FEED_BYTES},
    ports::BlobError,
    service::{EpisodeFile, ImportProblem},
};
use tokio::io::AsyncWriteExt;

use crate::{tasks::Failure, Worker};

/// Items read and written at a time.
const BATCH: usize = 50;

fn scratch_io(e: std::io::Error) -> Failure {
    Failure { code: "job.scratch".into(), detail: e.to_string(), transient: true }
}

/// Why reading the stored feed stopped: the document, or the disk.
enum Read {
    NotAFeed(NotAFeed),
    Io(std::io::Error),
}

/// Runs a read of the stored feed off the async threads. The parser's
/// refusal travels inside an `io::Error` and comes out as `Read::NotAFeed`.
async fn blocking<T: Send + 'static>(read: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> Result<T, Read> {
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if e.get_ref().is_some_and(|inner| inner.is::<NotAFeed>()) => match e.into_inner().map(|inner| inner.downcast::<NotAFeed>()) {
            Some(Ok(not_a_feed)) => Err(Read::NotAFeed(*not_a_feed)),
            _ => Err(Read::Io(std::io::Error::other("the feed's refusal was lost"))),
        },
        Ok(Err(e)) => Err(Read::Io(e)),
        Err(e) => Err(Read::Io(std::io::Error::other(e))),
    }
}

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
        // The feed goes to a scratch file, then is read from it twice, item by
        // item: memory holds one batch of items, whatever the feed's size.
        let dir = self.scratch()?;
        let path = dir.path().join("feed.xml");
        let mut file = tokio::fs::File::create(&path).await.map_err(scratch_io)?;
        let (mut size, mut body) = (0usize, response.bytes_stream());
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Failure { code: "import.fetch".into(), detail: e.to_string(), transient: true })?;
            size += chunk.len();
            if size > MAX_FEED_BYTES {
                // Stop reading: nothing past the limit is ever stored.
                self.podops.fail_feed_import(job, "import.too_large", &format!("the feed is larger than {} MB", MAX_FEED_BYTES >> 20)).await?;
                return Ok(());
            }
            file.write_all(&chunk).await.map_err(scratch_io)?;
        }
        file.flush().await.map_err(scratch_io)?;
        drop(file);
        let first = path.clone();
        let channel = blocking(move || {
            let mut reader = FeedReader::new(std::fs::File::open(first)?);
            let mut items = 0u32;
            while reader.next_item().map_err(std::io::Error::other)?.is_some() {
                items += 1;
            }
            Ok((reader.show().clone(), items))
        })
        .await;
        let (show, items) = match channel {
            Ok(read) => read,
            Err(Read::NotAFeed(e)) => {
                self.podops.fail_feed_import(job, e.code, &e.message).await?;
                return Ok(());
            }
            Err(Read::Io(e)) => return Err(scratch_io(e)),
        };
        let Some(mut work) = self.podops.begin_feed_import(job, &show, items).await? else { return Ok(()) };
        let mut reader = FeedReader::new(std::fs::File::open(&path).map_err(scratch_io)?);
        loop {
            let read = blocking(move || {
                let mut batch = Vec::with_capacity(BATCH);
                let mut ended = false;
                while batch.len() < BATCH {
                    match reader.next_item().map_err(std::io::Error::other)? {
                        Some(item) => batch.push(item),
                        None => {
                            ended = true;
                            break;
                        }
                    }
                }
                let findings = reader.take_findings();
                Ok((reader, batch, findings, ended))
            })
            .await;
            let (back, batch, findings, ended) = match read {
                Ok(r) => r,
                Err(Read::NotAFeed(e)) => {
                    self.podops.fail_feed_import(job, e.code, &e.message).await?;
                    return Ok(());
                }
                Err(Read::Io(e)) => return Err(scratch_io(e)),
            };
            self.podops.import_feed_items(job, &mut work, batch, findings).await?;
            if ended {
                break;
            }
            reader = back;
        }
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
