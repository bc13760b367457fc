//! Live streams (seed 004): control `POST /a/v1/stream/{prod}/{id}/{action}`,
//! `…/duplicate`, `GET …/status`, `…/logs`, `…/events` (Server-Sent Events),
//! and `POST /a/v1/ffmpeg/preview`. The definitions themselves are resources
//! (`/a/v1/resource/{prod}/stream/{id}`).

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Json,
};
use futures::Stream as FuturesStream;
use podops_core::{
    domain::{
        preflight::{DryRun, Preflight, RunState},
        Guid, Resource,
    },
    service::{Caller, LogPage, Preview, StreamAction, StreamStatus},
};
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{etag, guid, ApiJson},
    openapi::ErrorBody,
    routes::productions::set,
    state::AppState,
};

/// Control, status, logs and preview: ordinary request/response routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(control))
        .routes(routes!(duplicate))
        .routes(routes!(status))
        .routes(routes!(logs))
        .routes(routes!(preview))
        .routes(routes!(start_preflight, read_preflight))
        .routes(routes!(start_dry_run, read_dry_run))
}

/// The event stream, apart: on AWS it needs a function whose response streams
/// (a function URL), which an HTTP API integration cannot give.
pub fn event_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events)).routes(routes!(preflight_events))
}

/// Starts, stops, restarts, pauses or resumes a stream. The worker acts on it within seconds.
#[utoipa::path(post, path = "/a/v1/stream/{prod}/{id}/{action}", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$"),
           ("action" = String, Path, description = "start, stop, restart, pause or resume")),
    security(("bearer" = [])),
    responses((status = 202, body = Resource), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "stream.not_running (pause/resume of a stopped stream)"),
              (status = 422, body = ErrorBody, description = "stream.playlist_empty, stream.asset_not_ready, stream.profile_missing, …")))]
async fn control(State(state): State<AppState>, auth: Authenticated, Path((prod, id, action)): Path<(String, String, String)>) -> Result<Response, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    let Some(action) = StreamAction::parse(&action) else { return Err(ApiError::not_found_route()) };
    let stream = state.podops.control_stream(&auth.caller, &prod, &id, action).await?;
    Ok((StatusCode::ACCEPTED, Json(stream)).into_response())
}

/// A copy of the stream (secrets included) under a new id, stopped.
#[utoipa::path(post, path = "/a/v1/stream/{prod}/{id}/duplicate", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 201, body = Resource, headers(("Location" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn duplicate(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    let copy = state.podops.duplicate_stream(&auth.caller, &prod, &id).await?;
    let mut resp = (StatusCode::CREATED, Json(&copy)).into_response();
    set(&mut resp, header::LOCATION, &format!("/a/v1/resource/{prod}/stream/{}", copy.guid));
    set(&mut resp, header::ETAG, &etag(copy.version));
    Ok(resp)
}

/// The stream's live status: state, worker, uptime, progress, health (0–100), outputs.
#[utoipa::path(get, path = "/a/v1/stream/{prod}/{id}/status", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 200, body = StreamStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn status(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>) -> Result<Json<StreamStatus>, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    Ok(Json(state.podops.stream_status(&auth.caller, &prod, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LogParams {
    /// Lines after this sequence number (the `next` of the previous page).
    after: Option<u64>,
    /// Lines per page (1–1000, default 200).
    limit: Option<usize>,
}

/// The last 500 lines of the current run and the two before it, secrets redacted;
/// known FFmpeg failures carry a `code` and a `hint`.
#[utoipa::path(get, path = "/a/v1/stream/{prod}/{id}/logs", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$"), LogParams), security(("bearer" = [])),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn logs(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>, q: Result<Query<LogParams>, axum::extract::rejection::QueryRejection>) -> Result<Json<LogPage>, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    let Query(q) = q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "query.invalid", e.body_text()))?;
    Ok(Json(state.podops.stream_logs(&auth.caller, &prod, &id, q.after.unwrap_or(0), q.limit.unwrap_or(200)).await?))
}

