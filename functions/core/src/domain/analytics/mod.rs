//! Download analytics by the IAB method (docs/analytics.md): a download is
//! one listener fetching one episode's enclosure in one UTC day, counted
//! when the bytes fetched reach a minute of audio (or the whole file when it
//! is shorter). Pure: requests as served come in (`Hit`, from the embedded
//! media route or from CloudFront's logs), the spans each listener fetched
//! are merged (`Spans`, idempotent: the same request twice adds nothing),
//! and a day's figures come out (`day_figures`).

pub mod agents;
pub mod cloudfront;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::IpAddr,
};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::Timestamp;

pub use agents::{Agent, Agents};

/// A UTC day, as days since 1970-01-01.
pub type Day = i64;

pub fn day_of(t: Timestamp) -> Day {
    t.div_euclid(86_400)
}

/// `2026-11-27`.
pub fn day_string(day: Day) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

pub fn parse_day(s: &str) -> Option<Day> {
    let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp().div_euclid(86_400))
}

/// The listener of a request: its address (an IPv6 one cut to its /64, what
/// one household or phone keeps) with its User-Agent, under the day's key.
/// Only this hash is kept; the key is random per day and dropped after it,
/// so nothing links a listener's days, and no address is stored.
pub fn listener(day_key: &[u8], ip: IpAddr, user_agent: &str) -> String {
    format!("{:032x}", listener_id(day_key, ip, user_agent))
}

/// `listener` as a number: what a `Tally` keys by (no text made per request).
pub fn listener_id(day_key: &[u8], ip: IpAddr, user_agent: &str) -> u128 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(day_key).unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).expect("a 32-byte key"));
    // An IPv6 address is cut to its /64; an IPv4-mapped one is its IPv4 address.
    match ip {
        IpAddr::V4(v4) => mac.update(&v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => mac.update(&v4.octets()),
            None => mac.update(&v6.octets()[..8]),
        },
    }
    mac.update(b"\n");
    mac.update(user_agent.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&mac.finalize().into_bytes()[..16]);
    u128::from_be_bytes(first)
}

/// One request for a stored object, as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub time: Timestamp,
    /// The object key (`media/<prod>/<asset>.mp3`, `renditions/<prod>/…`).
    pub key: String,
    /// `listener()`: never the address.
    pub listener: String,
    pub user_agent: String,
    /// GET only ever counts.
    pub method: String,
    pub status: u16,
    /// The bytes sent, inclusive; `None`: the whole object.
    pub range: Option<(u64, u64)>,
}

/// The production an object key belongs to (`media/<prod>/…`, `renditions/<prod>/…`):
/// the only objects downloads are counted on. Which of them enclose an episode
/// is decided when a day's figures are computed.
pub fn production_of(key: &str) -> Option<&str> {
    let mut parts = key.split('/');
    match (parts.next(), parts.next()) {
        (Some("media" | "renditions"), Some(prod)) if prod.len() == 12 => Some(prod),
        _ => None,
    }
}

/// Most disjoint spans kept per listener, object and day.
pub const MAX_SPANS: usize = 64;

/// Byte spans of one object one listener fetched on one day, merged: the
/// union is what counts, whatever the order or repetition of the requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spans(pub Vec<(u64, u64)>);

impl Spans {
    /// Adds an inclusive span (`end` `u64::MAX`: to the end of the object).
    /// At most `MAX_SPANS` disjoint spans are kept: a span that would make one
    /// more is left out (counting less, never more), so a client asking for
    /// thousands of scattered bytes cannot grow a record without bound.
    pub fn add(&mut self, start: u64, end: u64) {
        if end < start {
            return;
        }
        let at = self.0.partition_point(|&(s, _)| s < start);
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.0.len() + 1);
        for &(s, e) in self.0[..at].iter().chain(std::iter::once(&(start, end))).chain(&self.0[at..]) {
            match merged.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        if merged.len() <= MAX_SPANS {
            self.0 = merged;
        }
    }

    pub fn merge(&mut self, other: &Spans) {
        for &(s, e) in &other.0 {
            self.add(s, e);
        }
    }

    /// Bytes covered within `[from, to)`.
    pub fn covered(&self, from: u64, to: u64) -> u64 {
        self.0.iter().map(|&(s, e)| e.saturating_add(1).min(to).saturating_sub(s.max(from))).sum()
    }
}

/// What counting needs of an object that is an episode's enclosure (or a rendition of one).
#[derive(Debug, Clone, PartialEq)]
pub struct Enclosure {
    /// The episodes it encloses (almost always one).
    pub episodes: Vec<String>,
    pub size: u64,
    /// Where the audio starts: after the ID3v2 tag, if any.
    pub audio_start: u64,
    /// Bytes per second of audio, by the probe's bitrate (or the rendition's).
    pub bytes_per_second: u64,
}

impl Enclosure {
    /// The bytes a download must cover: a minute of audio, or all of it when shorter.
    pub fn needed(&self) -> u64 {
        let audio = self.size.saturating_sub(self.audio_start);
        // No bitrate (not probed): the whole file, never a probe's two bytes.
        let minute = if self.bytes_per_second == 0 { audio } else { self.bytes_per_second * 60 };
        minute.min(audio).max(1)
    }
}

/// The size of an ID3v2 tag from the first 10 bytes of a file (0: none).
pub fn id3_size(head: &[u8]) -> u64 {
    if head.len() < 10 || &head[..3] != b"ID3" {
        return 0;
    }
    let syncsafe = head[6..10].iter().fold(0u64, |n, b| (n << 7) | u64::from(b & 0x7f));
    let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
    10 + syncsafe + footer
}

