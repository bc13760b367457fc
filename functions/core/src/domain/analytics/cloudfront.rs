//! CloudFront's standard access logs (W3C extended format, tab-separated,
//! one `#Fields:` line naming the columns) read into `Hit`s. The address is
//! hashed into the listener as the line is read and never kept.

use std::{borrow::Cow, collections::HashMap, net::IpAddr};

use super::{day_of, listener_id, Agents, Day, Hit, Request, Tally};
use crate::domain::Timestamp;

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
        })
    }

    /// The standard log's columns, for files that lost their header.
    fn standard() -> Columns {
        Columns { date: 0, time: 1, ip: 4, method: 5, stem: 7, status: 8, agent: 10, range_start: Some(31), range_end: Some(32) }
    }
}

/// `%20` and friends, as CloudFront escapes the User-Agent and the URI.
fn unescape(s: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

/// `HH:MM:SS` as seconds.
fn seconds_of_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let two = |i: usize| -> Option<i64> { Some(i64::from((b[i] as char).to_digit(10)? * 10 + (b[i + 1] as char).to_digit(10)?)) };
    let (h, m, sec) = (two(0)?, two(3)?, two(6)?);
    (h < 24 && m < 60 && sec < 61).then_some(h * 3600 + m * 60 + sec)
}

/// Reads a log file's lines into hits; `day_key` gives the key of a UTC day.
/// Malformed lines are skipped and counted.
pub struct LogReader<'k, K: FnMut(Day) -> Vec<u8>> {
    columns: Columns,
    day_key: K,
    keys: Option<(Day, Vec<u8>)>,
    /// The last date read, as written and as the UNIX time of its midnight (a log file holds one or two).
    date: Option<(String, Timestamp)>,
    /// User-Agents as escaped in the log → unescaped: a log repeats a few hundred of them.
    agents: HashMap<String, String>,
    pub skipped: u64,
    _k: std::marker::PhantomData<&'k ()>,
}

impl<K: FnMut(Day) -> Vec<u8>> LogReader<'_, K> {
    pub fn new(day_key: K) -> Self {
        Self { columns: Columns::standard(), day_key, keys: None, date: None, agents: HashMap::new(), skipped: 0, _k: std::marker::PhantomData }
    }

    /// One line: a hit, or `None` (a header, a comment, a malformed line).
    pub fn line(&mut self, line: &str) -> Option<Hit> {
        let parsed = self.read(line)?;
        let Self { keys, agents, day_key, .. } = self;
        let key = key_of(keys, day_key, day_of(parsed.when));
        if key.is_empty() {
            // Never hash under no key: that hash would be the same every day.
            self.skipped += 1;
            return None;
        }
        let agent = agent_of(agents, parsed.agent);
        Some(Hit {
            time: parsed.when,
            key: unescape(parsed.stem.trim_start_matches('/')).into_owned(),
            listener: format!("{:032x}", listener_id(key, parsed.ip, agent)),
            user_agent: agent.to_owned(),
            method: parsed.method.to_owned(),
            status: parsed.status,
            range: parsed.range,
        })
    }

    /// One line added straight to `tally`: what reading a whole log file does, with no
    /// allocation for a request that adds to a known span.
    pub fn tally_line(&mut self, line: &str, tally: &mut Tally, agents_list: &Agents) {
        let Some(parsed) = self.read(line) else { return };
        let Self { keys, agents, day_key, .. } = self;
        let key = key_of(keys, day_key, day_of(parsed.when));
        if key.is_empty() {
            self.skipped += 1;
            return;
        }
        let agent = agent_of(agents, parsed.agent);
        let object = unescape(parsed.stem.trim_start_matches('/'));
        let request = Request { time: parsed.when, key: &object, listener: listener_id(key, parsed.ip, agent), user_agent: agent, method: parsed.method, status: parsed.status, range: parsed.range };
        tally.add_parts(&request, agents_list);
    }

    /// A line's fields, or `None` for a header (read), a comment or a malformed line (counted).
    fn read<'l>(&mut self, line: &'l str) -> Option<Parsed<'l>> {
        if let Some(fields) = line.strip_prefix("#Fields:") {
            if let Some(c) = Columns::from_fields(fields) {
                self.columns = c;
            }
            return None;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            return None;
        }
        let parsed = self.parse(line);
        if parsed.is_none() {
            self.skipped += 1;
        }
        parsed
    }

    fn parse<'l>(&mut self, line: &'l str) -> Option<Parsed<'l>> {
        let c = self.columns;
        let mut fields = [""; 48];
        let mut n = 0;
        // The legacy logs separate fields by tabs; W3C files of standard logging v2 by spaces
        // (a field's own spaces are escaped either way).
        let separator = if line.contains('\t') { '\t' } else { ' ' };
        for (slot, field) in fields.iter_mut().zip(line.split(separator)) {
            *slot = field;
            n += 1;
        }
        let get = |i: usize| (i < n).then(|| fields[i]);
        let date = get(c.date)?;
        let midnight = match &self.date {
            Some((d, t)) if d == date => *t,
            _ => {
                let t = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
                self.date = Some((date.to_owned(), t));
                t
            }
        };
        let when = midnight + seconds_of_day(get(c.time)?)?;
        // The address CloudFront saw. Never `x-forwarded-for`: CloudFront logs the viewer's own
        // header there, so anyone could be a new listener on every request.
        let ip: IpAddr = get(c.ip)?.parse().ok()?;
        let number = |i: Option<usize>| i.and_then(get).and_then(|v| v.parse::<u64>().ok());
        let range = match (number(c.range_start), number(c.range_end)) {
            (Some(s), Some(e)) if e >= s => Some((s, e)),
            _ => None,
        };
        Some(Parsed { when, ip, agent: get(c.agent)?, stem: get(c.stem)?, method: get(c.method)?, status: get(c.status)?.parse().ok()?, range })
    }
}

/// A log line's fields, borrowed from it.
struct Parsed<'l> {
    when: Timestamp,
    ip: IpAddr,
    agent: &'l str,
    stem: &'l str,
    method: &'l str,
    status: u16,
    range: Option<(u64, u64)>,
}

/// The day's key, asked for once per day read.
fn key_of<'a>(keys: &'a mut Option<(Day, Vec<u8>)>, day_key: &mut impl FnMut(Day) -> Vec<u8>, day: Day) -> &'a [u8] {
    if keys.as_ref().is_none_or(|(d, _)| *d != day) {
        *keys = Some((day, day_key(day)));
    }
    keys.as_ref().map_or(&[], |(_, k)| k.as_slice())
}

/// The User-Agent unescaped (`-` is none), from the cache of those seen.
fn agent_of<'a>(cache: &'a mut HashMap<String, String>, raw: &str) -> &'a str {
    if raw == "-" {
        return "";
    }
    if !cache.contains_key(raw) {
        cache.insert(raw.to_owned(), unescape(raw).into_owned());
    }
    cache.get(raw).map_or("", String::as_str)
}