/// How often the event stream looks at the store.
const EVENTS_POLL: Duration = Duration::from_secs(1);
/// A `status` event at least this often, changed or not.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Server-Sent Events: `status` (on change and every 5 s) and `log` events;
/// each event's id is the last log seq, so `Last-Event-ID` resumes.
#[utoipa::path(get, path = "/a/v1/stream/{prod}/{id}/events", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$"),
           ("Last-Event-ID" = Option<String>, Header, description = "resume after this log seq")), security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn events(State(state): State<AppState>, auth: Authenticated, headers: HeaderMap, Path((prod, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    // Fails here (404, 403) before the stream starts.
    let first = state.podops.stream_status(&auth.caller, &prod, &id).await?;
    let after = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    let stream = event_stream(state, auth.caller, prod, id, after, first);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive")).into_response())
}

fn event_stream(state: AppState, caller: Caller, prod: Guid, id: Guid, after: u64, first: StreamStatus) -> impl FuturesStream<Item = Result<Event, Infallible>> {
    struct Cursor {
        state: AppState,
        caller: Caller,
        prod: Guid,
        id: Guid,
        after: u64,
        last_status: Option<String>,
        last_sent: tokio::time::Instant,
        pending: std::collections::VecDeque<Event>,
        first: Option<StreamStatus>,
    }
    let cursor = Cursor { state, caller, prod, id, after, last_status: None, last_sent: tokio::time::Instant::now(), pending: Default::default(), first: Some(first) };
    futures::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.pending.pop_front() {
                return Some((Ok(e), c));
            }
            let status = match c.first.take() {
                Some(s) => Ok(s),
                None => {
                    tokio::time::sleep(EVENTS_POLL).await;
                    c.state.podops.stream_status(&c.caller, &c.prod, &c.id).await
                }
            };
            // The stream was deleted or access revoked: end the event stream.
            let Ok(status) = status else { return None };
            if let Ok(page) = c.state.podops.stream_logs(&c.caller, &c.prod, &c.id, c.after, 500).await {
                for line in page.lines {
                    c.after = line.seq;
                    let data = serde_json::to_string(&line).unwrap_or_default();
                    c.pending.push_back(Event::default().event("log").id(line.seq.to_string()).data(data));
                }
            }
            let text = serde_json::to_string(&status).unwrap_or_default();
            let changed = c.last_status.as_deref() != Some(text.as_str());
            if changed || c.last_sent.elapsed() >= STATUS_EVERY {
                c.last_sent = tokio::time::Instant::now();
                c.pending.push_back(Event::default().event("status").id(c.after.to_string()).data(text.clone()));
                c.last_status = Some(text);
            }
        }
    })
}

/// The documented form of a preview request: a stored stream.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct PreviewStored {
    production: Guid,
    stream: Guid,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum PreviewRequest {
    Stored { production: Guid, stream: Guid },
    Body { production: Guid, #[serde(flatten)] body: serde_json::Map<String, Value> },
}

/// The exact commands the worker would run for a stream (secrets as `••••`), with warnings.
/// Send `{"production", "stream"}` for a stored stream, or `{"production", …a stream body}`.
#[utoipa::path(post, path = "/a/v1/ffmpeg/preview", tag = "streams", request_body(content = PreviewStored, description = "{production, stream}: a stored stream; or {production, …a stream body (title, profile, input, outputs, loop)}: one not yet stored"),
    security(("bearer" = [])),
    responses((status = 200, body = Preview), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn preview(State(state): State<AppState>, auth: Authenticated, ApiJson(req): ApiJson<PreviewRequest>) -> Result<Json<Preview>, ApiError> {
    let preview = match req {
        PreviewRequest::Stored { production, stream } => state.podops.preview_stream(&auth.caller, &production, Some(&stream), None).await?,
        PreviewRequest::Body { production, body } => state.podops.preview_stream(&auth.caller, &production, None, Some(Value::Object(body))).await?,
    };
    Ok(Json(preview))
}

/// How long `POST …/preflight` waits for the worker's report before answering 202.
const PREFLIGHT_WAIT: Duration = Duration::from_secs(25);
const REPORT_POLL: Duration = Duration::from_millis(200);

fn prefers_async(headers: &HeaderMap) -> bool {
    headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()).any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("respond-async")))
}

fn finished(state: RunState) -> bool {
    matches!(state, RunState::Done | RunState::Failed)
}

