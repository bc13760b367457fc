//! The feed's live items (`podcast:liveItem`) of the streams shown in it
//! (`show_feed`): `live` while a run plays, `pending` for each scheduled slot
//! of the coming week, `ended` for the last 3 runs. The feed is rebuilt when
//! a run starts or ends and when a stream or schedule changes.

use crate::{
    domain::{AudioFormat, Guid, Kind, LiveState, ResourceBody, StreamOutput, Timestamp},
    feed::rss::LiveItem,
};

use super::{Podops, ServiceError};

const DAY: Timestamp = 86_400;
/// A run with no slot to end it is announced as lasting this long from now.
const OPEN_RUN: Timestamp = 3600;

impl Podops {
    pub(crate) async fn live_items(&self, prod: &Guid, production_name: &str, now: Timestamp) -> Result<Vec<LiveItem>, ServiceError> {
        let streams = self.bodies_of(prod, Kind::Stream, |b| if let ResourceBody::Stream(s) = b { Some(s) } else { None }).await?;
        let schedules = self.schedules_of_public(prod).await?;
        let mut live = Vec::new();
        let mut pending = Vec::new();
        let mut ended = Vec::new();
        for (id, stream) in streams.into_iter().filter(|(_, s)| s.show_feed) {
            let format = match self.load(prod, Kind::Profile, &stream.profile).await {
                Ok(r) => match r.body {
                    ResourceBody::Profile(p) => p.format,
                    _ => AudioFormat::default(),
                },
                Err(_) => AudioFormat::default(),
            };
            let enclosure = stream.outputs.iter().find_map(|o| {
                let url = self.listen_url(production_name, &id, o)?;
                let content_type = match o {
                    StreamOutput::Hls {} => "application/x-mpegURL",
                    _ => match format {
                        AudioFormat::Mp3 => "audio/mpeg",
                        AudioFormat::Aac => "audio/aac",
                        AudioFormat::Opus => "audio/ogg",
                        AudioFormat::Flac => "audio/flac",
                    },
                };
                Some((url, content_type.to_owned()))
            });
            let title = if stream.title.is_empty() { "Live".to_owned() } else { stream.title.clone() };
            let item = |status: &'static str, start: Timestamp, end: Timestamp, title: &str| LiveItem {
                status,
                start,
                end,
                guid: format!("podops-live-{prod}-{id}-{start}"),
                title: title.to_owned(),
                enclosure: enclosure.clone(),
                content_link: enclosure.as_ref().map(|(u, _)| u.clone()),
            };
            let slots: Vec<_> = schedules.iter().filter(|s| s.stream == id).flat_map(|s| s.slots(now - DAY, now + 7 * DAY).into_iter().map(move |slot| (slot, s.title.clone()))).collect();
            let run = self.load_live(prod, &id).await?.map(|(l, _)| l);
            if let Some(l) = &run {
                if l.state == LiveState::Running {
                    let start = l.started_at.unwrap_or(now);
                    let end = slots.iter().find(|(s, _)| s.start <= now && now < s.end).map_or(now + OPEN_RUN, |(s, _)| s.end);
                    live.push(item("live", start, end, &title));
                }
                for past in l.past_runs.iter().rev() {
                    ended.push(item("ended", past.start, past.end, &title));
                }
            }
            for (slot, slot_title) in slots.iter().filter(|(s, _)| s.start > now) {
                pending.push(item("pending", slot.start, slot.end, slot_title));
            }
        }
        pending.sort_by_key(|i| i.start);
        ended.sort_by_key(|i| std::cmp::Reverse(i.start));
        live.extend(pending);
        live.extend(ended);
        Ok(live)
    }
}
