//! Live streaming resources (seed 004): an output `profile`, a `playlist` of
//! assets, and a `stream` that plays an input to one or more outputs.
//!
//! Secrets (`password`, `stream_key`) are stored as sent and only ever shown
//! masked (`mask`); a client that PUTs back a masked value keeps the stored
//! secret (`restore_secrets`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{import_url::is_public, resource::check_text, Guid, Invalid};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    #[default]
    Mp3,
    Aac,
    Opus,
    Flac,
}

impl AudioFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Aac => "aac",
            AudioFormat::Opus => "opus",
            AudioFormat::Flac => "flac",
        }
    }
    /// Sample rates the encoder takes.
    fn sample_rates(self) -> &'static [u32] {
        match self {
            AudioFormat::Mp3 | AudioFormat::Aac => &[22_050, 24_000, 32_000, 44_100, 48_000],
            AudioFormat::Opus => &[8_000, 12_000, 16_000, 24_000, 48_000],
            AudioFormat::Flac => &[22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000],
        }
    }
    /// Bits per second the encoder takes (flac is lossless: 0).
    fn bitrates(self) -> std::ops::RangeInclusive<u32> {
        match self {
            AudioFormat::Mp3 => 32_000..=320_000,
            AudioFormat::Aac => 32_000..=320_000,
            AudioFormat::Opus => 16_000..=256_000,
            AudioFormat::Flac => 0..=0,
        }
    }
}

/// A profile that does more than its source gives (see `Profile::mismatches`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    Upsampling,
    BitrateAboveSource,
    MonoToStereo,
}

/// An FFmpeg output profile: what every output of a stream is encoded as.
/// No free-form FFmpeg arguments: only what is checked here reaches FFmpeg.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub name: String,
    pub format: AudioFormat,
    /// Bits per second (0 for flac).
    #[serde(default)]
    pub bitrate: u32,
    pub sample_rate: u32,
    pub channels: u8,
    /// Length of an HLS segment in seconds (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls_segment_seconds: Option<u32>,
}

pub const DEFAULT_HLS_SEGMENT_SECONDS: u32 = 4;

