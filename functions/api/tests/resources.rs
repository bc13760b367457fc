//! Shows, episodes and assets: create, read, merge-update with versions, delete, list.

mod support;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use podops_api::Limits;
use podops_core::service::MediaRules;
use serde_json::json;
use support::{app, app_with, FULL};

const EP: &str = "0123456789ab";

#[tokio::test]
async fn an_episode_with_tracks_round_trips_with_201_location_and_etag() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "track_lists").await;
    let body = json!({"title": "Pilot", "summary": "First", "published": 1795000000, "season": 1, "episode": 3,
                      "tracks": [{"artist": "Beirut", "title": "Elephant Gun", "offset": 754}]});
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/{EP}"), Some(&t), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("location"), format!("/a/v1/resource/{prod}/episode/{EP}"));
    assert_eq!(r.header("etag"), "\"1\"");
    let got = app.call(Method::GET, r.header("location"), Some(&t), None).await;
    let ep = got.json();
    assert_eq!(got.header("etag"), "\"1\"");
    assert_eq!((ep["kind"].as_str(), ep["guid"].as_str(), ep["parent_guid"].as_str()), (Some("episode"), Some(EP), Some(prod.as_str())));
    assert_eq!(ep["tracks"], json!([{"artist": "Beirut", "title": "Elephant Gun", "offset": 754}]));
    assert_eq!((ep["season"].as_u64(), ep["episode"].as_u64(), ep["type"].as_str()), (Some(1), Some(3), Some("full")));
    assert!(ep["created"].as_i64().unwrap() > 1_700_000_000);
}

