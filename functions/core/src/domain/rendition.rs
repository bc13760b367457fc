//! Renditions on request (seed 003): which formats, bitrates, channel counts
//! and loudness targets a client may ask for, and how a request is matched
//! to what the source can give ("exact" or "the closest quality").

use serde::{Deserialize, Serialize};

use super::{Invalid, Probe};

/// The formats a rendition can be made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RenditionFormat {
    Mp3,
    /// AAC in an MPEG-4 audio file (.m4a).
    Aac,
    /// Opus in Ogg.
    Ogg,
    Flac,
    Wav,
}

impl RenditionFormat {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "mp3" => Ok(Self::Mp3),
            "aac" | "m4a" => Ok(Self::Aac),
            "ogg" | "opus" => Ok(Self::Ogg),
            "flac" => Ok(Self::Flac),
            "wav" => Ok(Self::Wav),
            _ => Err(Invalid::new("format", "rendition.format", "format is one of mp3, aac, ogg, flac, wav")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Aac => "aac",
            Self::Ogg => "ogg",
            Self::Flac => "flac",
            Self::Wav => "wav",
        }
    }
    /// Lossless formats carry no bitrate choice.
    pub fn is_lossless(self) -> bool {
        matches!(self, Self::Flac | Self::Wav)
    }
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Aac => "m4a",
            Self::Ogg => "ogg",
            Self::Flac => "flac",
            Self::Wav => "wav",
        }
    }
    /// One of the media types `MediaRules` accepts, so renditions are served like uploads.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Aac => "audio/mp4",
            Self::Ogg => "audio/ogg",
            Self::Flac => "audio/flac",
            Self::Wav => "audio/wav",
        }
    }
}

/// Bitrates seed 003 supports, in bits per second.
pub const BITRATES: [u32; 7] = [64_000, 80_000, 96_000, 128_000, 160_000, 256_000, 320_000];

pub fn parse_bitrate(s: &str) -> Result<u32, Invalid> {
    s.parse::<u32>().ok().filter(|b| BITRATES.contains(b)).ok_or_else(|| {
        Invalid::new("bitrate", "rendition.bitrate", "bitrate is one of 64000, 80000, 96000, 128000, 160000, 256000, 320000")
    })
}

pub fn parse_channels(s: &str) -> Result<u8, Invalid> {
    match s {
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err(Invalid::new("channels", "rendition.channels", "channels is 1 or 2")),
    }
}

/// An integrated loudness target in LUFS (whole dB): podcast targets are
/// around -16 (Apple) to -19 (mono) and -23/-24 (broadcast).
pub fn parse_loudness(s: &str) -> Result<i8, Invalid> {
    s.parse::<i8>().ok().filter(|l| (-31..=-5).contains(l)).ok_or_else(|| {
        Invalid::new("loudness", "rendition.loudness", "loudness is a target in whole LUFS from -31 to -5, e.g. -16")
    })
}

/// The true peak every loudness-normalised rendition stays under, in dBTP.
pub const TRUE_PEAK_CEILING: f64 = -1.0;

/// A rendition exactly as it will be made. Its `name` is part of the job id
/// and the object key, so one spec is only ever made once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RenditionSpec {
    pub format: RenditionFormat,
    /// Bits per second; 0 for lossless formats.
    pub bitrate: u32,
    pub channels: u8,
    /// Integrated loudness target in LUFS, if normalised.
    pub loudness: Option<i8>,
}

impl RenditionSpec {
    /// e.g. `mp3-128000-2` or `ogg-64000-1-l16`: safe in keys and job ids.
    pub fn name(&self) -> String {
        let base = format!("{}-{}-{}", self.format.as_str(), self.bitrate, self.channels);
        match self.loudness {
            Some(l) => format!("{base}-l{}", l.unsigned_abs()),
            None => base,
        }
    }
}

/// What a client asked for (all optional; none at all means "the original").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenditionRequest {
    pub format: Option<RenditionFormat>,
    pub bitrate: Option<u32>,
    pub channels: Option<u8>,
    pub exact: bool,
    pub loudness: Option<i8>,
}

/// The outcome of matching a request against the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// Serve the stored original.
    Original,
    Rendition(RenditionSpec),
    /// `exact` was asked and the source cannot give it.
    LowQuality { field: &'static str },
}

/// Default bitrate of a lossy rendition when the client names only a format.
const DEFAULT_BITRATE: u32 = 128_000;
/// VBR sources measure a little under their nominal rate (a "128k" MP3 may
/// probe at 127.4k); requests within this ratio count as supported.
const BITRATE_TOLERANCE: f64 = 1.05;

fn source_is_lossless(probe: &Probe) -> bool {
    probe.codec == "flac" || probe.codec.starts_with("pcm_")
}

impl RenditionRequest {
    pub fn is_empty(&self) -> bool {
        self.format.is_none() && self.bitrate.is_none() && self.channels.is_none() && self.loudness.is_none()
    }

