//! What a probe's result changes: the asset's facts and state, and the
//! duration of every episode that encloses it (so feeds show the measured
//! duration; a published feed is rebuilt).

use crate::{
    domain::{AssetState, Guid, Kind, Probe, Resource, ResourceBody},
    ports::StoreError,
};

use super::{keys, resources::resource_record, Podops, ServiceError};

impl Podops {
    /// The asset is probed: facts recorded, state ready, episodes updated.
    pub async fn record_probe(&self, prod: &Guid, id: &Guid, probe: &Probe) -> Result<Resource, ServiceError> {
        let update = self
            .update_asset(prod, id, |a| {
                if a.state == AssetState::Ready && a.probe.as_ref() == Some(probe) {
                    return false;
                }
                a.probe = Some(probe.clone());
                a.state = AssetState::Ready;
                a.error = None;
                true
            })
            .await?;
        self.set_episode_durations(prod, id, probe.duration).await?;
        if update.written {
            self.feed_is_stale(prod).await?;
            self.emit(prod, "asset.ready", serde_json::json!({ "asset": id, "duration": probe.duration, "codec": probe.codec })).await;
            if let ResourceBody::Asset(asset) = &update.resource.body {
                self.recording_probed(prod, id, asset).await;
            }
        }
        Ok(update.resource)
    }

    /// The asset could not be fetched or read: failed, with a code clients can act on.
    pub async fn fail_asset(&self, prod: &Guid, id: &Guid, code: &str) -> Result<(), ServiceError> {
        let update = self
            .update_asset(prod, id, |a| {
                if a.state == AssetState::Failed && a.error.as_deref() == Some(code) {
                    return false;
                }
                a.state = AssetState::Failed;
                a.error = Some(code.to_owned());
                true
            })
            .await?;
        if update.written {
            self.emit(prod, "asset.failed", serde_json::json!({ "asset": id, "error": code })).await;
        }
        Ok(())
    }

    /// Every episode enclosing `asset` gets its measured duration (whole seconds).
    async fn set_episode_durations(&self, prod: &Guid, asset: &Guid, duration: f64) -> Result<(), ServiceError> {
        let seconds = duration.round().clamp(0.0, f64::from(u32::MAX)) as u32;
        for record in self.list_all(prod, &keys::resource_prefix(Kind::Episode)).await? {
            let episode = Resource::from_value(record.body).map_err(StoreError::Corrupt)?;
            let ResourceBody::Episode(ep) = &episode.body else { continue };
            if ep.enclosure.as_ref() != Some(asset) || ep.duration == Some(seconds) {
                continue;
            }
            self.set_episode_duration(prod, &episode.guid, asset, seconds).await?;
        }
        Ok(())
    }

    async fn set_episode_duration(&self, prod: &Guid, id: &Guid, asset: &Guid, seconds: u32) -> Result<(), ServiceError> {
        for _ in 0..8 {
            let stored = self.load(prod, Kind::Episode, id).await?;
            let ResourceBody::Episode(mut ep) = stored.body.clone() else { return Ok(()) };
            // The client may have changed the enclosure meanwhile.
            if ep.enclosure.as_ref() != Some(asset) || ep.duration == Some(seconds) {
                return Ok(());
            }
            ep.duration = Some(seconds);
            let updated = Resource { version: stored.version.next(), updated: self.clock.now(), body: ResourceBody::Episode(ep), ..stored.clone() };
            match self.records.replace(&resource_record(&updated)?, stored.version).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }
}
