//! Backups of a production, and restores of them into this or another
//! deployment. `POST /a/v1/backups` queues a `backup` job; the worker writes
//! the archive (see `domain::backup`) from what `backup_contents` lists.
//! A restore reads an archive that is either a backup of this deployment or
//! one uploaded to a signed URL (`POST /a/v1/backups/uploads`), checks every
//! sha256, and writes the production: media first, records last, so a
//! refused archive leaves nothing behind.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{
    domain::{
        audit::Target,
        backup::{carried, rehome, ArchivedProduction, ArchivedRecord, Manifest, FORMAT},
        ClientId, Guid, Job, JobKind, Kind, NewProduction, Production, ProductionName, Resource, ResourceBody, Scope, Scopes, Stream, Timestamp, Version,
    },
    domain::webhook::Webhook,
    ports::{BlobKey, Key, ListQuery, Record, SignedMethod, StoreError, WriteOp, MAX_TRANSACT_OPS},
};

use super::{keys, Caller, Need, Podops, RequestContext, ServiceError};

/// Finished backups kept per production; older archives are deleted when a new one is done.
pub const KEPT_BACKUPS: usize = 10;
/// Restore records, and uploaded archives not restored, are kept this long.
const RESTORE_TTL: Timestamp = 7 * 24 * 3600;

/// A backup of a production, as `GET /a/v1/backups/{prod}` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Backup {
    #[schema(value_type = String)]
    pub id: Guid,
    #[schema(value_type = String)]
    pub production: Guid,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// The archive's size in bytes and sha256, once done.
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub records: Option<u64>,
    pub objects: Option<u64>,
    /// Why it failed (a code and a message).
    pub error: Option<BackupProblem>,
    pub requested_by: String,
    pub created: Timestamp,
    pub updated: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackupProblem {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    #[schema(value_type = String)]
    pub production: Guid,
}

/// A signed URL: GET it for a backup's archive, PUT an archive to it for a restore.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArchiveUrl {
    /// What `POST /a/v1/backups/restore` takes as `archive`.
    pub archive: String,
    pub url: String,
    /// `GET` or `PUT`.
    pub method: String,
    pub expires_at: Timestamp,
    /// The largest archive the URL takes (PUT) or the archive's size (GET).
    pub size: u64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// An uploaded archive (`POST /a/v1/backups/uploads`) or a backup of this
    /// deployment, as `<production>-<backup>`.
    pub archive: String,
    /// The production to restore into: created if new, or an empty one of yours.
    /// Default: the backed-up production's name.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestoreReport {
    pub records: u64,
    pub objects: u64,
    pub bytes: u64,
    /// `<kind>/<id>` whose secret (stream key, password, webhook secret) must be set again.
    pub secrets_to_set: Vec<String>,
}

/// A restore, as `GET /a/v1/backups/restore/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Restore {
    /// `<partition>-<restore>`: what the status route takes.
    pub id: String,
    pub archive: String,
    /// The production's name it restores into (the archive's when none was given).
    pub name: Option<String>,
    /// The production restored into, once chosen.
    #[schema(value_type = Option<String>)]
    pub production: Option<Guid>,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub report: Option<RestoreReport>,
    pub error: Option<BackupProblem>,
    pub requested_by: String,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// Where the archive is stored; stored, never answered (the routes clear it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(ignore)]
    pub(crate) object: String,
    /// Whether the production is created by the restore (false: an empty one of the caller's).
    #[serde(default)]
    #[schema(ignore)]
    pub(crate) creates: bool,
}

/// What the worker writes into a backup's archive.
pub struct BackupContents {
    pub production: ArchivedProduction,
    /// `records.jsonl`.
    pub records: Vec<u8>,
    pub record_count: u64,
    /// The media objects, each once.
    pub objects: Vec<BlobKey>,
    pub secrets_to_set: Vec<String>,
}

fn backup_key(prod: &Guid, id: &Guid) -> Key {
    Key::new(keys::production_partition(prod), format!("BACKUP#{id}"))
}

