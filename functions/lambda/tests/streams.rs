//! Live streams through the function binaries: `podops-streams` controls a
//! stream and answers its status over the HTTP API; `podops-stream-events`
//! streams its Server-Sent Events as a function URL with response streaming
//! (the runtime API's streaming mode), which an HTTP API could not.

mod support;

use std::time::Duration;

use podops_lambda::Function;
use serde_json::json;
use support::events::{get, post};
use support::runtime_api::Outcome;
use support::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_controlled_through_one_function_and_watched_through_a_streaming_one() {
    let stack = Stack::fresh_with_ssm_key().await;
    let (productions, resources, streams, events) =
        tokio::join!(stack.start(Function::Productions), stack.start(Function::Resources), stack.start(Function::Streams), stack.start(Function::StreamEvents));
    let token = stack.token("studio", "production:read production:write resource:read resource:write");
    let r = productions.http(post("/a/v1/production").bearer(&token).json(json!({"name": "lambda_live", "title": "Live"}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let prod = r.json()["guid"].as_str().expect("guid").to_owned();
    let profile = json!({"format": "mp3", "bitrate": 64000, "sample_rate": 44100, "channels": 1});
    assert_eq!(resources.http(post(&format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1")).bearer(&token).json(profile)).await.status, 201);
    let stream = json!({"title": "Live", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]});
    assert_eq!(resources.http(post(&format!("/a/v1/resource/{prod}/stream/abcdefabcdef")).bearer(&token).json(stream)).await.status, 201);

    // Start: 202, the stream is queued (no worker here) and a message is on the jobs queue.
    let r = streams.http(post(&format!("/a/v1/stream/{prod}/abcdefabcdef/start")).bearer(&token)).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["desired"], "running");
    assert!(stack.queued_messages().await.iter().any(|m| m.contains("stream-abcdefabcdef")), "a start message is queued");
    let r = streams.http(get(&format!("/a/v1/stream/{prod}/abcdefabcdef/status")).bearer(&token)).await;
    assert_eq!((r.status, r.json()["state"].as_str()), (200, Some("queued")), "{}", r.text());
    let r = streams.http(post("/a/v1/ffmpeg/preview").bearer(&token).json(json!({"production": prod, "stream": "abcdefabcdef"}))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["argv"].as_array().is_some_and(|a| a.iter().any(|x| x == "sine=frequency=440:sample_rate=44100")));

    // The events function answers in streaming mode: the prelude, then events as they come.
    let Outcome::Stream { prelude, mut body } = events.invoke(&get(&format!("/a/v1/stream/{prod}/abcdefabcdef/events")).bearer(&token).to_json()).await else {
        panic!("the events function did not stream: {}", events.log())
    };
    assert_eq!(prelude["statusCode"], 200, "{prelude}");
    assert_eq!(prelude["headers"]["content-type"], "text/event-stream", "{prelude}");
    let mut text = String::new();
    while !text.contains("event: status") {
        match tokio::time::timeout(Duration::from_secs(10), body.recv()).await {
            Ok(Some(piece)) => text.push_str(&String::from_utf8_lossy(&piece)),
            _ => panic!("no status event within 10 s: {text:?}\n{}", events.log()),
        }
    }
    assert!(text.contains("\"desired\":\"running\""), "{text}");
}