impl Profile {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        check_text("name", &self.name, 0, 255)?;
        let f = self.format;
        if !f.bitrates().contains(&self.bitrate) {
            let (lo, hi) = (f.bitrates().start() / 1000, f.bitrates().end() / 1000);
            let message = if f == AudioFormat::Flac {
                "flac is lossless: bitrate must be 0 or left out".to_owned()
            } else {
                format!("{} takes {lo}k to {hi}k bits per second", f.as_str())
            };
            return Err(Invalid::new("bitrate", "profile.bitrate", message));
        }
        if !f.sample_rates().contains(&self.sample_rate) {
            return Err(Invalid::new("sample_rate", "profile.sample_rate", format!("{} takes sample rates {:?}", f.as_str(), f.sample_rates())));
        }
        if !(1..=2).contains(&self.channels) {
            return Err(Invalid::new("channels", "profile.channels", "channels is 1 or 2"));
        }
        if let Some(s) = self.hls_segment_seconds {
            if !(1..=30).contains(&s) {
                return Err(Invalid::new("hls_segment_seconds", "profile.hls_segment_seconds", "an HLS segment is 1 to 30 seconds"));
            }
        }
        Ok(())
    }

    pub fn hls_segment_seconds(&self) -> u32 {
        self.hls_segment_seconds.unwrap_or(DEFAULT_HLS_SEGMENT_SECONDS)
    }

    /// What this profile does to a source of these facts that costs and adds
    /// nothing (0 for a fact not known): each with `{profile, source}` when it
    /// compares numbers. Shown by the preview and the preflight.
    pub fn mismatches(&self, sample_rate: u32, bitrate: u64, channels: u8) -> Vec<(Mismatch, serde_json::Value)> {
        let mut out = Vec::new();
        if sample_rate > 0 && self.sample_rate > sample_rate {
            out.push((Mismatch::Upsampling, serde_json::json!({ "profile": self.sample_rate, "source": sample_rate })));
        }
        if self.bitrate > 0 && bitrate > 0 && u64::from(self.bitrate) > bitrate {
            out.push((Mismatch::BitrateAboveSource, serde_json::json!({ "profile": self.bitrate, "source": bitrate })));
        }
        if channels == 1 && self.channels == 2 {
            out.push((Mismatch::MonoToStereo, serde_json::json!({})));
        }
        out
    }

    /// Whether an output of `kind` can carry this profile: `Err` names why not.
    pub fn carried_by(&self, kind: OutputKind) -> Result<(), &'static str> {
        match (kind, self.format) {
            (OutputKind::Icecast, AudioFormat::Flac) => Err("Icecast takes mp3, aac or opus, not flac"),
            (OutputKind::Rtmp, AudioFormat::Opus | AudioFormat::Flac) => Err("RTMP (FLV) takes mp3 or aac"),
            (OutputKind::Rtmp, AudioFormat::Mp3) if ![22_050, 44_100].contains(&self.sample_rate) => {
                Err("mp3 over RTMP (FLV) needs a sample rate of 44100 or 22050")
            }
            (OutputKind::Hls, AudioFormat::Opus | AudioFormat::Flac) => Err("HLS takes aac or mp3"),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaylistItem {
    pub asset: Guid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Ordered assets of the production, played one after the other.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Playlist {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub items: Vec<PlaylistItem>,
}

pub const MAX_PLAYLIST_ITEMS: usize = 500;

impl Playlist {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        check_text("title", &self.title, 0, 255)?;
        if self.items.len() > MAX_PLAYLIST_ITEMS {
            return Err(Invalid::new("items", "field.too_long", format!("a playlist has at most {MAX_PLAYLIST_ITEMS} items")));
        }
        for (i, item) in self.items.iter().enumerate() {
            if let Some(t) = &item.title {
                check_text("title", t, 0, 255).map_err(|e| e.within(&format!("items[{i}]")))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tone {
    /// Hertz, 20 to 20000.
    pub frequency: u32,
}

/// What a stream plays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum StreamInput {
    /// A playlist of this production.
    Playlist(Guid),
    /// A live source to relay (Icecast or HTTP audio), fetched by the worker's guarded client.
    Url(String),
    /// A test signal for rehearsals.
    Tone(Tone),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    Hls,
    Icecast,
    Rtmp,
}

impl OutputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Hls => "hls",
            OutputKind::Icecast => "icecast",
            OutputKind::Rtmp => "rtmp",
        }
    }
}

/// Where a stream goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StreamOutput {
    /// Published by PodOps itself in the public store.
    Hls {},
    /// `icecast://host:port/mount`, logging in as `source` with `password`.
    Icecast { url: String, password: String },
    /// `rtmp://host[:port]/app` (or rtmps), publishing `stream_key`.
    Rtmp { url: String, stream_key: String },
}

impl StreamOutput {
    pub fn kind(&self) -> OutputKind {
        match self {
            StreamOutput::Hls {} => OutputKind::Hls,
            StreamOutput::Icecast { .. } => OutputKind::Icecast,
            StreamOutput::Rtmp { .. } => OutputKind::Rtmp,
        }
    }
    pub fn secret(&self) -> Option<&str> {
        match self {
            StreamOutput::Hls {} => None,
            StreamOutput::Icecast { password, .. } => Some(password),
            StreamOutput::Rtmp { stream_key, .. } => Some(stream_key),
        }
    }
    fn secret_mut(&mut self) -> Option<&mut String> {
        match self {
            StreamOutput::Hls {} => None,
            StreamOutput::Icecast { password, .. } => Some(password),
            StreamOutput::Rtmp { stream_key, .. } => Some(stream_key),
        }
    }
    pub fn url(&self) -> Option<&str> {
        match self {
            StreamOutput::Hls {} => None,
            StreamOutput::Icecast { url, .. } | StreamOutput::Rtmp { url, .. } => Some(url),
        }
    }
}

