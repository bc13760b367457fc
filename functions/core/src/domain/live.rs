//! A stream's run record: what the user wants (`desired`, `generation`) and
//! what the worker reports (state, progress, outputs), plus the worker's lease
//! with its fencing number. The control routes write the first half, the
//! worker's heartbeat the second, each by a version-conditional write; the
//! record is the one channel between them on both backends.

use serde::{Deserialize, Serialize};

use super::{stream::OutputKind, Timestamp};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Desired {
    #[default]
    Stopped,
    Running,
    Paused,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LiveState {
    #[default]
    Idle,
    Queued,
    Starting,
    Running,
    Paused,
    Reconnecting,
    Stopping,
    Stopped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LiveError {
    pub code: String,
    pub hint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputState {
    Connecting,
    Live,
    Retrying,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutputStatus {
    pub kind: OutputKind,
    pub state: OutputState,
    /// Where listeners find it: the HLS playlist, the Icecast mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A worker's hold on a stream. `fence` grows with every claim, so a worker
/// that lost its lease recognises it at its next read even if the same
/// worker id claimed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lease {
    pub worker: String,
    pub until: Timestamp,
    pub fence: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Live {
    pub desired: Desired,
    /// Grows with every start and restart: a worker seeing a new one restarts FFmpeg.
    pub generation: u64,
    pub state: LiveState,
    #[serde(default)]
    pub lease: Option<Lease>,
    /// The last fence handed out.
    #[serde(default)]
    pub fence: u64,
    /// Runs so far (each claim starts one); names the run's log lines.
    #[serde(default)]
    pub run: u32,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// Kilobits per second the outputs are written at.
    #[serde(default)]
    pub bitrate: Option<f64>,
    /// Encoding speed (1.0 is real time).
    #[serde(default)]
    pub speed: Option<f64>,
    /// Seconds of audio sent in this run.
    #[serde(default)]
    pub out_time: Option<f64>,
    /// When the audio last advanced.
    #[serde(default)]
    pub progress_at: Option<Timestamp>,
    /// Source reconnects and worker takeovers since the stream was started.
    #[serde(default)]
    pub reconnects: u32,
    /// When recent restarts happened (last 10 minutes): health and the retry budget.
    #[serde(default)]
    pub recent_restarts: Vec<Timestamp>,
    #[serde(default)]
    pub last_error: Option<LiveError>,
    #[serde(default)]
    pub outputs: Vec<OutputStatus>,
    /// The last 3 runs that ended, newest last: the feed's ended live items.
    #[serde(default)]
    pub past_runs: Vec<PastRun>,
    pub updated: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PastRun {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The restart budget: this many failed restarts within `RESTART_WINDOW` fail the stream.
pub const MAX_RESTARTS: usize = 10;
pub const RESTART_WINDOW: i64 = 600;

impl Live {
    pub fn lease_live(&self, now: Timestamp) -> bool {
        self.lease.as_ref().is_some_and(|l| l.until >= now)
    }

    /// 0–100, documented in docs/streams.md: speed, freshness of progress,
    /// restarts in the last 10 minutes, and the outputs' states.
    pub fn health(&self, now: Timestamp) -> u8 {
        match self.state {
            LiveState::Running | LiveState::Paused => {}
            LiveState::Reconnecting | LiveState::Starting => return 20,
            _ => return 0,
        }
        let mut score = 100.0_f64;
        if let Some(speed) = self.speed {
            if speed < 0.98 {
                score -= ((1.0 - speed) * 200.0).min(40.0);
            }
        }
        match self.progress_at.map(|t| now - t) {
            Some(age) if age > 15 => score -= 60.0,
            Some(age) if age > 5 => score -= 30.0,
            None => score -= 30.0,
            _ => {}
        }
        let recent = self.recent_restarts.iter().filter(|t| now - **t <= RESTART_WINDOW).count();
        score -= (recent as f64 * 10.0).min(40.0);
        if !self.outputs.is_empty() {
            let bad = self.outputs.iter().filter(|o| o.state != OutputState::Live).count();
            score -= 60.0 * bad as f64 / self.outputs.len() as f64;
        }
        score.clamp(0.0, 100.0).round() as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_falls_with_stale_progress_restarts_and_failed_outputs() {
        let mut live = Live { state: LiveState::Running, speed: Some(1.0), progress_at: Some(100), updated: 100, ..Live::default() };
        live.outputs = vec![OutputStatus { kind: OutputKind::Hls, state: OutputState::Live, url: None, error: None }];
        assert_eq!(live.health(101), 100);
        assert_eq!(live.health(110), 70);
        assert_eq!(live.health(120), 40);
        live.recent_restarts = vec![95, 96];
        assert_eq!(live.health(101), 80);
        live.outputs.push(OutputStatus { kind: OutputKind::Icecast, state: OutputState::Failed, url: None, error: None });
        assert_eq!(live.health(101), 50);
        live.state = LiveState::Stopped;
        assert_eq!(live.health(101), 0);
    }
}
