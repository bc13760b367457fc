//! Starting a function: a missing or bad setting, or a backend that is not
//! there, is reported once to the runtime API's `/init/error` with the
//! variable or resource named, and the process exits — no panic, no loop.

mod support;

use std::time::Duration;

use podops_lambda::Function;
use support::events::get;
use support::{Stack, endpoint, unique};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_missing_variable_is_an_init_error_naming_it_and_the_process_exits() {
    let mut stack = Stack::fresh().await;
    stack.unset("PODOPS_TABLE");
    let mut productions = stack.start(Function::Productions).await;
    let report = productions.api.init_error(WAIT).await.unwrap_or_else(|| panic!("no init error; log:\n{}", productions.log()));
    assert_eq!(report.error_type.as_deref(), Some("PodOps.ConfigError"));
    assert_eq!(report.body["errorType"], "PodOps.ConfigError");
    assert_eq!(report.body["errorMessage"], "PODOPS_TABLE is not set");
    let status = productions.exit_status(WAIT).await.expect("the process exits");
    assert_eq!(status.code(), Some(1));
    assert!(productions.api.first_next().is_none(), "it never asked for an event");
    let log = productions.log();
    assert!(log.contains("PODOPS_TABLE is not set") && !log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn a_table_that_does_not_exist_is_an_init_error_naming_it_and_the_endpoint() {
    let mut stack = Stack::fresh().await;
    let missing = unique("missing");
    stack.set("PODOPS_TABLE", &missing);
    let mut resources = stack.start(Function::Resources).await;
    let report = resources.api.init_error(WAIT).await.unwrap_or_else(|| panic!("no init error; log:\n{}", resources.log()));
    assert_eq!(report.error_type.as_deref(), Some("PodOps.BackendError"));
    let message = report.body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.starts_with(&format!("the DynamoDB table {missing} does not exist at {}", endpoint())), "{message}");
    assert_eq!(resources.exit_status(WAIT).await.and_then(|s| s.code()), Some(1));
}

#[tokio::test]
async fn only_the_feeds_function_starts_without_the_signing_key() {
    let mut stack = Stack::fresh().await;
    // What the template gives every function, naming a parameter feeds' role may not read.
    stack.unset("PODOPS_SIGNING_KEY");
    stack.set("PODOPS_SIGNING_KEY_PARAMETER", &format!("/{}/signing-key", unique("absent")));
    let (mut build, feeds) = tokio::join!(stack.start(Function::Build), stack.start(Function::Feeds));

    let report = build.api.init_error(WAIT).await.unwrap_or_else(|| panic!("no init error; log:\n{}", build.log()));
    assert_eq!(report.error_type.as_deref(), Some("PodOps.ParameterError"));
    let message = report.body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.starts_with("cannot read the SSM parameter /podops-fn-absent-") && message.contains("ParameterNotFound"), "{message}");
    assert_eq!(build.exit_status(WAIT).await.and_then(|s| s.code()), Some(1));

    let r = feeds.http(get("/feeds/nothing-here/feed.xml")).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (404, Some("feed.not_found")));
    assert!(feeds.api.init_error(Duration::ZERO).await.is_none());
}
