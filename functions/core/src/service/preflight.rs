//! Preflight and dry run of a stream (seed 004): both run where FFmpeg runs,
//! on a worker, as jobs. Asking writes the run's record (`queued`) and its
//! job in one transaction; the worker writes each check (or the dry run's
//! report) into that record as it completes, so `…/preflight/events` can
//! follow it from any process, and a newer run replaces an older one.

use serde::{de::DeserializeOwned, Serialize};

use crate::{
    domain::{
        preflight::{DryRun, Level, Preflight, RunState},
        Asset, Guid, Job, JobKind, Kind, Profile, Resource, ResourceBody, Scope, Stream, StreamInput, Version,
    },
    ports::{Key, Record, StoreError, WriteOp},
};

use super::{keys, Caller, Need, Podops, ServiceError};

/// How long a preflight or dry-run report is kept.
const REPORT_TTL: i64 = 7 * 86_400;
const WRITE_ATTEMPTS: usize = 8;

/// What a worker checks a stream against.
pub struct PreflightSubject {
    pub production_name: String,
    pub stream: Stream,
    pub profile: Result<Profile, String>,
    /// Playlist items in order: the asset, if it still exists.
    pub items: Vec<(Guid, Option<Asset>)>,
    /// Whether the playlist itself exists (a playlist input).
    pub playlist_found: bool,
}

/// A preflight or dry-run report: which run it is of.
trait RunReport: Serialize + DeserializeOwned {
    fn run(&self) -> &str;
}

impl RunReport for Preflight {
    fn run(&self) -> &str {
        &self.run
    }
}

impl RunReport for DryRun {
    fn run(&self) -> &str {
        &self.run
    }
}

fn preflight_key(prod: &Guid, stream: &Guid) -> Key {
    Key::new(keys::production_partition(prod), format!("PREFLIGHT#{stream}"))
}

fn dry_run_key(prod: &Guid, stream: &Guid) -> Key {
    Key::new(keys::production_partition(prod), format!("DRYRUN#{stream}"))
}

impl Podops {
    /// `POST …/preflight`: a new preflight, queued for a worker.
    pub async fn start_preflight(&self, caller: &Caller, prod: &Guid, id: &Guid) -> Result<Preflight, ServiceError> {
        self.may_check(caller, prod, id).await?;
        let run = Guid::random().as_str().to_owned();
        let report = Preflight { run: run.clone(), state: RunState::Queued, level: Level::Green, checks: Vec::new(), started: self.clock.now(), finished: None, error: None };
        self.start_run(prod, id, JobKind::Preflight, preflight_key(prod, id), &run, &report).await?;
        Ok(report)
    }

    /// `POST …/dry-run`: a new dry run, queued for a worker.
    pub async fn start_dry_run(&self, caller: &Caller, prod: &Guid, id: &Guid) -> Result<DryRun, ServiceError> {
        self.may_check(caller, prod, id).await?;
        let run = Guid::random().as_str().to_owned();
        let report = DryRun { run: run.clone(), state: RunState::Queued, started: self.clock.now(), finished: None, speed: None, output: None, commands: Vec::new(), warnings: Vec::new(), error: None };
        self.start_run(prod, id, JobKind::DryRun, dry_run_key(prod, id), &run, &report).await?;
        Ok(report)
    }

