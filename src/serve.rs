//! `podops serve`: the whole API in one process. Builds the adapters of the
//! chosen backend (SQLite + directories by default, or DynamoDB + S3 + SQS),
//! mounts every route group and serves until SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::{Context, Result};
use podops_adapters::aws::{DEFAULT_MAX_RECEIVES, Needs};
use podops_api::{AppParts, AppState, Limits};
use podops_core::{
    ports::SystemClock,
    service::{AccountRules, MediaRules, Podops, Publishing, SweepPolicy},
    signing::Signer,
};
use secrecy::ExposeSecret;

use crate::{
    cli::{Backend, ServeArgs, Signup},
    backend, data_dir, logging, scheduler,
};

/// Deliveries of a job message before it is dead-lettered.
const MAX_RECEIVES: u32 = DEFAULT_MAX_RECEIVES;

pub async fn run(args: ServeArgs) -> Result<()> {
    logging::init(args.log_format);
    let secret = data_dir::signing_secret(&args.data_dir, &args.key, &args.aws.config(MAX_RECEIVES)).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{local}")).trim_end_matches('/').to_owned();

    let media_signer = Signer::derive(secret.expose_secret(), "media");
    let ports = match args.backend {
        Backend::Embedded => backend::embedded(&args.data_dir, &media_signer, &public_url, MAX_RECEIVES)?,
        Backend::Aws => backend::aws(&args.aws, Needs::ALL, MAX_RECEIVES).await?,
    };
    let rate_budgets = Arc::clone(&ports.rate);
    let podops = Podops::new(
        ports.records,
        ports.blobs,
        ports.jobs,
        Arc::new(SystemClock),
        secret.expose_secret(),
        MediaRules { max_upload: args.max_upload, url_ttl: args.media_url_ttl, allow_addresses: args.allow_address.clone() },
    )
    .with_publishing(Publishing { public: ports.public, feed_base_url: public_url.clone(), rebuild_delay: args.rebuild_delay })
    .with_notify(args.notify.targets()?)
    .with_accounts(AccountRules { signup_open: args.signup == Signup::Open, base_url: public_url.clone(), admins: args.admin_emails.clone(), answer_after: None }, Some(crate::mail::mailer(&args.mail, args.backend, &args.aws, &args.data_dir).await?));
    // The media route records downloads (analytics) unless told not to.
    let podops = if args.analytics_flush > 0 {
        let recorder = podops_api::hit_recorder::HitRecorder::start(podops.clone(), std::time::Duration::from_secs(args.analytics_flush));
        podops.with_hit_sink(recorder)
    } else {
        podops
    };
    let tokens = Arc::new(data_dir::token_authority(&secret));
    let (token_path, created) = data_dir::ensure_admin_token(&args.data_dir, &tokens)?;
    if created {
        tracing::info!(path = %token_path.display(), "created an admin token (keep it secret)");
    } else {
        tracing::info!(path = %token_path.display(), "admin token");
    }

    tokio::spawn(scheduler::run(podops.clone(), SweepPolicy { max_receives: MAX_RECEIVES, ..SweepPolicy::default() }));
    let streams = podops_worker::stream::StreamConfig { max_streams: args.max_streams, scratch: args.data_dir.join("scratch"), ..Default::default() };
    tokio::spawn(podops_worker::run_in_process(podops.clone(), args.workers, args.allow_address.clone(), streams));
    let state = AppState::from(AppParts { podops, tokens, media_signer, limits: Limits { json_body: args.max_json_body }, feeds: Default::default() });
    let limits = podops_api::rate_limit::RateLimitConfig {
        anonymous: args.rate_anonymous,
        signed_in: args.rate_signed_in,
        per_ip_ceiling: args.rate_per_ip,
        login_per_ip: args.rate_login,
        trust_proxy: args.trust_proxy,
    };
    let mut app = podops_api::router(state);
    if let Some(token) = &args.metrics_token {
        app = app.layer(axum::Extension(podops_api::MetricsToken(token.clone())));
    }
    let app = if args.no_rate_limits { app } else { podops_api::rate_limit::apply(app, &limits, rate_budgets) };
    let backend = match args.backend {
        Backend::Embedded => "embedded",
        Backend::Aws => "aws",
    };
    tracing::info!(listen = %local, public_url = %public_url, data_dir = %args.data_dir.display(), backend, "podops serving");
    // With the peer's address, for per-IP rate limits.
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("podops stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