/// Checks the stream on a worker: FFmpeg and the encoder, playlist assets, the source,
/// each output with its credentials, the profile against its inputs, secrets.
/// Answers the report when done (at most ~20 s); with `Prefer: respond-async`, 202 at once
/// (follow `…/preflight/events`, or poll `GET …/preflight`).
#[utoipa::path(post, path = "/a/v1/stream/{prod}/{id}/preflight", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$"),
           ("Prefer" = Option<String>, Header, description = "respond-async: answer 202 at once")),
    security(("bearer" = [])),
    responses((status = 200, body = Preflight, description = "the finished report: level green, yellow or red"),
              (status = 202, body = Preflight, description = "still running (asked async, or no worker finished within 25 s)", headers(("Location" = String))),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn start_preflight(State(state): State<AppState>, auth: Authenticated, headers: HeaderMap, Path((prod, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    let mut report = state.podops.start_preflight(&auth.caller, &prod, &id).await?;
    if !prefers_async(&headers) {
        let deadline = tokio::time::Instant::now() + PREFLIGHT_WAIT;
        while !finished(report.state) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(REPORT_POLL).await;
            match state.podops.preflight(&auth.caller, &prod, &id).await? {
                Some(latest) if latest.run == report.run => report = latest,
                // A newer preflight replaced ours: it answers for the stream now.
                Some(latest) => report = latest,
                None => break,
            }
        }
    }
    let status = if finished(report.state) { StatusCode::OK } else { StatusCode::ACCEPTED };
    let mut resp = (status, Json(report)).into_response();
    set(&mut resp, header::LOCATION, &format!("/a/v1/stream/{prod}/{id}/preflight"));
    Ok(resp)
}

/// The latest preflight's report (as far as it got).
#[utoipa::path(get, path = "/a/v1/stream/{prod}/{id}/preflight", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 200, body = Preflight), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such stream, or preflight.none")))]
async fn read_preflight(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>) -> Result<Json<Preflight>, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    let report = state.podops.preflight(&auth.caller, &prod, &id).await?;
    report.map(Json).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "preflight.none", "this stream has had no preflight in the last 7 days"))
}

/// Server-Sent Events of the latest preflight: a `check` event per check as it completes,
/// then `done` with the whole report. Waits up to 10 s for a preflight to be asked for.
#[utoipa::path(get, path = "/a/v1/stream/{prod}/{id}/preflight/events", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn preflight_events(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    // Fails here (404, 403) before the stream starts.
    let first = state.podops.preflight(&auth.caller, &prod, &id).await?;
    struct Follow {
        state: AppState,
        caller: Caller,
        prod: Guid,
        id: Guid,
        run: Option<String>,
        sent: usize,
        pending: std::collections::VecDeque<Event>,
        over: bool,
        waited: Duration,
        first: Option<Option<Preflight>>,
    }
    let follow = Follow { state, caller: auth.caller, prod, id, run: None, sent: 0, pending: Default::default(), over: false, waited: Duration::ZERO, first: Some(first) };
    let stream = futures::stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(e) = f.pending.pop_front() {
                return Some((Ok::<_, Infallible>(e), f));
            }
            if f.over {
                return None;
            }
            let report = match f.first.take() {
                Some(r) => r,
                None => {
                    tokio::time::sleep(REPORT_POLL).await;
                    f.waited += REPORT_POLL;
                    f.state.podops.preflight(&f.caller, &f.prod, &f.id).await.ok()?
                }
            };
            let Some(report) = report else {
                if f.waited >= Duration::from_secs(10) {
                    return None;
                }
                continue;
            };
            if f.run.as_deref() != Some(report.run.as_str()) {
                f.run = Some(report.run.clone());
                f.sent = 0;
            }
            for c in report.checks.iter().skip(f.sent) {
                f.pending.push_back(Event::default().event("check").data(serde_json::to_string(c).unwrap_or_default()));
            }
            f.sent = report.checks.len();
            if finished(report.state) {
                f.pending.push_back(Event::default().event("done").data(serde_json::to_string(&report).unwrap_or_default()));
                f.over = true;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive")).into_response())
}

/// Queues a dry run: 10 s of the stream's input through its real commands, the outputs
/// replaced by a local file. Read the report at `GET …/dry-run`.
#[utoipa::path(post, path = "/a/v1/stream/{prod}/{id}/dry-run", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 202, body = DryRun, headers(("Location" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn start_dry_run(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    let report = state.podops.start_dry_run(&auth.caller, &prod, &id).await?;
    let mut resp = (StatusCode::ACCEPTED, Json(report)).into_response();
    set(&mut resp, header::LOCATION, &format!("/a/v1/stream/{prod}/{id}/dry-run"));
    Ok(resp)
}

/// The latest dry run: state, speed achieved, the output probed (codec, channels, sample
/// rate, bitrate, loudness), the commands run (secrets masked) and warnings.
#[utoipa::path(get, path = "/a/v1/stream/{prod}/{id}/dry-run", tag = "streams",
    params(("prod" = String, Path, pattern = "^[0-9a-f]{12}$"), ("id" = String, Path, pattern = "^[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 200, body = DryRun), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such stream, or dry_run.none")))]
async fn read_dry_run(State(state): State<AppState>, auth: Authenticated, Path((prod, id)): Path<(String, String)>) -> Result<Json<DryRun>, ApiError> {
    let (prod, id) = (guid("prod", &prod)?, guid("id", &id)?);
    let report = state.podops.dry_run(&auth.caller, &prod, &id).await?;
    report.map(Json).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "dry_run.none", "this stream has had no dry run in the last 7 days"))
}