#[tokio::test]
async fn put_merges_the_fields_sent_bumps_the_version_and_answers_204() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "merge_updates").await;
    let path = format!("/a/v1/resource/{prod}/episode/{EP}");
    app.call(Method::POST, &path, Some(&t), Some(json!({"title": "Pilot", "summary": "keep me"}))).await;
    let r = app.call(Method::PUT, &path, Some(&t), Some(json!({"title": "Pilot (remastered)"}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), "\"2\"");
    let ep = app.call(Method::GET, &path, Some(&t), None).await.json();
    assert_eq!((ep["title"].as_str(), ep["summary"].as_str(), ep["version"].as_u64()), (Some("Pilot (remastered)"), Some("keep me"), Some(2)));
    // What a GET returned can be PUT back as it is: server fields are ignored.
    let r = app.call(Method::PUT, &path, Some(&t), Some(ep)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn stale_if_match_is_rejected_with_412_and_changes_nothing() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "stale_writers").await;
    let path = format!("/a/v1/resource/{prod}/episode/{EP}");
    app.call(Method::POST, &path, Some(&t), Some(json!({"title": "v1"}))).await;
    let put = |title: &'static str, etag: &'static str| {
        Request::put(&path)
            .header("authorization", format!("Bearer {t}"))
            .header("content-type", "application/json")
            .header("if-match", etag)
            .body(Body::from(json!({ "title": title }).to_string()))
            .unwrap()
    };
    assert_eq!(app.send(put("v2", "\"1\"")).await.status, StatusCode::NO_CONTENT);
    let stale = app.send(put("lost", "\"1\"")).await;
    assert_eq!((stale.status, stale.code().as_str()), (StatusCode::PRECONDITION_FAILED, "resource.version_mismatch"));
    assert_eq!(stale.json()["error"]["params"]["current"], 2);
    assert_eq!(app.send(put("weak", "W/\"2\"")).await.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.call(Method::GET, &path, Some(&t), None).await.json()["title"], "v2");
    let del = Request::delete(&path).header("authorization", format!("Bearer {t}")).header("if-match", "\"1\"").body(Body::empty()).unwrap();
    assert_eq!(app.send(del).await.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.call(Method::GET, &path, Some(&t), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_writers_with_the_same_if_match_never_lose_an_update() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "racing_writers").await;
    let path = format!("/a/v1/resource/{prod}/episode/{EP}");
    app.call(Method::POST, &path, Some(&t), Some(json!({"title": "v1"}))).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (router, path, t) = (app.router.clone(), path.clone(), t.clone());
            tokio::spawn(async move {
                use tower::ServiceExt;
                let req = Request::put(&path)
                    .header("authorization", format!("Bearer {t}"))
                    .header("content-type", "application/json")
                    .header("if-match", "\"1\"")
                    .body(Body::from(json!({ "title": format!("writer {i}") }).to_string()))
                    .unwrap();
                (i, router.oneshot(req).await.unwrap().status())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (i, status) = task.await.unwrap();
        assert!(matches!(status, StatusCode::NO_CONTENT | StatusCode::PRECONDITION_FAILED), "{status}");
        if status == StatusCode::NO_CONTENT {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1);
    let ep = app.call(Method::GET, &path, Some(&t), None).await.json();
    assert_eq!(ep["title"], format!("writer {}", winners[0]));
    assert_eq!(ep["version"], 2);
}

#[tokio::test]
async fn bad_input_gets_400_with_the_field_never_500() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "bad_inputs_here").await;
    let cases = [
        (format!("/a/v1/resource/{prod}/podcasts/{EP}"), json!({"title": "x"}), "kind"),
        (format!("/a/v1/resource/{prod}/episode/NOTAGUID"), json!({"title": "x"}), "id"),
        (format!("/a/v1/resource/{prod}/episode/{EP}"), json!({"title": "x", "season": "one"}), "season"),
        (format!("/a/v1/resource/{prod}/episode/{EP}"), json!({"title": "x", "titel": "y"}), "titel"),
        (format!("/a/v1/resource/{prod}/episode/{EP}"), json!({"title": ""}), "title"),
        (format!("/a/v1/resource/{prod}/episode/{EP}"), json!({"title": "x", "tracks": [{"artist": "a"}]}), "tracks[0]"),
        (format!("/a/v1/resource/{prod}/show/{EP}"), json!({"title": "x", "link": "javascript:alert(1)"}), "link"),
    ];
    for (path, body, field) in cases {
        let r = app.call(Method::POST, &path, Some(&t), Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body}");
        let got = r.json()["error"]["params"]["field"].as_str().unwrap_or("").to_owned();
        assert!(got.starts_with(field), "{body}: field {got:?}, want {field}");
    }
    let path = format!("/a/v1/resource/{prod}/episode/{EP}");
    let req = |ct: &str, body: &'static str| {
        Request::post(&path).header("authorization", format!("Bearer {t}")).header("content-type", ct).body(Body::from(body)).unwrap()
    };
    let r = app.send(req("application/json", "{\"title\": ")).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "body.invalid_json"));
    let r = app.send(req("text/plain", "{}")).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "body.unsupported_type"));
    assert_eq!(app.call(Method::GET, &path, Some(&t), None).await.status, StatusCode::NOT_FOUND, "nothing half-written");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = app_with(MediaRules::default(), Limits { json_body: 1024 });
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "tiny_limits").await;
    let big = json!({"title": "x", "content": "a".repeat(4096)});
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/{EP}"), Some(&t), Some(big)).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "request.too_large"));
}