    /// The latest preflight (`None`: never run, or expired).
    pub async fn preflight(&self, caller: &Caller, prod: &Guid, id: &Guid) -> Result<Option<Preflight>, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        self.load(prod, Kind::Stream, id).await?;
        Ok(self.read_run(&preflight_key(prod, id)).await?.map(|(r, _)| r))
    }

    /// The latest dry run (`None`: never run, or expired).
    pub async fn dry_run(&self, caller: &Caller, prod: &Guid, id: &Guid) -> Result<Option<DryRun>, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        self.load(prod, Kind::Stream, id).await?;
        Ok(self.read_run(&dry_run_key(prod, id)).await?.map(|(r, _)| r))
    }

    /// The worker's view of a preflight or dry-run job: the run it is for.
    pub fn run_of(job: &Job) -> &str {
        job.id.rsplit('-').next().unwrap_or_default()
    }

    /// Applies `f` to the preflight of the job's run. `false`: a newer run
    /// replaced it (the worker stops working on it).
    pub async fn write_preflight(&self, job: &Job, f: &(dyn Fn(&mut Preflight) + Send + Sync)) -> Result<bool, ServiceError> {
        self.write_run(&preflight_key(&job.production, &job.asset), Self::run_of(job), f).await
    }

    pub async fn write_dry_run(&self, job: &Job, f: &(dyn Fn(&mut DryRun) + Send + Sync)) -> Result<bool, ServiceError> {
        self.write_run(&dry_run_key(&job.production, &job.asset), Self::run_of(job), f).await
    }

    /// A preflight or dry run whose job failed for good ends `failed`.
    pub(crate) async fn fail_check_run(&self, job: &Job, code: &str) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let code = code.to_owned();
        match job.kind {
            JobKind::Preflight => {
                self.write_preflight(job, &move |r| {
                    r.state = RunState::Failed;
                    r.level = Level::Red;
                    r.error = Some(code.clone());
                    r.finished = Some(now);
                })
                .await?;
            }
            _ => {
                self.write_dry_run(job, &move |r| {
                    r.state = RunState::Failed;
                    r.error = Some(code.clone());
                    r.finished = Some(now);
                })
                .await?;
            }
        }
        Ok(())
    }

    /// The stream as a worker checks it: definition, profile, playlist items.
    pub async fn preflight_subject(&self, prod: &Guid, id: &Guid) -> Result<PreflightSubject, ServiceError> {
        let production = self.production_record(prod).await?.ok_or_else(|| ServiceError::ProductionNotFound(prod.clone()))?;
        let stream = match self.load(prod, Kind::Stream, id).await? {
            Resource { body: ResourceBody::Stream(s), .. } => s,
            _ => return Err(ServiceError::ResourceNotFound { kind: Kind::Stream, guid: id.clone() }),
        };
        let profile = match self.load(prod, Kind::Profile, &stream.profile).await {
            Ok(Resource { body: ResourceBody::Profile(p), .. }) => Ok(p),
            Ok(_) | Err(ServiceError::ResourceNotFound { .. }) => Err(format!("profile {} is gone", stream.profile)),
            Err(e) => return Err(e),
        };
        let mut items = Vec::new();
        let mut playlist_found = true;
        if let StreamInput::Playlist(pl) = &stream.input {
            match self.load(prod, Kind::Playlist, pl).await {
                Ok(Resource { body: ResourceBody::Playlist(playlist), .. }) => {
                    for item in playlist.items {
                        let asset = match self.load(prod, Kind::Asset, &item.asset).await {
                            Ok(Resource { body: ResourceBody::Asset(a), .. }) => Some(a),
                            Ok(_) | Err(ServiceError::ResourceNotFound { .. }) => None,
                            Err(e) => return Err(e),
                        };
                        items.push((item.asset, asset));
                    }
                }
                Ok(_) | Err(ServiceError::ResourceNotFound { .. }) => playlist_found = false,
                Err(e) => return Err(e),
            }
        }
        Ok(PreflightSubject { production_name: production.name.as_str().to_owned(), stream, profile, items, playlist_found })
    }

    /// Checking a stream connects to its outputs: operators and up, like control.
    async fn may_check(&self, caller: &Caller, prod: &Guid, id: &Guid) -> Result<(), ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Operate).await?;
        self.load(prod, Kind::Stream, id).await.map(drop)
    }

    async fn start_run<T: Serialize>(&self, prod: &Guid, id: &Guid, kind: JobKind, key: Key, run: &str, report: &T) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let job = Job { id: format!("{}-{id}-{run}", if kind == JobKind::Preflight { "preflight" } else { "dryrun" }), ..Job::new(kind, prod.clone(), id.clone(), None, now) };
        let body = serde_json::to_value(report).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for _ in 0..WRITE_ATTEMPTS {
            let stored = self.records.get(&key).await?;
            let version = stored.as_ref().map_or(Version::FIRST, |r| r.version.next());
            let record = Record { key: key.clone(), version, body: body.clone(), expires_at: Some(now + REPORT_TTL) };
            let mut ops = vec![match &stored {
                Some(r) => WriteOp::Replace { record, expected: r.version },
                None => WriteOp::Create(record),
            }];
            ops.extend(self.create_job_ops(&job)?);
            match self.records.transact(&ops).await {
                Ok(()) => {
                    self.send_job(&job).await?;
                    return Ok(());
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    async fn read_run<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<(T, Version)>, ServiceError> {
        let Some(record) = self.records.get(key).await? else { return Ok(None) };
        let report = serde_json::from_value(record.body).map_err(|e| StoreError::Corrupt(format!("{key:?}: {e}")))?;
        Ok(Some((report, record.version)))
    }

    async fn write_run<T: RunReport>(&self, key: &Key, run: &str, f: &(dyn Fn(&mut T) + Send + Sync)) -> Result<bool, ServiceError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some((mut report, version)) = self.read_run::<T>(key).await? else { return Ok(false) };
            if report.run() != run {
                return Ok(false);
            }
            f(&mut report);
            let body = serde_json::to_value(&report).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let record = Record { key: key.clone(), version: version.next(), body, expires_at: Some(self.clock.now() + REPORT_TTL) };
            match self.records.replace(&record, version).await {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }
}
