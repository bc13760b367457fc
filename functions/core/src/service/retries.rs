//! Retrying what failed: an asset whose import or probe failed, or one of
//! its renditions. A failed job's record keeps its deterministic id (so
//! asking again found the failure); a retry puts it back in the queue with
//! fresh counters, in the same transaction that clears the failure from the
//! asset, so a worker never sees one without the other.

use crate::{
    domain::{
        audit::Target,
        rendition::Matched, AssetRel, AssetState, Guid, Job, JobKind, Kind, RenditionRequest, Resource, ResourceBody, Scope,
    },
    ports::{StoreError, WriteOp},
};

use super::{jobs::{job_record, open_job_record}, resources::resource_record, Caller, Need, Podops, ServiceError};

impl Podops {
    /// `POST /a/v1/asset/{prod}/{id}/retry[?format=…]`: without rendition
    /// parameters, the asset's failed import (nothing stored yet) or probe;
    /// with them, that failed rendition. `NothingToRetry` when it has not failed.
    pub async fn retry_asset(&self, caller: &Caller, prod: &Guid, id: &Guid, request: &RenditionRequest) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Operate).await?;
        let mut resource = self.load(prod, Kind::Asset, id).await?;
        let expected = resource.version;
        let ResourceBody::Asset(asset) = &mut resource.body else { return Err(StoreError::Corrupt(format!("{id} is not an asset")).into()) };
        let now = self.clock.now();
        let job = if request.is_empty() {
            if asset.state != AssetState::Failed {
                return Err(ServiceError::NothingToRetry("the asset has not failed"));
            }
            let fetched = asset.object.is_some() || asset.sha256.is_some();
            let kind = match asset.rel {
                AssetRel::Import if !fetched => JobKind::Import,
                // Its segments were never joined: join them again (they stay until joined).
                AssetRel::Recording if !fetched => JobKind::Record,
                _ => JobKind::Probe,
            };
            asset.state = if matches!(kind, JobKind::Import | JobKind::Record) { AssetState::Importing } else { AssetState::Pending };
            asset.error = None;
            Job::new(kind, prod.clone(), id.clone(), None, now)
        } else {
            let probe = asset.probe.clone().ok_or(ServiceError::NothingToRetry("the asset has no renditions yet"))?;
            let Matched::Rendition(spec) = request.match_source(&probe)? else {
                return Err(ServiceError::NothingToRetry("that is the original, not a rendition"));
            };
            let failed = asset.renditions.iter().any(|r| r.name == spec.name() && r.state == AssetState::Failed);
            if !failed {
                return Err(ServiceError::NothingToRetry("that rendition has not failed"));
            }
            asset.renditions.retain(|r| r.name != spec.name());
            Job::new(JobKind::Transcode, prod.clone(), id.clone(), Some(spec), now)
        };
        resource.version = expected.next();
        resource.updated = now;
        let mut ops = vec![WriteOp::Replace { record: resource_record(&resource)?, expected }];
        match self.load_job(prod, &job.id).await? {
            // Fresh counters, the same id: the failure's record becomes the retry's.
            Some(old) => ops.push(WriteOp::Replace { record: job_record(&Job { version: old.version.next(), ..job.clone() })?, expected: old.version }),
            None => ops.push(WriteOp::Create(job_record(&job)?)),
        }
        let open = open_job_record(&job);
        if self.records.get(&open.key).await?.is_none() {
            ops.push(WriteOp::Create(open));
        }
        ops.extend(self.audit_ops(caller, "asset.retry", Target::new("asset", id), Some(prod), Default::default())?);
        match self.records.transact(&ops).await {
            Ok(()) => {}
            // The asset or the job changed meanwhile: the client asks again.
            Err(StoreError::Conflict) => return Err(ServiceError::Contended),
            Err(e) => return Err(e.into()),
        }
        self.send_job(&job).await?;
        tracing::info!(job = %job.id, "failed work retried");
        self.present(resource).await
    }
}
