//! PodOps on AWS Lambda: each API route group is its own function (the
//! binaries in `src/bin/`, named as infra/template.yaml deploys them). A main
//! only names its `Function`; this crate reads the configuration, builds the
//! AWS adapters and the use cases, and answers API Gateway HTTP API (v2)
//! events through the Lambda runtime API.

mod app;
mod config;
mod events;
mod init_error;

use std::process::ExitCode;

use podops_adapters::aws::Needs;
use events::EventSettings;
use podops_api::{AppState, routes};
use podops_core::service::SweepPolicy;
use utoipa_axum::router::OpenApiRouter;

pub use app::{AUDIENCE, ISSUER, InitError};
pub use config::{Config, ConfigError, SigningKey};
pub use events::{DueBuilds, RUN_DUE_BUILDS, RUN_SCHEDULES, SWEEP_JOBS, Swept};

/// One Lambda function: a set of route groups, and what it may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `/`, `/openapi.json`, `/_a/token`; accounts (sign-in, sessions,
    /// tokens, 2FA, instance roles), the audit log and public reads.
    Auth,
    Productions,
    Resources,
    Upload,
    /// Builds and rollbacks, and the schedule's `{"podops": "run-due-builds"}`.
    Build,
    /// Published feeds and chapters (public).
    Feeds,
    /// Imports and asset content (renditions, external ids); the schedule's
    /// `{"podops": "sweep-jobs"}`; S3 "Object Created" events of the inbox.
    Tasks,
    /// Live streams: control, status, logs, FFmpeg preview. (Streams run on
    /// the ECS workers; no function ever runs FFmpeg.)
    Streams,
    /// A stream's Server-Sent Events, through a function URL whose response
    /// streams (`InvokeMode: RESPONSE_STREAM`): API Gateway HTTP APIs buffer.
    StreamEvents,
}

impl Function {
    pub const ALL: [Function; 9] = [
        Function::Auth,
        Function::Productions,
        Function::Resources,
        Function::Upload,
        Function::Build,
        Function::Feeds,
        Function::Tasks,
        Function::Streams,
        Function::StreamEvents,
    ];

    /// The binary's name, as infra/template.yaml names it.
    pub fn binary(self) -> &'static str {
        match self {
            Function::Auth => "podops-auth",
            Function::Productions => "podops-productions",
            Function::Resources => "podops-resources",
            Function::Upload => "podops-upload",
            Function::Build => "podops-build",
            Function::Feeds => "podops-feeds",
            Function::Tasks => "podops-tasks",
            Function::Streams => "podops-streams",
            Function::StreamEvents => "podops-stream-events",
        }
    }

    /// The route groups this function serves.
    pub fn routes(self) -> OpenApiRouter<AppState> {
        match self {
            Function::Auth => routes::meta::routes()
                .merge(routes::tokens::routes())
                .merge(routes::accounts::routes())
                .merge(routes::users::routes())
                .merge(routes::audit::routes())
                .merge(routes::public::routes()),
            Function::Productions => routes::productions::routes().merge(routes::analytics::routes()),
            Function::Resources => routes::resources::routes().merge(routes::webhooks::routes()).merge(routes::schedules::routes()),
            Function::Upload => routes::upload::routes(),
            Function::Build => routes::build::routes(),
            Function::Feeds => routes::feeds::routes().merge(routes::channels::routes()),
            Function::Tasks => routes::imports::routes().merge(routes::feed_imports::routes()).merge(routes::backups::routes()).merge(routes::renditions::routes()).merge(routes::external_ids::routes()),
            Function::Streams => routes::streams::routes().merge(routes::recordings::routes()),
            Function::StreamEvents => routes::streams::event_routes(),
        }
    }

    /// The resources checked at start: exactly those the function's IAM role
    /// in infra/template.yaml may use. The queue is never checked here: it is
    /// looked up when a request first enqueues, so reads never pay for it.
    pub fn needs(self) -> Needs {
        let table = Needs { table: true, ..Needs::NONE };
        match self {
            // Users, keys and the audit log in the table; public reads show artwork from media.
            Function::Auth => Needs { media: true, ..table },
            Function::Productions => table,
            Function::Resources | Function::Upload | Function::Tasks => Needs { media: true, ..table },
            Function::Build => Needs { media: true, public: true, ..table },
            Function::Feeds => Needs { public: true, ..table },
            // Presents playlists' assets (media keys) and sends start messages.
            Function::Streams => Needs { media: true, ..table },
            Function::StreamEvents => table,
        }
    }

    /// Whether the function sends sign-in mail (SES).
    pub fn mails(self) -> bool {
        self == Function::Auth
    }

    /// Whether the function checks tokens or hands out signed values, and so
    /// needs the shared signing key.
    pub fn signs(self) -> bool {
        self != Function::Feeds
    }
}

/// A whole function process: what each main calls. A current-thread runtime:
/// a Lambda handles one event at a time, and below 1,769 MB it has one vCPU,
/// so worker threads would only add start-up time.
pub fn main(function: Function) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", function.binary());
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(function))
}

/// Starts `function`: configuration, then the adapters, then the runtime
/// API's event loop. A failure to start is reported to `/init/error` and ends
/// the process, so Lambda shows the reason instead of restarting it in a loop.
pub async fn run(function: Function) -> ExitCode {
    init_logging();
    let started = async {
        let config = Config::from_env()?;
        let settings = EventSettings {
            media_bucket: config.aws.media_bucket.clone(),
            sweep: SweepPolicy { max_receives: config.aws.max_receives, ..SweepPolicy::default() },
        };
        let limits = config.rate_limits.clone();
        Ok::<_, InitError>((app::state(function, config).await?, settings, limits))
    };
    let (app::Started { state, rate }, settings, limits) = match started.await {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(function = function.binary(), error = %e, "cannot start");
            init_error::report(&e).await;
            return ExitCode::FAILURE;
        }
    };
    let podops = state.podops.clone();
    // Every instance of every function draws on the same budgets (in the table).
    let router = routes::finish(function.routes(), state);
    let router = with_client_ip(match &limits {
        Some(limits) => podops_api::rate_limit::apply(router, limits, rate),
        None => router,
    });
    let result = if matches!(function, Function::Build | Function::Tasks) {
        events::run(function, router, podops, settings).await
    } else if function == Function::StreamEvents {
        lambda_http::run_with_streaming_response(router).await
    } else {
        lambda_http::run(router).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(function = function.binary(), error = %e, "the runtime loop failed");
            ExitCode::FAILURE
        }
    }
}

/// The client's address as API Gateway saw it (its request context), for
/// the audit log: behind the gateway there is no socket to ask.
fn with_client_ip(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::from_fn(|mut request: axum::extract::Request, next: axum::middleware::Next| async move {
        use lambda_http::{RequestExt, request::RequestContext};
        let ip = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
            _ => None,
        };
        if let Some(ip) = ip {
            request.extensions_mut().insert(podops_api::ClientIp(ip));
        }
        next.run(request).await
    }))
}

/// JSON lines on stderr (CloudWatch keeps one event per line); the filter is
/// `RUST_LOG`, as the template sets it.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // CloudWatch stamps every line with its arrival time already.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .json()
        .flatten_event(true)
        .try_init();
}
