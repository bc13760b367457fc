//! The embedded scheduler: runs feed builds that came due (scheduled episodes,
//! edits of published productions). On AWS the same `run_due_builds` is called
//! by an EventBridge schedule instead.

use std::time::Duration;

use podops_core::service::Podops;

/// How often pending builds are checked. A scheduled episode appears at most
/// this long after its time.
const TICK: Duration = Duration::from_secs(1);

pub async fn run(podops: Podops) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
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
    }
}
