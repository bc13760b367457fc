//! CloudFront's standard access logs (W3C extended format, tab-separated,
//! one `#Fields:` line naming the columns) read into `Hit`s. The address is
//! hashed into the listener as the line is read and never kept.

use std::{borrow::Cow, net::IpAddr};

use super::{day_of, listener, Day, Hit};

/// Where each column we read sits, from the `#Fields:` line.
#[derive(Debug, Clone, Copy)]
struct Columns {
    date: usize,
    time: usize,
    ip: usize,
    method: usize,
    stem: usize,
    status: usize,
    agent: usize,
    range_start: Option<usize>,
    range_end: Option<usize>,
    forwarded: Option<usize>,
}

impl Columns {
    fn from_fields(line: &str) -> Option<Columns> {
        let names: Vec<&str> = line.trim_start_matches("#Fields:").split_whitespace().collect();
        let at = |n: &str| names.iter().position(|f| *f == n);
        Some(Columns {
            date: at("date")?,
            time: at("time")?,
            ip: at("c-ip")?,
            method: at("cs-method")?,
            stem: at("cs-uri-stem")?,
            status: at("sc-status")?,
            agent: at("cs(User-Agent)")?,
            range_start: at("sc-range-start"),
            range_end: at("sc-range-end"),
            forwarded: at("x-forwarded-for"),
        })
    }

    /// The standard log's columns, for files that lost their header.
    fn standard() -> Columns {
        Columns { date: 0, time: 1, ip: 4, method: 5, stem: 7, status: 8, agent: 10, range_start: Some(31), range_end: Some(32), forwarded: Some(19) }
    }
}

/// `%20` and friends, as CloudFront escapes the User-Agent and the URI.
fn unescape(s: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

/// Reads a log file's lines into hits; `day_key` gives the key of a UTC day.
/// Malformed lines are skipped and counted.
pub struct LogReader<'k, K: FnMut(Day) -> Vec<u8>> {
    columns: Columns,
    day_key: K,
    keys: Option<(Day, Vec<u8>)>,
    pub skipped: u64,
    _k: std::marker::PhantomData<&'k ()>,
}

impl<K: FnMut(Day) -> Vec<u8>> LogReader<'_, K> {
    pub fn new(day_key: K) -> Self {
        Self { columns: Columns::standard(), day_key, keys: None, skipped: 0, _k: std::marker::PhantomData }
    }

    /// One line: a hit, or `None` (a header, a comment, a malformed line).
    pub fn line(&mut self, line: &str) -> Option<Hit> {
        if let Some(fields) = line.strip_prefix("#Fields:") {
            if let Some(c) = Columns::from_fields(fields) {
                self.columns = c;
            }
            return None;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            return None;
        }
        let hit = self.parse(line);
        if hit.is_none() {
            self.skipped += 1;
        }
        hit
    }

    fn parse(&mut self, line: &str) -> Option<Hit> {
        let c = self.columns;
        let fields: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| fields.get(i).copied();
        let date = chrono::NaiveDate::parse_from_str(get(c.date)?, "%Y-%m-%d").ok()?;
        let time = chrono::NaiveTime::parse_from_str(get(c.time)?, "%H:%M:%S").ok()?;
        let when = date.and_time(time).and_utc().timestamp();
        // Behind another proxy, the client is the first address it forwarded.
        let forwarded = c.forwarded.and_then(get).filter(|f| *f != "-").and_then(|f| f.split([',', ' ']).find(|s| !s.is_empty()));
        let ip: IpAddr = forwarded.unwrap_or(get(c.ip)?).parse().ok()?;
        let agent = get(c.agent)?;
        let agent = if agent == "-" { Cow::Borrowed("") } else { unescape(agent) };
        let number = |i: Option<usize>| i.and_then(get).and_then(|v| v.parse::<u64>().ok());
        let range = match (number(c.range_start), number(c.range_end)) {
            (Some(s), Some(e)) if e >= s => Some((s, e)),
            _ => None,
        };
        let day = day_of(when);
        let key = match &self.keys {
            Some((d, k)) if *d == day => k,
            _ => {
                self.keys = Some((day, (self.day_key)(day)));
                &self.keys.as_ref()?.1
            }
        };
        Some(Hit {
            time: when,
            key: unescape(get(c.stem)?.trim_start_matches('/')).into_owned(),
            listener: listener(key, ip, &agent),
            user_agent: agent.into_owned(),
            method: get(c.method)?.to_owned(),
            status: get(c.status)?.parse().ok()?,
            range,
        })
    }
}
