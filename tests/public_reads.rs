//! Public reads through a real `podops serve`: a published show and its
//! episodes without authentication, exactly what the feed shows — never a
//! scheduled, unpublished or blocked episode, never the owner's email or
//! external ids — while a member also sees scheduled episodes.

mod support;

use std::time::{Duration, Instant};

use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use support::{tone_wav, Server};

#[tokio::test]
async fn a_published_show_is_readable_without_a_token_and_shows_nothing_private() {
    let server = Server::start(&[]).await;
    let admin = server.admin_token();
    let api = |m: reqwest::Method, p: &str| server.http.request(m, server.url(p)).bearer_auth(&admin);
    let prod = api(reqwest::Method::POST, "/a/v1/production").json(&json!({"name": "public_show", "title": "Public"})).send().await.expect("production")
        .json::<Value>().await.expect("json")["guid"].as_str().expect("guid").to_owned();
    let show = json!({"title": "Public Show", "description": "Out loud.", "language": "en", "category": "Technology", "image": "https://example.com/art.jpg",
        "author": "Ann", "owner": {"name": "Ann", "email": "owner-secret@example.com"}});
    assert_eq!(api(reqwest::Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa")).json(&show).send().await.expect("show").status(), StatusCode::CREATED);
    let asset = api(reqwest::Method::POST, &format!("/a/v1/upload/{prod}?filename=ep.wav")).header("content-type", "audio/wav").body(tone_wav()).send().await.expect("upload")
        .json::<Value>().await.expect("json")["guid"].as_str().expect("guid").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while api(reqwest::Method::GET, &format!("/a/v1/resource/{prod}/asset/{asset}")).send().await.expect("asset").json::<Value>().await.expect("json")["state"] != "ready" {
        assert!(Instant::now() < deadline, "never probed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(api(reqwest::Method::PUT, &format!("/a/v1/resource/{prod}/asset/{asset}")).json(&json!({"external_ids": {"legacy_id": "private-77"}})).send().await.expect("ids").status().is_success());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let episodes = [
        ("bbbbbbbbbbb1", json!({"title": "Out now", "enclosure": asset, "published": now - 3600, "tracks": [{"artist": "A", "title": "B", "offset": 3}]})),
        ("bbbbbbbbbbb2", json!({"title": "Next week", "enclosure": asset, "published": now + 7 * 86400})),
        ("bbbbbbbbbbb3", json!({"title": "Draft", "enclosure": asset})),
        ("bbbbbbbbbbb4", json!({"title": "Pulled", "enclosure": asset, "published": now - 7200, "block": true})),
    ];
    for (id, body) in &episodes {
        assert_eq!(api(reqwest::Method::POST, &format!("/a/v1/resource/{prod}/episode/{id}")).json(body).send().await.expect("episode").status(), StatusCode::CREATED);
    }
    // Not public before the first build.
    let anonymous = server.http.get(server.url("/a/v1/public/public_show")).send().await.expect("public");
    assert_eq!(anonymous.status(), StatusCode::NOT_FOUND);
    let built = api(reqwest::Method::POST, "/a/v1/build").json(&json!({"production": prod})).send().await.expect("build");
    assert!(built.status().is_success(), "{}", built.text().await.unwrap_or_default());

    let r = server.http.get(server.url("/a/v1/public/public_show")).send().await.expect("public");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=60");
    let etag = r.headers()[header::ETAG].clone();
    let text = r.text().await.expect("text");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["title"], "Public Show");
    let titles: Vec<&str> = body["episodes"].as_array().expect("episodes").iter().filter_map(|e| e["title"].as_str()).collect();
    assert_eq!(titles, ["Out now"], "only what the feed shows");
    assert!(body["feed_url"].as_str().is_some_and(|u| u.ends_with("/feeds/public_show/feed.xml")));
    for private in ["owner-secret@example.com", "private-77", "legacy_id", "members", "Draft", "Pulled", "Next week"] {
        assert!(!text.contains(private), "{private} is private: {text}");
    }
    let again = server.http.get(server.url("/a/v1/public/public_show")).header(header::IF_NONE_MATCH, etag).send().await.expect("again");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // One episode, with its tracks and its show in short; the hidden ones are not found.
    let (s, ep) = {
        let r = server.http.get(server.url("/a/v1/public/public_show/episode/bbbbbbbbbbb1")).send().await.expect("episode");
        (r.status(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!(s, StatusCode::OK);
    assert_eq!((ep["tracks"][0]["artist"].as_str(), ep["show"]["title"].as_str()), (Some("A"), Some("Public Show")));
    assert!(ep["enclosure"]["url"].as_str().is_some_and(|u| u.contains("/media/")), "{ep}");
    for hidden in ["bbbbbbbbbbb2", "bbbbbbbbbbb3", "bbbbbbbbbbb4", "ffffffffffff"] {
        let r = server.http.get(server.url(&format!("/a/v1/public/public_show/episode/{hidden}"))).send().await.expect("hidden");
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{hidden}");
    }
    // A member also sees the scheduled episode, marked, and the answer is not cached publicly.
    let r = api(reqwest::Method::GET, "/a/v1/public/public_show").send().await.expect("member");
    assert_eq!(r.headers()[header::CACHE_CONTROL], "private, no-cache");
    let member: Value = r.json().await.expect("json");
    let scheduled: Vec<&Value> = member["episodes"].as_array().expect("episodes").iter().filter(|e| e["scheduled"] == true).collect();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0]["title"], "Next week");
    // Bad credentials are refused, not treated as anonymous.
    assert_eq!(server.http.get(server.url("/a/v1/public/public_show")).bearer_auth("nonsense").send().await.expect("bad").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.http.get(server.url("/a/v1/public/no_such_show")).send().await.expect("none").status(), StatusCode::NOT_FOUND);
}
