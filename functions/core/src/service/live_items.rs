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
            let item = |status: &'static str, start: Timestamp, end: Timestamp, title: &str, occurrence: Timestamp| LiveItem {
                status,
                start,
                end,
                guid: format!("podops-live-{prod}-{id}-{occurrence}"),
                title: title.to_owned(),
                enclosure: enclosure.clone(),
                content_link: enclosure.as_ref().map(|(u, _)| u.clone()),
            };
            let own: Vec<_> = schedules.iter().filter(|s| s.stream == id).collect();
            let slots_around = |from: Timestamp, to: Timestamp| -> Vec<(Timestamp, Timestamp)> { own.iter().flat_map(|s| s.slots(from, to)).map(|slot| (slot.start, slot.end)).collect() };
            let slots: Vec<_> = own.iter().flat_map(|s| s.slots(now - DAY, now + 7 * DAY).into_iter().map(move |slot| (slot, s.title.clone()))).collect();
            let run = self.load_live(prod, &id).await?.map(|(l, _)| l);
            if let Some(l) = &run {
                if l.state == LiveState::Running {
                    let start = l.started_at.unwrap_or(now);
                    let end = slots.iter().find(|(s, _)| s.start <= now && now < s.end).map_or(now + OPEN_RUN, |(s, _)| s.end);
                    live.push(item("live", start, end, &title, occurrence(start, &slots_around(start - DAY, start + DAY))));
                }
                for past in l.past_runs.iter().rev() {
                    ended.push(item("ended", past.start, past.end, &title, occurrence(past.start, &slots_around(past.start - DAY, past.start + DAY))));
                }
            }
            for (slot, slot_title) in slots.iter().filter(|(s, _)| s.start > now) {
                pending.push(item("pending", slot.start, slot.end, slot_title, slot.start));
            }
        }
        pending.sort_by_key(|i| i.start);
        ended.sort_by_key(|i| std::cmp::Reverse(i.start));
        live.extend(pending);
        live.extend(ended);
        Ok(live)
    }
}

/// How early a stream may be started for its slot and still be that slot's occurrence.
const EARLY_START: Timestamp = 15 * 60;

/// What names a run in the feed: the start of the scheduled slot it plays
/// (started by the scheduler a moment after the slot began, or by hand a
/// little early), so the item keeps its guid from `pending` through `live`
/// to `ended`; a run outside any slot is named by its own start.
fn occurrence(run_start: Timestamp, slots: &[(Timestamp, Timestamp)]) -> Timestamp {
    slots
        .iter()
        .filter(|(start, end)| *start - EARLY_START <= run_start && run_start < *end)
        .map(|(start, _)| *start)
        .min_by_key(|start| (run_start - start).abs())
        .unwrap_or(run_start)
}

#[cfg(test)]
mod tests {
    use super::occurrence;

    #[test]
    fn a_run_in_a_slot_is_named_by_the_slot_and_one_outside_by_itself() {
        let slot = 1_800_000_000;
        let hour = |start: i64| (start, start + 3600);
        // Started by the scheduler's tick, a few seconds into the slot.
        assert_eq!(occurrence(slot + 4, &[hour(slot), hour(slot + 7 * 86_400)]), slot);
        // Started by hand ten minutes early.
        assert_eq!(occurrence(slot - 600, &[hour(slot)]), slot);
        // Long before, or after the slot ended: its own occurrence.
        assert_eq!(occurrence(slot - 7200, &[hour(slot)]), slot - 7200);
        assert_eq!(occurrence(slot + 3600, &[hour(slot)]), slot + 3600);
        assert_eq!(occurrence(slot + 5, &[]), slot + 5);
        // A minute before the next back-to-back slot: that one.
        assert_eq!(occurrence(slot + 3600 - 60, &[hour(slot), hour(slot + 3600)]), slot + 3600);
    }
}
