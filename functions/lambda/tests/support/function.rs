//! One function binary running as Lambda runs it: a fresh process whose only
//! environment is what the Lambda service sets (`AWS_LAMBDA_*`, the region,
//! credentials) plus the function's own variables, talking to its own
//! runtime API.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use podops_lambda::Function;
use serde_json::Value;
use tokio::process::{Child, Command};

use super::events::{HttpEvent, HttpResponse};
use super::runtime_api::{Outcome, RuntimeApi};

/// Generous for a debug build on a busy machine; a hang still fails the test.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Lambda {
    pub function: Function,
    pub api: RuntimeApi,
    /// When the process was spawned: the start of a cold start.
    pub spawned: Instant,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The binary Cargo built for `function` (also in benches, in release).
pub fn binary(function: Function) -> &'static str {
    match function {
        Function::Auth => env!("CARGO_BIN_EXE_podops-auth"),
        Function::Productions => env!("CARGO_BIN_EXE_podops-productions"),
        Function::Resources => env!("CARGO_BIN_EXE_podops-resources"),
        Function::Upload => env!("CARGO_BIN_EXE_podops-upload"),
        Function::Build => env!("CARGO_BIN_EXE_podops-build"),
        Function::Feeds => env!("CARGO_BIN_EXE_podops-feeds"),
        Function::Tasks => env!("CARGO_BIN_EXE_podops-tasks"),
        Function::Streams => env!("CARGO_BIN_EXE_podops-streams"),
        Function::StreamEvents => env!("CARGO_BIN_EXE_podops-stream-events"),
    }
}

impl Lambda {
    pub async fn start(function: Function, env: &[(String, String)]) -> Self {
        let name = function.binary();
        let api = RuntimeApi::start(name).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("function.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(binary(function));
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/22/[$LATEST]0123456789abcdef")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .env("TZ", ":UTC")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .kill_on_drop(true);
        let spawned = Instant::now();
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { function, api, spawned, child, log, _dir: dir }
    }

    /// Everything the function wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One event, raw; the answer as the runtime API received it.
    pub async fn invoke(&self, event: &Value) -> Outcome {
        let answer = self.api.invoke(event.to_string().into_bytes());
        match tokio::time::timeout(INVOKE_TIMEOUT, answer).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!("{} gave no answer in {INVOKE_TIMEOUT:?}; its log:\n{}", self.function.binary(), self.log()),
        }
    }

    /// One API Gateway request; the function must answer it (any status).
    pub async fn http(&self, event: HttpEvent) -> HttpResponse {
        match self.invoke(&event.to_json()).await {
            Outcome::Response(body) => HttpResponse::parse(&body),
            Outcome::Stream { prelude, .. } => panic!("{} streamed an answer ({prelude}) where one was expected whole", self.function.binary()),
            Outcome::Error { error_type, body } => {
                panic!("{} failed the invocation ({error_type:?}): {body}\nlog:\n{}", self.function.binary(), self.log())
            }
        }
    }

    /// The exit status, if the process ends within `timeout`.
    pub async fn exit_status(&mut self, timeout: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait()).await.ok().and_then(Result::ok)
    }
}