    /// Seed 003: with `exact`, a source of lower quality is an error; without
    /// it, the closest quality the source supports (the highest supported
    /// bitrate not above the source's, no more channels than it has).
    pub fn match_source(&self, probe: &Probe) -> Result<Matched, Invalid> {
        if self.is_empty() {
            return Ok(Matched::Original);
        }
        let format = self.format.ok_or_else(|| {
            Invalid::new("format", "rendition.format_required", "name a format (mp3, aac, ogg, flac, wav) with bitrate, channels or loudness")
        })?;
        let lossless_source = source_is_lossless(probe);
        let source_channels = probe.channels.clamp(1, 2);
        let wanted_channels = self.channels.unwrap_or(source_channels);
        if self.exact && wanted_channels > probe.channels {
            return Ok(Matched::LowQuality { field: "channels" });
        }
        if self.exact && format.is_lossless() && !lossless_source {
            return Ok(Matched::LowQuality { field: "format" });
        }
        let channels = wanted_channels.min(source_channels);
        let bitrate = if format.is_lossless() {
            0
        } else {
            let wanted = self.bitrate.unwrap_or(DEFAULT_BITRATE);
            let supported = lossless_source || f64::from(wanted) <= probe.bitrate as f64 * BITRATE_TOLERANCE;
            if supported {
                wanted
            } else if self.exact {
                return Ok(Matched::LowQuality { field: "bitrate" });
            } else {
                let ceiling = probe.bitrate as f64 * BITRATE_TOLERANCE;
                BITRATES.iter().rev().copied().find(|b| f64::from(*b) <= ceiling).unwrap_or(BITRATES[0])
            }
        };
        Ok(Matched::Rendition(RenditionSpec { format, bitrate, channels, loudness: self.loudness }))
    }
}

/// The gain (dB) that brings a source measured at `lufs` to `target` in one
/// encode pass, and whether a limiter must hold the true peak under the
/// ceiling (the gain alone would push `true_peak` over it).
pub fn loudness_gain(target: i8, lufs: Option<f64>, true_peak: Option<f64>) -> (f64, bool) {
    // Silence measures -70 LUFS (the gate); amplifying it would only raise
    // noise, so the gain is bounded.
    let Some(lufs) = lufs.filter(|l| l.is_finite() && *l > -70.0) else { return (0.0, false) };
    let gain = (f64::from(target) - lufs).clamp(-40.0, 24.0);
    // Lossy encoders overshoot peaks a little; keep half a dB of headroom.
    let needs_limiter = true_peak.is_none_or(|tp| tp + gain > TRUE_PEAK_CEILING - 0.5);
    (gain, needs_limiter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp3_128k_stereo() -> Probe {
        Probe { format: "mp3".into(), codec: "mp3".into(), duration: 60.0, bitrate: 128_000, channels: 2, sample_rate: 44_100, ..Default::default() }
    }

    fn req(format: &str, bitrate: Option<u32>, channels: Option<u8>, exact: bool) -> RenditionRequest {
        RenditionRequest { format: Some(RenditionFormat::parse(format).unwrap()), bitrate, channels, exact, loudness: None }
    }

    #[test]
    fn no_parameters_mean_the_original() {
        assert_eq!(RenditionRequest::default().match_source(&mp3_128k_stereo()).unwrap(), Matched::Original);
    }

    #[test]
    fn exact_requests_above_the_source_are_low_quality() {
        let p = mp3_128k_stereo();
        assert_eq!(req("mp3", Some(320_000), None, true).match_source(&p).unwrap(), Matched::LowQuality { field: "bitrate" });
        assert_eq!(req("flac", None, None, true).match_source(&p).unwrap(), Matched::LowQuality { field: "format" });
        let mono = Probe { channels: 1, ..p };
        assert_eq!(req("mp3", Some(64_000), Some(2), true).match_source(&mono).unwrap(), Matched::LowQuality { field: "channels" });
    }

    #[test]
    fn without_exact_the_closest_supported_quality_is_chosen() {
        let p = mp3_128k_stereo();
        let Matched::Rendition(spec) = req("ogg", Some(320_000), None, false).match_source(&p).unwrap() else { panic!() };
        assert_eq!((spec.bitrate, spec.channels), (128_000, 2));
        let low = Probe { bitrate: 70_000, ..p.clone() };
        let Matched::Rendition(spec) = req("mp3", Some(256_000), Some(1), false).match_source(&low).unwrap() else { panic!() };
        assert_eq!((spec.bitrate, spec.channels), (64_000, 1));
        let Matched::Rendition(spec) = req("wav", Some(64_000), None, false).match_source(&p).unwrap() else { panic!() };
        assert_eq!((spec.bitrate, spec.name()), (0, "wav-0-2".to_owned()));
    }

    #[test]
    fn a_lossless_source_supports_every_bitrate() {
        let wav = Probe { codec: "pcm_s16le".into(), format: "wav".into(), bitrate: 1_411_200, ..mp3_128k_stereo() };
        let Matched::Rendition(spec) = req("aac", Some(320_000), Some(1), true).match_source(&wav).unwrap() else { panic!() };
        assert_eq!(spec.name(), "aac-320000-1");
    }

    #[test]
    fn a_format_is_required_with_other_parameters() {
        let r = RenditionRequest { bitrate: Some(64_000), ..Default::default() };
        assert_eq!(r.match_source(&mp3_128k_stereo()).unwrap_err().code, "rendition.format_required");
    }

    #[test]
    fn parameters_outside_the_closed_sets_are_refused() {
        assert_eq!(parse_bitrate("100000").unwrap_err().field, "bitrate");
        assert_eq!(parse_channels("6").unwrap_err().field, "channels");
        assert_eq!(RenditionFormat::parse("exe").unwrap_err().field, "format");
        assert_eq!(parse_loudness("-70").unwrap_err().field, "loudness");
        assert_eq!(parse_loudness("-16").unwrap(), -16);
    }

    #[test]
    fn loudness_gain_comes_from_the_measurement_and_respects_the_peak() {
        assert_eq!(loudness_gain(-16, Some(-22.0), Some(-10.0)), (6.0, false));
        let (gain, limit) = loudness_gain(-16, Some(-22.0), Some(-3.0));
        assert_eq!((gain, limit), (6.0, true));
        assert_eq!(loudness_gain(-16, Some(-70.0), Some(-80.0)), (0.0, false));
    }
}
