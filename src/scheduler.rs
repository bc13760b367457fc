//! The embedded scheduler: runs feed builds that came due (scheduled episodes,
//! edits of published productions), and sweeps the jobs whose queue message
//! was lost. On AWS the same `run_due_builds` and `sweep_jobs` are called by
//! EventBridge schedules instead.

use std::time::Duration;

use podops_core::service::{Podops, SweepPolicy};

/// How often pending builds are checked. A scheduled episode appears at most
/// this long after its time.
const TICK: Duration = Duration::from_secs(1);
/// Ticks between two runs of the stream schedules: a slot starts at most
/// this many seconds late.
const SCHEDULE_EVERY: u32 = 2;
/// Ticks between two sweeps of the open jobs.
const SWEEP_EVERY: u32 = 60;

pub async fn run(podops: Podops, sweep: SweepPolicy) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    loop {
        tick.tick().await;
        ticks = ticks.wrapping_add(1);
        match podops.run_due_builds().await {
            Ok(done) => {
                for (prod, result) in done {
                    match result {
                        Ok(episodes) => tracing::info!(production = %prod, episodes, "scheduled build published"),
                        Err(e) => tracing::warn!(production = %prod, error = %e, "scheduled build failed"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read pending builds"),
        }
        if ticks % SCHEDULE_EVERY == 0 {
            match podops.run_schedules().await {
                Ok(tick) => {
                    for slot in tick.started.iter().chain(&tick.stopped) {
                        tracing::debug!(slot, "schedule slot handled");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not run the stream schedules"),
            }
        }
        if ticks % SWEEP_EVERY == 0 {
            // Each job re-sent or failed is logged by the sweep itself.
            if let Err(e) = podops.sweep_jobs(&sweep).await {
                tracing::warn!(error = %e, "could not sweep the open jobs");
            }
        }
    }
}
