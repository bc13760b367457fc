//! Schedules fire: each tick (the embedded scheduler every few seconds; on
//! AWS an EventBridge schedule every minute) starts the streams whose slot
//! has begun and stops those whose slot has ended. A slot's marker
//! (`SLOT#<schedule>#<start>`, created conditionally) makes it idempotent:
//! two ticks, or two processes, never start one slot twice. The slot owns the
//! stream: one still running when its slot ends is stopped.

use serde::Serialize;
use serde_json::json;

use crate::{
    domain::{
        schedule::{first_overlap, Schedule},
        ClientId, Guid, Kind, Resource, ResourceBody, Scope, Scopes, Timestamp, Version,
    },
    ports::{Key, ListQuery, Record, StoreError, WriteOp},
};

use super::{keys, streams::StreamAction, Caller, Need, Podops, RequestContext, ServiceError};

/// Every schedule, `<prod>#<schedule>`: what a tick reads.
pub(crate) const SCHEDULES: &str = "SCHEDULES";
const DAY: Timestamp = 86_400;
/// How far ahead overlaps are looked for.
const OVERLAP_HORIZON: Timestamp = 366 * DAY;
/// The longest timetable one request may ask for.
pub const MAX_TIMETABLE: Timestamp = 31 * DAY;

pub(crate) fn schedule_index(prod: &Guid, id: &Guid) -> Key {
    Key::new(SCHEDULES, format!("{prod}#{id}"))
}

/// Slots started and not yet stopped, everywhere: `<prod>#<schedule>#<start>` → `{stream, end}`.
const OPEN_SLOTS: &str = "OPEN_SLOTS";

fn open_slot(prod: &Guid, schedule: &Guid, start: Timestamp) -> Key {
    Key::new(OPEN_SLOTS, format!("{prod}#{schedule}#{start:012}"))
}

fn slot_marker(prod: &Guid, schedule: &Guid, start: Timestamp) -> Key {
    Key::new(keys::production_partition(prod), format!("SLOT#{schedule}#{start:012}"))
}

/// One slot of a production's timetable.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimetableSlot {
    pub schedule: Guid,
    pub stream: Guid,
    pub title: String,
    pub timezone: String,
    /// UNIX seconds.
    pub start: Timestamp,
    pub end: Timestamp,
}

/// What a tick did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScheduleTick {
    pub started: Vec<String>,
    pub stopped: Vec<String>,
}

impl Podops {
    /// A schedule's stream is in its production, and its slots overlap no
    /// other schedule's of the same stream.
    pub(crate) async fn check_schedule(&self, prod: &Guid, id: &Guid, schedule: &Schedule) -> Result<(), ServiceError> {
        if self.records.get(&keys::resource(prod, Kind::Stream, &schedule.stream)).await?.is_none() {
            return Err(ServiceError::Unprocessable { code: "schedule.stream_missing", field: "stream".into(), message: format!("stream {} is not in this production", schedule.stream) });
        }
        let now = self.clock.now();
        let (from, to) = (now - DAY, now + OVERLAP_HORIZON);
        let mine = schedule.slots(from, to);
        for (other_id, other) in self.schedules_of(prod).await? {
            if &other_id == id || other.stream != schedule.stream {
                continue;
            }
            if let Some((_, theirs)) = first_overlap(&mine, &other.slots(from, to)) {
                return Err(ServiceError::ScheduleOverlap { other: other_id, start: theirs.start });
            }
        }
        Ok(())
    }

    /// The schedules of a production, for its public guide.
    pub(crate) async fn schedules_of_public(&self, prod: &Guid) -> Result<Vec<Schedule>, ServiceError> {
        Ok(self.schedules_of(prod).await?.into_iter().map(|(_, s)| s).collect())
    }

    async fn schedules_of(&self, prod: &Guid) -> Result<Vec<(Guid, Schedule)>, ServiceError> {
        self.bodies_of(prod, Kind::Schedule, |b| if let ResourceBody::Schedule(s) = b { Some(s) } else { None }).await
    }

