//! Schedules on a clock the test moves: a slot starts its stream when it
//! begins and stops it when it ends, once however many ticks run; overlaps,
//! unknown zones and foreign streams are refused; the timetable expands
//! slots in real time zones (a Berlin slot in the spring-forward gap).

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use support::TestApp;

const SCOPES: &str = "production:read production:write resource:read resource:write";

/// `YYYY-MM-DDTHH:MM` of UNIX seconds, in UTC (by `date`, not by our code).
fn utc_local(at: i64) -> String {
    let out = std::process::Command::new("date").args(["-u", "-d", &format!("@{at}"), "+%Y-%m-%dT%H:%M"]).output().expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn stream_in(app: &TestApp, token: &str, prod: &str) {
    let profile = json!({"name": "talk", "format": "mp3", "bitrate": 64000, "sample_rate": 44100, "channels": 1});
    assert_eq!(app.call(Method::POST, &format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), Some(token), Some(profile)).await.status, StatusCode::CREATED);
    let stream = json!({"title": "Tone", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]});
    assert_eq!(app.call(Method::POST, &format!("/a/v1/resource/{prod}/stream/bbbbbbbbbbb1"), Some(token), Some(stream)).await.status, StatusCode::CREATED);
}

async fn desired(app: &TestApp, token: &str, prod: &str) -> String {
    let r = app.call(Method::GET, &format!("/a/v1/stream/{prod}/bbbbbbbbbbb1/status"), Some(token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json()["state"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_slot_starts_its_stream_once_and_stops_it_when_it_ends() {
    let app = support::app();
    let token = app.token("studio", SCOPES);
    let prod = app.production(&token, "scheduled_show").await;
    stream_in(&app, &token, &prod).await;
    let now = podops_core::ports::Clock::now(&*app.clock);
    let begins = (now / 60 + 61) * 60;
    let schedule = json!({"stream": "bbbbbbbbbbb1", "title": "Morning", "timezone": "UTC", "start": utc_local(begins), "duration": 600});
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/schedule/ccccccccccc1"), Some(&token), Some(schedule)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));

    let podops = &app.state.podops;
    assert!(podops.run_schedules().await.expect("tick").started.is_empty(), "not yet");
    app.clock.advance(begins - now + 1);
    assert_eq!(podops.run_schedules().await.expect("tick").started.len(), 1);
    assert_eq!(desired(&app, &token, &prod).await, "queued", "started (no worker here to run it)");
    for _ in 0..3 {
        let tick = podops.run_schedules().await.expect("tick");
        assert!(tick.started.is_empty() && tick.stopped.is_empty(), "a slot starts once: {tick:?}");
    }
    app.clock.advance(600);
    assert_eq!(podops.run_schedules().await.expect("tick").stopped.len(), 1);
    assert_eq!(desired(&app, &token, &prod).await, "stopped");
    assert!(podops.run_schedules().await.expect("tick").stopped.is_empty(), "and stops once");
}

#[tokio::test]
async fn overlaps_unknown_zones_and_foreign_streams_are_refused() {
    let app = support::app();
    let token = app.token("studio", SCOPES);
    let prod = app.production(&token, "scheduled_show").await;
    let other = app.production(&token, "another_show").await;
    stream_in(&app, &token, &prod).await;
    let weekly = |time: &str| json!({"stream": "bbbbbbbbbbb1", "title": "Weekly", "timezone": "Europe/Berlin", "rule": {"weekdays": ["fri"], "time": time}, "duration": 3600});
    let path = |id: &str| format!("/a/v1/resource/{prod}/schedule/{id}");
    assert_eq!(app.call(Method::POST, &path("ccccccccccc1"), Some(&token), Some(weekly("20:00"))).await.status, StatusCode::CREATED);
    let r = app.call(Method::POST, &path("ccccccccccc2"), Some(&token), Some(weekly("20:30"))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "schedule.overlap"));
    assert_eq!(r.json()["error"]["params"]["other"], "ccccccccccc1", "it names the other slot");
    assert_eq!(app.call(Method::POST, &path("ccccccccccc2"), Some(&token), Some(weekly("21:00"))).await.status, StatusCode::CREATED, "back to back is fine");
    // Moving the first onto the second is refused as well; moving it within its own hour is not.
    let r = app.call(Method::PUT, &path("ccccccccccc1"), Some(&token), Some(json!({"rule": {"weekdays": ["fri"], "time": "21:15"}}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "schedule.overlap"));
    assert!(app.call(Method::PUT, &path("ccccccccccc1"), Some(&token), Some(json!({"rule": {"weekdays": ["fri"], "time": "19:30"}}))).await.status.is_success());

    let mut bad = weekly("08:00");
    bad["timezone"] = json!("Mars/Olympus_Mons");
    let r = app.call(Method::POST, &path("ccccccccccc3"), Some(&token), Some(bad)).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "schedule.timezone"));
    let r = app.call(Method::POST, &format!("/a/v1/resource/{other}/schedule/ccccccccccc3"), Some(&token), Some(weekly("08:00"))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "schedule.stream_missing"), "a stream of another production");
    assert_eq!(app.call(Method::GET, &path("ccccccccccc3"), Some(&token), None).await.status, StatusCode::NOT_FOUND, "nothing written");
}

#[tokio::test]
async fn the_timetable_expands_slots_in_their_time_zone() {
    let app = support::app();
    let token = app.token("studio", SCOPES);
    let prod = app.production(&token, "scheduled_show").await;
    stream_in(&app, &token, &prod).await;
    // 2026-03-29 in Berlin skips 02:00–03:00: a slot at 02:30 starts at 03:00 CEST (01:00 UTC).
    let gap = json!({"stream": "bbbbbbbbbbb1", "title": "Night", "timezone": "Europe/Berlin", "start": "2026-03-29T02:30", "duration": 1800});
    assert_eq!(app.call(Method::POST, &format!("/a/v1/resource/{prod}/schedule/ddddddddddd1"), Some(&token), Some(gap)).await.status, StatusCode::CREATED);
    let r = app.call(Method::GET, &format!("/a/v1/schedule/{prod}?from=1774656000&to=1774828800"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let items = r.json()["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!((items[0]["start"].as_i64(), items[0]["end"].as_i64()), (Some(1_774_746_000), Some(1_774_747_800)));
    assert_eq!(items[0]["timezone"], "Europe/Berlin");
    let r = app.call(Method::GET, &format!("/a/v1/schedule/{prod}?from=1774656000&to=1784656000"), Some(&token), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "schedule.range"), "more than 31 days");
    let body: Value = app.call(Method::GET, &format!("/a/v1/schedule/{prod}"), Some(&token), None).await.json();
    assert!(body["items"].as_array().is_some_and(Vec::is_empty), "nothing this week: {body}");
}

#[tokio::test]
async fn back_to_back_slots_hand_over_and_a_deleted_schedule_still_ends_its_slot() {
    let app = support::app();
    let token = app.token("studio", SCOPES);
    let prod = app.production(&token, "scheduled_show").await;
    stream_in(&app, &token, &prod).await;
    let now = podops_core::ports::Clock::now(&*app.clock);
    let first = (now / 60 + 61) * 60;
    let path = |id: &str| format!("/a/v1/resource/{prod}/schedule/{id}");
    // Two schedules of one stream, the second starting as the first ends (ids sorted the other way).
    let one = json!({"stream": "bbbbbbbbbbb1", "title": "First", "timezone": "UTC", "start": utc_local(first), "duration": 600});
    let two = json!({"stream": "bbbbbbbbbbb1", "title": "Second", "timezone": "UTC", "start": utc_local(first + 600), "duration": 600});
    assert_eq!(app.call(Method::POST, &path("fffffffffff1"), Some(&token), Some(one)).await.status, StatusCode::CREATED);
    assert_eq!(app.call(Method::POST, &path("aaaaaaaaaaa9"), Some(&token), Some(two)).await.status, StatusCode::CREATED);
    let podops = &app.state.podops;
    app.clock.advance(first - now + 1);
    assert_eq!(podops.run_schedules().await.expect("tick").started.len(), 1);
    app.clock.advance(600);
    let tick = podops.run_schedules().await.expect("tick");
    assert_eq!((tick.stopped.len(), tick.started.len()), (1, 1), "{tick:?}");
    assert_eq!(desired(&app, &token, &prod).await, "queued", "the second slot's stream runs: the first's end did not stop it");

    // The second schedule is deleted mid-slot: its slot still ends.
    assert_eq!(app.call(Method::DELETE, &path("aaaaaaaaaaa9"), Some(&token), None).await.status, StatusCode::NO_CONTENT);
    app.clock.advance(600);
    assert_eq!(podops.run_schedules().await.expect("tick").stopped.len(), 1);
    assert_eq!(desired(&app, &token, &prod).await, "stopped");
}

#[tokio::test]
async fn a_timetable_range_out_of_this_world_is_refused() {
    let app = support::app();
    let token = app.token("studio", SCOPES);
    let prod = app.production(&token, "scheduled_show").await;
    for q in ["from=-9223372036854775808&to=8000000000000", "from=9223372036854775000"] {
        let r = app.call(Method::GET, &format!("/a/v1/schedule/{prod}?{q}"), Some(&token), None).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "schedule.range"), "{q}");
    }
    // Each bound valid alone, not together: 422.
    let r = app.call(Method::GET, &format!("/a/v1/schedule/{prod}?from=100&to=50"), Some(&token), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "schedule.range"));
}
