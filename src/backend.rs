//! The ports of the chosen backend, for `podops serve` and `podops worker`:
//! SQLite + directories in the data directory, or DynamoDB + S3 + SQS.

use std::{path::Path, sync::Arc};

use anyhow::{Context, Result};
use podops_adapters::{
    aws::{ConnectOptions, Needs, connect_with},
    embedded::{FsBlobs, SqliteDb, SqliteJobs, SqliteRecords},
};
use podops_core::{
    ports::{Blobs, Jobs, Records},
    signing::Signer,
};

use crate::cli::AwsArgs;

/// The ports a backend provides: records, media, published feeds, jobs.
pub struct Ports {
    pub records: Arc<dyn Records>,
    pub blobs: Arc<dyn Blobs>,
    pub public: Arc<dyn Blobs>,
    pub jobs: Arc<dyn Jobs>,
    /// API rate budgets: this process's memory, or the table every process shares.
    pub rate: Arc<dyn podops_core::ports::RateBudgets>,
}

/// The data directory's database, `media/` and `public/`; signed media URLs
/// point at `public_url`.
pub fn embedded(data_dir: &Path, media_signer: &Signer, public_url: &str, max_receives: u32) -> Result<Ports> {
    let db = SqliteDb::open(&data_dir.join("podops.db")).context("cannot open the database")?;
    let blobs = FsBlobs::new(data_dir.join("media"), media_signer.clone(), public_url.to_owned()).context("cannot open the media directory")?;
    let public = FsBlobs::new(data_dir.join("public"), media_signer.clone(), public_url.to_owned())
        .context("cannot open the public (feeds) directory")?;
    Ok(Ports {
        records: Arc::new(SqliteRecords::new(db.clone())),
        blobs: Arc::new(blobs),
        public: Arc::new(public),
        jobs: Arc::new(SqliteJobs::new(db, "jobs", max_receives)),
        rate: Arc::new(podops_adapters::embedded::InProcessBudgets::new()),
    })
}

/// The AWS adapters, after checking that the resources in `needs` answer
/// (see `podops_adapters::aws::connect`): a wrong endpoint or a missing
/// `podops provision` stops the process at start, with the endpoint named.
pub async fn aws(args: &AwsArgs, needs: Needs, max_receives: u32) -> Result<Ports> {
    let options = ConnectOptions { needs, public_media_url: args.public_media_url.clone() };
    let ports = connect_with(&args.config(max_receives), &options).await?;
    Ok(Ports { records: ports.records, blobs: ports.blobs, public: ports.public, jobs: ports.jobs, rate: ports.rate })
}
