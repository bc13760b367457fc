//! Probing with real FFmpeg: facts and loudness of known generated signals,
//! the episode's duration, and hostile or broken media failing with a code.

mod support;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::{generate, harness, tone, FULL};

fn close(actual: &serde_json::Value, expected: f64, tolerance: f64) -> bool {
    actual.as_f64().is_some_and(|v| (v - expected).abs() <= tolerance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_tone_is_probed_with_its_facts_and_loudness() {
    let mut h = harness();
    h.start_worker();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "probe_facts").await;
    let wav = generate(&tone(6), &["-c:a", "pcm_s16le"], "wav");
    let asset = h.upload(&t, &prod, "tone.wav", wav).await;
    assert_eq!(asset["state"], "pending");
    let id = asset["guid"].as_str().unwrap();
    // The episode exists before the probe ends: the probe fills in its duration.
    let r = h.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/0000000000e1"), &t, Some(json!({"title": "E", "enclosure": id}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["duration"], serde_json::Value::Null);

    let a = h.settled(&t, &prod, id).await;
    assert_eq!(a["state"], "ready", "{a}");
    let p = &a["probe"];
    assert_eq!((p["format"].as_str(), p["codec"].as_str()), (Some("wav"), Some("pcm_s16le")));
    assert_eq!((p["channels"].as_u64(), p["sample_rate"].as_u64(), p["bitrate"].as_u64()), (Some(2), Some(44_100), Some(1_411_200)));
    assert!(close(&p["duration"], 6.0, 0.01), "{p}");
    // 0.25 amplitude in both channels at 997 Hz: -12.04 LUFS, -12.04 dBTP, no loudness range.
    assert!(close(&p["lufs"], -12.04, 0.3), "{p}");
    assert!(close(&p["true_peak"], -12.04, 0.3), "{p}");
    assert!(close(&p["loudness_range"], 0.0, 0.5), "{p}");
    let ep = h.call(Method::GET, &format!("/a/v1/resource/{prod}/episode/0000000000e1"), &t, None).await.json();
    assert_eq!(ep["duration"], 6);
    h.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mp3_is_probed_as_mp3_with_its_bitrate_and_a_quieter_signal_measures_quieter() {
    let mut h = harness();
    h.start_worker();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "probe_mp3s").await;
    let quiet = "aevalsrc=0.0625*sin(2*PI*997*t):s=44100:d=4";
    let mp3 = generate(quiet, &["-c:a", "libmp3lame", "-b:a", "96k"], "mp3");
    let id = h.upload(&t, &prod, "quiet.mp3", mp3).await["guid"].as_str().unwrap().to_owned();
    let a = h.settled(&t, &prod, &id).await;
    let p = &a["probe"];
    assert_eq!((p["format"].as_str(), p["codec"].as_str(), p["channels"].as_u64()), (Some("mp3"), Some("mp3"), Some(1)), "{a}");
    assert_eq!(p["bitrate"], 96_000);
    assert!(close(&p["duration"], 4.0, 0.1), "{p}");
    // Mono at 0.0625 (-24.08 dBFS): one channel counts once, so -24.08 - 3.01.
    assert!(close(&p["lufs"], -27.1, 0.5), "{p}");
    h.stop_worker().await;
}

/// Each hostile or broken file ends failed with a code, quickly, and nothing
/// of /etc/passwd (or any file) ends up in a record or an object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_hostile_media_fail_with_a_code_and_leak_nothing() {
    let mut h = harness();
    h.start_worker();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "hostile_media").await;
    let mp3 = generate(&tone(4), &["-c:a", "libmp3lame", "-b:a", "128k"], "mp3");
    let truncated = mp3[..mp3.len() / 2].to_vec();
    let mut liar = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x01\0\x01\0\x44\xac\0\0\x88\x58\x01\0\x02\0\x10\0data".to_vec();
    liar.extend_from_slice(&(10u32 * 3600 * 88_200).to_le_bytes()); // ten hours of 44.1 kHz mono
    liar.extend(std::iter::repeat_n(0u8, 88_200)); // one second of it
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("zero.mp3", Vec::new(), "media.empty"),
        ("truncated.mp3", truncated, "media.truncated"),
        ("text.mp3", b"Hello, this is not audio at all.\nroot:x:0:0\n".to_vec(), "media.unsupported"),
        ("playlist.mp3", b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n".to_vec(), "media.unsupported"),
        ("concat.mp3", b"ffconcat version 1.0\nfile '/etc/passwd'\n".to_vec(), "media.unsupported"),
        ("liar.wav", liar, "media.truncated"),
    ];
    let started = Instant::now();
    let mut ids = Vec::new();
    for (name, bytes, _) in &cases {
        ids.push(h.upload(&t, &prod, name, bytes.clone()).await["guid"].as_str().unwrap().to_owned());
    }
    for ((name, _, code), id) in cases.iter().zip(&ids) {
        let a = h.settled(&t, &prod, id).await;
        assert_eq!((a["state"].as_str(), a["error"].as_str()), (Some("failed"), Some(*code)), "{name}: {a}");
        assert_eq!(a["probe"], serde_json::Value::Null, "{name}");
        assert!(!a.to_string().contains("root:"), "{name} leaked file content: {a}");
    }
    assert!(started.elapsed() < Duration::from_secs(30), "no process hangs: {:?}", started.elapsed());
    // Only the six uploads are stored: no output was made from any of them.
    assert_eq!(h.objects().len(), cases.len(), "{:?}", h.objects());
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    for object in h.objects() {
        let bytes = std::fs::read(&object).unwrap();
        assert!(passwd.is_empty() || !bytes.windows(passwd.len().min(32)).any(|w| w == &passwd[..passwd.len().min(32)]), "{object}");
    }
    // A rendition of a failed asset is refused with the asset's code.
    let r = h.call(Method::GET, &format!("/a/v1/asset/{prod}/{}/content?format=mp3", ids[3]), &t, None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "asset.failed"));
    assert_eq!(h.dead_letters().await, 0);
    h.stop_worker().await;
}
