//! `GET /system/health` (no credentials: each dependency and its state,
//! nothing secret) and `GET /metrics` (Prometheus text; scope `admin`, or
//! the server's metrics token for a scraper).

use std::time::{Duration, Instant};

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use podops_core::{
    domain::Scope,
    ports::{BlobKey, Key},
};
use prometheus_client::{
    encoding::text::encode,
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Authenticated, error::ApiError, openapi::ErrorBody, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(metrics))
}

/// Each check's deadline: a dependency slower than this is failing.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// `ok`, or `failing` when any check is.
    status: &'static str,
    checks: Vec<Check>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Check {
    /// `records`, `blobs`, `queue`, `workers`, `ffmpeg`.
    name: &'static str,
    /// `ok` or `failing`.
    status: &'static str,
    took_ms: u64,
    /// What was found (a count, a version) or why it failed; never a secret.
    detail: String,
}

async fn check<F>(name: &'static str, work: F) -> Check
where
    F: std::future::Future<Output = Result<String, String>>,
{
    let started = Instant::now();
    let (status, detail) = match tokio::time::timeout(CHECK_TIMEOUT, work).await {
        Ok(Ok(detail)) => ("ok", detail),
        Ok(Err(why)) => ("failing", why),
        Err(_) => ("failing", format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    Check { name, status, took_ms: started.elapsed().as_millis() as u64, detail }
}

/// The dependencies and their state: 200 when all are ok, else 503.
#[utoipa::path(get, path = "/system/health", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(state): State<AppState>) -> Response {
    let podops = &state.podops;
    let (records, blobs, queue, workers) = tokio::join!(
        check("records", async {
            podops.records.get(&Key::new("HEALTH", "PING")).await.map(|_| "answers".to_owned()).map_err(|e| unavailable(&e))
        }),
        check("blobs", async {
            let key = BlobKey::parse("health/ping").map_err(|e| e.to_string())?;
            podops.blobs.head(&key).await.map(|_| "answers".to_owned()).map_err(|e| unavailable(&e))
        }),
        check("queue", async { podops.jobs.depth().await.map(|n| format!("{n} waiting")).map_err(|e| unavailable(&e)) }),
        async {
            let started = Instant::now();
            let found = tokio::time::timeout(CHECK_TIMEOUT, podops.workers()).await;
            (started, found)
        },
    );
    let (started, found) = workers;
    let took_ms = started.elapsed().as_millis() as u64;
    let mut checks = vec![records, blobs, queue];
    match found {
        Ok(Ok(beats)) => {
            let status = if beats.is_empty() { "failing" } else { "ok" };
            let detail = if beats.is_empty() { "no worker heard from in 30 s: jobs and streams wait".to_owned() } else { format!("{} heard from in 30 s", beats.len()) };
            checks.push(Check { name: "workers", status, took_ms, detail });
            // FFmpeg where it runs: on every worker.
            let missing = beats.iter().filter(|b| b.ffmpeg.is_none()).count();
            if !beats.is_empty() {
                let versions: std::collections::BTreeSet<&str> = beats.iter().filter_map(|b| b.ffmpeg.as_deref()).collect();
                let (status, detail) = if missing == 0 {
                    ("ok", versions.into_iter().collect::<Vec<_>>().join("; "))
                } else {
                    ("failing", format!("{missing} of {} workers cannot run FFmpeg", beats.len()))
                };
                checks.push(Check { name: "ffmpeg", status, took_ms: 0, detail });
            }
        }
        Ok(Err(e)) => checks.push(Check { name: "workers", status: "failing", took_ms, detail: unavailable(&e) }),
        Err(_) => checks.push(Check { name: "workers", status: "failing", took_ms, detail: "no answer within 2 s".into() }),
    }
    let ok = checks.iter().all(|c| c.status == "ok");
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut response = (code, Json(Health { status: if ok { "ok" } else { "failing" }, checks })).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A dependency's failure in general terms: its kind, never the endpoint's credentials.
fn unavailable(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    text.split(':').next().unwrap_or("unavailable").trim().to_owned()
}

/// The token a scraper sends instead of an admin's credentials (`--metrics-token`).
#[derive(Clone)]
pub struct MetricsToken(pub String);

/// Prometheus text: HTTP requests and latency; open jobs by kind and state;
/// streams by state and their reconnects; workers and their capacity; the queue's backlog.
#[utoipa::path(get, path = "/metrics", tag = "system", security(("bearer" = [])),
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn metrics(State(state): State<AppState>, token: Option<Extension<MetricsToken>>, request: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let sent = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    let digest = |s: &str| Sha256::digest(s.as_bytes());
    let by_token = matches!((&token, sent), (Some(Extension(MetricsToken(t))), Some(s)) if digest(t) == digest(s));
    if !by_token {
        Authenticated::from_request_parts(&mut parts, &state).await?.caller.require(Scope::Admin)?;
    }
    let stats = state.podops.fleet_stats().await?;
    let mut registry = Registry::default();
    let http = crate::metrics::http();
    registry.register("podops_http_requests", "HTTP requests answered, by method, route and status", http.requests.clone());
    registry.register("podops_http_request_duration_seconds", "Time to answer, by method and route", http.latency.clone());
    let jobs = Family::<Vec<(String, String)>, Gauge>::default();
    for ((kind, job_state), n) in &stats.jobs {
        jobs.get_or_create(&vec![("kind".into(), kind.clone()), ("state".into(), job_state.clone())]).set(*n as i64);
    }
    registry.register("podops_jobs_open", "Open jobs (queued or running), by kind and state", jobs);
    let streams = Family::<Vec<(String, String)>, Gauge>::default();
    for (stream_state, n) in &stats.streams {
        streams.get_or_create(&vec![("state".into(), stream_state.clone())]).set(*n as i64);
    }
    registry.register("podops_streams", "Streams that should run, by state", streams);
    let gauge = |v: u64| {
        let g = Gauge::<i64>::default();
        g.set(v as i64);
        g
    };
    registry.register("podops_stream_reconnects", "Reconnects so far of the streams counted", gauge(stats.stream_reconnects));
    registry.register("podops_queue_depth", "Job messages waiting", gauge(stats.queue_depth));
    registry.register("podops_workers", "Workers heard from in the last 30 s", gauge(stats.workers.len() as u64));
    let sum = |f: fn(&podops_core::service::WorkerBeat) -> usize| gauge(stats.workers.iter().map(f).sum::<usize>() as u64);
    registry.register("podops_worker_job_slots", "Jobs the workers may run at once", sum(|w| w.job_slots));
    registry.register("podops_worker_jobs_running", "Jobs running on the workers", sum(|w| w.jobs_running));
    registry.register("podops_worker_stream_slots", "Streams the workers may run at once", sum(|w| w.stream_slots));
    registry.register("podops_worker_streams_running", "Streams running on the workers", sum(|w| w.streams_running));
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(response)
}
