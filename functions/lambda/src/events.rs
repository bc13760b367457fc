//! The event loop of the functions that get more than API Gateway's events.
//! The build function gets the EventBridge schedule's `{"podops":
//! "run-due-builds"}` (scheduled episodes, coalesced edits: what `podops
//! serve`'s scheduler does every second). The tasks function gets the
//! schedule's `{"podops": "sweep-jobs"}` (jobs whose queue message was lost)
//! and S3's "Object Created" events for the media bucket's `inbox/`, through
//! EventBridge (imports dropped in the inbox). Each event is read as raw
//! JSON once, then parsed as the one kind it is.

use axum::Router;
use lambda_http::{Adapter, request::LambdaRequest};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use podops_core::{
    ports::BlobKey,
    service::{InboxOutcome, Podops, ServiceError, SweepPolicy, SweepReport, CDN_LOG_PREFIX},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json, value::RawValue};
use tower::ServiceExt;

use crate::Function;

/// The schedule's task names (infra/template.yaml's `DueBuilds` and `SweepJobs` inputs).
pub const RUN_DUE_BUILDS: &str = "run-due-builds";
pub const SWEEP_JOBS: &str = "sweep-jobs";
pub const RUN_SCHEDULES: &str = "run-schedules";

/// The whole event a schedule sends; nothing else may be in it, so an API
/// Gateway event can never be taken for it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scheduled {
    podops: String,
}

/// S3's "Object Created" as EventBridge delivers it (only what is read).
#[derive(Deserialize)]
struct ObjectCreated {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: ObjectDetail,
}

#[derive(Deserialize)]
struct ObjectDetail {
    bucket: BucketName,
    object: ObjectKey,
}

#[derive(Deserialize)]
struct BucketName {
    name: String,
}

#[derive(Deserialize)]
struct ObjectKey {
    key: String,
    #[serde(default)]
    etag: String,
}

/// What the event loop needs beyond the routes' state.
#[derive(Clone)]
pub struct EventSettings {
    /// Inbox events name this bucket; any other bucket's are refused.
    pub media_bucket: String,
    pub sweep: SweepPolicy,
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

/// Serves `router` (the function's HTTP routes, limits and all) and the
/// function's other events.
pub async fn run(function: Function, router: Router, podops: Podops, settings: EventSettings) -> Result<(), Error> {
    let handler = service_fn(move |event: LambdaEvent<Box<RawValue>>| handle(function, router.clone(), podops.clone(), settings.clone(), event));
    lambda_runtime::run(handler).await
}

async fn handle(function: Function, router: Router, podops: Podops, settings: EventSettings, event: LambdaEvent<Box<RawValue>>) -> Result<Value, Error> {
    let (raw, context) = event.into_parts();
    if let Ok(task) = serde_json::from_str::<Scheduled>(raw.get()) {
        return match (function, task.podops.as_str()) {
            (Function::Build, RUN_DUE_BUILDS) => Ok(serde_json::to_value(run_due_builds(&podops).await?)?),
            // Each job re-sent or failed is logged by the sweep itself.
            (Function::Tasks, SWEEP_JOBS) => Ok(serde_json::to_value::<Swept>(podops.sweep_jobs(&settings.sweep).await?)?),
            (Function::Tasks, RUN_SCHEDULES) => Ok(serde_json::to_value(podops.run_schedules().await?)?),
            (_, other) => Err(format!("unknown scheduled task {other:?} for {}", function.binary()).into()),
        };
    }
    if function == Function::Tasks {
        if let Ok(created) = serde_json::from_str::<ObjectCreated>(raw.get()) {
            if created.detail.object.key.starts_with(CDN_LOG_PREFIX) {
                return cdn_log(&podops, &settings, created).await;
            }
            return inbox(&podops, &settings, created).await;
        }
    }
    let request: LambdaRequest = serde_json::from_str(raw.get())?;
    // The same conversion `lambda_http::run` does, for this one event.
    let response = Adapter::from(router).oneshot(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}

/// A refused drop (a bad key, an unknown production, not audio, gone) is
/// logged and answered, not failed: a retry could not change it, and the
/// object stays in the inbox for the operator. A store that is down fails
/// the invocation, so Lambda's async retries deliver it again.
async fn inbox(podops: &Podops, settings: &EventSettings, event: ObjectCreated) -> Result<Value, Error> {
    let ObjectCreated { source, detail_type, detail } = event;
    if source != "aws.s3" || detail_type != "Object Created" || detail.bucket.name != settings.media_bucket {
        return Err(format!("not an inbox event: {detail_type:?} from {source:?} for bucket {:?}", detail.bucket.name).into());
    }
    let key = detail.object.key;
    match podops.import_from_inbox(&key, &detail.object.etag).await {
        Ok(InboxOutcome::Created(asset)) => {
            tracing::info!(key = %key, production = %asset.parent_guid, asset = %asset.guid, "inbox import started");
            Ok(json!({"imported": {"production": asset.parent_guid, "asset": asset.guid}}))
        }
        Ok(InboxOutcome::Repeated(asset)) => Ok(json!({"repeated": {"asset": asset}})),
        Err(ServiceError::ImportRefused { code, reason }) => {
            tracing::warn!(key = %key, code, reason = %reason, "inbox drop refused; left in place");
            Ok(json!({"refused": {"code": code, "reason": reason}}))
        }
        Err(e) => Err(e.into()),
    }
}

/// A CloudFront log file landed: its downloads are counted (docs/analytics.md)
/// and the file, which holds raw addresses, is deleted. A store that is down
/// fails the invocation, for Lambda's retries; reading a file twice counts once.
async fn cdn_log(podops: &Podops, settings: &EventSettings, event: ObjectCreated) -> Result<Value, Error> {
    let ObjectCreated { source, detail_type, detail } = event;
    if source != "aws.s3" || detail_type != "Object Created" || detail.bucket.name != settings.media_bucket {
        return Err(format!("not a log event: {detail_type:?} from {source:?} for bucket {:?}", detail.bucket.name).into());
    }
    let key = BlobKey::parse(&detail.object.key).map_err(|e| format!("not a log key: {e}"))?;
    let read = podops.ingest_cdn_log(&key).await?;
    tracing::info!(key = %key, lines = read.lines, malformed = read.malformed, spans = read.spans, "CDN log counted");
    Ok(json!({"analytics": read}))
}

/// What a sweep did (the invocation's result, and its log).
pub type Swept = SweepReport;


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
