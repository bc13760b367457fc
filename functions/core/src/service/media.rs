//! Rules for media the server accepts and hands out: which types, how large,
//! how long a signed URL lives, and where an object is stored.

use crate::{
    domain::Guid,
    ports::BlobKey,
};

use super::ServiceError;

#[derive(Debug, Clone)]
pub struct MediaRules {
    /// Largest upload accepted, in bytes.
    pub max_upload: u64,
    /// Lifetime of the signed media URLs the API hands out, in seconds.
    pub url_ttl: i64,
    /// Non-public addresses the operator lets imports, stream sources and
    /// stream outputs reach (`--allow-address`); empty in production.
    pub allow_addresses: Vec<std::net::IpAddr>,
}

impl Default for MediaRules {
    fn default() -> Self {
        Self { max_upload: 4 << 30, url_ttl: 3600, allow_addresses: Vec::new() }
    }
}

/// Media types PodOps stores and serves, with the file extension it gives them.
/// Nothing a browser would run (HTML, SVG, scripts) is on the list, because
/// media is served from an origin that also serves the API.
const ACCEPTED: &[(&str, &str)] = &[
    ("audio/mpeg", "mp3"),
    ("audio/mp4", "m4a"),
    ("audio/x-m4a", "m4a"),
    ("audio/aac", "aac"),
    ("audio/ogg", "ogg"),
    ("audio/opus", "opus"),
    ("audio/flac", "flac"),
    ("audio/x-flac", "flac"),
    ("audio/wav", "wav"),
    ("audio/x-wav", "wav"),
    ("audio/wave", "wav"),
    ("video/mp4", "mp4"),
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/webp", "webp"),
    ("text/vtt", "vtt"),
    ("application/x-subrip", "srt"),
    ("application/srt", "srt"),
    ("text/plain", "txt"),
    ("application/json", "json"),
];

impl MediaRules {
    /// The media type to store an upload under: the declared one, or, when the
    /// client sent none or `application/octet-stream`, one guessed from the
    /// file name. Refuses anything not on the list.
    pub fn media_type(&self, declared: &str, filename: &str) -> Result<&'static str, ServiceError> {
        let declared = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let found = if declared.is_empty() || declared == "application/octet-stream" {
            let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
            ACCEPTED.iter().find(|(_, e)| *e == ext)
        } else {
            ACCEPTED.iter().find(|(t, _)| *t == declared)
        };
        found.map(|(t, _)| *t).ok_or_else(|| {
            ServiceError::UnsupportedMediaType(if declared.is_empty() { filename.to_owned() } else { declared })
        })
    }

    /// The audio type of an imported file: the declared type if it is audio,
    /// else the one its name stands for if that is audio (servers often
    /// declare `application/octet-stream` or worse).
    pub fn audio_type(&self, declared: &str, filename: &str) -> Option<&'static str> {
        let audio = |t: &&'static str| t.starts_with("audio/");
        self.media_type(declared, filename).ok().filter(audio).or_else(|| self.media_type("", filename).ok().filter(audio))
    }

    /// The media type an object key's extension stands for (the first listed).
    /// A signed PUT stores its bytes under this type, whatever the client
    /// sends, so nothing executable can be planted behind a media URL.
    pub fn media_type_of_key(&self, key: &str) -> Option<&'static str> {
        if key.starts_with("backups/uploads/") && key.ends_with(".tar") {
            return Some("application/x-tar"); // an archive brought to a restore
        }
        let ext = key.rsplit_once('.')?.1;
        ACCEPTED.iter().find(|(_, e)| *e == ext).map(|(t, _)| *t)
    }

    /// Every media type an upload may have.
    pub fn accepted_types() -> impl Iterator<Item = &'static str> {
        ACCEPTED.iter().map(|(t, _)| *t)
    }

    /// The file extension PodOps gives a media type.
    pub fn extension_of(&self, media_type: &str) -> Option<&'static str> {
        ACCEPTED.iter().find(|(t, _)| *t == media_type).map(|(_, e)| *e)
    }

    /// Where an uploaded asset's bytes live. The extension helps podcast apps
    /// that look at the enclosure URL.
    pub fn object_key(&self, prod: &Guid, asset: &Guid, media_type: &str) -> Result<BlobKey, ServiceError> {
        let ext = ACCEPTED.iter().find(|(t, _)| *t == media_type).map(|(_, e)| *e).unwrap_or("bin");
        Ok(BlobKey::parse(&format!("media/{prod}/{asset}.{ext}"))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_header_or_the_name() {
        let r = MediaRules::default();
        assert_eq!(r.media_type("audio/mpeg", "x").unwrap(), "audio/mpeg");
        assert_eq!(r.media_type("Audio/MPEG; charset=x", "x").unwrap(), "audio/mpeg");
        assert_eq!(r.media_type("application/octet-stream", "pilot.MP3").unwrap(), "audio/mpeg");
        assert_eq!(r.media_type("", "cover.png").unwrap(), "image/png");
        assert!(r.media_type("text/html", "x.html").is_err());
        assert!(r.media_type("image/svg+xml", "a.svg").is_err());
        assert!(r.media_type("", "noext").is_err());
    }
}
