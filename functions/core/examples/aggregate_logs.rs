//! Analytics aggregation benchmark (BENCHMARKS.md): a gzipped CloudFront log of N lines
//! (default 1,000,000: 40,000 listeners, 100 episodes, apps, bots, probes, HEADs, ranges)
//! written to a temporary file, then read back, one core: gunzip, parse, hash each address
//! into its listener, classify each User-Agent (OPAWG), merge the spans, and compute the day's
//! figures. Beside it, the same file through `gzip -dc | wc -l` (the floor: reading it at all).
//! Usage: cargo run --release -p podops-core --example aggregate_logs [lines]

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    time::Instant,
};

use podops_core::domain::analytics::{cloudfront::LogReader, day_figures, Agents, Enclosure, Spans, Tally};

const FIELDS: &str = "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";
const AGENTS: [&str; 8] = [
    "Overcast/3.0%20(+http://overcast.fm/;%20iOS%20podcast%20app)",
    "Podcasts/1410.53%20CFNetwork/1111%20Darwin/19.0.0%20(x86_64)",
    "Spotify/8.7.10%20iOS/15.3.1%20(iPhone13,2)",
    "AppleCoreMedia/1.0.0.20E252%20(iPhone;%20U;%20CPU%20OS%2016_4_1%20like%20Mac%20OS%20X;%20en_us)",
    "Pocket%20Casts",
    "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20(KHTML,%20like%20Gecko)%20Chrome/119.0.0.0%20Safari/537.36",
    "Mozilla/5.0%20(compatible;%20AhrefsBot/7.0;%20+http://ahrefs.com/robot/)",
    "-",
];
const SIZE: u64 = 28_800_000; // a 30-minute episode at 128 kb/s

fn main() {
    let lines: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("E2EXAMPLE.2026-11-27-12.log.gz");
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).expect("file"), flate2::Compression::fast());
    writeln!(gz, "#Version: 1.0\n{FIELDS}").expect("write");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..lines {
        let r = next();
        let listener = r % 40_000;
        let ip = if listener % 3 == 0 { format!("2001:db8:{:x}:{:x}::{:x}", listener >> 8, listener & 0xff, (r >> 48) & 0xffff) } else { format!("198.51.{}.{}", (listener >> 8) & 0xff, listener & 0xff) };
        let agent = AGENTS[(listener % AGENTS.len() as u64) as usize];
        let episode = (r >> 20) % 100;
        let method = if r % 50 == 0 { "HEAD" } else { "GET" };
        let (status, start, end) = match (r >> 8) % 4 {
            0 => (206, 0, 1),
            1 => (200, 0, SIZE - 1),
            _ => {
                let s = (r >> 24) % (SIZE / 2);
                (206, s, (s + 2_000_000).min(SIZE - 1))
            }
        };
        let (h, m, s) = ((i * 86_399 / lines) / 3600, (i * 86_399 / lines) / 60 % 60, (i * 86_399 / lines) % 60);
        writeln!(
            gz,
            "2026-11-27\t{h:02}:{m:02}:{s:02}\tFRA56-P1\t{}\t{ip}\tGET\td1.cloudfront.net\t/media/0123456789ab/{episode:012x}.mp3\t{status}\t-\t{agent}\t-\t-\tHit\tid{i}\tcdn.example.com\thttps\t200\t0.01\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t443\t0.01\tHit\taudio/mpeg\t{}\t{start}\t{end}",
            end - start + 1,
            end - start + 1,
        )
        .expect("write");
        let _ = method;
    }
    gz.finish().expect("gzip");
    let compressed = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    let floor = Instant::now();
    let out = std::process::Command::new("sh").arg("-c").arg(format!("gzip -dc {} | wc -l", path.display())).output().expect("gzip");
    let floor = floor.elapsed().as_secs_f64();
    assert!(out.status.success());

    let agents = Agents::default();
    let started = Instant::now();
    let file = BufReader::with_capacity(1 << 20, flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("open")));
    let mut reader = LogReader::new(|_| b"0123456789abcdef0123456789abcdef".to_vec());
    let mut tally = Tally::default();
    let mut line = String::new();
    let mut file = file;
    while file.read_line(&mut line).expect("line") > 0 {
        reader.tally_line(line.trim_end_matches('\n'), &mut tally, &agents);
        line.clear();
    }
    let read = started.elapsed().as_secs_f64();
    let enclosure = |_: &str| Some(Enclosure { episodes: vec!["episode".into()], size: SIZE, audio_start: 0, bytes_per_second: 16_000 });
    let entries: Vec<(i64, &str, String, &str, &Spans)> = tally.entries().collect();
    let mut days: BTreeMap<i64, Vec<(&str, &str, &str, &Spans)>> = BTreeMap::new();
    for (day, key, listener, app, spans) in &entries {
        days.entry(*day).or_default().push((listener.as_str(), app, key, spans));
    }
    let figures: Vec<_> = days.into_iter().map(|(_, s)| day_figures(s, enclosure)).collect();
    let total = started.elapsed().as_secs_f64();
    let downloads: u64 = figures.iter().flat_map(|f| f.cells.iter()).map(|c| c.downloads).sum();
    let hwm = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0))).unwrap_or(0);
    println!(
        "log: {lines} lines, {:.1} MB gzipped; {} malformed, {} could count (GETs by listeners), {} spans, {downloads} downloads, {} listeners",
        compressed as f64 / 1e6,
        reader.skipped,
        tally.kept,
        tally.len(),
        figures.iter().map(|f| f.listeners).sum::<u64>()
    );
    println!("| step | seconds | lines/s | ratio to gzip -dc |");
    println!("|---|---|---|---|");
    println!("| gzip -dc \\| wc -l | {floor:.2} | {:.0} | 1.00 |", lines as f64 / floor);
    println!("| podops: gunzip, parse, hash, classify, merge | {read:.2} | {:.0} | {:.2} |", lines as f64 / read, read / floor);
    println!("| podops: … and the day's figures | {total:.2} | {:.0} | {:.2} |", lines as f64 / total, total / floor);
    println!("peak memory (VmHWM): {} MiB", hwm / 1024);
}
