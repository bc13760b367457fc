//! Download analytics (docs/analytics.md). Requests for enclosures arrive as
//! hits (embedded: from the media route, through a `HitSink`, off the
//! request path; AWS: from CloudFront's logs), are merged into spans per
//! production, day, listener and object (a union, so a request seen twice
//! adds nothing), and each touched day's figures are computed again from its
//! spans. `GET /a/v1/analytics/{prod}` reads the figures.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    domain::{
        analytics::{day_figures, day_of, day_string, id3_size, parse_day, production_of, Day, DayFigures, Enclosure, Spans, Tally},
        Guid, Invalid, Kind, ResourceBody, Scope, Timestamp, Version,
    },
    ports::{BlobKey, Key, ListQuery, Record, StoreError},
};

use super::{Caller, Need, Podops, ServiceError};

/// Spans are kept this long after their day (late CloudFront logs still merge).
const SPAN_TTL: Timestamp = 7 * 86_400;
/// A day's listener key is dropped this long after the day ends: as long as
/// its spans, so a late log hashes its listeners as the day's others were.
const KEY_TTL: Timestamp = SPAN_TTL;
/// Where CloudFront writes its standard logs in the media bucket (infra/template.yaml).
pub const CDN_LOG_PREFIX: &str = "cdn-logs/";
/// Largest log file read (CloudFront writes one every few minutes per edge; they are small).
const MAX_LOG_BYTES: u64 = 64 << 20;
/// Largest log text a file may unpack to.
const MAX_LOG_TEXT: u64 = 512 << 20;

/// What reading one CloudFront log file did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogIngest {
    pub lines: u64,
    pub malformed: u64,
    /// Spans that grew (0 when the file had been read before).
    pub spans: usize,
}

/// Longest period one analytics request covers.
pub const MAX_DAYS: i64 = 366;

fn spans_partition(prod: &str, day: Day) -> String {
    format!("SPANS#{prod}#{}", day_string(day))
}

fn figures_partition(prod: &Guid) -> String {
    format!("ANALYTICS#{prod}")
}

fn figures_key(prod: &Guid, day: Day) -> Key {
    Key::new(figures_partition(prod), format!("DAY#{}", day_string(day)))
}

fn day_key_key(day: Day) -> Key {
    Key::new("ANALYTICS_KEYS", day_string(day))
}

/// A stored span record: the listener's app, and the byte spans of one object.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSpans {
    app: String,
    spans: Spans,
}

/// One row of an analytics answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AnalyticsRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub episode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub downloads: u64,
    /// Unique listeners per day, summed over the days of the row.
    pub listeners: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, utoipa::ToSchema)]
pub struct AnalyticsTotals {
    pub downloads: u64,
    pub listeners: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AnalyticsReport {
    pub from: String,
    pub to: String,
    pub by: String,
    pub rows: Vec<AnalyticsRow>,
    pub totals: AnalyticsTotals,
}

/// A request as the media route served it. The address lives only until the
/// recorder has hashed it into the listener.
#[derive(Debug, Clone)]
pub struct RawHit {
    pub time: Timestamp,
    pub key: String,
    pub ip: IpAddr,
    pub user_agent: String,
    pub method: String,
    pub status: u16,
    pub range: Option<(u64, u64)>,
}

/// Where the media route's requests go: the API's recorder, which hashes,
/// tallies and merges them off the request path (`record_tally`).
pub trait HitSink: Send + Sync {
    /// Never waits: a sink that cannot keep up drops the hit (and counts it).
    fn record(&self, hit: RawHit);
}

impl Podops {
    /// Lets the media route record downloads into `sink`.
    pub fn with_hit_sink(mut self, sink: Arc<dyn HitSink>) -> Self {
        self.hits = Some(sink);
        self
    }

