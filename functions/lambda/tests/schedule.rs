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
