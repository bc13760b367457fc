//! Renditions on request, made by the real worker with real FFmpeg: what is
//! asked is what is made (checked with ffprobe), one job per rendition
//! however often it is asked, and loudness normalisation in one pass.

mod support;

use axum::http::{Method, StatusCode};
use podops_core::ports::ListQuery;
use support::{ffprobe, generate, harness, measure_loudness, tone, Harness, FULL};

async fn transcode_jobs(h: &Harness, prod: &str) -> usize {
    let q = ListQuery { partition: format!("PROD#{prod}"), prefix: "JOB#transcode".into(), after: None, limit: 100 };
    h.podops.records.list(&q).await.unwrap().records.len()
}

async fn probed_upload(h: &Harness, t: &str, prod: &str, name: &str, bytes: Vec<u8>) -> String {
    let id = h.upload(t, prod, name, bytes).await["guid"].as_str().unwrap().to_owned();
    assert_eq!(h.settled(t, prod, &id).await["state"], "ready");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rendition_has_the_format_bitrate_and_channels_asked_and_is_made_once() {
    let mut h = harness();
    h.start_worker();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "renditions_made").await;
    let id = probed_upload(&h, &t, &prod, "tone.wav", generate(&tone(4), &["-c:a", "pcm_s16le"], "wav")).await;
    h.stop_worker().await;

    // Not made yet: 409 with Retry-After, and asking again makes no second job.
    let path = format!("/a/v1/asset/{prod}/{id}/content?format=mp3&bitrate=128000&channels=1");
    for _ in 0..3 {
        let r = h.call(Method::GET, &path, &t, None).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "asset.not_ready"));
        assert!(r.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 2), "{:?}", r.headers);
    }
    assert_eq!(transcode_jobs(&h, &prod).await, 1);

    h.start_worker();
    let cases = [
        ("format=mp3&bitrate=128000&channels=1", "mp3", "mp3", Some(128_000), 1, 44_100),
        ("format=ogg&bitrate=64000&channels=2", "ogg", "opus", None, 2, 48_000),
        ("format=aac&bitrate=96000&channels=2", "mov,mp4,m4a,3gp,3g2,mj2", "aac", None, 2, 44_100),
        ("format=flac&channels=1", "flac", "flac", None, 1, 44_100),
        ("format=wav&channels=1", "wav", "pcm_s16le", None, 1, 44_100),
    ];
    for (query, container, codec, exact_bitrate, channels, rate) in cases {
        let url = h.rendition_url(&t, &prod, &id, query).await;
        let facts = ffprobe(&h.fetch_media(&url).await);
        let stream = &facts["streams"][0];
        assert_eq!(facts["format"]["format_name"], container, "{query}");
        assert_eq!((stream["codec_name"].as_str(), stream["channels"].as_u64()), (Some(codec), Some(channels)), "{query}");
        assert_eq!(stream["sample_rate"].as_str().and_then(|r| r.parse::<u32>().ok()), Some(rate), "{query}");
        let duration: f64 = facts["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((duration - 4.0).abs() < 0.1, "{query}: {duration}");
        if let Some(bitrate) = exact_bitrate {
            assert_eq!(stream["bit_rate"].as_str(), Some(bitrate.to_string().as_str()), "{query}");
        }
    }
    // The bitrate of VBR-ish encoders lands near the asked rate.
    let aac = ffprobe(&h.fetch_media(&h.rendition_url(&t, &prod, &id, "format=aac&bitrate=96000&channels=2").await).await);
    let aac_rate: f64 = aac["streams"][0]["bit_rate"].as_str().unwrap().parse().unwrap();
    assert!((80_000.0..=110_000.0).contains(&aac_rate), "aac at {aac_rate}");
    let (_, asset) = h.stored_asset(&prod, &id).await;
    assert_eq!(asset.renditions.len(), 5, "{:?}", asset.renditions);
    assert_eq!(transcode_jobs(&h, &prod).await, 5);
    // 5 renditions + the original, nothing else.
    assert_eq!(h.objects().len(), 6, "{:?}", h.objects());
    h.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_refuses_a_better_quality_than_the_source_and_otherwise_the_closest_is_made() {
    let mut h = harness();
    h.start_worker();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "renditions_qual").await;
    let mono_96k = generate("aevalsrc=0.25*sin(2*PI*997*t):s=44100:d=3", &["-c:a", "libmp3lame", "-b:a", "96k"], "mp3");
    let id = probed_upload(&h, &t, &prod, "mono.mp3", mono_96k).await;
    for query in ["format=mp3&bitrate=320000&channels=1&exact=true", "format=ogg&bitrate=64000&channels=2&exact=true", "format=flac&exact=true"] {
        let r = h.call(Method::GET, &format!("/a/v1/asset/{prod}/{id}/content?{query}"), &t, None).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "asset.low_quality"), "{query}");
    }
    assert_eq!(transcode_jobs(&h, &prod).await, 0, "a refused request enqueues nothing");
    let url = h.rendition_url(&t, &prod, &id, "format=ogg&bitrate=320000&channels=2").await;
    let facts = ffprobe(&h.fetch_media(&url).await);
    assert_eq!(facts["streams"][0]["channels"], 1, "no more channels than the source");
    let (_, asset) = h.stored_asset(&prod, &id).await;
    assert_eq!(asset.renditions[0].name, "ogg-96000-1", "the highest supported bitrate not above the source's");
    // Asking for what the source already is gives the original.
    let same = h.call(Method::GET, &format!("/a/v1/asset/{prod}/{id}/content?format=mp3&bitrate=96000&channels=1"), &t, None).await;
    assert_eq!(same.status, StatusCode::FOUND);
    assert!(same.header("location").contains(&format!("media/{prod}/{id}.mp3")), "{}", same.header("location"));
    h.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_parameters_give_the_original_and_head_answers_without_enqueueing() {
    let mut h = harness();
    h.start_worker();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "renditions_head").await;
    let wav = generate(&tone(2), &["-c:a", "pcm_s16le"], "wav");
    let id = probed_upload(&h, &t, &prod, "tone.wav", wav.clone()).await;
    let r = h.call(Method::GET, &format!("/a/v1/asset/{prod}/{id}/content"), &t, None).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(h.fetch_media(r.header("location")).await.as_ref(), wav.as_slice());

    let path = format!("/a/v1/asset/{prod}/{id}/content?format=mp3&bitrate=64000&channels=1");
    let head = h.call(Method::HEAD, &path, &t, None).await;
    assert_eq!(head.status, StatusCode::CONFLICT);
    assert_eq!(transcode_jobs(&h, &prod).await, 0, "HEAD has no side effects");
    let url = h.rendition_url(&t, &prod, &id, "format=mp3&bitrate=64000&channels=1").await;
    let made = h.fetch_media(&url).await;
    let head = h.call(Method::HEAD, &path, &t, None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!((head.header("content-type"), head.header("content-length")), ("audio/mpeg", made.len().to_string().as_str()));
    h.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loudness_rendition_reaches_the_target_with_the_true_peak_under_the_ceiling() {
    let mut h = harness();
    h.start_worker();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "renditions_loud").await;
    // A steady tone at -12 LUFS: the gain alone brings it to -16.
    let steady = probed_upload(&h, &t, &prod, "steady.wav", generate(&tone(6), &["-c:a", "pcm_s16le"], "wav")).await;
    let url = h.rendition_url(&t, &prod, &steady, "format=mp3&bitrate=128000&channels=2&loudness=-16").await;
    let (lufs, peak) = measure_loudness(&h.fetch_media(&url).await);
    assert!((lufs + 16.0).abs() <= 0.5, "steady tone at {lufs} LUFS");
    assert!((peak + 16.0).abs() <= 0.7, "steady tone peaks at {peak}");
    // A quiet bed (-26 LUFS) with short bursts at -3 dBFS: the +9 dB gain would
    // push the bursts over full scale, so the limiter holds them under -1 dBTP.
    let bursts = "aevalsrc=if(lt(mod(t\\,1)\\,0.001)\\,0.7\\,0.05)*sin(2*PI*997*t)|if(lt(mod(t\\,1)\\,0.001)\\,0.7\\,0.05)*sin(2*PI*997*t):s=44100:d=8";
    let peaky = probed_upload(&h, &t, &prod, "peaky.wav", generate(bursts, &["-c:a", "pcm_s16le"], "wav")).await;
    let url = h.rendition_url(&t, &prod, &peaky, "format=mp3&bitrate=128000&channels=2&loudness=-16").await;
    let (lufs, peak) = measure_loudness(&h.fetch_media(&url).await);
    assert!(peak <= -1.0, "true peak {peak} dBTP over the ceiling");
    // Limiting removes the bursts' share of the loudness (one pass, no re-measure).
    assert!((-17.5..=-15.0).contains(&lufs), "bursty source at {lufs} LUFS");
    let (_, asset) = h.stored_asset(&prod, &peaky).await;
    assert_eq!((asset.renditions[0].name.as_str(), asset.renditions[0].loudness), ("mp3-128000-2-l16", Some(-16)));
    h.stop_worker().await;
}
