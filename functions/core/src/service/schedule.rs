//! Builds that happen by themselves: when a scheduled episode comes due, and
//! shortly after a published production is edited. Pending builds are records
//! in one `SCHEDULE` partition (sort key: the production), so they survive
//! restarts and work the same on SQLite and DynamoDB. Ten edits inside the
//! delay coalesce into one build: a pending build keeps its earliest time.

use serde_json::json;

use crate::{
    domain::{Guid, Timestamp, Version},
    ports::{Key, ListQuery, Record, StoreError},
};

use super::{Podops, ServiceError};

const PARTITION: &str = "SCHEDULE";

fn due_of(record: &Record) -> Option<Timestamp> {
    record.body.get("due").and_then(|d| d.as_i64())
}

impl Podops {
    /// Makes sure `prod` is rebuilt at `due` or earlier.
    pub async fn schedule_build(&self, prod: &Guid, due: Timestamp) -> Result<(), ServiceError> {
        let key = Key::new(PARTITION, prod.as_str());
        for _ in 0..5 {
            let result = match self.records.get(&key).await? {
                None => self.records.create(&Record { key: key.clone(), version: Version::FIRST, body: json!({ "due": due }), expires_at: None }).await,
                Some(existing) if due_of(&existing).is_some_and(|d| d <= due) => return Ok(()),
                Some(existing) => {
                    let next = Record { key: key.clone(), version: existing.version.next(), body: json!({ "due": due }), expires_at: None };
                    self.records.replace(&next, existing.version).await
                }
            };
            match result {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// After an edit of a production's resources: if its feed is published,
    /// rebuild it after the configured delay.
    pub(crate) async fn feed_is_stale(&self, prod: &Guid) -> Result<(), ServiceError> {
        let Some(publishing) = &self.publishing else { return Ok(()) };
        let Some(record) = self.records.get(&super::keys::production(prod)).await? else { return Ok(()) };
        if record.body.get("last_build").is_some_and(|b| !b.is_null()) {
            self.schedule_build(prod, self.clock.now() + publishing.rebuild_delay).await?;
        }
        Ok(())
    }

    /// The next pending build's time, if any (the scheduler sleeps until then).
    pub async fn next_scheduled(&self) -> Result<Option<Timestamp>, ServiceError> {
        Ok(self.pending().await?.iter().filter_map(due_of).min())
    }

    /// Runs every build due at `now`. Each pending build is claimed by a
    /// conditional delete, so two schedulers never build the same one twice.
    /// Returns the productions built, with their result.
    pub async fn run_due_builds(&self) -> Result<Vec<(Guid, Result<usize, ServiceError>)>, ServiceError> {
        let now = self.clock.now();
        let mut done = Vec::new();
        for record in self.pending().await? {
            if !due_of(&record).is_some_and(|d| d <= now) {
                continue;
            }
            let Ok(prod) = Guid::parse(&record.key.sort) else { continue };
            match self.records.delete(&record.key, record.version).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
            let result = self.build_feed(&prod, false).await.map(|o| o.episodes);
            done.push((prod, result));
        }
        Ok(done)
    }

    async fn pending(&self) -> Result<Vec<Record>, ServiceError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.records.list(&ListQuery { partition: PARTITION.into(), prefix: String::new(), after, limit: 1000 }).await?;
            out.extend(page.records);
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }
}
