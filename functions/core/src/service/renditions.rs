//! Renditions on request (seed 003): the original, or a rendition made once
//! by the worker and then served from the store. A request for a rendition
//! not made yet enqueues its transcode — one job per rendition, whatever the
//! number of requests, since the job's id is derived from the rendition.

use crate::{
    domain::{
        rendition::{loudness_gain, TRUE_PEAK_CEILING},
        Asset, AssetRel, AssetState, Guid, Invalid, Job, JobKind, JobState, Matched, Probe, Rendition, RenditionRequest,
        RenditionSpec, Scope,
    },
    ports::{BlobKey, EncodePlan, SignedMethod},
};

use super::{Caller, Need, Podops, ServiceError};

/// Where the bytes asked for are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentLocation {
    /// A signed URL (or an external asset's source).
    pub url: String,
    pub content_type: String,
    pub size: Option<u64>,
}

/// Seconds a client should wait before asking again for something being made:
/// transcoding runs at roughly 60-130x real time on one core.
fn retry_after(probe: Option<&Probe>) -> u64 {
    probe.map_or(5, |p| (p.duration / 60.0).ceil() as u64 + 2).clamp(2, 600)
}

/// Where a rendition's bytes go: derived from the source's content and the
/// spec, so a retried or duplicated transcode writes the same object.
pub fn rendition_key(prod: &Guid, source_sha256: &str, spec: &RenditionSpec) -> Result<BlobKey, ServiceError> {
    Ok(BlobKey::parse(&format!("renditions/{prod}/{source_sha256}/{}.{}", spec.name(), spec.format.extension()))?)
}

/// The encode that makes `spec` from a source measured as `probe`: one pass,
/// with the loudness gain computed from the measurement.
pub fn encode_plan(spec: &RenditionSpec, probe: &Probe) -> EncodePlan {
    let (gain_db, limit) = match spec.loudness {
        Some(target) => loudness_gain(target, probe.lufs, probe.true_peak),
        None => (0.0, false),
    };
    EncodePlan {
        format: spec.format,
        bitrate: spec.bitrate,
        channels: spec.channels,
        gain_db,
        peak_ceiling: limit.then_some(TRUE_PEAK_CEILING),
    }
}

/// A rendition that would only copy the source (same format, rate and
/// channels, no gain) is the original.
fn is_the_source(spec: &RenditionSpec, probe: &Probe) -> bool {
    let same_format = matches!(
        (spec.format.as_str(), probe.format.as_str()),
        ("mp3", "mp3") | ("flac", "flac") | ("wav", "wav") | ("aac", "m4a")
    );
    let same_rate = spec.format.is_lossless() || (probe.bitrate as f64 - f64::from(spec.bitrate)).abs() <= f64::from(spec.bitrate) * 0.05;
    same_format && same_rate && spec.channels == probe.channels && spec.loudness.is_none()
}

impl Podops {
    /// `GET|HEAD /a/v1/asset/{prod}/{id}/content`. With `side_effects` false
    /// (HEAD) nothing is enqueued: the answer only says whether it exists.
    pub async fn asset_content(
        &self,
        caller: &Caller,
        prod: &Guid,
        id: &Guid,
        request: &RenditionRequest,
        side_effects: bool,
    ) -> Result<ContentLocation, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        let (_, asset) = self.load_asset(prod, id).await?;
        match asset.state {
            AssetState::Failed => return Err(ServiceError::AssetFailed(asset.error.clone().unwrap_or_default())),
            AssetState::Pending | AssetState::Importing => return Err(ServiceError::AssetNotReady { retry_after: retry_after(None) }),
            AssetState::Ready => {}
        }
        if asset.rel == AssetRel::External {
            if !request.is_empty() {
                return Err(Invalid::new("format", "rendition.external_asset", "renditions are made of stored assets only").into());
            }
            let url = asset.source.clone().unwrap_or_default();
            return Ok(ContentLocation { url, content_type: asset.content_type.clone(), size: asset.size });
        }
        let Some(probe) = asset.probe.clone() else {
            // Stored before probing existed: the original is there, renditions need the facts first.
            if request.is_empty() {
                return self.original(prod, id, &asset).await;
            }
            if side_effects {
                self.ensure_job(Job::new(JobKind::Probe, prod.clone(), id.clone(), None, self.clock.now())).await?;
            }
            return Err(ServiceError::AssetNotReady { retry_after: retry_after(None) });
        };
        let spec = match request.match_source(&probe)? {
            Matched::Original => return self.original(prod, id, &asset).await,
            Matched::LowQuality { field } => return Err(ServiceError::LowQuality { field }),
            Matched::Rendition(spec) if is_the_source(&spec, &probe) => return self.original(prod, id, &asset).await,
            Matched::Rendition(spec) => spec,
        };
        if let Some(made) = asset.renditions.iter().find(|r| r.name == spec.name()) {
            match (made.state, &made.key) {
                (AssetState::Ready, Some(key)) => {
                    let url = self.signed(&BlobKey::parse(key)?).await?;
                    return Ok(ContentLocation { url, content_type: spec.format.content_type().to_owned(), size: made.size });
                }
                (AssetState::Failed, _) => return Err(ServiceError::RenditionFailed(made.error.clone().unwrap_or_default())),
                _ => {}
            }
        }
        if side_effects {
            let job = self.ensure_job(Job::new(JobKind::Transcode, prod.clone(), id.clone(), Some(spec), self.clock.now())).await?;
            if let JobState::Failed { code } = &job.state {
                return Err(ServiceError::RenditionFailed(code.clone()));
            }
        }
        Err(ServiceError::AssetNotReady { retry_after: retry_after(Some(&probe)) })
    }

    async fn original(&self, prod: &Guid, id: &Guid, asset: &Asset) -> Result<ContentLocation, ServiceError> {
        let key = self.media_key(prod, id, asset)?.ok_or(ServiceError::AssetNotReady { retry_after: retry_after(None) })?;
        Ok(ContentLocation { url: self.signed(&key).await?, content_type: asset.content_type.clone(), size: asset.size })
    }

    async fn signed(&self, key: &BlobKey) -> Result<String, ServiceError> {
        let expires = self.clock.now() + self.media.url_ttl;
        Ok(self.blobs.signed_url(key, SignedMethod::Get, expires).await?)
    }

    /// The worker made (`Ok((key, size))`) or could not make (`Err(code)`) a
    /// rendition: recorded on the asset once; a repeat changes nothing.
    pub async fn record_rendition(&self, prod: &Guid, id: &Guid, spec: &RenditionSpec, outcome: Result<(&BlobKey, u64), &str>) -> Result<bool, ServiceError> {
        let entry = Rendition {
            format: spec.format.as_str().to_owned(),
            bitrate: spec.bitrate,
            channels: spec.channels,
            size: outcome.as_ref().ok().map(|(_, size)| *size),
            state: if outcome.is_ok() { AssetState::Ready } else { AssetState::Failed },
            loudness: spec.loudness,
            name: spec.name(),
            key: outcome.as_ref().ok().map(|(key, _)| key.as_str().to_owned()),
            error: outcome.as_ref().err().map(|code| (*code).to_owned()),
        };
        let update = self
            .update_asset(prod, id, |a| {
                if a.renditions.contains(&entry) {
                    return false;
                }
                a.renditions.retain(|r| r.name != entry.name);
                a.renditions.push(entry.clone());
                true
            })
            .await?;
        Ok(update.written)
    }
}
