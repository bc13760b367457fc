//! The media tool on FFmpeg 5.1: ffprobe for facts, ebur128 for loudness,
//! ffmpeg for renditions. Hardened: only local files (`-protocol_whitelist
//! file`, paths given as `file:`), only the accepted demuxers (no playlist or
//! concat demuxer can open another file), the input format forced from the
//! probe, a wall-clock limit, and the process killed when the job is dropped.
//!
//! Processes are spawned with `tokio::process` rather than `ffmpeg-sidecar`:
//! kill-on-drop and an async time limit come built in, and no blocking thread
//! per job is needed to read events; the one event needed (ebur128's summary)
//! is read from the log tail.

use std::{ffi::OsString, path::{Path, PathBuf}, time::Duration};

use async_trait::async_trait;
use podops_core::{
    domain::{Probe, RenditionFormat},
    ports::{EncodePlan, MediaError, MediaTool},
};

use crate::{probe, process};

/// Decoding may end this much short of the declared duration (encoder
/// padding, rounding) before the file counts as truncated.
const TRUNCATION_SLACK: f64 = 0.5;
const TRUNCATION_RATIO: f64 = 0.98;

#[derive(Debug, Clone)]
pub struct Ffmpeg {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    /// Wall-clock limit of one FFmpeg run.
    pub time_limit: Duration,
}

impl Default for Ffmpeg {
    fn default() -> Self {
        Self { ffmpeg: "ffmpeg".into(), ffprobe: "ffprobe".into(), time_limit: Duration::from_secs(3600) }
    }
}

fn file_arg(path: &Path) -> OsString {
    // `file:` pins the protocol even if a name contains ':'.
    let mut arg = OsString::from("file:");
    arg.push(path.as_os_str());
    arg
}

