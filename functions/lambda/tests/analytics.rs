//! Download analytics on AWS: CloudFront's standard log files (gzipped W3C
//! lines) put into the media bucket on the emulator, and the tasks function
//! run through its runtime API on the "Object Created" event EventBridge
//! sends. The requests are those of `tests/analytics.rs` on `podops serve`,
//! and the answer is the same; a file read twice counts once, and the file,
//! which holds raw addresses, is gone after.

mod support;

use std::io::Write;

use podops_core::{
    domain::analytics::{day_of, day_string},
    ports::{Clock, SystemClock},
};
use podops_lambda::Function;
use serde_json::{Value, json};
use support::Stack;
use support::events::{get, post};
use support::runtime_api::Outcome;

const FIELDS: &str = "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";
const OVERCAST: &str = "Overcast/3.0%20(+http://overcast.fm/;%20iOS%20podcast%20app)";
const APPLE: &str = "Podcasts/1410.53%20CFNetwork/1111%20Darwin/19.0.0%20(x86_64)";
const SPOTIFY: &str = "Spotify/8.7.10%20iOS/15.3.1%20(iPhone13,2)";
const BOT: &str = "Mozilla/5.0%20(compatible;%20AhrefsBot/7.0;%20+http://ahrefs.com/robot/)";
const ID3: usize = 1_000;
const MINUTE: usize = 960_000; // 128 kb/s

fn object_created(bucket: &str, key: &str) -> Value {
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "Object Created", "source": "aws.s3",
        "account": "111122223333", "time": "2026-11-27T12:05:00Z", "region": "us-east-1", "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": 1024, "etag": "e1", "sequencer": "00617F08299329D189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "delivery.logs.amazonaws.com", "source-ip-address": "203.0.113.15", "reason": "PutObject"}
    })
}

/// An MP3's shape: a 1,000-byte ID3 tag, then 2 MB of frames.
fn mp3() -> Vec<u8> {
    let tag = ID3 - 10;
    let mut bytes = vec![b'I', b'D', b'3', 4, 0, 0, ((tag >> 21) & 0x7f) as u8, ((tag >> 14) & 0x7f) as u8, ((tag >> 7) & 0x7f) as u8, (tag & 0x7f) as u8];
    bytes.resize(ID3, 0);
    bytes.resize(ID3 + 2_000_000, 0xff);
    bytes
}

fn line(date: &str, time: &str, stem: &str, method: &str, agent: &str, range: Option<(usize, usize)>, size: usize) -> String {
    let (status, sent, start, end) = match range {
        Some((s, e)) => (206, e - s + 1, s.to_string(), e.to_string()),
        None => (200, size, "-".into(), "-".into()),
    };
    format!(
        "{date}\t{time}\tFRA56-P1\t{sent}\t203.0.113.7\t{method}\td1.cloudfront.net\t{stem}\t{status}\t-\t{agent}\t-\t-\tHit\tid\tcdn.example.com\thttps\t200\t0.01\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t443\t0.01\tHit\taudio/mpeg\t{sent}\t{start}\t{end}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudfront_logs_are_counted_as_the_media_route_counts() {
    let stack = Stack::fresh().await;
    let (productions, resources, upload, tasks) = tokio::join!(stack.start(Function::Productions), stack.start(Function::Resources), stack.start(Function::Upload), stack.start(Function::Tasks));
    let token = stack.token("studio", "production:read production:write resource:read resource:write");
    let r = productions.http(post("/a/v1/production").bearer(&token).json(json!({"name": "counted-on-aws", "title": "Counted"}))).await;
    let prod = r.json()["guid"].as_str().expect("guid").to_owned();
    let audio = mp3();
    let r = upload.http(post(&format!("/a/v1/upload/{prod}?filename=ep.mp3")).bearer(&token).bytes("audio/mpeg", &audio)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let asset = r.json()["guid"].as_str().expect("guid").to_owned();
    stack.probe_as_the_worker_would(&prod, &asset).await;
    let published = SystemClock.now() - 60;
    let r = resources.http(post(&format!("/a/v1/resource/{prod}/episode/bbbbbbbbbbb1")).bearer(&token).json(json!({"title": "Counted", "enclosure": asset, "published": published}))).await;
    assert_eq!(r.status, 201, "{}", r.text());

    // The requests of tests/analytics.rs, as CloudFront logs them, today.
    let today = day_string(day_of(SystemClock.now()));
    let stem = format!("/media/{prod}/{asset}.mp3");
    let size = audio.len();
    let lines = [
        line(&today, "10:00:00", &stem, "GET", OVERCAST, None, size),
        line(&today, "10:01:00", &stem, "GET", APPLE, Some((0, 1)), size),
        line(&today, "10:01:01", &stem, "GET", APPLE, Some((0, ID3 + MINUTE / 2)), size),
        line(&today, "10:01:02", &stem, "GET", APPLE, Some((ID3 + MINUTE / 3, ID3 + MINUTE)), size),
        line(&today, "10:02:00", &stem, "GET", SPOTIFY, Some((0, ID3 + MINUTE - 2)), size),
        line(&today, "10:03:00", &stem, "GET", BOT, None, size),
        line(&today, "10:04:00", &stem, "GET", "-", None, size),
        line(&today, "10:05:00", &stem, "HEAD", "Pocket%20Casts", None, size),
    ];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    writeln!(gz, "#Version: 1.0\n{FIELDS}\n{}", lines.join("\n")).expect("gzip");
    let key = format!("cdn-logs/E2PODOPSTEST.{today}-10.a1b2c3d4.gz");
    stack.clients.s3.put_object().bucket(&stack.config.media_bucket).key(&key).body(gz.finish().expect("gzip").into()).send().await.expect("put the log");

    let event = object_created(&stack.config.media_bucket, &key);
    let Outcome::Response(body) = tasks.invoke(&event).await else { panic!("the log event failed: {}", tasks.log()) };
    let read: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!((read["analytics"]["lines"].as_u64(), read["analytics"]["malformed"].as_u64()), (Some(10), Some(0)), "{read}");

    let by_app = productions.http(get(&format!("/a/v1/analytics/{prod}?by=app")).bearer(&token)).await;
    assert_eq!(by_app.status, 200, "{}", by_app.text());
    let report = by_app.json();
    assert_eq!(
        report["rows"],
        json!([{"app": "Apple Podcasts", "downloads": 1, "listeners": 1}, {"app": "Overcast", "downloads": 1, "listeners": 1}]),
        "the figures of tests/analytics.rs: {report}"
    );
    assert_eq!(report["totals"], json!({"downloads": 2, "listeners": 2}));

    // The file is gone (it held addresses); the same event again counts nothing twice.
    assert!(stack.clients.s3.head_object().bucket(&stack.config.media_bucket).key(&key).send().await.is_err(), "the raw log was deleted");
    let Outcome::Response(body) = tasks.invoke(&event).await else { panic!("the repeated event failed: {}", tasks.log()) };
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("JSON")["analytics"]["spans"], 0);
    let again = productions.http(get(&format!("/a/v1/analytics/{prod}?by=app")).bearer(&token)).await.json();
    assert_eq!(again["totals"], json!({"downloads": 2, "listeners": 2}));
}
