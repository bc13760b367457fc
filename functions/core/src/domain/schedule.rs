//! Schedules (seed 004's scheduler): a stream's slots on a timetable, in the
//! schedule's own time zone — once at a local date and time, or every chosen
//! weekday at a local time — each lasting `duration`.
//!
//! Real time zones (the IANA database, `chrono-tz`), and their two awkward
//! hours decided once: a local time that does not exist (the spring-forward
//! gap) starts when the gap ends (02:30 on a day that skips 02:00–03:00
//! starts at 03:00); a local time that happens twice (the fall-back hour)
//! starts at its first occurrence.
//! A slot lasts `duration` of real time, whatever the clock does meanwhile.

use chrono::{Datelike, Duration as ChronoDuration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{Guid, Invalid, Timestamp};

/// The longest slot: a day.
pub const MAX_DURATION: u32 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The stream the slots start and stop (of the same production).
    pub stream: Guid,
    pub title: String,
    /// IANA time zone, e.g. `Europe/Berlin`, `America/New_York`.
    pub timezone: String,
    /// A one-off slot: local date and time, `2026-03-29T02:30` (seconds optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// A weekly slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    /// Seconds, 60 to 86,400.
    pub duration: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `mon` … `sun`.
    pub weekdays: Vec<String>,
    /// Local time, `HH:MM` or `HH:MM:SS`.
    pub time: String,
}

/// One occurrence, in UNIX seconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    pub start: Timestamp,
    pub end: Timestamp,
}

const WEEKDAYS: [(&str, Weekday); 7] =
    [("mon", Weekday::Mon), ("tue", Weekday::Tue), ("wed", Weekday::Wed), ("thu", Weekday::Thu), ("fri", Weekday::Fri), ("sat", Weekday::Sat), ("sun", Weekday::Sun)];

impl Schedule {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        super::resource::check_text("title", &self.title, 1, 255)?;
        self.zone()?;
        if !(60..=MAX_DURATION).contains(&self.duration) {
            return Err(Invalid::new("duration", "field.range", format!("duration is 60 to {MAX_DURATION} seconds")));
        }
        match (&self.start, &self.rule) {
            (Some(start), None) => parse_local(start).map(|_| ()),
            (None, Some(rule)) => {
                if rule.weekdays.is_empty() {
                    return Err(Invalid::new("rule.weekdays", "field.required", "name at least one weekday (mon … sun)"));
                }
                for d in &rule.weekdays {
                    weekday(d)?;
                }
                parse_time(&rule.time).map(|_| ())
            }
            _ => Err(Invalid::new("start", "schedule.when", "give either start (one slot) or rule (weekly), not both")),
        }
    }

    pub fn zone(&self) -> Result<Tz, Invalid> {
        self.timezone.parse::<Tz>().map_err(|_| Invalid::new("timezone", "schedule.timezone", format!("'{}' is not an IANA time zone (e.g. Europe/Berlin)", self.timezone)))
    }

    /// The slots that overlap `[from, to)`, in order.
    pub fn slots(&self, from: Timestamp, to: Timestamp) -> Vec<Slot> {
        let Ok(tz) = self.zone() else { return Vec::new() };
        let duration = i64::from(self.duration);
        let starts: Vec<Timestamp> = match (&self.start, &self.rule) {
            (Some(start), _) => parse_local(start).ok().map(|local| resolve(tz, local)).into_iter().collect(),
            (None, Some(rule)) => {
                let (Ok(time), Ok(days)) = (parse_time(&rule.time), rule.weekdays.iter().map(|d| weekday(d)).collect::<Result<Vec<_>, _>>()) else {
                    return Vec::new();
                };
                // Local dates from a day before `from` (a slot may run into it) to a day after `to`.
                let first = local_date(tz, from - duration) - ChronoDuration::days(1);
                let last = local_date(tz, to) + ChronoDuration::days(1);
                first.iter_days().take_while(|d| *d <= last).filter(|d| days.contains(&d.weekday())).map(|d| resolve(tz, d.and_time(time))).collect()
            }
            (None, None) => Vec::new(),
        };
        starts.into_iter().map(|start| Slot { start, end: start + duration }).filter(|s| s.end > from && s.start < to).collect()
    }
}

/// A local date and time in `tz` as UNIX seconds: in a gap, when the gap
/// ends (the wall time moved on by the gap); twice, the first.
fn resolve(tz: Tz, local: NaiveDateTime) -> Timestamp {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.timestamp(),
        LocalResult::Ambiguous(first, _) => first.timestamp(),
        LocalResult::None => {
            // The first wall time after the gap (gaps are at most a few hours).
            let mut probe = local;
            for _ in 0..(3 * 60) {
                probe += ChronoDuration::minutes(1);
                if let LocalResult::Single(t) | LocalResult::Ambiguous(t, _) = tz.from_local_datetime(&probe) {
                    return t.timestamp();
                }
            }
            Utc.from_utc_datetime(&local).timestamp()
        }
    }
}

fn local_date(tz: Tz, at: Timestamp) -> NaiveDate {
    tz.timestamp_opt(at, 0).single().map_or_else(|| NaiveDate::default(), |t| t.date_naive())
}

fn parse_local(s: &str) -> Result<NaiveDateTime, Invalid> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .map_err(|_| Invalid::new("start", "schedule.start", "start is a local date and time, e.g. 2026-03-29T20:00"))
}

fn parse_time(s: &str) -> Result<NaiveTime, Invalid> {
    NaiveTime::parse_from_str(s, "%H:%M:%S").or_else(|_| NaiveTime::parse_from_str(s, "%H:%M")).map_err(|_| Invalid::new("rule.time", "schedule.time", "time is a local time, e.g. 20:00"))
}

