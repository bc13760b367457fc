//! The FFmpeg commands of a stream. A stream runs as one source process
//! (decodes the input to raw PCM on its stdout) and one encoder process per
//! output (raw PCM on stdin, the profile's codec to the output). The worker
//! carries the PCM between them, so it can send silence while paused or while
//! a source reconnects without the outputs ever disconnecting, and a failing
//! output never stops the others.
//!
//! Nothing from a client reaches these argv but checked values: the profile's
//! numbers, a public (or operator-allowed) IP address the worker resolved,
//! and the secret, which goes in `-password` (FFmpeg prints URLs in its error
//! lines, never that option) or as the RTMP stream key.

use std::path::Path;

use crate::domain::{AudioFormat, Profile};

/// Raw PCM between the processes: signed 16-bit little-endian, interleaved.
pub const PCM_FORMAT: &str = "s16le";

/// Bytes of one second of the profile's PCM.
pub fn pcm_bytes_per_second(profile: &Profile) -> u64 {
    u64::from(profile.sample_rate) * u64::from(profile.channels) * 2
}

/// What a source process reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Source<'a> {
    /// One playlist item, a local file.
    File(&'a Path),
    /// Bytes the worker fetched (a relayed URL) on stdin.
    Stdin,
    /// A sine tone.
    Tone(u32),
}

