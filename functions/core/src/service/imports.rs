//! Imports: an asset whose bytes the worker fetches from a URL. Asking for an
//! import records the asset (`importing`) and its import job in one
//! transaction; the worker streams the bytes into the media store and hands
//! them over here, where identical content already in the production is
//! shared instead of stored twice, and a probe follows.

use crate::{
    domain::{
        import_url::check_import_url, Asset, AssetRel, AssetState, Guid, Job, JobKind, Resource, ResourceBody, Scope,
        Version,
    },
    ports::{BlobKey, BlobMeta, WriteOp},
};

use super::{resources::resource_record, Caller, Need, Podops, ServiceError};

impl Podops {
    /// `POST /_t/import` (scope `admin`): a new asset in state `importing`.
    pub async fn import(&self, caller: &Caller, prod: &Guid, url: &str) -> Result<Resource, ServiceError> {
        caller.require(Scope::Admin)?;
        self.authorize(caller, prod, Need::Operate).await?;
        let source = check_import_url(url).map_err(|r| ServiceError::ImportRefused { code: r.code, reason: r.reason })?;
        let name = source.path_segments().and_then(|mut s| s.next_back()).filter(|n| !n.is_empty()).unwrap_or("import");
        let asset = Asset { name: name.chars().take(255).collect(), rel: AssetRel::Import, source: Some(source.to_string()), ..Default::default() };
        let now = self.clock.now();
        let resource = Resource {
            guid: Guid::random(),
            parent_guid: prod.clone(),
            created: now,
            updated: now,
            version: Version::FIRST,
            body: ResourceBody::Asset(asset),
        };
        let audit = self.audit_resource(caller, "import", &resource, None)?;
        self.create_import(resource, audit).await
    }

    /// Records an import asset (with any other writes of the same request)
    /// and its job in one transaction, then sends the job. The source is
    /// checked by the caller: a client's must be a public URL, the inbox's is
    /// an object of our own.
    pub(crate) async fn create_import(&self, mut resource: Resource, mut ops: Vec<WriteOp>) -> Result<Resource, ServiceError> {
        if let ResourceBody::Asset(asset) = &mut resource.body {
            asset.state = AssetState::Importing;
        }
        let job = Job::new(JobKind::Import, resource.parent_guid.clone(), resource.guid.clone(), None, self.clock.now());
        ops.insert(0, WriteOp::Create(resource_record(&resource)?));
        ops.extend(self.create_job_ops(&job)?);
        self.records.transact(&ops).await?;
        self.send_job(&job).await?;
        Ok(resource)
    }

    /// Where the worker streams an import's bytes: the asset's own key, so a
    /// retried import overwrites its own earlier attempt and nothing else.
    pub fn import_key(&self, prod: &Guid, id: &Guid, media_type: &str) -> Result<BlobKey, ServiceError> {
        self.media.object_key(prod, id, media_type)
    }

    /// The worker stored an import's bytes at `key`. If another asset of the
    /// production holds the same content, this asset shares that object (and
    /// its probe, when it has one) and the new copy is removed.
    pub async fn finish_import(&self, prod: &Guid, id: &Guid, media_type: &str, key: &BlobKey, meta: &BlobMeta) -> Result<(), ServiceError> {
        let twin = self.other_assets(prod, id).await?.into_iter().find_map(|(other, a)| {
            let shares = a.sha256.as_deref() == Some(meta.sha256.as_str()) && a.state != AssetState::Failed;
            let key = if shares { self.media_key(prod, &other, &a).ok().flatten() } else { None };
            key.map(|k| (other, k, a.probe))
        });
        let stored_at = |object: &BlobKey| {
            let object = object.as_str().to_owned();
            move |a: &mut Asset| {
                if a.object.as_deref() == Some(object.as_str()) && a.size == Some(meta.size) {
                    return false;
                }
                a.content_type = media_type.to_owned();
                a.size = Some(meta.size);
                a.sha256 = Some(meta.sha256.clone());
                a.object = Some(object.clone());
                if a.state == AssetState::Importing {
                    a.state = AssetState::Pending;
                }
                true
            }
        };
        let mut probe = None;
        if let Some((other, shared, twin_probe)) = twin.filter(|(_, k, _)| k != key) {
            // Our record names the shared object before we check the twin
            // still exists; the twin's delete checks for sharers after its
            // record is gone. Whichever runs second sees the other, so the
            // shared object is never removed while we point at it.
            self.update_asset(prod, id, stored_at(&shared)).await?;
            if self.records.get(&super::keys::resource(prod, crate::domain::Kind::Asset, &other)).await?.is_some() {
                if let Err(e) = self.blobs.delete(key).await {
                    tracing::warn!(key = %key, error = %e, "import shares an object; its own copy was not removed");
                }
                probe = twin_probe;
            } else {
                self.update_asset(prod, id, stored_at(key)).await?;
            }
        } else {
            self.update_asset(prod, id, stored_at(key)).await?;
        }
        match probe {
            // Same bytes, same facts: no second probe.
            Some(p) => {
                self.record_probe(prod, id, &p).await?;
            }
            None => {
                self.ensure_job(Job::new(JobKind::Probe, prod.clone(), id.clone(), None, self.clock.now())).await?;
            }
        }
        Ok(())
    }
}