fn weekday(s: &str) -> Result<Weekday, Invalid> {
    WEEKDAYS.iter().find(|(n, _)| *n == s).map(|(_, d)| *d).ok_or_else(|| Invalid::new("rule.weekdays", "schedule.weekday", format!("'{s}' is not a weekday (mon … sun)")))
}

/// Whether two sets of slots share any moment: the first pair that does.
pub fn first_overlap(a: &[Slot], b: &[Slot]) -> Option<(Slot, Slot)> {
    a.iter().flat_map(|x| b.iter().map(move |y| (*x, *y))).find(|(x, y)| x.start < y.end && y.start < x.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Timestamp {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").expect("utc").and_utc().timestamp()
    }

    fn once(tz: &str, start: &str, duration: u32) -> Schedule {
        Schedule { stream: Guid::parse("aaaaaaaaaaa1").unwrap(), title: "Show".into(), timezone: tz.into(), start: Some(start.into()), rule: None, duration }
    }

    #[test]
    fn berlin_spring_forward_a_slot_in_the_gap_starts_when_the_gap_ends() {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
        let s = once("Europe/Berlin", "2026-03-29T02:30", 3600);
        assert_eq!(s.slots(utc("2026-03-28T00:00"), utc("2026-03-30T00:00")), [Slot { start: utc("2026-03-29T01:00"), end: utc("2026-03-29T02:00") }]);
        // A slot across the change lasts its real hour: 01:30 CET to 03:30 CEST.
        let s = once("Europe/Berlin", "2026-03-29T01:30", 3600);
        assert_eq!(s.slots(utc("2026-03-28T00:00"), utc("2026-03-30T00:00")), [Slot { start: utc("2026-03-29T00:30"), end: utc("2026-03-29T01:30") }]);
    }

    #[test]
    fn berlin_fall_back_the_repeated_hour_starts_at_its_first_occurrence() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
        let s = once("Europe/Berlin", "2026-10-25T02:30", 1800);
        assert_eq!(s.slots(utc("2026-10-24T00:00"), utc("2026-10-26T00:00")), [Slot { start: utc("2026-10-25T00:30"), end: utc("2026-10-25T01:00") }]);
    }

    #[test]
    fn new_york_weekly_slots_keep_their_local_time_across_both_changes() {
        // Sundays at 02:30 local, 2026: spring forward on 8 March, fall back on 1 November.
        let weekly = Schedule {
            stream: Guid::parse("aaaaaaaaaaa1").unwrap(),
            title: "Late".into(),
            timezone: "America/New_York".into(),
            start: None,
            rule: Some(Rule { weekdays: vec!["sun".into()], time: "02:30".into() }),
            duration: 3600,
        };
        let starts = |from: &str, to: &str| weekly.slots(utc(from), utc(to)).into_iter().map(|s| s.start).collect::<Vec<_>>();
        // 1 March EST (UTC-5), 8 March in the gap → 03:00 EDT = 07:00 UTC, 15 March EDT (UTC-4).
        assert_eq!(starts("2026-02-28T00:00", "2026-03-16T00:00"), [utc("2026-03-01T07:30"), utc("2026-03-08T07:00"), utc("2026-03-15T06:30")]);
        // New York falls back at 02:00 EDT to 01:00 EST: 02:30 happens once (EST) on 1 November…
        assert_eq!(starts("2026-10-24T00:00", "2026-11-09T00:00"), [utc("2026-10-25T06:30"), utc("2026-11-01T07:30"), utc("2026-11-08T07:30")]);
        // …and 01:30 twice: the first, still EDT (05:30 UTC), then EST a week later.
        let early = Schedule { rule: Some(Rule { weekdays: vec!["sun".into()], time: "01:30".into() }), ..weekly.clone() };
        let starts = early.slots(utc("2026-10-24T00:00"), utc("2026-11-09T00:00")).into_iter().map(|s| s.start).collect::<Vec<_>>();
        assert_eq!(starts, [utc("2026-10-25T05:30"), utc("2026-11-01T05:30"), utc("2026-11-08T06:30")]);
    }

    #[test]
    fn bad_zones_times_and_shapes_are_refused() {
        let mut s = once("Mars/Olympus_Mons", "2026-03-29T20:00", 3600);
        assert_eq!(s.validate().unwrap_err().code, "schedule.timezone");
        s.timezone = "Europe/Berlin".into();
        assert!(s.validate().is_ok());
        s.start = Some("tomorrow at eight".into());
        assert_eq!(s.validate().unwrap_err().code, "schedule.start");
        s.start = None;
        assert_eq!(s.validate().unwrap_err().code, "schedule.when");
        s.rule = Some(Rule { weekdays: vec!["someday".into()], time: "20:00".into() });
        assert_eq!(s.validate().unwrap_err().code, "schedule.weekday");
        s.rule = Some(Rule { weekdays: vec!["fri".into()], time: "25:00".into() });
        assert_eq!(s.validate().unwrap_err().code, "schedule.time");
        s.rule = Some(Rule { weekdays: vec!["fri".into()], time: "20:00".into() });
        s.duration = 30;
        assert_eq!(s.validate().unwrap_err().code, "field.range");
    }

    #[test]
    fn overlaps_are_found() {
        let a = [Slot { start: 0, end: 100 }];
        assert!(first_overlap(&a, &[Slot { start: 100, end: 200 }]).is_none(), "back to back is fine");
        assert!(first_overlap(&a, &[Slot { start: 99, end: 200 }]).is_some());
    }
}
