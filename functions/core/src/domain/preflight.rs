//! A stream's preflight (checks before going live) and dry run (a 10 s test
//! encode): what a worker found, kept in one record per stream and kind.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PreflightLevel)]
pub enum Level {
    Green,
    Yellow,
    Red,
}

/// One check: `code` names the check when green (`preflight.encoder`) and
/// what is wrong otherwise (`preflight.encoder_missing`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PreflightCheck)]
pub struct Check {
    pub code: String,
    pub level: Level,
    #[serde(default)]
    pub params: Value,
    pub took_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Queued,
    Running,
    Done,
    Failed,
}

/// The latest preflight of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preflight {
    /// This preflight's id: a newer one replaces it.
    pub run: String,
    pub state: RunState,
    /// The worst level of the checks so far; final once `done`.
    pub level: Level,
    pub checks: Vec<Check>,
    pub started: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Preflight {
    pub fn add(&mut self, check: Check) {
        self.level = self.level.max(check.level);
        self.checks.push(check);
    }
}

/// What the dry run's output was probed to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DryRunOutput {
    pub codec: String,
    pub channels: u8,
    pub sample_rate: u32,
    /// Bits per second.
    pub bitrate: u64,
    pub duration: f64,
    /// Integrated loudness (LUFS) and true peak (dBTP).
    pub lufs: Option<f64>,
    pub true_peak: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DryRunWarning {
    pub code: String,
    #[serde(default)]
    pub params: Value,
}

/// The latest dry run of a stream: 10 s of its input through its real
/// commands, the outputs replaced by a local file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DryRun {
    pub run: String,
    pub state: RunState,
    pub started: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Timestamp>,
    /// Seconds of audio encoded per second of wall time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<DryRunOutput>,
    /// The commands run, secrets masked: the source's, then the encoder's.
    #[serde(default)]
    pub commands: Vec<Vec<String>>,
    #[serde(default)]
    pub warnings: Vec<DryRunWarning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
