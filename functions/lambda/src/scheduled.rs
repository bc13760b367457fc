//! The build function's event loop. It gets two kinds of events: API Gateway's
//! (the build routes) and the EventBridge schedule's `{"podops":
//! "run-due-builds"}`, which runs the builds that came due (scheduled
//! episodes, coalesced edits) — what `podops serve`'s scheduler does every second.

use axum::Router;
use lambda_http::{Adapter, request::LambdaRequest};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use podops_api::{AppState, routes};
use podops_core::service::Podops;
use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use tower::ServiceExt;

use crate::Function;

/// The schedule's task name (infra/template.yaml's `DueBuilds` input).
pub const RUN_DUE_BUILDS: &str = "run-due-builds";

/// The whole event the schedule sends; nothing else may be in it, so an API
/// Gateway event can never be taken for it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scheduled {
    podops: String,
}

/// What a scheduled invocation did (the invocation's result, and its log).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DueBuilds {
    pub published: Vec<Published>,
    pub failed: Vec<Failed>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Published {
    pub production: String,
    pub episodes: usize,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failed {
    pub production: String,
    pub error: String,
}

pub async fn run(state: AppState) -> Result<(), Error> {
    let podops = state.podops.clone();
    let router = routes::finish(Function::Build.routes(), state);
    let handler = service_fn(move |event: LambdaEvent<Box<RawValue>>| handle(router.clone(), podops.clone(), event));
    lambda_runtime::run(handler).await
}

/// The event is read as raw JSON once, then parsed as the one kind it is.
async fn handle(router: Router, podops: Podops, event: LambdaEvent<Box<RawValue>>) -> Result<Value, Error> {
    let (raw, context) = event.into_parts();
    if let Ok(task) = serde_json::from_str::<Scheduled>(raw.get()) {
        if task.podops != RUN_DUE_BUILDS {
            return Err(format!("unknown scheduled task {:?} (expected {RUN_DUE_BUILDS:?})", task.podops).into());
        }
        return Ok(serde_json::to_value(run_due_builds(&podops).await?)?);
    }
    let request: LambdaRequest = serde_json::from_str(raw.get())?;
    // The same conversion `lambda_http::run` does, for this one event.
    let response = Adapter::from(router).oneshot(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}

/// A production's failed build is logged and listed, not the invocation's
/// failure: its claim is already taken, so a retry by EventBridge would not
/// run it again, only repeat the others' work.
async fn run_due_builds(podops: &Podops) -> Result<DueBuilds, Error> {
    let mut due = DueBuilds { published: Vec::new(), failed: Vec::new() };
    for (production, result) in podops.run_due_builds().await? {
        match result {
            Ok(episodes) => {
                tracing::info!(production = %production, episodes, "scheduled build published");
                due.published.push(Published { production: production.to_string(), episodes });
            }
            Err(e) => {
                tracing::warn!(production = %production, error = %e, "scheduled build failed");
                due.failed.push(Failed { production: production.to_string(), error: e.to_string() });
            }
        }
    }
    Ok(due)
}
