//! `podops worker`: the job worker as its own process (the fleet's front
//! door), on the data directory's backend or on AWS (SQS, DynamoDB, S3). Runs
//! until SIGINT or SIGTERM, then drains: running jobs get `--grace` seconds,
//! the rest are handed back to the queue.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result};
use podops_adapters::aws::Needs;
use podops_core::{
    ports::SystemClock,
    service::{MediaRules, Podops, Publishing},
    signing::Signer,
};
use podops_worker::{
    stream::{StreamConfig, StreamFleet},
    AddressPolicy, FetchConfig, Fetcher, Ffmpeg, SystemLookup, Worker, WorkerConfig,
};
use secrecy::ExposeSecret;

use crate::{
    backend,
    cli::{Backend, WorkerArgs},
    data_dir, logging,
};

/// What a worker touches on AWS: the public bucket only for live HLS.
const WORKER_NEEDS: Needs = Needs { table: true, media: true, public: true, queue: true };

pub async fn run(args: WorkerArgs) -> Result<()> {
    logging::init(args.log_format);
    let secret = data_dir::signing_secret(&args.data_dir, &args.key, &args.aws.config(args.max_receives)).await?;
    let ports = match args.backend {
        // The worker hands out no URLs; the base only has to be well-formed.
        Backend::Embedded => backend::embedded(&args.data_dir, &Signer::derive(secret.expose_secret(), "media"), "http://127.0.0.1", args.max_receives)?,
        Backend::Aws => backend::aws(&args.aws, WORKER_NEEDS, args.max_receives).await?,
    };
    let podops = Podops::new(
        ports.records,
        ports.blobs,
        ports.jobs,
        Arc::new(SystemClock),
        secret.expose_secret(),
        MediaRules { max_upload: args.max_import, allow_addresses: args.allow_address.clone(), ..MediaRules::default() },
    )
    // Feeds are never built here (the base URL names them in announcements); the public store takes live HLS.
    .with_publishing(Publishing { public: ports.public, feed_base_url: args.notify.feed_base_url.clone().unwrap_or_default(), rebuild_delay: 0 })
    .with_notify(args.notify.targets()?)
    // Imports of locked feeds mail the owner's code from here.
    .with_mailer(crate::mail::mailer(&args.mail, args.backend, &args.aws, &args.data_dir).await?);
    let config = WorkerConfig {
        concurrency: args.concurrency.max(1),
        visibility: Duration::from_secs(args.visibility.max(1)),
        max_receives: args.max_receives,
        job_timeout: Duration::from_secs(args.job_timeout),
        grace: Duration::from_secs(args.grace),
        scratch_dir: args.data_dir.join("scratch"),
        ..WorkerConfig::default()
    };
    let policy = AddressPolicy { also_allowed: args.allow_address.clone() };
    let fetcher = Fetcher::new(Arc::new(SystemLookup), policy.clone(), FetchConfig::default()).context("cannot build the import client")?;
    let relay = podops_worker::stream_fetcher(policy.clone()).context("cannot build the stream source client")?;
    let streams = StreamConfig { max_streams: args.max_streams, scratch: args.data_dir.join("scratch"), ..StreamConfig::default() };
    let fleet = StreamFleet::new(podops.clone(), Arc::new(relay), Arc::new(SystemLookup), policy, streams, config.worker_id.clone());
    let tool = Ffmpeg { time_limit: config.job_timeout, ..Ffmpeg::default() };
    let worker = Worker::new(podops, Arc::new(tool), fetcher, config).with_streams(fleet);
    Arc::new(worker).run(podops_worker::shutdown_signal()).await;
    Ok(())
}
