//! `podops serve`: the whole API in one process. Builds the adapters of the
//! chosen backend (SQLite + directories by default, or DynamoDB + S3 + SQS),
//! mounts every route group and serves until SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::{Context, Result};
use podops_adapters::embedded::{FsBlobs, SqliteDb, SqliteJobs, SqliteRecords};
use podops_api::{AppState, Limits};
use podops_core::{
    ports::{Blobs, Jobs, Records, SystemClock},
    service::{MediaRules, Podops, Publishing},
    signing::Signer,
};
use secrecy::ExposeSecret;

use crate::{
    cli::{Backend, ServeArgs},
    data_dir, logging, provision, scheduler,
};

/// Deliveries of a job message before it is dead-lettered.
const MAX_RECEIVES: u32 = 5;

pub async fn run(args: ServeArgs) -> Result<()> {
    logging::init(args.log_format);
    let secret = data_dir::master_secret(&args.data_dir)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{local}")).trim_end_matches('/').to_owned();

    let media_signer = Signer::derive(secret.expose_secret(), "media");
    let ports = match args.backend {
        Backend::Embedded => embedded_ports(&args, &media_signer, &public_url)?,
        Backend::Aws => provision::aws_ports(&args.aws).await?,
    };
    let podops = Podops::new(
        ports.records,
        ports.blobs,
        ports.jobs,
        Arc::new(SystemClock),
        secret.expose_secret(),
        MediaRules { max_upload: args.max_upload, url_ttl: args.media_url_ttl },
    )
    .with_publishing(Publishing { public: ports.public, feed_base_url: public_url.clone(), rebuild_delay: args.rebuild_delay });
    let tokens = Arc::new(data_dir::token_authority(&secret));
    let (token_path, created) = data_dir::ensure_admin_token(&args.data_dir, &tokens)?;
    if created {
        tracing::info!(path = %token_path.display(), "created an admin token (keep it secret)");
    } else {
        tracing::info!(path = %token_path.display(), "admin token");
    }

    tokio::spawn(scheduler::run(podops.clone()));
    tokio::spawn(podops_worker::run_in_process(podops.clone(), args.workers));
    let state = AppState { podops, tokens, media_signer, limits: Limits { json_body: args.max_json_body } };
    let app = podops_api::router(state);
    let backend = match args.backend {
        Backend::Embedded => "embedded",
        Backend::Aws => "aws",
    };
    tracing::info!(listen = %local, public_url = %public_url, data_dir = %args.data_dir.display(), backend, "podops serving");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("server failed")?;
    tracing::info!("podops stopped");
    Ok(())
}

/// The ports a backend provides: records, media, published feeds, jobs.
pub struct Ports {
    pub records: Arc<dyn Records>,
    pub blobs: Arc<dyn Blobs>,
    pub public: Arc<dyn Blobs>,
    pub jobs: Arc<dyn Jobs>,
}

fn embedded_ports(args: &ServeArgs, media_signer: &Signer, public_url: &str) -> Result<Ports> {
    let db = SqliteDb::open(&args.data_dir.join("podops.db")).context("cannot open the database")?;
    let blobs = FsBlobs::new(args.data_dir.join("media"), media_signer.clone(), public_url.to_owned())
        .context("cannot open the media directory")?;
    let public = FsBlobs::new(args.data_dir.join("public"), media_signer.clone(), public_url.to_owned())
        .context("cannot open the public (feeds) directory")?;
    Ok(Ports {
        records: Arc::new(SqliteRecords::new(db.clone())),
        blobs: Arc::new(blobs),
        public: Arc::new(public),
        jobs: Arc::new(SqliteJobs::new(db, "jobs", MAX_RECEIVES)),
    })
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
