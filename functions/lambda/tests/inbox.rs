//! The tasks function's other events, on a fresh stack on the emulator: S3's
//! "Object Created" for the media bucket's inbox, as EventBridge delivers it
//! (infra/template.yaml's `InboxRule`), and the schedule's
//! `{"podops": "sweep-jobs"}`.

mod support;

use podops_lambda::{Function, Swept};
use serde_json::{Value, json};
use support::events::{get, post};
use support::runtime_api::Outcome;
use support::Stack;

/// The event EventBridge sends for an object created in `bucket`, in the
/// shape S3 documents ("EventBridge event message structure").
fn object_created(bucket: &str, key: &str, etag: &str) -> Value {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "111122223333", "time": "2026-11-22T12:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": 4096, "etag": etag, "sequencer": "00617F08299329D189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "111122223333",
                   "source-ip-address": "203.0.113.15", "reason": "PutObject"}
    })
}

async fn drop_in_inbox(stack: &Stack, key: &str) {
    stack.clients.s3.put_object().bucket(&stack.config.media_bucket).key(key)
        .body(vec![0xffu8, 0xfb, 0x90, 0x00].repeat(1024).into()).send().await.expect("put the inbox object");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_drop_becomes_one_importing_asset_with_its_job_queued() {
    let stack = Stack::fresh().await;
    let (productions, resources, tasks) = tokio::join!(stack.start(Function::Productions), stack.start(Function::Resources), stack.start(Function::Tasks));
    let token = stack.token("operator", "production:read production:write resource:read resource:write");
    let r = productions.http(post("/a/v1/production").bearer(&token).json(json!({"name": "inbox-show", "title": "Inbox"}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let prod = r.json()["guid"].as_str().expect("guid").to_owned();
    let key = format!("inbox/{prod}/episode-7.mp3");
    drop_in_inbox(&stack, &key).await;

    let event = object_created(&stack.config.media_bucket, &key, "\"9b2cf535f27731c974343645a3985328\"");
    let Outcome::Response(body) = tasks.invoke(&event).await else { panic!("the inbox event failed: {}", tasks.log()) };
    let answer: Value = serde_json::from_slice(&body).expect("JSON");
    let asset = answer["imported"]["asset"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
    assert_eq!(answer["imported"]["production"], prod.as_str());
    // EventBridge may deliver it again: the same asset, no second job.
    let Outcome::Response(body) = tasks.invoke(&event).await else { panic!("the repeated event failed") };
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("JSON")["repeated"]["asset"], asset.as_str());

    let r = resources.http(get(&format!("/a/v1/resource/{prod}/asset/{asset}")).bearer(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let shown = r.json();
    assert_eq!((shown["state"].as_str(), shown["rel"].as_str(), shown["name"].as_str()), (Some("importing"), Some("import"), Some("episode-7.mp3")), "{shown}");
    assert_eq!(shown["source"], format!("inbox:{key}"));
    let queued = stack.queued_messages().await;
    assert_eq!(queued, vec![json!({"production": prod, "job": format!("import-{asset}")}).to_string()], "one import job");

    // The sweep finds the job fresh (its message is on the queue): nothing to do.
    let Outcome::Response(body) = tasks.invoke(&json!({"podops": "sweep-jobs"})).await else { panic!("the sweep failed: {}", tasks.log()) };
    let swept: Swept = serde_json::from_slice(&body).expect("a sweep summary");
    assert_eq!(swept, Swept { resent: vec![], failed: vec![], closed: 0 });
}

#[tokio::test]
async fn inbox_events_that_cannot_be_imported_are_refused_or_failed_and_the_function_keeps_serving() {
    let stack = Stack::fresh().await;
    let tasks = stack.start(Function::Tasks).await;
    let key = "inbox/0123456789ab/pilot.mp3";
    drop_in_inbox(&stack, key).await;

    // Unknown production: refused (a retry cannot help), answered, the object left in place.
    let Outcome::Response(body) = tasks.invoke(&object_created(&stack.config.media_bucket, key, "e1")).await else { panic!("failed: {}", tasks.log()) };
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("JSON")["refused"]["code"], "inbox.unknown_production");
    assert!(tasks.log().contains("inbox drop refused"), "logged: {}", tasks.log());
    let Outcome::Response(body) = tasks.invoke(&object_created(&stack.config.media_bucket, "inbox/0123456789ab/my pilot.mp3", "e1")).await else { panic!("failed") };
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("JSON")["refused"]["code"], "inbox.bad_key");

    // Another bucket's events are not ours: the invocation fails and says why.
    let Outcome::Error { body, .. } = tasks.invoke(&object_created("someone-elses-bucket", key, "e1")).await else { panic!("accepted another bucket") };
    assert!(body["errorMessage"].as_str().is_some_and(|m| m.contains("not an inbox event")), "{body}");
    // A schedule task meant for another function is refused by name.
    let Outcome::Error { body, .. } = tasks.invoke(&json!({"podops": "run-due-builds"})).await else { panic!("the tasks function ran the build schedule") };
    assert_eq!(body["errorMessage"], "unknown scheduled task \"run-due-builds\" for podops-tasks");

    let r = tasks.http(get("/a/v1/asset/0123456789ab/0123456789ab/content")).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("auth.missing_token")));
}