/// The spans fetched, by day, listener and object, and each listener's app:
/// what the embedded recorder and the CloudFront reader accumulate. Objects
/// are kept once each and listeners as numbers, so a request that adds to
/// a known span makes no allocation.
#[derive(Debug, Default)]
pub struct Tally {
    spans: HashMap<(Day, u32, u128), Spans>,
    objects: Vec<String>,
    object_ids: HashMap<String, u32>,
    apps: HashMap<u128, u32>,
    app_names: Vec<String>,
    agents_seen: HashMap<String, Option<u32>>,
    /// Requests read, and those that could count (GET of an object by a listener).
    pub read: u64,
    pub kept: u64,
}

/// A request's parts, as `Tally::add_parts` takes them.
pub struct Request<'a> {
    pub time: Timestamp,
    pub key: &'a str,
    pub listener: u128,
    pub user_agent: &'a str,
    pub method: &'a str,
    pub status: u16,
    pub range: Option<(u64, u64)>,
}

impl Tally {
    /// Adds a request, unless it never counts: not a GET (HEAD never does),
    /// not answered 200 or 206, no User-Agent, a bot.
    pub fn add(&mut self, hit: &Hit, agents: &Agents) {
        let Ok(listener) = u128::from_str_radix(&hit.listener, 16) else {
            self.read += 1;
            return;
        };
        let r = Request { time: hit.time, key: &hit.key, listener, user_agent: &hit.user_agent, method: &hit.method, status: hit.status, range: hit.range };
        self.add_parts(&r, agents);
    }

    pub fn add_parts(&mut self, r: &Request<'_>, agents: &Agents) {
        self.read += 1;
        if r.method != "GET" || !(r.status == 200 || r.status == 206) || r.user_agent.trim().is_empty() {
            return;
        }
        if production_of(r.key).is_none() {
            return;
        }
        let app = match self.agents_seen.get(r.user_agent) {
            Some(a) => *a,
            None => {
                let agent = agents.classify(r.user_agent);
                let app = agent.is_listener().then(|| {
                    let name = agent.app();
                    match self.app_names.iter().position(|n| n == name) {
                        Some(i) => i as u32,
                        None => {
                            self.app_names.push(name.to_owned());
                            (self.app_names.len() - 1) as u32
                        }
                    }
                });
                self.agents_seen.insert(r.user_agent.to_owned(), app);
                app
            }
        };
        let Some(app) = app else { return };
        self.kept += 1;
        let object = match self.object_ids.get(r.key) {
            Some(id) => *id,
            None => {
                let id = self.objects.len() as u32;
                self.objects.push(r.key.to_owned());
                self.object_ids.insert(r.key.to_owned(), id);
                id
            }
        };
        let (start, end) = r.range.unwrap_or((0, u64::MAX));
        self.spans.entry((day_of(r.time), object, r.listener)).or_default().add(start, end);
        self.apps.entry(r.listener).or_insert(app);
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// How many (day, listener, object) spans it holds.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Each span: its day, object key, listener (as `listener` writes it), the listener's app, and the spans.
    pub fn entries(&self) -> impl Iterator<Item = (Day, &str, String, &str, &Spans)> + '_ {
        self.spans.iter().map(|((day, object, listener), spans)| {
            let app = self.apps.get(listener).and_then(|a| self.app_names.get(*a as usize)).map_or("Unknown", String::as_str);
            (*day, self.objects[*object as usize].as_str(), format!("{listener:032x}"), app, spans)
        })
    }
}

/// One cell of a day's figures: downloads of an episode by listeners of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cell {
    pub episode: String,
    pub app: String,
    pub downloads: u64,
}

/// A production's figures of one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayFigures {
    pub cells: Vec<Cell>,
    /// Distinct listeners with at least one download that day.
    pub listeners: u64,
    /// The same, by app.
    pub app_listeners: BTreeMap<String, u64>,
}

/// The figures of one day from its spans: `(listener, object key) → spans`
/// with each listener's app, and `enclosure` telling what each object is.
pub fn day_figures<'a>(spans: impl IntoIterator<Item = (&'a str, &'a str, &'a str, &'a Spans)>, enclosure: impl Fn(&str) -> Option<Enclosure>) -> DayFigures {
    // (listener, app, object) → spans; then (episode, listener) downloads.
    let mut downloads: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut known: HashMap<String, Option<Enclosure>> = HashMap::new();
    for (listener, app, key, spans) in spans {
        let e = known.entry(key.to_owned()).or_insert_with(|| enclosure(key));
        let Some(e) = e else { continue };
        if spans.covered(e.audio_start, e.size) >= e.needed() {
            for episode in &e.episodes {
                downloads.insert((episode.clone(), listener.to_owned()), app.to_owned());
            }
        }
    }
    let mut cells: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut listeners = BTreeSet::new();
    let mut by_app: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ((episode, listener), app) in downloads {
        *cells.entry((episode, app.clone())).or_default() += 1;
        listeners.insert(listener.clone());
        by_app.entry(app).or_default().insert(listener);
    }
    DayFigures {
        cells: cells.into_iter().map(|((episode, app), downloads)| Cell { episode, app, downloads }).collect(),
        listeners: listeners.len() as u64,
        app_listeners: by_app.into_iter().map(|(app, l)| (app, l.len() as u64)).collect(),
    }
}

#[cfg(test)]
mod tests;