/// A stream's definition. Its run state (desired, status) lives in its
/// own record, written by the control routes and the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    #[serde(default)]
    pub title: String,
    pub profile: Guid,
    pub input: StreamInput,
    pub outputs: Vec<StreamOutput>,
    #[serde(default, rename = "loop")]
    pub looped: bool,
    /// Listed in its show's feed as `podcast:liveItem` (scheduled, live, ended).
    #[serde(default)]
    pub show_feed: bool,
    /// Also writes a recording, in segments kept as they close: when the
    /// stream stops it becomes an asset (`rel: recording`).
    #[serde(default)]
    pub record: bool,
    /// Publishes each finished recording as an episode (needs `record`).
    #[serde(default)]
    pub publish_recordings: bool,
    /// Server-owned, shown on reads: what the user asked for last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<super::live::Desired>,
    /// Server-owned, shown on reads: the run's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<super::live::LiveState>,
}

pub const MAX_OUTPUTS: usize = 8;
/// What a masked secret starts with.
pub const MASK: &str = "••••";

/// `••••` plus the last 4 characters (fewer of a short secret, so a short
/// secret is never shown whole).
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    let shown = if n >= 12 { 4 } else { n / 3 };
    let tail: String = secret.chars().skip(n - shown).collect();
    format!("{MASK}{tail}")
}

impl Stream {
    pub(crate) fn validate(&self, allowed: &[IpAddr]) -> Result<(), Invalid> {
        check_text("title", &self.title, 0, 255)?;
        match &self.input {
            StreamInput::Url(u) => check_source_url(u, allowed).map_err(|e| e.within("input"))?,
            StreamInput::Tone(t) if !(20..=20_000).contains(&t.frequency) => {
                return Err(Invalid::new("input.tone.frequency", "stream.tone", "a tone's frequency is 20 to 20000 Hz"));
            }
            _ => {}
        }
        if self.publish_recordings && !self.record {
            return Err(Invalid::new("publish_recordings", "stream.publish_without_record", "only a stream with record: true has recordings to publish"));
        }
        if self.outputs.is_empty() || self.outputs.len() > MAX_OUTPUTS {
            return Err(Invalid::new("outputs", "stream.outputs", format!("a stream has 1 to {MAX_OUTPUTS} outputs")));
        }
        if self.outputs.iter().filter(|o| o.kind() == OutputKind::Hls).count() > 1 {
            return Err(Invalid::new("outputs", "stream.outputs", "a stream has at most one hls output"));
        }
        for (i, o) in self.outputs.iter().enumerate() {
            check_output(o, allowed).map_err(|e| e.within(&format!("outputs[{i}]")))?;
        }
        Ok(())
    }

    /// The masked form clients see.
    pub fn masked(&self) -> Stream {
        let mut s = self.clone();
        for o in &mut s.outputs {
            if let Some(secret) = o.secret_mut() {
                *secret = mask(secret);
            }
        }
        s
    }

    /// A client that PUTs back what it read sends masked secrets: those keep
    /// the stored secret of the same output (same position, kind and URL).
    pub fn restore_secrets(&mut self, stored: &Stream) -> Result<(), Invalid> {
        for (i, o) in self.outputs.iter_mut().enumerate() {
            let (kind, url) = (o.kind(), o.url().map(str::to_owned));
            let Some(secret) = o.secret_mut() else { continue };
            if !secret.starts_with(MASK) {
                continue;
            }
            let same = stored.outputs.get(i).filter(|s| s.kind() == kind && s.url().map(str::to_owned) == url);
            match same.and_then(StreamOutput::secret) {
                Some(old) if mask(old) == *secret => *secret = old.to_owned(),
                _ => {
                    return Err(Invalid::new(
                        format!("outputs[{i}]"),
                        "stream.secret_masked",
                        "a masked secret only stands for the stored one of the same output; send the secret itself",
                    ))
                }
            }
        }
        Ok(())
    }
}

