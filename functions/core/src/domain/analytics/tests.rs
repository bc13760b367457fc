//! Request logs with known answers.

use super::*;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const APP: &str = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)";
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
const BOT: &str = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)";
const OBJECT: &str = "media/0123456789ab/aaaaaaaaaaa1.mp3";
/// 128 kb/s: 16,000 bytes a second, 960,000 a minute, after a 1,000-byte ID3 tag; 5 MB in all.
fn enclosure(key: &str) -> Option<Enclosure> {
    (key == OBJECT).then(|| Enclosure { episodes: vec!["bbbbbbbbbbb1".into()], size: 5_000_000, audio_start: 1_000, bytes_per_second: 16_000 })
}
const DAY_ONE: Timestamp = 1_764_201_600; // 2025-11-27 00:00:00 UTC

fn hit(time: Timestamp, ip: &str, ua: &str, method: &str, range: Option<(u64, u64)>) -> Hit {
    let ip: IpAddr = ip.parse().expect("ip");
    Hit { time, key: OBJECT.into(), listener: listener(KEY, ip, ua), user_agent: ua.into(), method: method.into(), status: if range.is_some() { 206 } else { 200 }, range }
}

fn figures(hits: &[Hit]) -> BTreeMap<Day, DayFigures> {
    let agents = Agents::default();
    let mut tally = Tally::default();
    for h in hits {
        tally.add(h, &agents);
    }
    let entries: Vec<(Day, &str, String, &str, &Spans)> = tally.entries().collect();
    let mut days: BTreeMap<Day, Vec<(&str, &str, &str, &Spans)>> = BTreeMap::new();
    for (day, key, listener, app, spans) in &entries {
        days.entry(*day).or_default().push((listener.as_str(), app, key, spans));
    }
    days.into_iter().map(|(d, s)| (d, day_figures(s, enclosure))).collect()
}

fn downloads(f: &BTreeMap<Day, DayFigures>) -> u64 {
    f.values().flat_map(|d| d.cells.iter()).map(|c| c.downloads).sum()
}

#[test]
fn overlapping_ranges_count_by_their_union() {
    // 600 KB twice over the same bytes, then the next 400 KB: 1,000,000 bytes in all, above 961,000.
    let hits = [
        hit(DAY_ONE + 10, "203.0.113.7", APP, "GET", Some((0, 599_999))),
        hit(DAY_ONE + 11, "203.0.113.7", APP, "GET", Some((100_000, 599_999))),
        hit(DAY_ONE + 12, "203.0.113.7", APP, "GET", Some((500_000, 999_999))),
    ];
    assert_eq!(downloads(&figures(&hits)), 1);
    // The same bytes fetched three times never reach the minute.
    let hits = [0, 1, 2].map(|i| hit(DAY_ONE + i, "203.0.113.8", APP, "GET", Some((0, 599_999))));
    assert_eq!(downloads(&figures(&hits)), 0);
}

#[test]
fn probes_heads_bots_and_anonymous_requests_never_count() {
    let hits = [
        hit(DAY_ONE, "203.0.113.9", APP, "GET", Some((0, 1))),
        hit(DAY_ONE + 1, "203.0.113.9", APP, "HEAD", None),
        hit(DAY_ONE + 2, "203.0.113.10", BOT, "GET", None),
        hit(DAY_ONE + 3, "203.0.113.11", "", "GET", None),
    ];
    let f = figures(&hits);
    assert_eq!(downloads(&f), 0, "{f:?}");
    // A 0-1 probe followed by the real fetch is one download.
    let hits = [hit(DAY_ONE, "203.0.113.9", APP, "GET", Some((0, 1))), hit(DAY_ONE + 5, "203.0.113.9", APP, "GET", None)];
    assert_eq!(downloads(&figures(&hits)), 1);
}

#[test]
fn the_threshold_is_a_minute_of_audio_after_the_id3_tag() {
    // Audio starts at byte 1,000; a minute is 960,000 bytes: bytes 1,000..=960,999.
    let below = [hit(DAY_ONE, "203.0.113.12", APP, "GET", Some((0, 960_998)))];
    let exact = [hit(DAY_ONE, "203.0.113.12", APP, "GET", Some((0, 960_999)))];
    let tag_only_missing = [hit(DAY_ONE, "203.0.113.12", APP, "GET", Some((1_000, 960_999)))];
    assert_eq!((downloads(&figures(&below)), downloads(&figures(&exact)), downloads(&figures(&tag_only_missing))), (0, 1, 1));
    // A file shorter than a minute must be fetched whole.
    let short = |key: &str| (key == OBJECT).then(|| Enclosure { episodes: vec!["e".into()], size: 100_000, audio_start: 0, bytes_per_second: 16_000 });
    let mut spans = Spans::default();
    spans.add(0, 99_998);
    assert_eq!(day_figures([("l", "A", OBJECT, &spans)], short).listeners, 0);
    spans.add(99_999, 99_999);
    assert_eq!(day_figures([("l", "A", OBJECT, &spans)], short).listeners, 1);
}