/// Where an encoder process writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target<'a> {
    /// `index.m3u8` and its segments in a local directory the worker publishes.
    Hls { dir: &'a Path, segment_seconds: u32 },
    /// `host` is the resolved address (`ip:port`); `mount` starts with `/`.
    Icecast { host: &'a str, mount: &'a str, password: &'a str },
    /// `url` is `rtmp://ip:port/app` (hostname kept for rtmps, for TLS).
    Rtmp { url: &'a str, stream_key: &'a str },
    /// The recording: closed segments of `segment_seconds` in `dir`, named
    /// `<prefix>-NNNNNN.<ext>` so they sort in the order they were recorded.
    Segments { dir: &'a Path, prefix: &'a str, segment_seconds: u32 },
    /// A dry run's stand-in for every output: one local file in the
    /// profile's container.
    File { path: &'a Path },
}

fn common() -> Vec<String> {
    ["-hide_banner", "-loglevel", "warning", "-nostats"].map(String::from).to_vec()
}

pub fn source_args(source: &Source<'_>, profile: &Profile) -> Vec<String> {
    let mut a = common();
    a.push("-nostdin".into());
    match source {
        Source::File(path) => {
            // Only local files, only audio containers: a playlist file can
            // never make FFmpeg open another file or a URL.
            a.extend(["-protocol_whitelist", "file", "-format_whitelist", "mp3,mov,ogg,flac,wav,aac"].map(String::from));
            a.push("-i".into());
            a.push(format!("file:{}", path.display()));
        }
        Source::Stdin => {
            a.pop(); // stdin is the input
            a.extend(["-protocol_whitelist", "pipe", "-i", "pipe:0"].map(String::from));
        }
        Source::Tone(f) => {
            a.extend(["-f", "lavfi", "-i"].map(String::from));
            a.push(format!("sine=frequency={f}:sample_rate={}", profile.sample_rate));
        }
    }
    a.extend(["-vn", "-map", "0:a:0?", "-ac"].map(String::from));
    a.push(profile.channels.to_string());
    a.push("-ar".into());
    a.push(profile.sample_rate.to_string());
    a.extend(["-f", PCM_FORMAT, "pipe:1"].map(String::from));
    a
}

/// The encoder name and the container for a format.
fn codec(format: AudioFormat) -> &'static str {
    match format {
        AudioFormat::Mp3 => "libmp3lame",
        AudioFormat::Aac => "aac",
        AudioFormat::Opus => "libopus",
        AudioFormat::Flac => "flac",
    }
}

pub fn encoder_args(profile: &Profile, target: &Target<'_>) -> Vec<String> {
    let mut a = common();
    a.extend(["-progress", "pipe:1", "-f", PCM_FORMAT, "-ar"].map(String::from));
    a.push(profile.sample_rate.to_string());
    a.push("-ac".into());
    a.push(profile.channels.to_string());
    a.extend(["-i", "pipe:0", "-c:a", codec(profile.format)].map(String::from));
    if profile.bitrate > 0 {
        a.push("-b:a".into());
        a.push(profile.bitrate.to_string());
    }
    a.push("-ar".into());
    a.push(profile.sample_rate.to_string());
    a.push("-ac".into());
    a.push(profile.channels.to_string());
    match target {
        Target::Hls { dir, segment_seconds } => {
            a.extend(["-f", "hls", "-hls_time"].map(String::from));
            a.push(segment_seconds.to_string());
            // Segment numbers from the clock: a restarted or taken-over run
            // never reuses a published segment's name.
            a.extend(["-hls_list_size", "6", "-hls_flags", "delete_segments+temp_file+independent_segments", "-hls_start_number_source", "epoch"].map(String::from));
            a.push("-hls_segment_filename".into());
            a.push(format!("{}/seg-%d.ts", dir.display()));
            a.push(format!("{}/index.m3u8", dir.display()));
        }
        Target::Icecast { host, mount, password } => {
            let (content_type, muxer) = match profile.format {
                AudioFormat::Mp3 => ("audio/mpeg", "mp3"),
                AudioFormat::Aac => ("audio/aac", "adts"),
                AudioFormat::Opus | AudioFormat::Flac => ("audio/ogg", "ogg"),
            };
            a.extend(["-content_type", content_type, "-password"].map(String::from));
            a.push(super::redact::percent_encode_all(password));
            a.extend(["-f", muxer].map(String::from));
            a.push(format!("icecast://source@{host}{mount}"));
        }
        Target::Rtmp { url, stream_key } => {
            a.extend(["-f", "flv"].map(String::from));
            a.push(format!("{}/{stream_key}", url.trim_end_matches('/')));
        }
        Target::Segments { dir, prefix, segment_seconds } => {
            let (_, ext, muxer) = crate::service::recording_format(profile.format);
            a.extend(["-f", "segment", "-segment_format", muxer, "-reset_timestamps", "1", "-segment_time"].map(String::from));
            a.push(segment_seconds.to_string());
            a.push(format!("{}/{prefix}-%06d.{ext}", dir.display()));
        }
        Target::File { path } => {
            let (_, _, muxer) = crate::service::recording_format(profile.format);
            a.extend(["-y", "-f", muxer].map(String::from));
            a.push(path.display().to_string());
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp3() -> Profile {
        Profile { name: "talk".into(), format: AudioFormat::Mp3, bitrate: 64_000, sample_rate: 44_100, channels: 1, hls_segment_seconds: None }
    }

    #[test]
    fn the_password_goes_in_an_option_not_the_url() {
        let a = encoder_args(&mp3(), &Target::Icecast { host: "127.0.0.1:8000", mount: "/live", password: "p/%w" });
        let url = a.last().unwrap();
        assert_eq!(url, "icecast://source@127.0.0.1:8000/live");
        let at = a.iter().position(|x| x == "-password").unwrap();
        assert_eq!(a[at + 1], "p%2F%25w");
        assert!(a.windows(2).any(|w| w[0] == "-b:a" && w[1] == "64000"));
    }

    #[test]
    fn recordings_are_cut_into_closed_segments() {
        let a = encoder_args(&mp3(), &Target::Segments { dir: Path::new("/scratch/rec"), prefix: "1700000000", segment_seconds: 10 });
        assert!(a.windows(2).any(|w| w[0] == "-segment_format" && w[1] == "mp3"));
        assert!(a.windows(2).any(|w| w[0] == "-segment_time" && w[1] == "10"));
        assert_eq!(a.last().unwrap(), "/scratch/rec/1700000000-%06d.mp3");
    }

    #[test]
    fn sources_decode_to_the_profiles_pcm() {
        let a = source_args(&Source::File(Path::new("/data/a.mp3")), &mp3());
        assert!(a.contains(&"file:/data/a.mp3".to_owned()) && a.contains(&"-protocol_whitelist".to_owned()));
        assert_eq!(&a[a.len() - 3..], ["-f", "s16le", "pipe:1"]);
        let tone = source_args(&Source::Tone(440), &mp3());
        assert!(tone.contains(&"sine=frequency=440:sample_rate=44100".to_owned()));
        assert_eq!(pcm_bytes_per_second(&mp3()), 88_200);
    }
}
