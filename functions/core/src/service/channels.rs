//! Channels in public: `playlist.m3u` lists each stream's listen URL (its
//! HLS playlist or Icecast mount), `epg.xml` is the XMLTV guide of the
//! channel's streams' scheduled slots, in the channel's time zone.

use quick_xml::escape::escape;

use crate::domain::{channel::Channel, Guid, Kind, Resource, ResourceBody};

use super::{keys, Podops, ServiceError};

/// The guide covers slots from a day ago to a week ahead.
const GUIDE_BEFORE: i64 = 86_400;
const GUIDE_AHEAD: i64 = 7 * 86_400;

impl Podops {
    /// Its streams are in the production; its name is the production's only one.
    pub(crate) async fn check_channel(&self, prod: &Guid, id: &Guid, channel: &Channel) -> Result<(), ServiceError> {
        for (i, stream) in channel.streams.iter().enumerate() {
            if self.records.get(&keys::resource(prod, Kind::Stream, stream)).await?.is_none() {
                return Err(ServiceError::Unprocessable { code: "channel.stream_missing", field: format!("streams[{i}]"), message: format!("stream {stream} is not in this production") });
            }
        }
        if self.channels_of(prod).await?.iter().any(|(other, c)| other != id && c.name == channel.name) {
            return Err(ServiceError::Unprocessable { code: "channel.name_taken", field: "name".into(), message: format!("another channel is named '{}'", channel.name) });
        }
        Ok(())
    }

    async fn channels_of(&self, prod: &Guid) -> Result<Vec<(Guid, Channel)>, ServiceError> {
        self.bodies_of(prod, Kind::Channel, |b| if let ResourceBody::Channel(c) = b { Some(c) } else { None }).await
    }

    /// The channel named `channel` of the production named `production`.
    async fn public_channel(&self, production: &str, channel: &str) -> Result<Option<(Guid, Channel)>, ServiceError> {
        let Some(prod) = self.production_by_name(production).await? else { return Ok(None) };
        Ok(self.channels_of(&prod).await?.into_iter().find(|(_, c)| c.name == channel).map(|(_, c)| (prod, c)))
    }

    /// `GET /channels/{production}/{channel}/playlist.m3u`.
    pub async fn channel_playlist(&self, production: &str, channel: &str) -> Result<Option<String>, ServiceError> {
        let Some((prod, ch)) = self.public_channel(production, channel).await? else { return Ok(None) };
        let mut m3u = String::from("#EXTM3U\n");
        for id in &ch.streams {
            let Ok(Resource { body: ResourceBody::Stream(stream), .. }) = self.load(&prod, Kind::Stream, id).await else { continue };
            let Some(url) = stream.outputs.iter().find_map(|o| self.listen_url(production, id, o)) else { continue };
            let title = if stream.title.is_empty() { id.to_string() } else { stream.title.replace(['\n', '\r', ','], " ") };
            m3u.push_str(&format!("#EXTINF:-1 tvg-id=\"{}\" group-title=\"{}\",{title}\n{url}\n", guide_id(production, &ch, id), ch.title.replace(['"', '\n', '\r'], " ")));
        }
        Ok(Some(m3u))
    }

    /// `GET /channels/{production}/{channel}/epg.xml`: XMLTV, one `<channel>`
    /// per stream, one `<programme>` per scheduled slot.
    pub async fn channel_guide(&self, production: &str, channel: &str) -> Result<Option<String>, ServiceError> {
        let Some((prod, ch)) = self.public_channel(production, channel).await? else { return Ok(None) };
        let tz = ch.zone()?;
        let now = self.clock.now();
        let schedules = self.schedules_of_public(&prod).await?;
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n<tv generator-info-name=\"PodOps\">\n");
        let mut programmes = Vec::new();
        for id in &ch.streams {
            let Ok(Resource { body: ResourceBody::Stream(stream), .. }) = self.load(&prod, Kind::Stream, id).await else { continue };
            let channel_id = guide_id(production, &ch, id);
            let name = if stream.title.is_empty() { ch.title.clone() } else { stream.title.clone() };
            xml.push_str(&format!("  <channel id=\"{}\">\n    <display-name>{}</display-name>\n  </channel>\n", escape(&channel_id), escape(&name)));
            for s in schedules.iter().filter(|s| &s.stream == id) {
                for slot in s.slots(now - GUIDE_BEFORE, now + GUIDE_AHEAD) {
                    programmes.push((slot.start, slot.end, channel_id.clone(), s.title.clone()));
                }
            }
        }
        programmes.sort();
        let at = |t: i64| chrono::TimeZone::timestamp_opt(&tz, t, 0).single().map(|d| d.format("%Y%m%d%H%M%S %z").to_string()).unwrap_or_default();
        for (start, stop, channel_id, title) in programmes {
            xml.push_str(&format!(
                "  <programme start=\"{}\" stop=\"{}\" channel=\"{}\">\n    <title>{}</title>\n  </programme>\n",
                at(start),
                at(stop),
                escape(&channel_id),
                escape(&title)
            ));
        }
        xml.push_str("</tv>\n");
        Ok(Some(xml))
    }
}

/// A stream's id in the guide: unique and stable, DNS-like as XMLTV suggests.
fn guide_id(production: &str, channel: &Channel, stream: &Guid) -> String {
    format!("{stream}.{}.{}", channel.name, production.replace('_', "-"))
}