#[test]
fn one_listener_counts_once_a_day_and_again_the_next_day() {
    let hits = [
        hit(DAY_ONE + 100, "203.0.113.13", APP, "GET", None),
        hit(DAY_ONE + 5_000, "203.0.113.13", APP, "GET", None),
        hit(DAY_ONE + 86_400 + 100, "203.0.113.13", APP, "GET", None),
    ];
    let f = figures(&hits);
    assert_eq!(f.len(), 2);
    assert!(f.values().all(|d| d.listeners == 1 && d.cells == vec![Cell { episode: "bbbbbbbbbbb1".into(), app: "Overcast".into(), downloads: 1 }]), "{f:?}");
}

#[test]
fn an_ipv6_household_is_one_listener_per_app() {
    let a = hit(DAY_ONE, "2001:db8:1:2:aaaa::1", APP, "GET", None);
    let b = hit(DAY_ONE + 1, "2001:db8:1:2:ffff:1:2:3", APP, "GET", None);
    let other_net = hit(DAY_ONE + 2, "2001:db8:1:3::1", APP, "GET", None);
    let browser = hit(DAY_ONE + 3, "2001:db8:1:2:aaaa::1", BROWSER, "GET", None);
    assert_eq!(a.listener, b.listener, "the same /64");
    assert_ne!(a.listener, other_net.listener);
    let f = figures(&[a, b, other_net, browser]);
    let day = f.values().next().expect("a day");
    assert_eq!((day.listeners, downloads(&f)), (3, 3));
    assert_eq!(day.app_listeners.get("Overcast"), Some(&2));
    assert_eq!(day.app_listeners.get("Safari"), Some(&1), "{day:?}");
}

#[test]
fn listeners_are_hashed_under_the_days_key() {
    let ip: IpAddr = "203.0.113.7".parse().expect("ip");
    let one = listener(KEY, ip, APP);
    assert_eq!(one.len(), 32);
    assert!(one.bytes().all(|b| b.is_ascii_hexdigit()) && !one.contains("203.0.113.7"), "a hash, no address: {one}");
    assert_ne!(one, listener(b"another day's key, 32 bytes long", ip, APP), "a new day, a new listener");
    assert_ne!(one, listener(KEY, ip, BROWSER));
}

#[test]
fn id3_tags_are_measured_by_their_syncsafe_size() {
    assert_eq!(id3_size(b"ID3\x04\x00\x00\x00\x00\x07\x76"), 10 + 1014);
    assert_eq!(id3_size(b"\xff\xfb\x90\x00\x00\x00\x00\x00\x00\x00"), 0);
    assert_eq!(day_string(day_of(DAY_ONE + 3600)), "2025-11-27");
    assert_eq!(parse_day("2025-11-27"), Some(day_of(DAY_ONE)));
}

#[test]
fn cloudfront_lines_read_as_hits_with_the_address_hashed() {
    let log = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end\n\
2025-11-27\t00:00:10\tFRA56-P1\t600500\t203.0.113.7\tGET\td1.cloudfront.net\t/media/0123456789ab/aaaaaaaaaaa1.mp3\t206\t-\tOvercast/3.0%20(+http://overcast.fm/;%20iOS%20podcast%20app)\t-\t-\tHit\tid\tcdn.example.com\thttps\t200\t0.01\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t443\t0.01\tHit\taudio/mpeg\t600000\t0\t599999\n\
garbage line\n";
    let mut reader = cloudfront::LogReader::new(|_| KEY.to_vec());
    let hits: Vec<Hit> = log.lines().filter_map(|l| reader.line(l)).collect();
    assert_eq!(reader.skipped, 1);
    assert_eq!(hits, vec![hit(DAY_ONE + 10, "203.0.113.7", APP, "GET", Some((0, 599_999)))]);
}

#[test]
fn standard_logging_v2_w3c_lines_read_too() {
    // v2 delivers the fields chosen (here those the template picks), space-separated.
    let log = "#Version: 1.0\n#Fields: date time c-ip cs-method cs-uri-stem sc-status cs(User-Agent) x-forwarded-for sc-range-start sc-range-end\n\
2025-11-27 00:00:10 203.0.113.7 GET /media/0123456789ab/aaaaaaaaaaa1.mp3 206 Overcast/3.0%20(+http://overcast.fm/;%20iOS%20podcast%20app) - 0 599999\n";
    let mut reader = cloudfront::LogReader::new(|_| KEY.to_vec());
    let hits: Vec<Hit> = log.lines().filter_map(|l| reader.line(l)).collect();
    assert_eq!(hits, vec![hit(DAY_ONE + 10, "203.0.113.7", APP, "GET", Some((0, 599_999)))]);
}

#[test]
fn scattered_bytes_cannot_grow_a_span_record_without_bound() {
    let mut spans = Spans::default();
    for i in 0..10_000u64 {
        spans.add(i * 10, i * 10);
    }
    assert_eq!(spans.0.len(), MAX_SPANS);
    spans.add(0, 1_000_000);
    assert_eq!(spans.0, vec![(0, 1_000_000)], "a span that joins them all still counts");
}
