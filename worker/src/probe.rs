//! Reading ffprobe's JSON and ebur128's summary into probe facts, and the
//! closed set of audio formats PodOps accepts.

use podops_core::{domain::Probe, ports::MediaError};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct FfprobeOutput {
    #[serde(default)]
    pub streams: Vec<Stream>,
    pub format: Option<Format>,
}

#[derive(Debug, Deserialize)]
pub struct Stream {
    pub codec_type: Option<String>,
    pub codec_name: Option<String>,
    pub channels: Option<u8>,
    pub sample_rate: Option<String>,
    pub bit_rate: Option<String>,
    pub duration: Option<String>,
    #[serde(default)]
    pub disposition: Disposition,
}

#[derive(Debug, Default, Deserialize)]
pub struct Disposition {
    #[serde(default)]
    pub attached_pic: u8,
}

#[derive(Debug, Deserialize)]
pub struct Format {
    pub format_name: String,
    pub duration: Option<String>,
    pub bit_rate: Option<String>,
}

/// The demuxers PodOps lets FFmpeg use: each accepted container, and no
/// playlist or list format (hls, concat, …) that could open other files.
pub const DEMUXERS: &str = "mp3,mov,ogg,flac,wav,aac";

/// `(probe format, demuxer, codecs allowed in it)`.
const ACCEPTED: &[(&str, &str, &[&str])] = &[
    ("mp3", "mp3", &["mp3"]),
    ("m4a", "mov", &["aac"]),
    ("aac", "aac", &["aac"]),
    ("ogg", "ogg", &["vorbis", "opus", "flac"]),
    ("flac", "flac", &["flac"]),
    ("wav", "wav", &["pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8"]),
];

/// The demuxer to force when reading a file probed as `format`.
pub fn demuxer_of(format: &str) -> Option<&'static str> {
    ACCEPTED.iter().find(|(f, _, _)| *f == format).map(|(_, d, _)| *d)
}

fn number<T: std::str::FromStr>(s: &Option<String>) -> Option<T> {
    s.as_deref().and_then(|v| v.parse().ok())
}

/// The facts of an accepted audio file (loudness still unknown), or why it is refused.
pub fn facts(out: &FfprobeOutput) -> Result<Probe, MediaError> {
    let unsupported = |why: String| MediaError::input("media.unsupported", why);
    let format = out.format.as_ref().ok_or_else(|| unsupported("no container found".into()))?;
    let demuxer = format.format_name.split(',').next().unwrap_or("");
    let audio: Vec<&Stream> = out.streams.iter().filter(|s| s.codec_type.as_deref() == Some("audio")).collect();
    let moving_pictures = out.streams.iter().any(|s| s.codec_type.as_deref() == Some("video") && s.disposition.attached_pic == 0);
    let Some(stream) = audio.first() else { return Err(unsupported("no audio stream".into())) };
    if moving_pictures {
        return Err(unsupported("video is not audio".into()));
    }
    let codec = stream.codec_name.clone().unwrap_or_default();
    let name = ACCEPTED
        .iter()
        .find(|(_, d, codecs)| *d == demuxer && codecs.contains(&codec.as_str()))
        .map(|(f, _, _)| *f)
        .ok_or_else(|| unsupported(format!("{demuxer}/{codec} is not an accepted audio format")))?;
    let duration: f64 = number(&format.duration).or_else(|| number(&stream.duration)).unwrap_or(0.0);
    if !duration.is_finite() || duration <= 0.0 {
        return Err(MediaError::input("media.invalid", "no duration"));
    }
    let channels = stream.channels.unwrap_or(0);
    let sample_rate: u32 = number(&stream.sample_rate).unwrap_or(0);
    if channels == 0 || sample_rate == 0 {
        return Err(MediaError::input("media.invalid", "no channels or sample rate"));
    }
    let bitrate: u64 = number(&stream.bit_rate).or_else(|| number(&format.bit_rate)).unwrap_or(0);
    Ok(Probe { format: name.to_owned(), codec, duration, bitrate, channels, sample_rate, lufs: None, loudness_range: None, true_peak: None })
}

/// Loudness from ebur128's summary (the last lines of FFmpeg's log).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Loudness {
    pub integrated: Option<f64>,
    pub range: Option<f64>,
    pub true_peak: Option<f64>,
}

pub fn loudness(stderr_tail: &[String]) -> Option<Loudness> {
    let start = stderr_tail.iter().rposition(|l| l.contains("Summary:"))?;
    let mut out = Loudness::default();
    let value = |line: &str| line.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite());
    for line in &stderr_tail[start..] {
        let t = line.trim_start();
        if t.starts_with("I:") {
            out.integrated = value(t);
        } else if t.starts_with("LRA:") {
            out.range = value(t);
        } else if t.starts_with("Peak:") {
            out.true_peak = value(t);
        }
    }
    Some(out)
}

/// The decoded duration from `-progress` output (the last `out_time_us`).
pub fn decoded_seconds(progress: &str) -> Option<f64> {
    progress.lines().rev().find_map(|l| l.strip_prefix("out_time_us=")).and_then(|v| v.trim().parse::<f64>().ok()).map(|us| us / 1e6)
}

/// The duration a WAV file's header claims (data chunk size / byte rate).
/// FFmpeg trusts the file's real size instead, so a header that lies about
/// its length must be caught here.
pub fn wav_declared_seconds(head: &[u8]) -> Option<f64> {
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let (mut at, mut byte_rate) = (12usize, None);
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]) as usize;
        if id == b"fmt " && at + 20 <= head.len() {
            byte_rate = Some(u32::from_le_bytes([head[at + 16], head[at + 17], head[at + 18], head[at + 19]]));
        }
        if id == b"data" {
            return byte_rate.filter(|r| *r > 0).map(|r| size as f64 / f64::from(r));
        }
        at = at.checked_add(8 + size + (size & 1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebur128_summary_is_read() {
        let tail: Vec<String> = "[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -22.2 LUFS\n    Threshold: -32.2 LUFS\n\n  Loudness range:\n    LRA:         1.5 LU\n\n  True peak:\n    Peak:      -21.5 dBFS"
            .lines().map(str::to_owned).collect();
        assert_eq!(loudness(&tail), Some(Loudness { integrated: Some(-22.2), range: Some(1.5), true_peak: Some(-21.5) }));
        let silent: Vec<String> = vec!["Summary:".into(), "    Peak:       -inf dBFS".into()];
        assert_eq!(loudness(&silent).unwrap().true_peak, None);
    }

    #[test]
    fn a_wav_header_declares_its_length() {
        let mut h = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x44\xac\0\0\x88\x58\x01\0\x02\0\x10\0data".to_vec();
        h.extend_from_slice(&(10u32 * 3600 * 88_200).to_le_bytes());
        assert_eq!(wav_declared_seconds(&h), Some(36_000.0));
        assert_eq!(wav_declared_seconds(b"ID3junk"), None);
    }
}