#[tokio::test]
async fn a_colliding_create_is_409_and_one_show_per_production() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "collisions").await;
    let path = format!("/a/v1/resource/{prod}/episode/{EP}");
    assert_eq!(app.call(Method::POST, &path, Some(&t), Some(json!({"title": "a"}))).await.status, StatusCode::CREATED);
    let r = app.call(Method::POST, &path, Some(&t), Some(json!({"title": "b"}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "resource.exists"));
    assert_eq!(app.call(Method::GET, &path, Some(&t), None).await.json()["title"], "a");
    let show = |id: &str| format!("/a/v1/resource/{prod}/show/{id}");
    assert_eq!(app.call(Method::POST, &show("aaaaaaaaaaaa"), Some(&t), Some(json!({"title": "S"}))).await.status, StatusCode::CREATED);
    let r = app.call(Method::POST, &show("bbbbbbbbbbbb"), Some(&t), Some(json!({"title": "S2"}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "show.exists"));
    assert_eq!(app.call(Method::DELETE, &show("aaaaaaaaaaaa"), Some(&t), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::POST, &show("bbbbbbbbbbbb"), Some(&t), Some(json!({"title": "S2"}))).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_resources_are_404_and_delete_is_204() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "deletions").await;
    let path = format!("/a/v1/resource/{prod}/episode/{EP}");
    let r = app.call(Method::GET, &path, Some(&t), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "resource.not_found"));
    assert_eq!(app.call(Method::PUT, &path, Some(&t), Some(json!({"title": "x"}))).await.status, StatusCode::NOT_FOUND);
    app.call(Method::POST, &path, Some(&t), Some(json!({"title": "x"}))).await;
    let d = app.call(Method::DELETE, &path, Some(&t), None).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::GET, &path, Some(&t), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::DELETE, &path, Some(&t), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_enclosure_must_be_an_asset_of_the_production() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "enclosures").await;
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/{EP}"), Some(&t), Some(json!({"title": "x", "enclosure": "ffffffffffff"}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "episode.enclosure_missing"));
    let asset = app
        .call(Method::POST, &format!("/a/v1/resource/{prod}/asset/ffffffffffff"), Some(&t),
              Some(json!({"rel": "external", "source": "https://cdn.example.com/ep1.mp3", "content_type": "audio/mpeg"})))
        .await;
    assert_eq!(asset.status, StatusCode::CREATED);
    assert_eq!(asset.json()["url"], "https://cdn.example.com/ep1.mp3");
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/{EP}"), Some(&t), Some(json!({"title": "x", "enclosure": "ffffffffffff"}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn lists_page_through_every_episode_in_order() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "long_lists").await;
    for i in 0..25u32 {
        let id = format!("{i:012x}");
        app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/{id}"), Some(&t), Some(json!({"title": format!("E{i}")}))).await;
    }
    app.call(Method::POST, &format!("/a/v1/resource/{prod}/show/ffffffffffff"), Some(&t), Some(json!({"title": "S"}))).await;
    let mut titles = Vec::new();
    let mut path = format!("/a/v1/resource/{prod}/episode?limit=10");
    loop {
        let page = app.call(Method::GET, &path, Some(&t), None).await.json();
        assert_eq!(page["total"], 25);
        titles.extend(page["items"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(n) => path = format!("/a/v1/resource/{prod}/episode?limit=10&cursor={n}"),
            None => break,
        }
    }
    assert_eq!(titles, (0..25).map(|i| format!("E{i}")).collect::<Vec<_>>());
    // The documented range is enforced, not clamped: 1 to 100.
    for limit in ["0", "101", "100000"] {
        let r = app.call(Method::GET, &format!("/a/v1/resource/{prod}/episode?limit={limit}"), Some(&t), None).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "query.invalid".to_owned()), "limit={limit}");
    }
    assert_eq!(app.call(Method::GET, &format!("/a/v1/resource/{prod}/episode?limit=100"), Some(&t), None).await.json()["limit"], 100);
    // A cursor of the episode list does not work on the asset list.
    let first = app.call(Method::GET, &format!("/a/v1/resource/{prod}/episode?limit=1"), Some(&t), None).await.json();
    let cursor = first["next"].as_str().unwrap();
    let r = app.call(Method::GET, &format!("/a/v1/resource/{prod}/asset?cursor={cursor}"), Some(&t), None).await;
    assert_eq!(r.code(), "cursor.invalid");
}

#[tokio::test]
async fn bodies_wrapped_in_the_kinds_name_are_taken_as_bare_ones() {
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "wrapped_bodies").await;
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaa1"), Some(&t), Some(json!({"episode": {"title": "Wrapped", "episode": 3}}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!((r.json()["title"].as_str(), r.json()["episode"].as_u64()), (Some("Wrapped"), Some(3)));
    let r = app.call(Method::PUT, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaa1"), Some(&t), Some(json!({"episode": {"title": "Rewrapped"}}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // A bare body whose one field is the episode's number stays a bare body.
    let r = app.call(Method::PUT, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaa1"), Some(&t), Some(json!({"episode": 4}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let got = app.call(Method::GET, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaa1"), Some(&t), None).await.json();
    assert_eq!((got["title"].as_str(), got["episode"].as_u64()), (Some("Rewrapped"), Some(4)));
    // Wrapped in another kind's name: an unknown field, refused.
    let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/aaaaaaaaaaa2"), Some(&t), Some(json!({"show": {"title": "Wrong"}}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// Episodes stored before a field existed answer it with its default, in a
