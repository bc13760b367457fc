//! Build and publish a production's feed: gather the show, its episodes and
//! their assets, leave out what must not appear yet, check Apple's rules,
//! render, and publish atomically to the public store, keeping the last
//! builds so a bad one can be rolled back.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    domain::{audit::Target, Asset, AssetState, Guid, Kind, Production, Resource, ResourceBody, Scope, Show, Timestamp, Version},
    feed::{self, rss, Problem},
    ports::{BlobKey, ListQuery, Record, SignedMethod, StoreError, WriteOp},
};

use super::{keys, Caller, Need, Podops, ServiceError};

/// How many builds (records and archived feeds) a production keeps.
pub const KEPT_BUILDS: usize = 10;
/// Enclosure and artwork URLs in a feed must not expire: they are signed with
/// this fixed expiry, so the URL of an asset is stable across rebuilds and
/// dies only with the asset.
pub const PUBLIC_URL_EXPIRY: Timestamp = 253_402_300_799; // 9999-12-31

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LeftOut {
    pub guid: Guid,
    /// `episode.blocked`, `episode.unpublished`, `episode.scheduled`, `episode.no_enclosure`, `episode.enclosure_not_ready`.
    pub reason: &'static str,
    /// For a scheduled episode: when it will appear.
    pub at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BuildOutcome {
    /// Where the feed is (or would be) published.
    pub feed_url: String,
    pub published: bool,
    pub build_id: Option<String>,
    pub built_at: Timestamp,
    pub episodes: usize,
    pub sha256: String,
    pub bytes: usize,
    /// Apple's requirements (`blocking`) and recommendations the show misses.
    pub problems: Vec<Problem>,
    pub left_out: Vec<LeftOut>,
    /// The next scheduled episode's time: the feed rebuilds itself then.
    pub next_due: Option<Timestamp>,
    /// The feed itself, on a dry run.
    pub xml: Option<String>,
}

/// The store's record of one publish.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct BuildRecord {
    pub id: String,
    pub built_at: Timestamp,
    pub episodes: usize,
    pub sha256: String,
    pub bytes: usize,
    pub archive: String,
    /// Where the feed redirected (301) when this build was published; a rollback restores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}

/// Where publishing goes: the public store and the URL it is served under.
#[derive(Clone)]
pub struct Publishing {
    pub public: std::sync::Arc<dyn crate::ports::Blobs>,
    /// e.g. `http://127.0.0.1:8080`; the feed is `<base>/feeds/<name>/feed.xml`.
    pub feed_base_url: String,
    /// Seconds between an edit of a published production and its automatic rebuild.
    pub rebuild_delay: i64,
}

pub(crate) struct Gathered {
    pub(crate) production: Production,
    pub(crate) show: Option<Show>,
    pub(crate) episodes: Vec<Resource>,
    pub(crate) assets: HashMap<Guid, Asset>,
}

impl Podops {
    /// `POST /a/v1/build`: publishes (or, with `dry_run`, only renders) the feed.
    pub async fn build(&self, caller: &Caller, prod: &Guid, dry_run: bool) -> Result<BuildOutcome, ServiceError> {
        caller.require(Scope::ProductionBuild)?;
        self.authorize(caller, prod, Need::Operate).await?;
        let outcome = self.build_feed(prod, dry_run).await?;
        if !dry_run {
            // The build is a publish and a record, not one transaction: its entry follows it.
            let ops = self.audit_ops(caller, "production.build", Target::new("production", prod), Some(prod), Default::default())?;
            self.records.transact(&ops).await?;
        }
        Ok(outcome)
    }

    /// The build itself, also run by the scheduler (no caller).
    pub async fn build_feed(&self, prod: &Guid, dry_run: bool) -> Result<BuildOutcome, ServiceError> {
        let publishing = self.publishing.as_ref().ok_or(ServiceError::PublishingNotConfigured)?;
        let now = self.clock.now();
        let g = self.gather(prod).await?;
        let name = g.production.name.as_str();
        let feed_url = format!("{}/feeds/{name}/feed.xml", publishing.feed_base_url);
        let mut show = g.show.clone().unwrap_or_default();
        if show.podcast_guid.as_deref().is_none_or(str::is_empty) {
            // The guid the feed was first published with stays, whatever its URL becomes (a move, a restore).
            show.podcast_guid = g.production.podcast_guid.clone();
        }
        let image_url = self.image_url(prod, show.image.as_deref(), &g.assets).await?;
        let mut problems = feed::check_show(&show, image_url.is_some());
        if g.show.is_none() {
            problems.insert(0, Problem { code: "show.missing", field: "show", message: "the production has no show resource yet".into(), blocking: true });
        }

        let mut left_out = Vec::new();
        let mut next_due: Option<Timestamp> = None;
        let mut included: Vec<(&Resource, &crate::domain::Episode, &Asset, String)> = Vec::new();
        for r in &g.episodes {
            let ResourceBody::Episode(ep) = &r.body else { continue };
            let reason = match (ep.block, ep.published, &ep.enclosure) {
                (true, _, _) => Some(("episode.blocked", None)),
                (_, None, _) => Some(("episode.unpublished", None)),
                (_, Some(t), _) if t > now => {
                    next_due = Some(next_due.map_or(t, |d| d.min(t)));
                    Some(("episode.scheduled", Some(t)))
                }
                (_, _, None) => Some(("episode.no_enclosure", None)),
                (_, _, Some(a)) => match g.assets.get(a) {
                    Some(asset) if asset.state == AssetState::Ready => {
                        included.push((r, ep, asset, self.public_asset_url(prod, a, asset).await?));
                        None
                    }
                    _ => Some(("episode.enclosure_not_ready", None)),
                },
            };
            if let Some((reason, at)) = reason {
                left_out.push(LeftOut { guid: r.guid.clone(), reason, at });
            }
        }
        included.sort_by(|a, b| b.1.published.cmp(&a.1.published).then_with(|| a.0.guid.cmp(&b.0.guid)));

        let chapters_base = format!("{}/feeds/{name}/chapters", publishing.feed_base_url);
        let mut chapter_urls: Vec<Option<String>> = Vec::with_capacity(included.len());
        let mut transcript_urls: Vec<Option<String>> = Vec::with_capacity(included.len());
        for (r, ep, _, _) in &included {
            let copy = match &ep.chapters_object {
                Some(key) => Some(self.public_object_url(&BlobKey::parse(key)?).await?),
                None => None,
            };
            chapter_urls.push(if ep.tracks.is_empty() { copy } else { Some(format!("{chapters_base}/{}.json", r.guid)) });
            transcript_urls.push(match &ep.transcript_object {
                Some(key) => Some(self.public_object_url(&BlobKey::parse(key)?).await?),
                None => None,
            });
        }
        let mut episode_images = Vec::with_capacity(included.len());
        for (_, ep, _, _) in &included {
            episode_images.push(self.image_url(prod, ep.image.as_deref(), &g.assets).await?);
        }
        let items: Vec<rss::Item<'_>> = included
            .iter()
            .zip(&chapter_urls)
            .zip(&episode_images)
            .zip(&transcript_urls)
            .map(|((((r, ep, asset, url), chapters), image), transcript)| rss::Item {
                production: prod,
                guid: &r.guid,
                episode: ep,
                enclosure: rss::Media { url, length: asset.size.unwrap_or(0), content_type: &asset.content_type, bitrate: None },
                alternates: Vec::new(),
                duration: ep.duration.map(u64::from).or_else(|| asset.probe.as_ref().map(|p| p.duration.round() as u64)),
                image_url: image.as_deref(),
                chapters_url: chapters.as_deref(),
                transcript_url: transcript.as_deref(),
            })
            .collect();
        let live = self.live_items(prod, name, now).await?;
        let hubs = self.notify.websub_hubs.iter().map(|h| h.to_string()).collect();
        let channel = rss::Channel { show: &show, feed_url: &feed_url, image_url: image_url.as_deref(), built_at: now, live, hubs };
        let xml = rss::render(&channel, &items);
        let sha256 = hex::encode(Sha256::digest(xml.as_bytes()));
        let mut outcome = BuildOutcome {
            feed_url,
            published: false,
            build_id: None,
            built_at: now,
            episodes: items.len(),
            sha256,
            bytes: xml.len(),
            problems,
            left_out,
            next_due,
            xml: None,
        };
        if dry_run {
            outcome.xml = Some(xml);
            return Ok(outcome);
        }
        if outcome.problems.iter().any(|p| p.blocking) {
            return Err(ServiceError::FeedInvalid(outcome.problems));
        }
        // Sorted by time, then by a UUIDv7 (ordered within the second too), so
        // "newest first" holds for two builds of one second and a rollback
        // republishes the build before the newest, not a random one of them.
        let id = format!("{now:012}-{}", uuid::Uuid::now_v7().simple());
        let archive = format!("feeds/{name}/builds/{id}.xml");
        let bytes = xml.into_bytes();
        publishing.public.put(&BlobKey::parse(&archive)?, RSS_TYPE, one_chunk(bytes.clone()), u64::MAX).await?;
        // The single commit point: readers see the old feed or the new one, never a mix.
        publishing.public.put(&BlobKey::parse(&format!("feeds/{name}/feed.xml"))?, RSS_TYPE, one_chunk(bytes), u64::MAX).await?;
        let redirect = show.new_feed_url.clone().filter(|_| show.redirect);
        let record = BuildRecord { id: id.clone(), built_at: now, episodes: outcome.episodes, sha256: outcome.sha256.clone(), bytes: outcome.bytes, archive, redirect };
        self.record_build(&g.production, &record, rss::podcast_guid(&show, &outcome.feed_url)).await?;
        // After the build's record: a server that reads the new feed then also reads its time.
        self.feeds_published.fetch_add(1, std::sync::atomic::Ordering::Release);
        if let Some(due) = next_due {
            self.schedule_build(prod, due).await?;
        }
        outcome.published = true;
        outcome.build_id = Some(id.clone());
        let told = serde_json::json!({ "build": id, "feed_url": outcome.feed_url, "episodes": outcome.episodes, "sha256": outcome.sha256 });
        self.emit(prod, "build.published", told).await;
        self.announce(prod, crate::domain::notify::Reason::Update).await;
        Ok(outcome)
    }

    /// `POST /a/v1/build/rollback`: drops the newest build and republishes the one before it.
    pub async fn rollback(&self, caller: &Caller, prod: &Guid) -> Result<BuildRecord, ServiceError> {
        caller.require(Scope::ProductionBuild)?;
        let production = self.authorize(caller, prod, Need::Operate).await?;
        let publishing = self.publishing.as_ref().ok_or(ServiceError::PublishingNotConfigured)?;
        let mut builds = self.builds(prod).await?;
        if builds.len() < 2 {
            return Err(ServiceError::NothingToRollBack);
        }
        let (current_record, current) = builds.remove(0);
        let (_, previous) = builds.remove(0);
        let archived = publishing.public.get(&BlobKey::parse(&previous.archive)?, None).await?;
        let feed_key = BlobKey::parse(&format!("feeds/{}/feed.xml", production.name))?;
        publishing.public.put(&feed_key, RSS_TYPE, archived.body, u64::MAX).await?;
        // The redirect goes back to what it was with that build.
        self.note_published(prod, None, previous.redirect.clone(), None).await?;
        self.feeds_published.fetch_add(1, std::sync::atomic::Ordering::Release);
        let mut ops = vec![WriteOp::Delete { key: current_record.key.clone(), expected: current_record.version }];
        ops.extend(self.audit_ops(caller, "production.rollback", Target::new("build", &current.id), Some(prod), Default::default())?);
        self.records.transact(&ops).await?;
        if let Err(e) = publishing.public.delete(&BlobKey::parse(&current.archive)?).await {
            tracing::warn!(archive = %current.archive, error = %e, "rolled back, but the dropped build's archive was not removed");
        }
        self.announce(prod, crate::domain::notify::Reason::Update).await;
        Ok(previous)
    }

    /// An episode's chapters (from its track list) as served at the URL its
    /// feed item links to. Rendered on request rather than published as one
    /// file per episode: always current, and a build of 10,000 episodes writes
    /// two objects instead of 10,002. Only episodes a feed may show are served.
    pub async fn public_chapters(&self, name: &str, episode: &Guid) -> Result<Option<serde_json::Value>, ServiceError> {
        let Some(prod) = self.production_by_name(name).await? else { return Ok(None) };
        let Ok(resource) = self.load(&prod, Kind::Episode, episode).await else { return Ok(None) };
        let ResourceBody::Episode(ep) = resource.body else { return Ok(None) };
        let visible = !ep.block && ep.published.is_some_and(|t| t <= self.clock.now()) && !ep.tracks.is_empty();
        Ok(visible.then(|| feed::chapters::chapters_json(&ep.tracks)))
    }

    /// Builds of a production, newest first.
    pub async fn builds(&self, prod: &Guid) -> Result<Vec<(Record, BuildRecord)>, ServiceError> {
        let records = self.list_all(prod, "BUILD#").await?;
        let mut out = Vec::with_capacity(records.len());
        for r in records.into_iter().rev() {
            let b: BuildRecord = serde_json::from_value(r.body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push((r, b));
        }
        Ok(out)
    }

    async fn record_build(&self, production: &Production, build: &BuildRecord, podcast_guid: String) -> Result<(), ServiceError> {
        let prod = &production.guid;
        let body = serde_json::to_value(build).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = crate::ports::Key::new(keys::production_partition(prod), format!("BUILD#{}", build.id));
        self.records.create(&Record { key, version: Version::FIRST, body, expires_at: None }).await?;
        self.note_published(prod, Some(build.built_at), build.redirect.clone(), Some(podcast_guid)).await?;
        let publishing = self.publishing.as_ref().ok_or(ServiceError::PublishingNotConfigured)?;
        for (record, old) in self.builds(prod).await?.into_iter().skip(KEPT_BUILDS) {
            self.records.delete(&record.key, record.version).await?;
            publishing.public.delete(&BlobKey::parse(&old.archive)?).await?;
        }
        Ok(())
    }

    /// The production's record of what is published: when (unchanged when
    /// `None`) and where the feed redirects. Retried, since members may be
    /// edited concurrently.
    pub(crate) async fn note_published(&self, prod: &Guid, built_at: Option<Timestamp>, redirect: Option<String>, podcast_guid: Option<String>) -> Result<(), ServiceError> {
        for _ in 0..5 {
            let Some(rec) = self.records.get(&keys::production(prod)).await? else { break };
            let mut p: Production = serde_json::from_value(rec.body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if built_at.is_some() {
                p.last_build = built_at;
            }
            p.feed_redirect = redirect.clone();
            if p.podcast_guid.is_none() {
                p.podcast_guid = podcast_guid.clone();
            }
            p.version = rec.version.next();
            let body = serde_json::to_value(&p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            match self.records.replace(&Record { key: rec.key, version: p.version, body, expires_at: None }, rec.version).await {
                Ok(()) => break,
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub(crate) async fn gather(&self, prod: &Guid) -> Result<Gathered, ServiceError> {
        let production = match self.records.get(&keys::production(prod)).await? {
            Some(r) => serde_json::from_value::<Production>(r.body).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            None => return Err(ServiceError::ProductionNotFound(prod.clone())),
        };
        let resources = |kind| async move {
            let records = self.list_all(prod, &keys::resource_prefix(kind)).await?;
            records
                .into_iter()
                .map(|r| Resource::from_value(r.body).map_err(|e| ServiceError::from(StoreError::Corrupt(e))))
                .collect::<Result<Vec<_>, _>>()
        };
        let show = resources(Kind::Show).await?.into_iter().find_map(|r| match r.body {
            ResourceBody::Show(s) => Some(s),
            _ => None,
        });
        let assets = resources(Kind::Asset)
            .await?
            .into_iter()
            .filter_map(|r| match r.body {
                ResourceBody::Asset(a) => Some((r.guid, a)),
                _ => None,
            })
            .collect();
        Ok(Gathered { production, show, episodes: resources(Kind::Episode).await?, assets })
    }

    /// Every record of a production under `prefix`, in sort order.
    pub(crate) async fn list_all(&self, prod: &Guid, prefix: &str) -> Result<Vec<Record>, ServiceError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let q = ListQuery { partition: keys::production_partition(prod), prefix: prefix.to_owned(), after, limit: 1000 };
            let page = self.records.list(&q).await?;
            out.extend(page.records);
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// A URL that works as long as the asset exists: external assets' source,
    /// local ones signed with the fixed public expiry.
    pub(crate) async fn public_asset_url(&self, prod: &Guid, id: &Guid, asset: &Asset) -> Result<String, ServiceError> {
        // Our copy when we hold one (uploads and fetched imports), else the external source.
        if let Some(key) = self.media_key(prod, id, asset)? {
            return self.public_object_url(&key).await;
        }
        match &asset.source {
            Some(source) => Ok(source.clone()),
            None => Err(StoreError::Corrupt(format!("asset {id} has neither bytes nor a source")).into()),
        }
    }

    /// A stored object's URL for a feed: the CDN's when the store has one, else signed with the fixed public expiry.
    pub(crate) async fn public_object_url(&self, key: &BlobKey) -> Result<String, ServiceError> {
        match self.blobs.public_url(key) {
            Some(url) => Ok(url),
            None => Ok(self.blobs.signed_url(key, SignedMethod::Get, PUBLIC_URL_EXPIRY).await?),
        }
    }

    /// An image field (a URL, or the GUID of a ready image asset) as a URL.
    pub(crate) async fn image_url(&self, prod: &Guid, image: Option<&str>, assets: &HashMap<Guid, Asset>) -> Result<Option<String>, ServiceError> {
        let Some(image) = image else { return Ok(None) };
        match Guid::parse(image) {
            Ok(id) => match assets.get(&id) {
                Some(a) if a.state == AssetState::Ready => Ok(Some(self.public_asset_url(prod, &id, a).await?)),
                _ => Ok(None),
            },
            Err(_) => Ok(Some(image.to_owned())),
        }
    }
}

pub const RSS_TYPE: &str = "application/rss+xml; charset=utf-8";

fn one_chunk(bytes: Vec<u8>) -> crate::ports::ByteStream {
    Box::pin(futures::stream::once(async move { Ok(bytes::Bytes::from(bytes)) }))
}