fn args(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

/// The input side every FFmpeg run shares.
fn input_args(input: &Path, demuxer: Option<&str>) -> Vec<OsString> {
    let mut a = args(&["-nostdin", "-hide_banner", "-protocol_whitelist", "file", "-format_whitelist", probe::DEMUXERS]);
    if let Some(d) = demuxer {
        a.extend(args(&["-f", d]));
    }
    a.push("-i".into());
    a.push(file_arg(input));
    a
}

/// The complete ffmpeg arguments of a rendition (public so the benchmark can
/// run bare ffmpeg with exactly the same ones).
pub fn transcode_args(input: &Path, source: &Probe, plan: &EncodePlan, output: &Path) -> Result<Vec<OsString>, MediaError> {
    let demuxer = probe::demuxer_of(&source.format).ok_or_else(|| MediaError::input("media.unsupported", format!("format {}", source.format)))?;
    let mut a = input_args(input, Some(demuxer));
    a.extend(args(&["-v", "error", "-nostats", "-map", "0:a:0", "-map_metadata", "-1", "-vn", "-sn", "-dn"]));
    let mut filters = Vec::new();
    if plan.gain_db != 0.0 {
        filters.push(format!("volume={:.2}dB", plan.gain_db));
    }
    if let Some(ceiling) = plan.peak_ceiling {
        // alimiter holds sample peaks; one more dB covers inter-sample and codec overshoot.
        let limit = 10f64.powf((ceiling - 1.0) / 20.0).clamp(0.0625, 1.0);
        filters.push(format!("alimiter=limit={limit:.4}:level=0:attack=5:release=50"));
    }
    if !filters.is_empty() {
        a.push("-af".into());
        a.push(filters.join(",").into());
    }
    a.extend(args(&["-ac", &plan.channels.to_string()]));
    let rate = match plan.format {
        RenditionFormat::Ogg => Some(48_000),
        RenditionFormat::Mp3 | RenditionFormat::Aac if source.sample_rate > 48_000 => Some(48_000),
        _ => None,
    };
    if let Some(r) = rate {
        a.extend(args(&["-ar", &r.to_string()]));
    }
    let bitrate = plan.bitrate.to_string();
    let codec: &[&str] = match plan.format {
        RenditionFormat::Mp3 => &["-c:a", "libmp3lame", "-b:a", &bitrate, "-f", "mp3"],
        RenditionFormat::Aac => &["-c:a", "aac", "-b:a", &bitrate, "-movflags", "+faststart", "-f", "ipod"],
        RenditionFormat::Ogg => &["-c:a", "libopus", "-b:a", &bitrate, "-f", "ogg"],
        RenditionFormat::Flac => &["-c:a", "flac", "-f", "flac"],
        RenditionFormat::Wav => &["-c:a", "pcm_s16le", "-f", "wav"],
    };
    a.extend(args(codec));
    a.push("-y".into());
    a.push(file_arg(output));
    Ok(a)
}

impl Ffmpeg {
    async fn ffprobe(&self, input: &Path) -> Result<Probe, MediaError> {
        let mut a = args(&["-v", "error", "-protocol_whitelist", "file", "-format_whitelist", probe::DEMUXERS]);
        a.extend(args(&["-print_format", "json", "-show_format", "-show_streams"]));
        a.push(file_arg(input));
        let out = process::run(&self.ffprobe, &a, self.time_limit.min(Duration::from_secs(120)), true).await?;
        if !out.success {
            // Unrecognised, or a demuxer outside the accepted set (hls, concat, text…).
            return Err(MediaError::input("media.unsupported", out.stderr_tail.join(" | ")));
        }
        let parsed: probe::FfprobeOutput =
            serde_json::from_str(&out.stdout).map_err(|e| MediaError::input("media.unsupported", format!("ffprobe output: {e}")))?;
        probe::facts(&parsed)
    }

    /// Decodes the whole file once: ebur128 loudness and the real duration.
    async fn measure(&self, input: &Path, facts: &Probe) -> Result<(probe::Loudness, f64), MediaError> {
        let mut a = input_args(input, probe::demuxer_of(&facts.format));
        a.extend(args(&["-nostats", "-map", "0:a:0", "-filter:a", "ebur128=peak=true", "-progress", "pipe:1", "-f", "null", "-"]));
        let out = process::run(&self.ffmpeg, &a, self.time_limit, false).await?;
        if !out.success {
            return Err(MediaError::input("media.invalid", "the audio does not decode"));
        }
        let loudness = probe::loudness(&out.stderr_tail).ok_or_else(|| MediaError::input("media.invalid", "no loudness summary"))?;
        let decoded = probe::decoded_seconds(&out.stdout).unwrap_or(0.0);
        Ok((loudness, decoded))
    }
}

#[async_trait]
impl MediaTool for Ffmpeg {
    async fn probe(&self, input: &Path) -> Result<Probe, MediaError> {
        let size = tokio::fs::metadata(input).await.map_err(|e| MediaError::transient("media.io", e.to_string()))?.len();
        if size == 0 {
            return Err(MediaError::input("media.empty", "the file is empty"));
        }
        let mut facts = self.ffprobe(input).await?;
        if facts.format == "wav" {
            let head = read_head(input).await?;
            if probe::wav_declared_seconds(&head).is_some_and(|declared| declared > facts.duration * 1.01 + 1.0) {
                return Err(MediaError::input("media.truncated", "the WAV header claims more audio than the file holds"));
            }
        }
        let (loudness, decoded) = self.measure(input, &facts).await?;
        if decoded < facts.duration * TRUNCATION_RATIO - TRUNCATION_SLACK {
            return Err(MediaError::input("media.truncated", format!("declares {:.1} s, decodes {decoded:.1} s", facts.duration)));
        }
        facts.lufs = loudness.integrated;
        facts.loudness_range = loudness.range;
        facts.true_peak = loudness.true_peak;
        Ok(facts)
    }

    async fn transcode(&self, input: &Path, source: &Probe, plan: &EncodePlan, output: &Path) -> Result<(), MediaError> {
        let a = transcode_args(input, source, plan, output)?;
        // The exact command, so an operator (or the benchmark) can rerun it by hand.
        let command: Vec<String> = a.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        tracing::info!(command = %serde_json::Value::from(command), "ffmpeg transcode");
        let started = std::time::Instant::now();
        let out = process::run(&self.ffmpeg, &a, self.time_limit, false).await?;
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, success = out.success, "ffmpeg transcode ended");
        if out.success {
            Ok(())
        } else {
            Err(MediaError::input("media.transcode_failed", out.stderr_tail.join(" | ")))
        }
    }

    async fn join(&self, inputs: &[PathBuf], output: &Path) -> Result<(), MediaError> {
        let list = output.with_extension("list.txt");
        // The concat demuxer's list: each path quoted, its quotes escaped.
        let body: String = inputs.iter().map(|p| format!("file '{}'\n", p.display().to_string().replace('\'', "'\\''"))).collect();
        tokio::fs::write(&list, body).await.map_err(|e| MediaError::transient("media.io", e.to_string()))?;
        let a: Vec<OsString> = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-protocol_whitelist", "file", "-i"]
            .iter()
            .map(OsString::from)
            .chain([list.clone().into_os_string()])
            .chain(["-map", "0:a", "-c", "copy"].iter().map(OsString::from))
            .chain([output.as_os_str().to_owned()])
            .collect();
        let out = process::run(&self.ffmpeg, &a, self.time_limit, false).await;
        let _ = tokio::fs::remove_file(&list).await;
        let out = out?;
        if out.success {
            Ok(())
        } else {
            Err(MediaError::input("media.join_failed", out.stderr_tail.join(" | ")))
        }
    }
}

async fn read_head(path: &Path) -> Result<Vec<u8>, MediaError> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await.map_err(|e| MediaError::transient("media.io", e.to_string()))?;
    let mut head = Vec::with_capacity(4096);
    file.take(4096).read_to_end(&mut head).await.map_err(|e| MediaError::transient("media.io", e.to_string()))?;
    Ok(head)
}
