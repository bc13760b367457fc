//! Public reads (seed 002: programs and episodes without authentication):
//! exactly what the published feed shows, as JSON — never an owner's email,
//! members, external ids or secrets, never an unpublished, blocked or
//! future-dated episode. A member of the production also sees scheduled ones.

use serde::Serialize;

use crate::domain::{AssetState, Episode, EpisodeType, Guid, ResourceBody, Show, ShowType, Timestamp, Track};

use super::{build::Gathered, Caller, Need, Podops, ServiceError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicShow {
    pub name: String,
    pub title: String,
    pub description: String,
    pub language: String,
    pub link: Option<String>,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub explicit: bool,
    #[serde(rename = "type")]
    pub show_type: ShowType,
    pub author: String,
    pub copyright: String,
    pub image: Option<String>,
    pub complete: bool,
    pub podcast_guid: Option<String>,
    pub feed_url: Option<String>,
    /// Newest first.
    pub episodes: Vec<PublicEpisodeSummary>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicEnclosure {
    pub url: String,
    #[serde(rename = "type")]
    pub media_type: String,
    pub length: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicEpisodeSummary {
    pub guid: Guid,
    pub title: String,
    pub published: Timestamp,
    /// True for a member's view of an episode not yet public.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub scheduled: bool,
    pub duration: Option<u32>,
    pub season: Option<u32>,
    pub episode: Option<u32>,
    #[serde(rename = "type")]
    pub episode_type: EpisodeType,
    pub explicit: bool,
    pub image: Option<String>,
    pub enclosure: PublicEnclosure,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicShowSummary {
    pub name: String,
    pub title: String,
    pub image: Option<String>,
    pub feed_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicEpisode {
    #[serde(flatten)]
    pub summary: PublicEpisodeSummary,
    pub summary_text: String,
    pub content: String,
    pub link: Option<String>,
    pub transcript: Option<String>,
    pub chapters: Option<String>,
    pub tracks: Vec<Track>,
    pub show: PublicShowSummary,
}

/// Whether a caller sees scheduled episodes (a member of the production).
async fn is_member(podops: &Podops, caller: Option<&Caller>, prod: &Guid) -> bool {
    match caller {
        Some(c) => podops.authorize(c, prod, Need::Read).await.is_ok(),
        None => false,
    }
}

impl Podops {
    /// The published show of production `name`, with its public episodes.
    pub async fn public_show(&self, name: &str, caller: Option<&Caller>) -> Result<PublicShow, ServiceError> {
        let (prod, g) = self.published(name).await?;
        let member = is_member(self, caller, &prod).await;
        let show = g.show.clone().unwrap_or_default();
        let mut episodes = Vec::new();
        for r in &g.episodes {
            if let ResourceBody::Episode(ep) = &r.body {
                if let Some(summary) = self.public_summary(&prod, &g, &r.guid, ep, member).await? {
                    episodes.push(summary);
                }
            }
        }
        episodes.sort_by(|a, b| b.published.cmp(&a.published).then_with(|| a.guid.cmp(&b.guid)));
        Ok(PublicShow {
            name: g.production.name.to_string(),
            image: self.image_url(&prod, show.image.as_deref(), &g.assets).await?,
            feed_url: self.public_feed_url(name),
            episodes,
            ..public_fields(&show)
        })
    }

    /// One public episode with its tracks, and its show in short.
    pub async fn public_episode(&self, name: &str, id: &Guid, caller: Option<&Caller>) -> Result<PublicEpisode, ServiceError> {
        let (prod, g) = self.published(name).await?;
        let member = is_member(self, caller, &prod).await;
        let not_found = || ServiceError::PublicNotFound;
        let r = g.episodes.iter().find(|r| &r.guid == id).ok_or_else(not_found)?;
        let ResourceBody::Episode(ep) = &r.body else { return Err(not_found()) };
        let summary = self.public_summary(&prod, &g, &r.guid, ep, member).await?.ok_or_else(not_found)?;
        let show = g.show.clone().unwrap_or_default();
        Ok(PublicEpisode {
            summary,
            summary_text: ep.summary.clone(),
            content: ep.content.clone(),
            link: ep.link.clone(),
            transcript: ep.transcript.clone(),
            chapters: ep.chapters.clone(),
            tracks: ep.tracks.clone(),
            show: PublicShowSummary {
                name: g.production.name.to_string(),
                title: show.title.clone(),
                image: self.image_url(&prod, show.image.as_deref(), &g.assets).await?,
                feed_url: self.public_feed_url(name),
            },
        })
    }

    /// A production whose feed has been published (else: not found, whoever asks).
    async fn published(&self, name: &str) -> Result<(Guid, Gathered), ServiceError> {
        let prod = self.production_by_name(name).await?.ok_or(ServiceError::PublicNotFound)?;
        let g = self.gather(&prod).await?;
        if g.production.last_build.is_none() || g.show.as_ref().is_none_or(|s| s.block) {
            return Err(ServiceError::PublicNotFound);
        }
        Ok((prod, g))
    }

    fn public_feed_url(&self, name: &str) -> Option<String> {
        self.publishing.as_ref().map(|p| format!("{}/feeds/{name}/feed.xml", p.feed_base_url.trim_end_matches('/')))
    }

    /// The feed's rule for an episode: not blocked, published, its enclosure
    /// ready; future-dated only for members (marked `scheduled`).
    async fn public_summary(&self, prod: &Guid, g: &Gathered, guid: &Guid, ep: &Episode, member: bool) -> Result<Option<PublicEpisodeSummary>, ServiceError> {
        let now = self.clock.now();
        let (Some(published), Some(enclosure), false) = (ep.published, ep.enclosure.as_ref(), ep.block) else { return Ok(None) };
        let scheduled = published > now;
        if scheduled && !member {
            return Ok(None);
        }
        let Some(asset) = g.assets.get(enclosure).filter(|a| a.state == AssetState::Ready) else { return Ok(None) };
        Ok(Some(PublicEpisodeSummary {
            guid: guid.clone(),
            title: ep.title.clone(),
            published,
            scheduled,
            duration: ep.duration,
            season: ep.season,
            episode: ep.episode,
            episode_type: ep.episode_type,
            explicit: ep.explicit,
            image: self.image_url(prod, ep.image.as_deref(), &g.assets).await?,
            enclosure: PublicEnclosure { url: self.public_asset_url(prod, enclosure, asset).await?, media_type: asset.content_type.clone(), length: asset.size },
        }))
    }
}

/// The show's public fields (no owner, no block, no new-feed or lock settings).
fn public_fields(show: &Show) -> PublicShow {
    PublicShow {
        name: String::new(),
        title: show.title.clone(),
        description: show.description.clone(),
        language: show.language.clone(),
        link: show.link.clone(),
        category: show.category.clone(),
        subcategory: show.subcategory.clone(),
        explicit: show.explicit,
        show_type: show.show_type,
        author: show.author.clone(),
        copyright: show.copyright.clone(),
        image: None,
        complete: show.complete,
        podcast_guid: show.podcast_guid.clone(),
        feed_url: None,
        episodes: Vec::new(),
    }
}
