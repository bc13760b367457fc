//! Dates and durations as real feeds write them. `pubDate` is meant to be
//! RFC 2822, but hosts write named zones (EST, PDT), drop the weekday, use
//! single-digit days, full month names, no seconds, or ISO 8601; durations
//! come as HH:MM:SS, MM:SS, plain seconds, with fractions or stray spaces.

use chrono::{DateTime, FixedOffset, NaiveDateTime};

use crate::domain::Timestamp;

/// Zone names hosts put where RFC 2822 wants an offset (RFC 822's, and a few
/// European ones seen in feeds), as seconds east of UTC.
const ZONES: &[(&str, i32)] = &[
    ("UT", 0), ("UTC", 0), ("GMT", 0), ("Z", 0), ("Z0", 0),
    ("EST", -5 * 3600), ("EDT", -4 * 3600), ("CST", -6 * 3600), ("CDT", -5 * 3600),
    ("MST", -7 * 3600), ("MDT", -6 * 3600), ("PST", -8 * 3600), ("PDT", -7 * 3600),
    ("AKST", -9 * 3600), ("AKDT", -8 * 3600), ("HST", -10 * 3600),
    // IST is left out: Irish (+1) and Indian (+5:30) feeds both write it.
    ("BST", 3600), ("CET", 3600), ("CEST", 2 * 3600), ("MET", 3600), ("MEST", 2 * 3600),
    ("EET", 2 * 3600), ("EEST", 3 * 3600), ("WET", 0), ("WEST", 3600),
    ("AEST", 10 * 3600), ("AEDT", 11 * 3600), ("JST", 9 * 3600),
];

const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// A `pubDate` as UNIX time, or `None` when no reading of it makes sense.
pub fn parse_date(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return Some(t.timestamp());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    // ISO 8601 with a space and no zone (read as UTC), or a bare date.
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc().timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
    }
    lenient(text)
}

/// Takes the date apart by tokens: [weekday,] day month year time [zone].
fn lenient(text: &str) -> Option<Timestamp> {
    let cleaned = text.replace(',', " ");
    let mut tokens: Vec<&str> = cleaned.split_whitespace().collect();
    // A leading weekday, in any spelling, carries nothing.
    if tokens.first().is_some_and(|t| t.chars().all(char::is_alphabetic) && month_of(t).is_none()) {
        tokens.remove(0);
    }
    let (day, month, year, rest) = match tokens.as_slice() {
        // 5 Mar 2024 … (RFC order)
        [d, m, y, rest @ ..] if d.parse::<u32>().is_ok() && month_of(m).is_some() => (d.parse::<u32>().ok()?, month_of(m)?, year_of(y)?, rest),
        // Mar 5 2024 … (US order)
        [m, d, y, rest @ ..] if month_of(m).is_some() && d.parse::<u32>().is_ok() => (d.parse::<u32>().ok()?, month_of(m)?, year_of(y)?, rest),
        _ => return None,
    };
    let (time, zone) = match rest {
        [] => ("00:00:00", None),
        [t] => (*t, None),
        [t, z, ..] => (*t, Some(*z)),
    };
    let mut parts = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (parts.next().flatten()?, parts.next().flatten().unwrap_or(0), parts.next().flatten().unwrap_or(0));
    let naive = NaiveDateTime::parse_from_str(&format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}"), "%Y-%m-%d %H:%M:%S").ok()?;
    let offset = match zone {
        None => 0,
        Some(z) => zone_offset(z)?,
    };
    let zone = FixedOffset::east_opt(offset)?;
    Some(naive.and_local_timezone(zone).single()?.timestamp())
}

fn month_of(token: &str) -> Option<u32> {
    let lower = token.to_ascii_lowercase();
    let prefix = lower.get(..3)?;
    MONTHS.iter().position(|m| *m == prefix).map(|i| i as u32 + 1)
}

fn year_of(token: &str) -> Option<i32> {
    let y: i32 = token.parse().ok()?;
    // RFC 822's two-digit years.
    Some(match y {
        0..=49 => 2000 + y,
        50..=99 => 1900 + y,
        _ => y,
    })
}

/// `+0100`, `-05:00`, or a zone name.
fn zone_offset(zone: &str) -> Option<i32> {
    let z = zone.trim_matches(|c| c == '(' || c == ')');
    if let Some(sign) = z.chars().next().filter(|c| *c == '+' || *c == '-') {
        let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
        if digits.len() != 4 {
            return None;
        }
        let (h, m): (i32, i32) = (digits[..2].parse().ok()?, digits[2..].parse().ok()?);
        let secs = h * 3600 + m * 60;
        return Some(if sign == '-' { -secs } else { secs });
    }
    ZONES.iter().find(|(name, _)| name.eq_ignore_ascii_case(z)).map(|(_, o)| *o)
}

/// An `itunes:duration` in whole seconds: `HH:MM:SS`, `MM:SS` or seconds,
/// fractions dropped; `None` when it is none of these.
pub fn parse_duration(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let parts: Vec<&str> = text.split(':').map(str::trim).collect();
    if parts.len() > 3 {
        return None;
    }
    let mut total: f64 = 0.0;
    for (i, part) in parts.iter().enumerate() {
        let value: f64 = part.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
        // Minutes and seconds after a colon stay below 60 … mostly: a few hosts write 75:30.
        if i > 0 && value >= 60.0 && i == parts.len() - 1 {
            return None;
        }
        total = total * 60.0 + value;
    }
    (total < f64::from(u32::MAX)).then_some(total as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_variants_hosts_write() {
        let t = 1_709_654_400; // 2024-03-05 16:00:00 UTC
        for text in [
            "Tue, 05 Mar 2024 16:00:00 +0000",
            "Tue, 05 Mar 2024 16:00:00 GMT",
            "Tue, 05 Mar 2024 11:00:00 EST",
            "Tue, 05 Mar 2024 08:00:00 PST",
            "Tue, 5 Mar 2024 16:00:00 +0000",
            "05 Mar 2024 16:00:00 +0000",
            "5 Mar 2024 16:00:00 GMT",
            "Tuesday, 05 March 2024 16:00:00 +0000",
            "Tue, 05 Mar 2024 16:00 +0000",
            "Tue, 05 Mar 24 16:00:00 +0000",
            "Tue, 05 Mar 2024 17:00:00 +01:00",
            "Mar 5, 2024 16:00:00 GMT",
            "2024-03-05T16:00:00Z",
            "  Tue,  05 Mar 2024 16:00:00 +0000  ",
            "2024-03-05 16:00:00",
            "Tue, 05 Mar 2024 16:00:00 UTC",
        ] {
            assert_eq!(parse_date(text), Some(t), "{text}");
        }
        // A wrong weekday does not make a right date wrong.
        assert_eq!(parse_date("Fri, 05 Mar 2024 16:00:00 +0000"), Some(t));
        assert_eq!(parse_date("5 Mar 2024"), Some(1_709_596_800));
        for bad in ["", "yesterday", "32 Mar 2024 10:00:00 GMT", "Tue, 05 Foo 2024 16:00:00 +0000", "05 Mar 2024 16:00:00 XYZ"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_as_seconds_minutes_or_hours() {
        for (text, want) in [("3723", 3723), ("62:03", 3723), ("1:02:03", 3723), ("01:02:03", 3723), ("1:02:03.500", 3723), ("3723.9", 3723), (" 45:00 ", 2700), ("0", 0)] {
            assert_eq!(parse_duration(text), Some(want), "{text}");
        }
        for bad in ["", "abc", "1:2:3:4", "-5", "10:75", "NaN"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