    /// `GET /a/v1/schedule/{prod}?from=&to=`: every schedule's slots in the range, in order.
    pub async fn timetable(&self, caller: &Caller, prod: &Guid, from: Option<Timestamp>, to: Option<Timestamp>) -> Result<Vec<TimetableSlot>, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        // Years 1970 to 9999: what a guide can mean, and no arithmetic overflows.
        const LAST: Timestamp = 253_402_300_799;
        let from = from.unwrap_or_else(|| self.clock.now());
        let to = to.unwrap_or(from.saturating_add(7 * DAY));
        if !(0..=LAST).contains(&from) || !(0..=LAST).contains(&to) {
            return Err(crate::domain::Invalid::new("to", "schedule.range", "from and to are UNIX seconds of the years 1970 to 9999").into());
        }
        // Each is fine alone; together they are not a range we answer (422, not 400).
        if to <= from || to - from > MAX_TIMETABLE {
            return Err(ServiceError::Unprocessable { code: "schedule.range", field: "to".into(), message: "to is after from, at most 31 days later".into() });
        }
        let mut slots: Vec<TimetableSlot> = self
            .schedules_of(prod)
            .await?
            .into_iter()
            .flat_map(|(id, s)| {
                s.slots(from, to).into_iter().map(move |slot| TimetableSlot {
                    schedule: id.clone(),
                    stream: s.stream.clone(),
                    title: s.title.clone(),
                    timezone: s.timezone.clone(),
                    start: slot.start,
                    end: slot.end,
                })
            })
            .collect();
        slots.sort_by_key(|s| (s.start, s.schedule.to_string()));
        Ok(slots)
    }

    /// One tick: first stops the streams whose slot has ended, then starts
    /// those whose slot has begun (so a slot ending as the next begins never
    /// stops its successor).
    pub async fn run_schedules(&self) -> Result<ScheduleTick, ServiceError> {
        let now = self.clock.now();
        let mut tick = ScheduleTick::default();
        self.stop_ended_slots(now, &mut tick).await?;
        let mut after = None;
        loop {
            let page = self.records.list(&ListQuery { partition: SCHEDULES.into(), prefix: String::new(), after, limit: 1000 }).await?;
            for entry in &page.records {
                let Some((prod, id)) = entry.key.sort.split_once('#').and_then(|(p, i)| Some((Guid::parse(p).ok()?, Guid::parse(i).ok()?))) else { continue };
                let Ok(Resource { body: ResourceBody::Schedule(schedule), .. }) = self.load(&prod, Kind::Schedule, &id).await else { continue };
                for slot in schedule.slots(now - DAY, now + 1).into_iter().filter(|s| s.start <= now && now < s.end) {
                    // The marker makes the start happen once; the open entry
                    // remembers what to stop, whatever becomes of the schedule.
                    let expires_at = Some(slot.end + 2 * DAY);
                    let ops = [
                        WriteOp::Create(Record { key: slot_marker(&prod, &id, slot.start), version: Version::FIRST, body: json!({ "state": "started" }), expires_at }),
                        WriteOp::Create(Record {
                            key: open_slot(&prod, &id, slot.start),
                            version: Version::FIRST,
                            body: json!({ "stream": schedule.stream, "end": slot.end }),
                            expires_at: None,
                        }),
                    ];
                    match self.records.transact(&ops).await {
                        Ok(()) => {
                            self.scheduled(&prod, &schedule.stream, StreamAction::Start).await;
                            tick.started.push(format!("{prod}/{id}@{}", slot.start));
                        }
                        Err(StoreError::Conflict) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(tick),
            }
        }
    }

    /// Stops the stream of every started slot whose end has come, from what
    /// was recorded when it started: a schedule deleted or moved meanwhile
    /// still has its slot ended. Removing the entry first makes it once.
    async fn stop_ended_slots(&self, now: Timestamp, tick: &mut ScheduleTick) -> Result<(), ServiceError> {
        let mut after = None;
        loop {
            let page = self.records.list(&ListQuery { partition: OPEN_SLOTS.into(), prefix: String::new(), after, limit: 1000 }).await?;
            for entry in &page.records {
                let Some(end) = entry.body["end"].as_i64() else { continue };
                if end > now {
                    continue;
                }
                let Some(prod) = entry.key.sort.split('#').next().and_then(|p| Guid::parse(p).ok()) else { continue };
                let Some(stream) = entry.body["stream"].as_str().and_then(|s| Guid::parse(s).ok()) else { continue };
                match self.records.delete(&entry.key, entry.version).await {
                    Ok(()) => {
                        self.scheduled(&prod, &stream, StreamAction::Stop).await;
                        tick.stopped.push(entry.key.sort.replacen('#', "/", 1));
                    }
                    Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Starts or stops a stream as the scheduler (audited as such). A stream
    /// that cannot start is logged: the slot has passed its one chance.
    async fn scheduled(&self, prod: &Guid, stream: &Guid, action: StreamAction) {
        let Ok(client) = ClientId::parse("scheduler") else { return };
        let caller = Caller { client, scopes: Scopes::new(vec![Scope::Admin]), context: RequestContext { via: "schedule", ..RequestContext::default() } };
        match self.control_stream(&caller, prod, stream, action).await {
            Ok(_) => tracing::info!(production = %prod, stream = %stream, action = action.as_str(), "scheduled slot"),
            Err(e) => tracing::warn!(production = %prod, stream = %stream, action = action.as_str(), error = %e, "a scheduled slot could not start or stop its stream"),
        }
    }
}