    /// The day's random key for listener hashes: made by whoever needs it first, dropped two days after.
    pub async fn analytics_key(&self, day: Day) -> Result<Vec<u8>, ServiceError> {
        let key = day_key_key(day);
        for _ in 0..3 {
            if let Some(r) = self.records.get(&key).await? {
                return hex::decode(r.body["key"].as_str().unwrap_or("")).map_err(|e| StoreError::Corrupt(format!("analytics key: {e}")).into());
            }
            let fresh: [u8; 32] = rand::random();
            let record = Record { key: key.clone(), version: Version::FIRST, body: json!({ "key": hex::encode(fresh) }), expires_at: Some((day + 1) * 86_400 + KEY_TTL) };
            match self.records.create(&record).await {
                Ok(()) => return Ok(fresh.to_vec()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// Merges a tally into the stored spans, then recomputes the figures of
    /// every production and day it touched. Idempotent: spans are unions.
    pub async fn record_tally(&self, tally: Tally) -> Result<usize, ServiceError> {
        let mut touched: HashSet<(String, Day)> = HashSet::new();
        let mut written = 0;
        for (day, key, listener, app, spans) in tally.entries() {
            let Some(prod) = production_of(key) else { continue };
            if self.merge_spans(prod, day, &listener, key, app, spans).await? {
                written += 1;
            }
            touched.insert((prod.to_owned(), day));
        }
        for (prod, day) in touched {
            if let Ok(prod) = Guid::parse(&prod) {
                self.compute_day(&prod, day).await?;
            }
        }
        Ok(written)
    }

    async fn merge_spans(&self, prod: &str, day: Day, listener: &str, object: &str, app: &str, spans: &Spans) -> Result<bool, ServiceError> {
        let key = Key::new(spans_partition(prod, day), format!("{listener}#{object}"));
        let expires_at = Some((day + 1) * 86_400 + SPAN_TTL);
        for _ in 0..5 {
            let result = match self.records.get(&key).await? {
                Some(r) => {
                    let mut stored: StoredSpans = serde_json::from_value(r.body).map_err(|e| StoreError::Corrupt(format!("spans: {e}")))?;
                    let before = stored.spans.clone();
                    stored.spans.merge(spans);
                    if stored.spans == before {
                        return Ok(false);
                    }
                    let body = serde_json::to_value(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    self.records.replace(&Record { key: key.clone(), version: r.version.next(), body, expires_at }, r.version).await
                }
                None => {
                    let body = serde_json::to_value(StoredSpans { app: app.to_owned(), spans: spans.clone() }).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    self.records.create(&Record { key: key.clone(), version: Version::FIRST, body, expires_at }).await
                }
            };
            match result {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// Reads one CloudFront log file (gzipped W3C lines) from the media store:
    /// its requests are merged like the media route's, the days they touch are
    /// computed again, and the file (which holds raw addresses) is deleted.
    /// Reading a file twice changes nothing: spans are unions; a file already
    /// read and deleted answers an empty report.
    pub async fn ingest_cdn_log(&self, key: &BlobKey) -> Result<LogIngest, ServiceError> {
        let blob = match self.blobs.get(key, None).await {
            Ok(b) => b,
            Err(crate::ports::BlobError::NotFound) => return Ok(LogIngest { lines: 0, malformed: 0, spans: 0 }),
            Err(e) => return Err(e.into()),
        };
        if blob.meta.size > MAX_LOG_BYTES {
            return Err(Invalid::new("key", "analytics.log_too_large", format!("{key} is larger than {} MB", MAX_LOG_BYTES >> 20)).into());
        }
        let mut bytes = Vec::with_capacity(blob.meta.size as usize);
        let mut body = blob.body;
        while let Some(chunk) = futures::StreamExt::next(&mut body).await {
            bytes.extend_from_slice(&chunk.map_err(|e| StoreError::Unavailable(e.to_string()))?);
        }
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            // Read at most MAX_LOG_TEXT: a gzip bomb stops there.
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(flate2::read::MultiGzDecoder::new(bytes.as_slice()), MAX_LOG_TEXT + 1), &mut out)
                .map_err(|e| Invalid::new("key", "analytics.log_unreadable", format!("{key} is not a readable gzip log: {e}")))?;
            if out.len() as u64 > MAX_LOG_TEXT {
                return Err(Invalid::new("key", "analytics.log_too_large", format!("{key} unpacks to more than {} MB", MAX_LOG_TEXT >> 20)).into());
            }
            drop(bytes);
            String::from_utf8_lossy(&out).into_owned()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        // The day keys the lines need, fetched before the (synchronous) reading.
        let mut keys: HashMap<Day, Vec<u8>> = HashMap::new();
        for date in text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['\t', ' ']).next()).filter_map(parse_day) {
            if !keys.contains_key(&date) {
                keys.insert(date, self.analytics_key(date).await?);
            }
        }
        let agents = crate::domain::analytics::Agents::shared();
        let mut reader = crate::domain::analytics::cloudfront::LogReader::new(|day| keys.get(&day).cloned().unwrap_or_default());
        let mut tally = Tally::default();
        let mut lines = 0;
        for line in text.lines() {
            lines += 1;
            reader.tally_line(line, &mut tally, agents);
        }
        let malformed = reader.skipped;
        let spans = self.record_tally(tally).await?;
        self.blobs.delete(key).await?;
        Ok(LogIngest { lines, malformed, spans })
    }

    /// One day's figures from its spans, stored for the analytics routes.
    pub async fn compute_day(&self, prod: &Guid, day: Day) -> Result<DayFigures, ServiceError> {
        let partition = spans_partition(prod.as_str(), day);
        let mut stored: Vec<(String, String, StoredSpans)> = Vec::new();
        let mut after = None;
        loop {
            let page = self.records.list(&ListQuery { partition: partition.clone(), prefix: String::new(), after, limit: 1000 }).await?;
            for r in page.records {
                let Some((listener, object)) = r.key.sort.split_once('#') else { continue };
                let spans: StoredSpans = serde_json::from_value(r.body).map_err(|e| StoreError::Corrupt(format!("spans: {e}")))?;
                stored.push((listener.to_owned(), object.to_owned(), spans));
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let objects: HashSet<&str> = stored.iter().map(|(_, o, _)| o.as_str()).collect();
        let enclosures = self.enclosures(prod, objects).await?;
        let figures = day_figures(stored.iter().map(|(l, o, s)| (l.as_str(), s.app.as_str(), o.as_str(), &s.spans)), |key| enclosures.get(key).cloned());
        let body = serde_json::to_value(&figures).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = figures_key(prod, day);
        for _ in 0..5 {
            let result = match self.records.get(&key).await? {
                Some(r) => self.records.replace(&Record { key: key.clone(), version: r.version.next(), body: body.clone(), expires_at: None }, r.version).await,
                None => self.records.create(&Record { key: key.clone(), version: Version::FIRST, body: body.clone(), expires_at: None }).await,
            };
            match result {
                Ok(()) => return Ok(figures),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// What each object is: an asset's bytes or one of its renditions, and the
    /// episodes enclosing that asset. Objects that enclose nothing are left out.
    async fn enclosures(&self, prod: &Guid, objects: HashSet<&str>) -> Result<HashMap<String, Enclosure>, ServiceError> {
        let assets = self.bodies_of(prod, Kind::Asset, |b| if let ResourceBody::Asset(a) = b { Some(a) } else { None }).await?;
        let episodes = self.bodies_of(prod, Kind::Episode, |b| if let ResourceBody::Episode(e) = b { e.enclosure } else { None }).await?;
        let mut out = HashMap::new();
        for object in objects {
            let parts: Vec<&str> = object.split('/').collect();
            let found = match parts.as_slice() {
                ["media", _, file] => {
                    let stem = file.split('.').next().unwrap_or("");
                    assets.iter().find(|(g, _)| g.as_str() == stem).map(|(g, a)| (g.clone(), a.size.unwrap_or(0), a.probe.as_ref().map_or(0, |p| p.bitrate / 8)))
                }
                ["renditions", _, sha, file] => {
                    let name = file.rsplit_once('.').map_or(*file, |(n, _)| n);
                    assets.iter().find(|(_, a)| a.sha256.as_deref() == Some(*sha)).and_then(|(g, a)| {
                        let r = a.renditions.iter().find(|r| r.name == name)?;
                        let rate = if r.bitrate > 0 { u64::from(r.bitrate) / 8 } else { a.probe.as_ref().map_or(0, |p| p.bitrate / 8) };
                        Some((g.clone(), r.size.unwrap_or(0), rate))
                    })
                }
                _ => None,
            };
            let Some((asset, size, bytes_per_second)) = found else { continue };
            let enclosing: Vec<String> = episodes.iter().filter(|(_, enc)| *enc == asset).map(|(g, _)| g.to_string()).collect();
            if enclosing.is_empty() || size == 0 {
                continue;
            }
            let audio_start = match BlobKey::parse(object) {
                Ok(key) => match self.blobs.get(&key, Some(0..=9)).await {
                    Ok(blob) => {
                        let mut head = Vec::new();
                        let mut body = blob.body;
                        while let Some(chunk) = futures::StreamExt::next(&mut body).await {
                            head.extend_from_slice(&chunk.map_err(|e| StoreError::Unavailable(e.to_string()))?);
                        }
                        id3_size(&head)
                    }
                    Err(_) => 0,
                },
                Err(_) => 0,
            };
            out.insert(object.to_owned(), Enclosure { episodes: enclosing, size, audio_start, bytes_per_second });
        }
        Ok(out)
    }

    /// `GET /a/v1/analytics/{prod}`: downloads and listeners from `from` to
    /// `to` (UTC days, both included; default the last 30 days), by `day`,
    /// `episode`, `app` or `episode,day`.
    pub async fn analytics(&self, caller: &Caller, prod: &Guid, from: Option<&str>, to: Option<&str>, by: Option<&str>) -> Result<AnalyticsReport, ServiceError> {
        caller.require(Scope::ProductionRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        let by = by.unwrap_or("day");
        let by = match by {
            "day" | "episode" | "app" | "episode,day" => by,
            "day,episode" => "episode,day",
            _ => return Err(Invalid::new("by", "analytics.by", "by is day, episode, app or episode,day").into()),
        };
        let (from, to) = self.period(from, to)?;
        let days = self.figures_between(prod, from, to).await?;
        let mut rows: BTreeMap<(Option<String>, Option<String>, Option<String>), AnalyticsRow> = BTreeMap::new();
        let mut totals = AnalyticsTotals::default();
        for (day, figures) in &days {
            let date = day_string(*day);
            totals.listeners += figures.listeners;
            let mut day_row = AnalyticsRow { date: Some(date.clone()), episode: None, app: None, downloads: 0, listeners: figures.listeners };
            for cell in &figures.cells {
                totals.downloads += cell.downloads;
                day_row.downloads += cell.downloads;
                let (row_key, listeners) = match by {
                    "episode" => ((None, Some(cell.episode.clone()), None), cell.downloads),
                    "episode,day" => ((Some(date.clone()), Some(cell.episode.clone()), None), cell.downloads),
                    "app" => ((None, None, Some(cell.app.clone())), 0),
                    _ => continue,
                };
                let row = rows.entry(row_key.clone()).or_insert(AnalyticsRow { date: row_key.0, episode: row_key.1, app: row_key.2, downloads: 0, listeners: 0 });
                row.downloads += cell.downloads;
                row.listeners += listeners;
            }
            if by == "app" {
                for (app, n) in &figures.app_listeners {
                    if let Some(row) = rows.get_mut(&(None, None, Some(app.clone()))) {
                        row.listeners += n;
                    }
                }
            }
            if by == "day" {
                rows.insert((Some(date), None, None), day_row);
            }
        }
        Ok(AnalyticsReport { from: day_string(from), to: day_string(to), by: by.to_owned(), rows: rows.into_values().collect(), totals })
    }

    /// `GET /a/v1/analytics/{prod}/export`: one CSV line per day, episode and app.
    pub async fn analytics_csv(&self, caller: &Caller, prod: &Guid, from: Option<&str>, to: Option<&str>) -> Result<String, ServiceError> {
        caller.require(Scope::ProductionRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        let (from, to) = self.period(from, to)?;
        let mut csv = String::from("date,episode,app,downloads\r\n");
        for (day, figures) in self.figures_between(prod, from, to).await? {
            for c in figures.cells {
                // Apps' names come from the OPAWG list; quoted, in case one holds a comma.
                csv.push_str(&format!("{},{},\"{}\",{}\r\n", day_string(day), c.episode, c.app.replace('"', "\"\""), c.downloads));
            }
        }
        Ok(csv)
    }

    fn period(&self, from: Option<&str>, to: Option<&str>) -> Result<(Day, Day), ServiceError> {
        let today = day_of(self.clock.now());
        let parse = |field: &'static str, s: &str| parse_day(s).ok_or_else(|| Invalid::new(field, "analytics.date", format!("{field} is a date: YYYY-MM-DD")));
        let to = to.map(|s| parse("to", s)).transpose()?.unwrap_or(today);
        let from = from.map(|s| parse("from", s)).transpose()?.unwrap_or(to - 29);
        // Documented clamping: the last `MAX_DAYS` of a longer period; an inverted one is empty.
        Ok((from.max(to - (MAX_DAYS - 1)), to))
    }

    async fn figures_between(&self, prod: &Guid, from: Day, to: Day) -> Result<Vec<(Day, DayFigures)>, ServiceError> {
        if from > to {
            return Ok(Vec::new());
        }
        let after = Some(format!("DAY#{}", day_string(from - 1)));
        let page = self.records.list(&ListQuery { partition: figures_partition(prod), prefix: "DAY#".into(), after, limit: MAX_DAYS as usize + 1 }).await?;
        let mut out = Vec::new();
        for r in page.records {
            let Some(day) = r.key.sort.strip_prefix("DAY#").and_then(parse_day) else { continue };
            if day > to {
                break;
            }
            out.push((day, serde_json::from_value(r.body).map_err(|e| StoreError::Corrupt(format!("figures: {e}")))?));
        }
        Ok(out)
    }
}
