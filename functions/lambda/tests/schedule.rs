//! The build function's other event: EventBridge's scheduled
//! `{"podops": "run-due-builds"}` (infra/template.yaml's `DueBuilds`).
//! The tour covers a due build being published.

mod support;

use podops_lambda::{DueBuilds, Function};
use serde_json::json;
use support::Stack;
use support::events::post;
use support::runtime_api::Outcome;

#[tokio::test]
async fn with_nothing_due_the_scheduled_event_publishes_nothing() {
    let stack = Stack::fresh().await;
    let build = stack.start(Function::Build).await;
    let Outcome::Response(body) = build.invoke(&json!({"podops": "run-due-builds"})).await else { panic!("failed: {}", build.log()) };
    let due: DueBuilds = serde_json::from_slice(&body).expect("a summary");
    assert_eq!(due, DueBuilds { published: vec![], failed: vec![] });
    // The same process still answers API Gateway after a scheduled event.
    let r = build.http(post("/a/v1/build").json(json!({"production": "0123456789ab"}))).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("auth.missing_token")));
}

#[tokio::test]
async fn an_unknown_scheduled_task_fails_the_invocation_with_its_name() {
    let stack = Stack::fresh().await;
    let build = stack.start(Function::Build).await;
    let Outcome::Error { error_type, body } = build.invoke(&json!({"podops": "reindex"})).await else { panic!("accepted an unknown task") };
    assert!(error_type.is_some(), "the error type header is set");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert_eq!(message, "unknown scheduled task \"reindex\" for podops-build");
}

#[tokio::test]
async fn an_event_that_is_neither_kind_fails_the_invocation_not_the_process() {
    let stack = Stack::fresh().await;
    let build = stack.start(Function::Build).await;
    let Outcome::Error { body, .. } = build.invoke(&json!([1, 2, 3])).await else { panic!("accepted a JSON array") };
    assert!(body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let Outcome::Response(_) = build.invoke(&json!({"podops": "run-due-builds"})).await else { panic!("the process died: {}", build.log()) };
}

/// Stream schedules on AWS: EventBridge's `{"podops": "run-schedules"}` to
/// the tasks function. Two instances ticking at the same moment start a
/// slot's stream once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_instances_ticking_together_start_a_slot_once() {
    use podops_core::ports::{Key, Records};
    let stack = Stack::fresh().await;
    let (resources, first, second) = tokio::join!(stack.start(Function::Resources), stack.start(Function::Tasks), stack.start(Function::Tasks));
    let token = stack.token("studio", "production:read production:write resource:read resource:write");
    let productions = stack.start(Function::Productions).await;
    let r = productions.http(post("/a/v1/production").bearer(&token).json(json!({"name": support::unique("sched"), "title": "S"}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let prod = r.json()["guid"].as_str().expect("guid").to_owned();
    let profile = json!({"name": "talk", "format": "mp3", "bitrate": 64000, "sample_rate": 44100, "channels": 1});
    assert_eq!(resources.http(post(&format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1")).bearer(&token).json(profile)).await.status, 201);
    let stream = json!({"title": "Tone", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]});
    assert_eq!(resources.http(post(&format!("/a/v1/resource/{prod}/stream/bbbbbbbbbbb1")).bearer(&token).json(stream)).await.status, 201);
    // A slot that began at the start of this minute (in UTC, by `date`) and lasts ten.
    let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M"]).output().expect("date");
    let start = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let schedule = json!({"stream": "bbbbbbbbbbb1", "title": "Now", "timezone": "UTC", "start": start, "duration": 600});
    let r = resources.http(post(&format!("/a/v1/resource/{prod}/schedule/ccccccccccc1")).bearer(&token).json(schedule)).await;
    assert_eq!(r.status, 201, "{}", r.text());

    let tick = json!({"podops": "run-schedules"});
    let (a, b) = tokio::join!(first.invoke(&tick), second.invoke(&tick));
    let started = |o: Outcome| match o {
        Outcome::Response(body) => serde_json::from_slice::<serde_json::Value>(&body).expect("json")["started"].as_array().map_or(0, Vec::len),
        _ => panic!("a tick failed"),
    };
    assert_eq!(started(a) + started(b), 1, "one start between the two instances");
    let Outcome::Response(body) = first.invoke(&tick).await else { panic!("a tick failed: {}", first.log()) };
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).expect("json")["started"], json!([]), "and none on the next tick");
    let live = stack.records().get(&Key::new(format!("PROD#{prod}"), "LIVE#bbbbbbbbbbb1")).await.expect("read").expect("a run record");
    assert_eq!(live.body["desired"], "running");
}
