//! Imports from the inbox on the real embedded stack: a file dropped at
//! `inbox/<production>/<file>` becomes an asset (once, however often the
//! event comes), the worker moves and probes it with real FFmpeg and removes
//! the inbox object; bad drops are refused with a code and touch nothing.

mod support;

use bytes::Bytes;
use podops_core::{
    ports::{BlobKey, ByteStream},
    service::{InboxOutcome, ServiceError},
};
use sha2::{Digest, Sha256};
use support::{generate, harness, tone, Harness, FULL};

async fn drop_file(h: &Harness, key: &str, bytes: Vec<u8>) -> BlobKey {
    let key = BlobKey::parse(key).expect("key");
    let body: ByteStream = Box::pin(futures::stream::once(async move { Ok(Bytes::from(bytes)) }));
    h.podops.blobs.put(&key, "application/octet-stream", body, u64::MAX).await.expect("drop");
    key
}

fn refusal(result: Result<InboxOutcome, ServiceError>) -> &'static str {
    match result {
        Err(ServiceError::ImportRefused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_file_becomes_one_probed_asset_and_leaves_the_inbox() {
    let mut h = harness();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "inbox_ok").await;
    let wav = generate(&tone(2), &["-c:a", "pcm_s16le"], "wav");
    let key = drop_file(&h, &format!("inbox/{prod}/episode-12.wav"), wav.clone()).await;

    let InboxOutcome::Created(asset) = h.podops.import_from_inbox(key.as_str(), "\"etag-1\"").await.expect("import") else { panic!("not created") };
    let id = asset.guid.to_string();
    // EventBridge delivers at least once: the same event names the same asset.
    match h.podops.import_from_inbox(key.as_str(), "\"etag-1\"").await.expect("repeat") {
        InboxOutcome::Repeated(again) => assert_eq!(again.as_str(), id),
        other => panic!("a repeated event made {other:?}"),
    }
    assert_eq!(h.asset(&t, &prod, &id).await["state"], "importing");

    h.start_worker();
    let settled = h.settled(&t, &prod, &id).await;
    h.stop_worker().await;
    assert_eq!(settled["state"], "ready", "{settled}");
    assert_eq!(settled["name"], "episode-12.wav");
    assert_eq!(settled["sha256"].as_str(), Some(hex::encode(Sha256::digest(&wav)).as_str()));
    assert!((settled["probe"]["duration"].as_f64().unwrap() - 2.0).abs() < 0.05, "{settled}");
    assert_eq!(h.podops.blobs.head(&key).await.expect("head"), None, "the inbox object is removed");
    // Served like an upload: the original comes back byte for byte.
    let url = h.rendition_url(&t, &prod, &id, "").await;
    assert_eq!(h.fetch_media(&url).await.as_ref(), wav.as_slice());
    assert_eq!(h.dead_letters().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_drops_are_refused_with_a_code_and_make_no_asset() {
    let h = harness();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "inbox_bad").await;
    let wav = generate(&tone(1), &["-c:a", "pcm_s16le"], "wav");

    let stranger = drop_file(&h, "inbox/0123456789ab/x.wav", wav.clone()).await;
    assert_eq!(refusal(h.podops.import_from_inbox(stranger.as_str(), "e").await), "inbox.unknown_production");
    let notes = drop_file(&h, &format!("inbox/{prod}/notes.txt"), b"show notes".to_vec()).await;
    assert_eq!(refusal(h.podops.import_from_inbox(notes.as_str(), "e").await), "media.unsupported");
    assert_eq!(refusal(h.podops.import_from_inbox(&format!("inbox/{prod}/never-dropped.wav"), "e").await), "inbox.missing");
    assert_eq!(refusal(h.podops.import_from_inbox(&format!("inbox/{prod}/my episode.wav"), "e").await), "inbox.bad_key");
    assert_eq!(refusal(h.podops.import_from_inbox(&format!("media/{prod}/x.wav"), "e").await), "inbox.bad_key");

    let list = h.call(axum::http::Method::GET, &format!("/a/v1/resource/{prod}/asset"), &t, None).await.json();
    assert_eq!(list["total"], 0, "{list}");
    // Refused drops stay where they are for the operator to see.
    assert!(h.podops.blobs.head(&notes).await.expect("head").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_file_that_is_not_audio_fails_the_asset_with_a_media_code() {
    let mut h = harness();
    let t = h.token("alice", FULL);
    let prod = h.production(&t, "inbox_fake").await;
    let key = drop_file(&h, &format!("inbox/{prod}/fake.mp3"), b"#EXTM3U\nfile:///etc/passwd\n".to_vec()).await;
    let InboxOutcome::Created(asset) = h.podops.import_from_inbox(key.as_str(), "e").await.expect("import") else { panic!("not created") };
    h.start_worker();
    let settled = h.settled(&t, &prod, &asset.guid.to_string()).await;
    h.stop_worker().await;
    assert_eq!(settled["state"], "failed", "{settled}");
    assert!(settled["error"].as_str().is_some_and(|c| c.starts_with("media.")), "{settled}");
}