/// GET and in a list beside episodes answered as stored; XML lists too.
#[tokio::test]
async fn episodes_stored_by_an_older_version_answer_every_field() {
    use podops_core::ports::Key;
    let app = app();
    let t = app.token("alice", FULL);
    let prod = app.production(&t, "older_rows").await;
    for id in ["00000000000a", "00000000000b"] {
        let r = app.call(Method::POST, &format!("/a/v1/resource/{prod}/episode/{id}"), Some(&t), Some(json!({"title": id}))).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let fresh = app.call(Method::GET, &format!("/a/v1/resource/{prod}/episode/00000000000b"), Some(&t), None).await.json();
    // Rewrite one as an older version stored it: without the fields added since.
    let records = &app.state.podops.records;
    let key = Key::new(format!("PROD#{prod}"), "EPISODE#00000000000a");
    let mut old = records.get(&key).await.expect("get").expect("stored");
    let body = old.body.as_object_mut().expect("object");
    body.remove("chapters_object");
    body.remove("transcript_object");
    let expected = old.version;
    old.version = expected.next();
    records.replace(&old, expected).await.expect("replace");

    let got = app.call(Method::GET, &format!("/a/v1/resource/{prod}/episode/00000000000a"), Some(&t), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("content-type"), "application/json");
    let got = got.json();
    assert_eq!((got["chapters_object"].clone(), got["transcript_object"].clone(), got["title"].as_str()), (json!(null), json!(null), Some("00000000000a")));
    let keys = |v: &serde_json::Value| v.as_object().expect("object").keys().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(keys(&got), keys(&fresh), "the old row answers every field of a fresh one");

    let list = app.call(Method::GET, &format!("/a/v1/resource/{prod}/episode?limit=10"), Some(&t), None).await;
    assert_eq!(list.header("content-type"), "application/json");
    let list = list.json();
    assert_eq!((list["total"].as_u64(), list["limit"].as_u64(), list["next"].clone()), (Some(2), Some(10), json!(null)));
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.iter().map(|i| i["guid"].as_str().unwrap_or_default()).collect::<Vec<_>>(), ["00000000000a", "00000000000b"]);
    assert!(items.iter().all(|i| keys(i) == keys(&fresh)), "{items:?}");
    assert_eq!(items[1], fresh);

    let xml = app
        .send(Request::get(format!("/a/v1/resource/{prod}/episode?limit=10")).header("authorization", format!("Bearer {t}")).header("accept", "application/xml").body(Body::empty()).expect("request"))
        .await;
    let text = String::from_utf8_lossy(&xml.body);
    assert_eq!(xml.status, StatusCode::OK, "{text}");
    assert!(xml.header("content-type").starts_with("application/xml"), "the typed way for XML");
    assert!(text.contains("00000000000a") && text.contains("00000000000b"), "{text}");
}

/// The JSON read paths check the production before answering anything of
/// the resource: a stranger learns neither the episode nor that it exists.
#[tokio::test]
async fn strangers_read_no_episode_of_another_production() {
    let app = app();
    let alice = app.token("alice", FULL);
    let bob = app.token("bob", FULL);
    let prod = app.production(&alice, "alices_show").await;
    let path = format!("/a/v1/resource/{prod}/episode/{EP}");
    assert_eq!(app.call(Method::POST, &path, Some(&alice), Some(json!({"title": "Private"}))).await.status, StatusCode::CREATED);
    for path in [path.clone(), format!("/a/v1/resource/{prod}/episode/00000000ffff"), format!("/a/v1/resource/{prod}/episode?limit=5")] {
        let r = app.call(Method::GET, &path, Some(&bob), None).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "production.not_found"), "{path}");
        assert!(!String::from_utf8_lossy(&r.body).contains("Private"));
    }
    let r = app.call(Method::GET, "/a/v1/resource/0000000000ff/episode/0123456789ab", Some(&alice), None).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "production.not_found"));
    let r = app.call(Method::GET, &format!("/a/v1/resource/{prod}/episode/00000000ffff"), Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
