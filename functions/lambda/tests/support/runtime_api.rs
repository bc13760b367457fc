//! A Lambda runtime API on loopback, for one function: what the Lambda
//! service offers a custom runtime (`provided.al2023`). The test queues an
//! event; the function takes it from `/invocation/next`, and posts its answer
//! to `/invocation/{id}/response` or `/error`; a failed start goes to
//! `/init/error`. Paths and headers follow the Runtime API 2018-06-01.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, oneshot};

/// What the function answered to one event.
#[derive(Debug)]
pub enum Outcome {
    Response(Bytes),
    /// A streamed response (`Lambda-Runtime-Function-Response-Mode: streaming`):
    /// the prelude (status and headers, as a function URL reads it) and the
    /// body's pieces as they arrive.
    Stream { prelude: Value, body: mpsc::UnboundedReceiver<Bytes> },
    /// `Lambda-Runtime-Function-Error-Type` and the error document.
    Error { error_type: Option<String>, body: Value },
}

/// A report to `/init/error`.
#[derive(Debug, Clone)]
pub struct InitError {
    pub error_type: Option<String>,
    pub body: Value,
}

struct Pending {
    id: String,
    body: Vec<u8>,
}

struct Shared {
    function_arn: String,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<InitError>>,
    init_reported: Notify,
    /// When the function first asked for an event: the end of Lambda's "Init Duration".
    first_next: OnceLock<Instant>,
    /// Also a request to a route the API does not have, which fails the test.
    unknown: Mutex<Vec<String>>,
}

pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    sender: mpsc::UnboundedSender<Pending>,
    server: tokio::task::JoinHandle<()>,
}

/// How long a function has for one event (its `Lambda-Runtime-Deadline-Ms`).
const DEADLINE: Duration = Duration::from_secs(30);

impl RuntimeApi {
    pub async fn start(function_name: &str) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            queue: tokio::sync::Mutex::new(receiver),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            init_reported: Notify::new(),
            first_next: OnceLock::new(),
            unknown: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .fallback(unknown)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the runtime API");
        let addr = listener.local_addr().expect("runtime API address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, sender, server }
    }

    /// `AWS_LAMBDA_RUNTIME_API`: host and port, no scheme.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Queues one event; the receiver resolves with the function's answer.
    pub fn invoke(&self, event: Vec<u8>) -> oneshot::Receiver<Outcome> {
        let id = format!("{:032x}", rand::random::<u128>());
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().expect("waiting").insert(id.clone(), tx);
        self.sender.send(Pending { id, body: event }).expect("the runtime API is running");
        rx
    }

    /// The `/init/error` report, waiting up to `timeout` for it.
    pub async fn init_error(&self, timeout: Duration) -> Option<InitError> {
        let notified = self.shared.init_reported.notified();
        if let Some(report) = self.shared.init_error.lock().expect("init error").clone() {
            return Some(report);
        }
        let _ = tokio::time::timeout(timeout, notified).await;
        self.shared.init_error.lock().expect("init error").clone()
    }

    pub fn first_next(&self) -> Option<Instant> {
        self.shared.first_next.get().copied()
    }

    pub fn unknown_requests(&self) -> Vec<String> {
        self.shared.unknown.lock().expect("unknown").clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Long-polls like Lambda: the answer comes when an event is queued.
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let _ = shared.first_next.set(Instant::now());
    let Some(pending) = shared.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + DEADLINE;
    let trace = format!("Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0", deadline.as_secs(), rand::random::<u128>() >> 32, rand::random::<u64>());
    (
        [
            ("content-type", "application/json".to_owned()),
            ("lambda-runtime-aws-request-id", pending.id),
            ("lambda-runtime-deadline-ms", deadline.as_millis().to_string()),
            ("lambda-runtime-invoked-function-arn", shared.function_arn.clone()),
            ("lambda-runtime-trace-id", trace),
        ],
        pending.body,
    )
        .into_response()
}

fn finish(shared: &Shared, id: &str, outcome: Outcome) -> Response {
    match shared.waiting.lock().expect("waiting").remove(id) {
        Some(waiter) => {
            let _ = waiter.send(outcome);
            (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
        }
        // What Lambda says to an id it never handed out, or one already answered.
        None => (StatusCode::BAD_REQUEST, axum::Json(json!({"errorType": "InvalidRequestID", "errorMessage": id}))).into_response(),
    }
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Body) -> Response {
    let streaming = headers.get("lambda-runtime-function-response-mode").is_some_and(|v| v == "streaming");
    if !streaming {
        let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else { return StatusCode::BAD_REQUEST.into_response() };
        return finish(&shared, &id, Outcome::Response(body));
    }
    // HTTP integration streaming: a JSON prelude, eight NUL bytes, then the body.
    use futures::StreamExt;
    let mut pieces = body.into_data_stream();
    let mut head = Vec::new();
    let split = loop {
        match pieces.next().await {
            Some(Ok(piece)) => head.extend_from_slice(&piece),
            _ => return StatusCode::BAD_REQUEST.into_response(),
        }
        if let Some(at) = head.windows(8).position(|w| w == [0u8; 8]) {
            break at;
        }
    };
    let prelude = serde_json::from_slice(&head[..split]).unwrap_or(Value::Null);
    let (tx, rx) = mpsc::unbounded_channel();
    let rest = Bytes::copy_from_slice(&head[split + 8..]);
    if !rest.is_empty() {
        let _ = tx.send(rest);
    }
    let answered = finish(&shared, &id, Outcome::Stream { prelude, body: rx });
    while let Some(Ok(piece)) = pieces.next().await {
        if tx.send(piece).is_err() {
            break;
        }
    }
    answered
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let error_type = error_type(&headers);
    finish(&shared, &id, Outcome::Error { error_type, body: serde_json::from_slice(&body).unwrap_or(Value::Null) })
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let report = InitError { error_type: error_type(&headers), body: serde_json::from_slice(&body).unwrap_or(Value::Null) };
    *shared.init_error.lock().expect("init error") = Some(report);
    shared.init_reported.notify_waiters();
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

async fn unknown(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> StatusCode {
    shared.unknown.lock().expect("unknown").push(format!("{} {}", request.method(), request.uri()));
    StatusCode::NOT_FOUND
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers.get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_owned)
}