fn upload_key(partition: &Guid, id: &Guid) -> Key {
    Key::new(keys::production_partition(partition), format!("ARCHIVE#{id}"))
}

fn restore_key(partition: &Guid, id: &Guid) -> Key {
    Key::new(keys::production_partition(partition), format!("RESTORE#{id}"))
}

/// Where a backup's archive is stored.
pub fn backup_object(prod: &Guid, id: &Guid) -> Result<BlobKey, ServiceError> {
    Ok(BlobKey::parse(&format!("backups/{prod}/{id}.tar"))?)
}

fn upload_object(partition: &Guid, id: &Guid) -> Result<BlobKey, ServiceError> {
    Ok(BlobKey::parse(&format!("backups/uploads/{partition}/{id}.tar"))?)
}

fn pair(id: &str) -> Option<(Guid, Guid)> {
    let (a, b) = id.split_once('-')?;
    Some((Guid::parse(a).ok()?, Guid::parse(b).ok()?))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ServiceError {
    StoreError::Corrupt(format!("{what}: {e}")).into()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// The record body with its secrets masked as the API shows them; `Some(kind/id)` when it had one.
fn masked(body: Value) -> (Value, Option<String>) {
    let Ok(resource) = Resource::from_value(body.clone()) else { return (body, None) };
    let masked_body = match &resource.body {
        ResourceBody::Stream(s) if s.outputs.iter().any(|o| o.secret().is_some()) => ResourceBody::Stream(Stream::masked(s)),
        ResourceBody::Webhook(w) => ResourceBody::Webhook(Webhook::masked(w)),
        _ => return (body, None),
    };
    let kind = masked_body.kind();
    match serde_json::to_value(Resource { body: masked_body, ..resource.clone() }) {
        Ok(v) => (v, Some(format!("{kind}/{}", resource.guid))),
        Err(_) => (body, None),
    }
}

/// Whether an object key belongs to production `prod`'s own folders.
fn owned_key(key: &str, prod: &Guid) -> bool {
    ["media", "renditions"].iter().any(|root| key.strip_prefix(root).and_then(|k| k.strip_prefix('/')).and_then(|k| k.strip_prefix(prod.as_str())).is_some_and(|k| k.starts_with('/')))
}

/// The first object key of the archive, or key a record names, that would
/// lie outside the restored production once rehomed: a crafted archive must
/// not write, or point an asset at, another production's media.
fn foreign_reference(manifest: &Manifest, records: &[u8], target: &Guid) -> Option<String> {
    let from = &manifest.production.guid;
    if let Some(o) = manifest.objects.iter().find(|o| !owned_key(&rehome(&o.key, from, target), target)) {
        return Some(format!("object {} lies outside the production", o.key));
    }
    for line in records.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(text) = std::str::from_utf8(line) else { return Some("records.jsonl is not UTF-8".into()) };
        let Ok(record) = serde_json::from_str::<ArchivedRecord>(&rehome(text, from, target)) else { return Some("a record does not read".into()) };
        let resource = Resource::from_value(record.body).ok();
        if let Some(r) = &resource {
            // A resource is stored under its own id, in the restored production.
            if &r.parent_guid != target || !record.sort.ends_with(&format!("#{}", r.guid)) {
                return Some(format!("record {} is not a resource of this production", record.sort));
            }
        }
        let named: Vec<String> = match resource {
            Some(Resource { body: ResourceBody::Asset(a), .. }) => a.object.into_iter().chain(a.renditions.into_iter().filter_map(|r| r.key)).collect(),
            Some(Resource { body: ResourceBody::Episode(e), .. }) => e.transcript_object.into_iter().chain(e.chapters_object).collect(),
            _ => Vec::new(),
        };
        if let Some(key) = named.iter().find(|k| !owned_key(k, target)) {
            return Some(format!("record {} names {key}, outside the production", record.sort));
        }
    }
    None
}

impl Podops {
    /// `POST /a/v1/backups`: records the backup and queues its job.
    pub async fn start_backup(&self, caller: &Caller, request: BackupRequest) -> Result<Backup, ServiceError> {
        caller.require(Scope::ProductionWrite)?;
        let prod = request.production;
        self.authorize(caller, &prod, Need::Manage).await?;
        let now = self.clock.now();
        let id = Guid::random();
        let backup = Backup {
            id: id.clone(),
            production: prod.clone(),
            state: "queued".into(),
            size: None,
            sha256: None,
            records: None,
            objects: None,
            error: None,
            requested_by: caller.client.to_string(),
            created: now,
            updated: now,
        };
        let job = Job { id: format!("backup-{id}"), ..Job::new(JobKind::Backup, prod.clone(), id.clone(), None, now) };
        let body = serde_json::to_value(&backup).map_err(|e| corrupt("backup", e))?;
        let mut ops = vec![WriteOp::Create(Record { key: backup_key(&prod, &id), version: Version::FIRST, body, expires_at: None })];
        ops.extend(self.create_job_ops(&job)?);
        ops.extend(self.audit_ops(caller, "production.backup", Target::new("backup", &id), Some(&prod), Default::default())?);
        self.records.transact(&ops).await?;
        self.send_job(&job).await?;
        Ok(backup)
    }

    /// `GET /a/v1/backups/{prod}`: newest first.
    pub async fn list_backups(&self, caller: &Caller, prod: &Guid) -> Result<Vec<Backup>, ServiceError> {
        caller.require(Scope::ProductionRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        let mut backups = self.backups_of(prod).await?;
        backups.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
        Ok(backups)
    }

    async fn backups_of(&self, prod: &Guid) -> Result<Vec<Backup>, ServiceError> {
        let records = self.list_all(prod, "BACKUP#").await?;
        records.into_iter().map(|r| serde_json::from_value(r.body).map_err(|e| corrupt("backup", e))).collect()
    }

    /// `GET /a/v1/backups/{prod}/{id}/download`: a signed URL of the archive.
    pub async fn backup_download(&self, caller: &Caller, prod: &Guid, id: &Guid) -> Result<ArchiveUrl, ServiceError> {
        caller.require(Scope::ProductionRead)?;
        self.authorize(caller, prod, Need::Manage).await?;
        let (backup, _) = self.load_backup(prod, id).await?.ok_or_else(|| ServiceError::BackupNotFound(id.to_string()))?;
        if backup.state != "done" {
            return Err(ServiceError::BackupNotReady(backup.state));
        }
        let expires_at = self.clock.now() + self.media.url_ttl;
        let url = self.blobs.signed_url(&backup_object(prod, id)?, SignedMethod::Get, expires_at).await?;
        Ok(ArchiveUrl { archive: format!("{prod}-{id}"), url, method: "GET".into(), expires_at, size: backup.size.unwrap_or(0) })
    }

    async fn load_backup(&self, prod: &Guid, id: &Guid) -> Result<Option<(Backup, Version)>, ServiceError> {
        self.load_json(&backup_key(prod, id)).await
    }

    pub async fn backup_of(&self, job: &Job) -> Result<Option<Backup>, ServiceError> {
        Ok(self.load_backup(&job.production, &job.asset).await?.map(|(b, _)| b))
    }

    async fn update_backup(&self, job: &Job, change: impl Fn(&mut Backup)) -> Result<Backup, ServiceError> {
        let key = backup_key(&job.production, &job.asset);
        let changed = self.update_json(&key, None, |b: &mut Backup, now| {
            change(b);
            b.updated = now;
        });
        changed.await?.ok_or_else(|| ServiceError::BackupNotFound(job.asset.to_string()))
    }

    pub async fn backup_running(&self, job: &Job) -> Result<(), ServiceError> {
        self.update_backup(job, |b| b.state = "running".into()).await.map(|_| ())
    }

    pub async fn fail_backup(&self, job: &Job, code: &str, message: &str) -> Result<(), ServiceError> {
        let problem = BackupProblem { code: code.to_owned(), message: message.to_owned() };
        self.update_backup(job, |b| {
            b.state = "failed".into();
            b.error = Some(problem.clone());
        })
        .await
        .map(|_| ())
    }

    /// The archive is stored: `done`, and archives beyond the newest `KEPT_BACKUPS` deleted.
    pub async fn finish_backup(&self, job: &Job, size: u64, sha256: &str, records: u64, objects: u64) -> Result<(), ServiceError> {
        self.update_backup(job, |b| {
            b.state = "done".into();
            (b.size, b.sha256, b.records, b.objects) = (Some(size), Some(sha256.to_owned()), Some(records), Some(objects));
        })
        .await?;
        let mut done: Vec<(Backup, Version)> = Vec::new();
        for b in self.backups_of(&job.production).await?.into_iter().filter(|b| b.state == "done") {
            if let Some(found) = self.load_backup(&b.production, &b.id).await? {
                done.push(found);
            }
        }
        done.sort_by(|a, b| b.0.created.cmp(&a.0.created).then_with(|| b.0.id.cmp(&a.0.id)));
        for (old, version) in done.into_iter().skip(KEPT_BACKUPS) {
            self.blobs.delete(&backup_object(&old.production, &old.id)?).await?;
            match self.records.delete(&backup_key(&old.production, &old.id), version).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// What the backup job archives: the production's records (secrets
    /// masked) and every media object its assets and renditions hold.
    pub async fn backup_contents(&self, job: &Job) -> Result<BackupContents, ServiceError> {
        let prod = &job.production;
        let record = self.records.get(&keys::production(prod)).await?.ok_or_else(|| ServiceError::ProductionNotFound(prod.clone()))?;
        let production: Production = serde_json::from_value(record.body).map_err(|e| corrupt("production", e))?;
        let mut lines = Vec::new();
        let (mut count, mut secrets_to_set, mut objects) = (0u64, Vec::new(), Vec::<BlobKey>::new());
        for record in self.list_all(prod, "").await?.into_iter().filter(|r| carried(&r.key.sort)) {
            let mut keys: Vec<BlobKey> = Vec::new();
            match Resource::from_value(record.body.clone()) {
                Ok(Resource { guid, body: ResourceBody::Asset(asset), .. }) => {
                    let renditions = asset.renditions.iter().filter(|r| r.state == crate::domain::AssetState::Ready).filter_map(|r| r.key.as_deref());
                    keys.extend(renditions.filter_map(|k| BlobKey::parse(k).ok()));
                    keys.extend(self.media_key(prod, &guid, &asset)?);
                }
                Ok(Resource { body: ResourceBody::Episode(ep), .. }) => {
                    keys.extend([ep.transcript_object, ep.chapters_object].into_iter().flatten().filter_map(|k| BlobKey::parse(&k).ok()));
                }
                _ => {}
            }
            {
                for key in keys {
                    if !objects.contains(&key) {
                        objects.push(key);
                    }
                }
            }
            let (body, secret) = masked(record.body);
            secrets_to_set.extend(secret);
            let line = ArchivedRecord { sort: record.key.sort, version: record.version, body, expires_at: record.expires_at };
            serde_json::to_writer(&mut lines, &line).map_err(|e| corrupt("record", e))?;
            lines.push(b'\n');
            count += 1;
        }
        let archived = ArchivedProduction {
            guid: prod.clone(),
            name: production.name.as_str().to_owned(),
            title: production.title,
            summary: production.summary,
            last_build: production.last_build,
            podcast_guid: production.podcast_guid,
        };
        Ok(BackupContents { production: archived, records: lines, record_count: count, objects, secrets_to_set })
    }

    /// `POST /a/v1/backups/uploads`: a signed URL to PUT an archive made elsewhere.
    pub async fn start_archive_upload(&self, caller: &Caller) -> Result<ArchiveUrl, ServiceError> {
        caller.require(Scope::ProductionWrite)?;
        let (partition, id) = (Guid::random(), Guid::random());
        let now = self.clock.now();
        let expires_at = now + self.media.url_ttl;
        let body = json!({ "requested_by": caller.client.as_str(), "created": now });
        self.records.create(&Record { key: upload_key(&partition, &id), version: Version::FIRST, body, expires_at: Some(now + RESTORE_TTL) }).await?;
        let url = self.blobs.signed_url(&upload_object(&partition, &id)?, SignedMethod::Put, expires_at).await?;
        Ok(ArchiveUrl { archive: format!("{partition}-{id}"), url, method: "PUT".into(), expires_at, size: self.media.max_upload })
    }

    /// `POST /a/v1/backups/restore`: records the restore and queues its job.
    pub async fn start_restore(&self, caller: &Caller, request: RestoreRequest) -> Result<Restore, ServiceError> {
        caller.require(Scope::ProductionWrite)?;
        caller.require(Scope::ResourceWrite)?;
        let not_found = || ServiceError::BackupNotFound(request.archive.clone());
        let (a, b) = pair(&request.archive).ok_or_else(not_found)?;
        let object = if let Some((backup, _)) = self.load_backup(&a, &b).await? {
            // A backup of this deployment: whoever may download it may restore it.
            self.authorize(caller, &a, Need::Manage).await.map_err(|_| not_found())?;
            if backup.state != "done" {
                return Err(ServiceError::BackupNotReady(backup.state));
            }
            backup_object(&a, &b)?
        } else {
            let upload = self.records.get(&upload_key(&a, &b)).await?.ok_or_else(not_found)?;
            if upload.body.get("requested_by").and_then(Value::as_str) != Some(caller.client.as_str()) {
                return Err(not_found());
            }
            upload_object(&a, &b)?
        };
        let name = request.name.as_deref().map(ProductionName::parse).transpose()?;
        if let Some(name) = &name {
            // Another's production of that name is refused now, before any work.
            self.writable_production(caller, name).await?;
        }
        let (partition, id) = (Guid::random(), Guid::random());
        let now = self.clock.now();
        let restore = Restore {
            id: format!("{partition}-{id}"),
            archive: request.archive.clone(),
            name: name.map(|n| n.to_string()),
            production: None,
            state: "queued".into(),
            report: None,
            error: None,
            requested_by: caller.client.to_string(),
            created: now,
            updated: now,
            object: object.to_string(),
            creates: false,
        };
        let job = Job { id: format!("restore-{id}"), ..Job::new(JobKind::Restore, partition.clone(), id.clone(), None, now) };
        let body = serde_json::to_value(&restore).map_err(|e| corrupt("restore", e))?;
        let mut ops = vec![WriteOp::Create(Record { key: restore_key(&partition, &id), version: Version::FIRST, body, expires_at: Some(now + RESTORE_TTL) })];
        ops.extend(self.create_job_ops(&job)?);
        self.records.transact(&ops).await?;
        self.send_job(&job).await?;
        Ok(Restore { object: String::new(), ..restore })
    }

    /// `GET /a/v1/backups/restore/{id}`: for who asked for it.
    pub async fn restore(&self, caller: &Caller, id: &str) -> Result<Restore, ServiceError> {
        let not_found = || ServiceError::BackupNotFound(id.to_owned());
        let (partition, restore) = pair(id).ok_or_else(not_found)?;
        let (found, _) = self.load_restore(&partition, &restore).await?.ok_or_else(not_found)?;
        if found.requested_by != caller.client.as_str() && !caller.scopes.is_admin() {
            return Err(not_found());
        }
        Ok(Restore { object: String::new(), ..found })
    }

    async fn load_restore(&self, partition: &Guid, id: &Guid) -> Result<Option<(Restore, Version)>, ServiceError> {
        self.load_json(&restore_key(partition, id)).await
    }

    pub async fn restore_of(&self, job: &Job) -> Result<Option<Restore>, ServiceError> {
        Ok(self.load_restore(&job.production, &job.asset).await?.map(|(r, _)| r))
    }

    /// Where the archive of a restore job is stored.
    pub fn restore_object(restore: &Restore) -> Result<BlobKey, ServiceError> {
        Ok(BlobKey::parse(&restore.object)?)
    }

    async fn update_restore(&self, job: &Job, change: impl Fn(&mut Restore)) -> Result<Restore, ServiceError> {
        let key = restore_key(&job.production, &job.asset);
        let changed = self.update_json(&key, Some(RESTORE_TTL), |r: &mut Restore, now| {
            change(r);
            r.updated = now;
        });
        changed.await?.ok_or_else(|| ServiceError::BackupNotFound(job.asset.to_string()))
    }

    pub async fn restore_running(&self, job: &Job) -> Result<(), ServiceError> {
        self.update_restore(job, |r| r.state = "running".into()).await.map(|_| ())
    }

    pub async fn fail_restore(&self, job: &Job, code: &str, message: &str) -> Result<(), ServiceError> {
        let problem = BackupProblem { code: code.to_owned(), message: message.to_owned() };
        self.update_restore(job, |r| {
            r.state = "failed".into();
            r.error = Some(problem.clone());
        })
        .await
        .map(|_| ())
    }

    /// Who the restore writes as: who asked, with write scopes; their role is checked on every write.
    fn restorer(&self, restore: &Restore) -> Result<Caller, ServiceError> {
        let client = ClientId::parse(&restore.requested_by)?;
        let scopes = Scopes::new(vec![Scope::ProductionWrite, Scope::ResourceWrite, Scope::ResourceRead, Scope::ProductionRead]);
        Ok(Caller { client, scopes, context: RequestContext { via: "restore", ..RequestContext::default() } })
    }

    /// Checks the archive's manifest and records, and chooses the production
    /// it restores into: the name's empty production of the caller's, or a new
    /// one (the archive's guid when this deployment has none of that guid).
    /// `Ok(None)`: refused, and the restore is marked failed with a code.
    pub async fn plan_restore(&self, job: &Job, manifest: &Manifest, records: &[u8]) -> Result<Option<Guid>, ServiceError> {
        let Some(restore) = self.restore_of(job).await? else { return Ok(None) };
        if let Some(prod) = &restore.production {
            return Ok(Some(prod.clone())); // chosen by an earlier run of this job
        }
        if manifest.format != FORMAT {
            self.fail_restore(job, "backup.format", &format!("the archive is '{}', this server reads '{FORMAT}'", manifest.format)).await?;
            return Ok(None);
        }
        if records.len() as u64 != manifest.records.size || sha256_hex(records) != manifest.records.sha256 {
            self.fail_restore(job, "backup.checksum", "records.jsonl does not match the sha256 of the manifest").await?;
            return Ok(None);
        }
        let caller = self.restorer(&restore)?;
        let name = restore.name.clone().unwrap_or_else(|| manifest.production.name.clone());
        let Ok(name) = ProductionName::parse(&name) else {
            self.fail_restore(job, "name.format", "the archive's production name is not a valid name here: restore it with a name").await?;
            return Ok(None);
        };
        let (target, creates) = match self.writable_production(&caller, &name).await {
            Ok(Some(prod)) if self.is_empty(&prod).await? => (prod, false),
            Ok(Some(_)) => {
                self.fail_restore(job, "backup.not_empty", &format!("the production '{name}' has resources: restore into an empty one, or under another name")).await?;
                return Ok(None);
            }
            Ok(None) if self.records.get(&keys::production(&manifest.production.guid)).await?.is_none() => (manifest.production.guid.clone(), true),
            Ok(None) => (Guid::random(), true),
            Err(ServiceError::NameTaken(n)) => {
                self.fail_restore(job, "production.name_taken", &format!("the production '{n}' is another's")).await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if let Some(problem) = foreign_reference(manifest, records, &target) {
            self.fail_restore(job, "backup.foreign_key", &problem).await?;
            return Ok(None);
        }
        self.update_restore(job, |r| {
            r.production = Some(target.clone());
            r.name = Some(name.to_string());
            r.creates = creates;
        })
        .await?;
        Ok(Some(target))
    }

    async fn is_empty(&self, prod: &Guid) -> Result<bool, ServiceError> {
        for kind in Kind::ALL {
            let q = ListQuery { partition: keys::production_partition(prod), prefix: keys::resource_prefix(kind), after: None, limit: 1 };
            if !self.records.list(&q).await?.records.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes the production (when the restore creates it) and its records,
    /// each rehomed to `target`; records already there (a retried job) are
    /// kept. The feed is published again when the backed-up one was.
    pub async fn apply_restore(&self, job: &Job, manifest: &Manifest, records: &[u8], target: &Guid, bytes: u64) -> Result<(), ServiceError> {
        let Some(restore) = self.restore_of(job).await? else { return Ok(()) };
        let caller = self.restorer(&restore)?;
        let from = &manifest.production.guid;
        if restore.creates && self.records.get(&keys::production(target)).await?.is_none() {
            let name = ProductionName::parse(restore.name.as_deref().unwrap_or(&manifest.production.name))?;
            let input = NewProduction { name, title: manifest.production.title.clone(), summary: manifest.production.summary.clone() };
            self.create_production_as(&caller, input, target.clone()).await?;
        } else {
            self.authorize(&caller, target, Need::Write).await?;
        }
        if manifest.production.podcast_guid.is_some() {
            self.note_published(target, None, None, manifest.production.podcast_guid.clone()).await?;
        }
        let mut ops = Vec::new();
        let mut count = 0u64;
        for line in records.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let text = rehome(std::str::from_utf8(line).map_err(|e| corrupt("records.jsonl", e))?, from, target);
            let archived: ArchivedRecord = serde_json::from_str(&text).map_err(|e| corrupt("records.jsonl", e))?;
            if !carried(&archived.sort) {
                continue; // an archive names only what a production is; anything else is ignored
            }
            if let Some(id) = archived.sort.strip_prefix("SCHEDULE#").and_then(|id| Guid::parse(id).ok()) {
                ops.push(Record { key: super::schedules::schedule_index(target, &id), version: Version::FIRST, body: json!({}), expires_at: None });
            }
            let key = Key::new(keys::production_partition(target), archived.sort);
            ops.push(Record { key, version: archived.version, body: archived.body, expires_at: archived.expires_at });
            count += 1;
            if ops.len() >= MAX_TRANSACT_OPS - 1 {
                self.create_all(std::mem::take(&mut ops)).await?;
            }
        }
        self.create_all(ops).await?;
        if manifest.production.last_build.is_some() {
            self.schedule_build(target, self.clock.now()).await?;
        }
        let report = RestoreReport { records: count, objects: manifest.objects.len() as u64, bytes, secrets_to_set: manifest.secrets_to_set.iter().map(|s| rehome(s, from, target)).collect() };
        self.update_restore(job, |r| {
            r.state = "done".into();
            r.report = Some(report.clone());
        })
        .await?;
        Ok(())
    }

    /// Creates `records` in one transaction; when one exists (a retried job), one by one, keeping what is there.
    async fn create_all(&self, records: Vec<Record>) -> Result<(), ServiceError> {
        if records.is_empty() {
            return Ok(());
        }
        let ops: Vec<WriteOp> = records.iter().cloned().map(WriteOp::Create).collect();
        match self.records.transact(&ops).await {
            Err(StoreError::Conflict) => {
                for record in &records {
                    match self.records.create(record).await {
                        Ok(()) | Err(StoreError::Conflict) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(())
            }
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_productions_own_keys_are_its_own() {
        let p = Guid::parse("0123456789ab").unwrap();
        assert!(owned_key("media/0123456789ab/ffffffffffff.mp3", &p));
        assert!(owned_key("renditions/0123456789ab/abc/mp3-64000-1.mp3", &p));
        for other in ["media/ba9876543210/ffffffffffff.mp3", "media/0123456789abc/x", "feeds/show/feed.xml", "backups/0123456789ab/x.tar", "media/0123456789ab", "xmedia/0123456789ab/x"] {
            assert!(!owned_key(other, &p), "{other}");
        }
    }

    #[test]
    fn archive_references_are_two_guids() {
        assert!(pair("0123456789ab-ba9876543210").is_some());
        for bad in ["", "0123456789ab", "0123456789ab-", "0123456789AB-ba9876543210", "../etc-passwd"] {
            assert!(pair(bad).is_none(), "{bad}");
        }
    }
}
