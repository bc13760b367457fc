//! The media tool port: probe, measure and transcode LOCAL files (FFmpeg in
//! the worker). The core decides what to make; the tool only runs it, so the
//! core stays free of processes and files.

use std::path::Path;

use async_trait::async_trait;

use crate::domain::{Probe, RenditionFormat};

/// One encode, fully decided by the core.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodePlan {
    pub format: RenditionFormat,
    /// Bits per second; 0 for lossless formats.
    pub bitrate: u32,
    pub channels: u8,
    /// Gain in dB applied in the same pass (loudness normalisation).
    pub gain_db: f64,
    /// Hold the true peak under this ceiling (dBTP) with a limiter in the same pass.
    pub peak_ceiling: Option<f64>,
}

/// Why a media operation failed. `code` is stored on the asset and shown to
/// clients; `detail` is for logs only (it may quote the tool's output).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct MediaError {
    pub code: &'static str,
    pub detail: String,
    /// A retry may succeed (the tool could not start, the machine is short of
    /// disk); otherwise the input itself is at fault and retrying is pointless.
    pub transient: bool,
}

impl MediaError {
    pub fn input(code: &'static str, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), transient: false }
    }
    pub fn transient(code: &'static str, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), transient: true }
    }
}

#[async_trait]
pub trait MediaTool: Send + Sync {
    /// Container, codec, duration, bitrate, channels, sample rate and loudness
    /// of the audio in `input`. Only the closed set of audio formats is
    /// accepted (`media.unsupported` otherwise).
    async fn probe(&self, input: &Path) -> Result<Probe, MediaError>;
    /// Encodes `input` (whose probe is `source`) into `output` as `plan` says.
    async fn transcode(&self, input: &Path, source: &Probe, plan: &EncodePlan, output: &Path) -> Result<(), MediaError>;
    /// Joins `inputs` (segments of one recording, same codec) in order into
    /// `output`, copying the audio without encoding it again.
    async fn join(&self, inputs: &[std::path::PathBuf], output: &Path) -> Result<(), MediaError>;
}
