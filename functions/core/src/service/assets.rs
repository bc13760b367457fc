//! Server-side changes to an asset (the worker's results) and where an
//! asset's bytes live. Every change is a version-checked replace, retried on
//! a lost race by re-reading and re-applying, so a client's concurrent edit of
//! the asset's name never loses a probe result or the other way round.

use crate::{
    domain::{Asset, AssetRel, Guid, Kind, Resource, ResourceBody},
    ports::{BlobKey, StoreError},
};

use super::{keys, resources::resource_record, Podops, ServiceError};

const UPDATE_TRIES: usize = 8;

/// The result of `update_asset`: the asset now, and whether this call wrote it.
pub struct AssetUpdate {
    pub resource: Resource,
    pub written: bool,
}

impl Podops {
    /// The asset `id`, or `ResourceNotFound`.
    pub async fn load_asset(&self, prod: &Guid, id: &Guid) -> Result<(Resource, Asset), ServiceError> {
        let resource = self.load(prod, Kind::Asset, id).await?;
        match &resource.body {
            ResourceBody::Asset(asset) => {
                let asset = asset.clone();
                Ok((resource, asset))
            }
            _ => Err(StoreError::Corrupt(format!("asset {id} is not an asset")).into()),
        }
    }

    /// Applies `change` to the stored asset; `change` returns false when the
    /// asset already is as wanted, and then nothing is written (so a repeated
    /// job result is no second update).
    pub async fn update_asset(
        &self,
        prod: &Guid,
        id: &Guid,
        change: impl Fn(&mut Asset) -> bool,
    ) -> Result<AssetUpdate, ServiceError> {
        for _ in 0..UPDATE_TRIES {
            let (stored, mut asset) = self.load_asset(prod, id).await?;
            if !change(&mut asset) {
                return Ok(AssetUpdate { resource: stored, written: false });
            }
            let updated = Resource {
                version: stored.version.next(),
                updated: self.clock.now(),
                body: ResourceBody::Asset(asset),
                ..stored.clone()
            };
            match self.records.replace(&resource_record(&updated)?, stored.version).await {
                Ok(()) => return Ok(AssetUpdate { resource: updated, written: true }),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// Where an asset's bytes are: an import's (possibly shared) object, or
    /// an upload's own key. `None` for external assets and imports not yet fetched.
    pub fn media_key(&self, prod: &Guid, id: &Guid, asset: &Asset) -> Result<Option<BlobKey>, ServiceError> {
        if let Some(object) = &asset.object {
            return Ok(Some(BlobKey::parse(object)?));
        }
        match asset.rel {
            AssetRel::Local if asset.size.is_some() => Ok(Some(self.media.object_key(prod, id, &asset.content_type)?)),
            _ => Ok(None),
        }
    }

    /// Other assets of the production, for sharing checks (same object, same content).
    pub(crate) async fn other_assets(&self, prod: &Guid, except: &Guid) -> Result<Vec<(Guid, Asset)>, ServiceError> {
        let mut out = Vec::new();
        for record in self.list_all(prod, &keys::resource_prefix(Kind::Asset)).await? {
            let r = Resource::from_value(record.body).map_err(StoreError::Corrupt)?;
            if let (ResourceBody::Asset(a), false) = (r.body, &r.guid == except) {
                out.push((r.guid, a));
            }
        }
        Ok(out)
    }
}