fn check_source_url(u: &str, allowed: &[IpAddr]) -> Result<(), Invalid> {
    let parsed = url::Url::parse(u).map_err(|_| Invalid::new("url", "stream.source_url", "the source is an http(s) URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Invalid::new("url", "stream.forbidden_scheme", "the source is an http(s) URL"));
    }
    check_host(&parsed, allowed).map_err(|e| e.within("url"))
}

fn check_output(o: &StreamOutput, allowed: &[IpAddr]) -> Result<(), Invalid> {
    let (schemes, secret_field): (&[&str], &str) = match o {
        StreamOutput::Hls {} => return Ok(()),
        StreamOutput::Icecast { .. } => (&["icecast"], "password"),
        StreamOutput::Rtmp { .. } => (&["rtmp", "rtmps"], "stream_key"),
    };
    let raw = o.url().unwrap_or("");
    let expected = schemes.join(" or ");
    // Never echo the URL: it may hold a secret the client put in by mistake.
    let parsed = url::Url::parse(raw).map_err(|_| Invalid::new("url", "stream.output_url", format!("the url is a {expected}:// URL")))?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(Invalid::new("url", "stream.forbidden_scheme", format!("the url is a {expected}:// URL")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Invalid::new("url", "stream.url_credentials", format!("put the secret in '{secret_field}', not in the url")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Invalid::new("url", "stream.output_url", "the url has no query or fragment"));
    }
    check_host(&parsed, allowed).map_err(|e| e.within("url"))?;
    let path = parsed.path().trim_matches('/');
    match o {
        StreamOutput::Icecast { .. } if path.is_empty() || path.contains('/') || !path.bytes().all(mount_char) => {
            return Err(Invalid::new("url", "stream.output_url", "an icecast url names one mount: icecast://host:port/mount"));
        }
        StreamOutput::Rtmp { .. } if path.is_empty() => {
            return Err(Invalid::new("url", "stream.output_url", "an rtmp url names an application: rtmp://host/app"));
        }
        _ => {}
    }
    let secret = o.secret().unwrap_or("");
    let n = secret.chars().count();
    if !(1..=255).contains(&n) || secret.chars().any(char::is_control) {
        return Err(Invalid::new(secret_field, "stream.secret", format!("{secret_field} is 1 to 255 printable characters")));
    }
    Ok(())
}

fn mount_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-".contains(&b)
}

/// An IP literal must be public (or allowed by the operator); names are
/// checked by the worker when it resolves them, right before connecting.
pub(crate) fn check_host(u: &url::Url, allowed: &[IpAddr]) -> Result<(), Invalid> {
    let ip = match u.host() {
        None => return Err(Invalid::new("", "stream.url_host", "the url names a host")),
        Some(url::Host::Domain(d)) => {
            // Non-special schemes (icecast, rtmp) keep IP literals as opaque names.
            if let Ok(ip) = d.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                ip
            } else if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") {
                IpAddr::from([127, 0, 0, 1])
            } else {
                return Ok(());
            }
        }
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
    };
    if is_public(ip) || allowed.contains(&ip) {
        Ok(())
    } else {
        Err(Invalid::new("", "stream.forbidden_address", "the url points at a private, loopback or link-local address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stream(v: serde_json::Value) -> Result<Stream, String> {
        let s: Stream = serde_json::from_value(v).map_err(|e| e.to_string())?;
        s.validate(&[]).map_err(|e| e.code.to_owned())?;
        Ok(s)
    }

    #[test]
    fn profiles_are_checked_against_their_format() {
        let p = |v| serde_json::from_value::<Profile>(v).unwrap().validate().map_err(|e| e.code);
        assert_eq!(p(json!({"format": "mp3", "bitrate": 128000, "sample_rate": 44100, "channels": 2})), Ok(()));
        assert_eq!(p(json!({"format": "mp3", "bitrate": 448000, "sample_rate": 44100, "channels": 2})), Err("profile.bitrate"));
        assert_eq!(p(json!({"format": "opus", "bitrate": 64000, "sample_rate": 44100, "channels": 2})), Err("profile.sample_rate"));
        assert_eq!(p(json!({"format": "flac", "bitrate": 128000, "sample_rate": 44100, "channels": 2})), Err("profile.bitrate"));
        assert_eq!(p(json!({"format": "aac", "bitrate": 64000, "sample_rate": 48000, "channels": 3})), Err("profile.channels"));
        let flac: Profile = serde_json::from_value(json!({"format": "flac", "sample_rate": 48000, "channels": 2})).unwrap();
        assert!(flac.carried_by(OutputKind::Icecast).is_err() && flac.carried_by(OutputKind::Rtmp).is_err());
        let mp3_48k: Profile = serde_json::from_value(json!({"format": "mp3", "bitrate": 64000, "sample_rate": 48000, "channels": 1})).unwrap();
        assert!(mp3_48k.carried_by(OutputKind::Rtmp).is_err() && mp3_48k.carried_by(OutputKind::Icecast).is_ok());
    }

    #[test]
    fn outputs_refuse_other_schemes_credentials_in_urls_and_private_addresses() {
        let base = |o: serde_json::Value| json!({"profile": "0123456789ab", "input": {"tone": {"frequency": 440}}, "outputs": [o]});
        assert!(stream(base(json!({"kind": "hls"}))).is_ok());
        assert_eq!(stream(base(json!({"kind": "icecast", "url": "file:///etc/passwd", "password": "x"}))), Err("stream.forbidden_scheme".into()));
        assert_eq!(stream(base(json!({"kind": "icecast", "url": "icecast://source:pw@example.com:8000/live", "password": "x"}))), Err("stream.url_credentials".into()));
        assert_eq!(stream(base(json!({"kind": "icecast", "url": "icecast://10.0.0.5:8000/live", "password": "x"}))), Err("stream.forbidden_address".into()));
        assert_eq!(stream(base(json!({"kind": "rtmp", "url": "rtmp://localhost/live", "stream_key": "k"}))), Err("stream.forbidden_address".into()));
        assert_eq!(stream(base(json!({"kind": "rtmp", "url": "rtmp://example.com/live", "stream_key": ""}))), Err("stream.secret".into()));
        assert!(stream(base(json!({"kind": "rtmp", "url": "rtmps://live.example.com/app", "stream_key": "k"}))).is_ok());
        let allowed: Stream = serde_json::from_value(base(json!({"kind": "icecast", "url": "icecast://127.0.0.1:8000/live", "password": "x"}))).unwrap();
        assert!(allowed.validate(&[IpAddr::from([127, 0, 0, 1])]).is_ok());
        assert!(stream(json!({"profile": "0123456789ab", "input": {"url": "ftp://example.com/a"}, "outputs": [{"kind": "hls"}]})).is_err());
    }

    #[test]
    fn secrets_are_masked_and_a_masked_value_keeps_the_stored_secret() {
        let stored = stream(json!({"profile": "0123456789ab", "input": {"tone": {"frequency": 440}},
            "outputs": [{"kind": "icecast", "url": "icecast://example.com:8000/live", "password": "hunter2/%2Fsecret"}]})).unwrap();
        let shown = stored.masked();
        assert_eq!(shown.outputs[0].secret(), Some("••••cret"));
        let mut back = shown.clone();
        back.restore_secrets(&stored).unwrap();
        assert_eq!(back, stored);
        let StreamOutput::Icecast { url, .. } = &mut back.outputs[0] else { unreachable!() };
        *url = "icecast://other.example.com:8000/live".into();
        let mut moved = shown;
        moved.outputs = back.outputs.clone();
        if let Some(s) = moved.outputs[0].secret_mut() { *s = "••••cret".into() }
        assert_eq!(moved.restore_secrets(&stored).unwrap_err().code, "stream.secret_masked");
        assert_eq!(mask("abc"), "••••c");
    }
}
