//! What the fleet is doing, for `/metrics`: open jobs by kind and state,
//! wanted streams by state and their reconnects, the workers heard from,
//! and the queue's backlog. Read from the same indexes the workers use
//! (`OPEN_JOBS`, `LIVE_STREAMS`, `WORKERS`), at most `SAMPLE` of each.

use std::collections::BTreeMap;

use crate::{
    domain::Guid,
    ports::ListQuery,
};

use super::{jobs::OPEN_JOBS, keys::LIVE_STREAMS, Podops, ServiceError, WorkerBeat};

/// Index entries read per scrape at most: metrics must stay cheap.
const SAMPLE: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct FleetStats {
    /// `(kind, state)` → open jobs.
    pub jobs: BTreeMap<(String, String), u64>,
    /// state → streams that should run (or just stopped running).
    pub streams: BTreeMap<String, u64>,
    /// Reconnects so far of the streams counted.
    pub stream_reconnects: u64,
    pub workers: Vec<WorkerBeat>,
    pub queue_depth: u64,
}

impl Podops {
    pub async fn fleet_stats(&self) -> Result<FleetStats, ServiceError> {
        let mut stats = FleetStats { workers: self.workers().await?, queue_depth: self.jobs.depth().await?, ..FleetStats::default() };
        for entry in self.index(OPEN_JOBS).await? {
            let Some((prod, id)) = split(&entry) else { continue };
            if let Some(job) = self.load_job(&prod, id).await? {
                let state = serde_json::to_value(&job.state).ok().and_then(|v| v["state"].as_str().map(str::to_owned)).unwrap_or_default();
                let kind = serde_json::to_value(job.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                *stats.jobs.entry((kind, state)).or_default() += 1;
            }
        }
        for entry in self.index(LIVE_STREAMS).await? {
            let Some((prod, id)) = split(&entry) else { continue };
            let Ok(id) = Guid::parse(id) else { continue };
            if let Some((live, _)) = self.load_live(&prod, &id).await? {
                let state = serde_json::to_value(live.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                *stats.streams.entry(state).or_default() += 1;
                stats.stream_reconnects += u64::from(live.reconnects);
            }
        }
        Ok(stats)
    }

    async fn index(&self, partition: &str) -> Result<Vec<String>, ServiceError> {
        let page = self.records.list(&ListQuery { partition: partition.to_owned(), prefix: String::new(), after: None, limit: SAMPLE }).await?;
        Ok(page.records.into_iter().map(|r| r.key.sort).collect())
    }
}

/// `<prod>#<id>` of an index entry.
fn split(entry: &str) -> Option<(Guid, &str)> {
    let (prod, id) = entry.split_once('#')?;
    Some((Guid::parse(prod).ok()?, id))
}
