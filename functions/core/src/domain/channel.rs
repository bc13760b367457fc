//! Channels (seed 004's /channels): streams gathered under one name, listed
//! as an M3U playlist and given an XMLTV programme guide from their schedules,
//! for radio and IPTV players.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{Guid, Invalid};

/// Streams in one channel at most.
pub const MAX_STREAMS: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// In public URLs: `/channels/<production name>/<name>/playlist.m3u`.
    /// 1–64 of `a-z 0-9 - _`, unique in the production.
    pub name: String,
    pub title: String,
    /// Streams of this production, in playlist order.
    pub streams: Vec<Guid>,
    /// IANA time zone the programme guide's times are written in.
    pub timezone: String,
}

impl Channel {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        let name_ok = (1..=64).contains(&self.name.len()) && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(Invalid::new("name", "channel.name", "name is 1 to 64 of a-z, 0-9, - and _"));
        }
        super::resource::check_text("title", &self.title, 1, 255)?;
        if self.streams.is_empty() || self.streams.len() > MAX_STREAMS {
            return Err(Invalid::new("streams", "field.range", format!("a channel has 1 to {MAX_STREAMS} streams")));
        }
        self.zone().map(|_| ())
    }

    pub fn zone(&self) -> Result<Tz, Invalid> {
        self.timezone.parse::<Tz>().map_err(|_| Invalid::new("timezone", "channel.timezone", format!("'{}' is not an IANA time zone (e.g. Europe/Berlin)", self.timezone)))
    }
}
