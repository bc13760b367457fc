//! Workers announce themselves: each writes a beat every `WORKER_BEAT`
//! (`WORKERS` / `<worker id>`, expiring after `WORKER_GONE`) with its
//! capacity, so health and metrics know who runs jobs and streams — the ECS
//! tasks on AWS, the in-process worker or `podops worker` processes embedded.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    domain::{Timestamp, Version},
    ports::{Key, ListQuery, Record, StoreError},
};

use super::{Podops, ServiceError};

/// How often a worker writes its beat.
pub const WORKER_BEAT: Duration = Duration::from_secs(10);
/// A worker unheard of this long is gone.
pub const WORKER_GONE: Timestamp = 30;
const PARTITION: &str = "WORKERS";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerBeat {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub started: Timestamp,
    /// When this beat was written.
    pub seen: Timestamp,
    pub job_slots: usize,
    pub jobs_running: usize,
    pub stream_slots: usize,
    pub streams_running: usize,
    /// `ffmpeg -version`'s first line; `None`: FFmpeg did not run.
    pub ffmpeg: Option<String>,
}

impl Podops {
    /// Writes (or rewrites) a worker's beat.
    pub async fn worker_beat(&self, beat: &WorkerBeat) -> Result<(), ServiceError> {
        let key = Key::new(PARTITION, beat.id.clone());
        let body = serde_json::to_value(beat).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expires_at = Some(beat.seen + WORKER_GONE);
        let written = match self.records.get(&key).await? {
            Some(old) => self.records.replace(&Record { key, version: old.version.next(), body, expires_at }, old.version).await,
            None => self.records.create(&Record { key, version: Version::FIRST, body, expires_at }).await,
        };
        match written {
            // Two beats of one worker raced (a slow write): the next one lands.
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Workers heard from within `WORKER_GONE`.
    pub async fn workers(&self) -> Result<Vec<WorkerBeat>, ServiceError> {
        let now = self.clock.now();
        let page = self.records.list(&ListQuery { partition: PARTITION.into(), prefix: String::new(), after: None, limit: 1000 }).await?;
        let beats = page.records.into_iter().filter_map(|r| serde_json::from_value::<WorkerBeat>(r.body).ok());
        Ok(beats.filter(|b| b.seen + WORKER_GONE >= now).collect())
    }
}
