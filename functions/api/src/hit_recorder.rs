//! The media route's download recorder (analytics, embedded): a bounded queue
//! the route never waits on, and a task that hashes each request's address
//! into its listener under the day's key (the address goes no further),
//! tallies the byte spans, and merges them every `every` into the stored
//! spans, whose days' figures the core then computes again.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use podops_core::{
    domain::analytics::{day_of, listener_id, Agents, Day, Request, Tally},
    service::{HitSink, Podops, RawHit},
};
use tokio::sync::mpsc;

pub struct HitRecorder {
    tx: mpsc::Sender<RawHit>,
    /// Hits dropped because the queue was full.
    pub dropped: AtomicU64,
}

impl HitSink for HitRecorder {
    fn record(&self, hit: RawHit) {
        if self.tx.try_send(hit).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl HitRecorder {
    /// Starts the task; it merges what it holds every `every`, and a last
    /// time when the recorder is dropped with the server.
    pub fn start(podops: Podops, every: Duration) -> Arc<HitRecorder> {
        let (tx, rx) = mpsc::channel(65_536);
        tokio::spawn(run(podops, rx, every));
        Arc::new(HitRecorder { tx, dropped: AtomicU64::new(0) })
    }
}

async fn run(podops: Podops, mut rx: mpsc::Receiver<RawHit>, every: Duration) {
    let agents = Agents::shared();
    let mut tally = Tally::default();
    let mut keys: HashMap<Day, Vec<u8>> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            raw = rx.recv() => match raw {
                Some(raw) => {
                    let day = day_of(raw.time);
                    if !keys.contains_key(&day) {
                        match podops.analytics_key(day).await {
                            Ok(k) => {
                                keys.retain(|d, _| *d >= day - 1);
                                keys.insert(day, k);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "analytics key unavailable: a download was not recorded");
                                continue;
                            }
                        }
                    }
                    let listener = listener_id(&keys[&day], raw.ip, &raw.user_agent);
                    let request = Request { time: raw.time, key: &raw.key, listener, user_agent: &raw.user_agent, method: &raw.method, status: raw.status, range: raw.range };
                    tally.add_parts(&request, agents);
                }
                None => {
                    flush(&podops, &mut tally).await;
                    return;
                }
            },
            _ = tick.tick() => flush(&podops, &mut tally).await,
        }
    }
}

async fn flush(podops: &Podops, tally: &mut Tally) {
    if tally.is_empty() {
        return;
    }
    match podops.record_tally(std::mem::take(tally)).await {
        Ok(n) => tracing::debug!(spans = n, "downloads merged into the analytics"),
        Err(e) => tracing::warn!(error = %e, "downloads not merged into the analytics: these are lost"),
    }
}
