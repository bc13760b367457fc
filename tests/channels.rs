//! Channels through a real `podops serve`: the M3U playlist lists each
//! stream's listen URL, and the XMLTV guide is well-formed (xmllint) and
//! read back by an XMLTV reader apart from ours (PyPI python-xmltv), with
//! times in the channel's zone.

mod support;

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{call, Server};

#[tokio::test]
async fn a_channel_has_a_playlist_and_a_programme_guide() {
    let server = Server::start(&["--workers", "0"]).await;
    let admin = server.admin_token();
    let (_, prod) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": "radio_station", "title": "Radio"}))).await;
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let post = |path: String, body: Value| {
        let (server, admin) = (&server, &admin);
        async move {
            let (s, e) = call(server, admin, Method::POST, &path, Some(body)).await;
            assert_eq!(s, StatusCode::CREATED, "{path}: {e}");
        }
    };
    post(format!("/a/v1/resource/{prod}/profile/aaaaaaaaaaa1"), json!({"name": "talk", "format": "mp3", "bitrate": 128000, "sample_rate": 44100, "channels": 2})).await;
    post(format!("/a/v1/resource/{prod}/stream/bbbbbbbbbbb1"), json!({"title": "Morning & News", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]})).await;
    post(format!("/a/v1/resource/{prod}/stream/bbbbbbbbbbb2"), json!({"title": "Music", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}},
        "outputs": [{"kind": "icecast", "url": "icecast://radio.example.com:8000/music.mp3", "password": "not-in-any-playlist"}]})).await;
    post(format!("/a/v1/resource/{prod}/schedule/ccccccccccc1"), json!({"stream": "bbbbbbbbbbb1", "title": "Breakfast <live>", "timezone": "Europe/Berlin",
        "rule": {"weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "time": "07:00"}, "duration": 7200})).await;
    post(format!("/a/v1/resource/{prod}/channel/ddddddddddd1"), json!({"name": "main", "title": "Radio Main", "streams": ["bbbbbbbbbbb1", "bbbbbbbbbbb2"], "timezone": "America/New_York"})).await;

    let r = server.http.get(server.url("/channels/radio_station/main/playlist.m3u")).send().await.expect("m3u");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().expect("ascii").starts_with("audio/x-mpegurl"));
    let m3u = r.text().await.expect("text");
    let lines: Vec<&str> = m3u.lines().collect();
    assert_eq!(lines[0], "#EXTM3U", "{m3u}");
    assert!(lines[1].starts_with("#EXTINF:-1 ") && lines[1].ends_with(",Morning & News"), "{m3u}");
    assert_eq!(lines[2], server.url("/live/radio_station/bbbbbbbbbbb1/index.m3u8"));
    assert!(lines[3].ends_with(",Music"));
    assert_eq!(lines[4], "http://radio.example.com:8000/music.mp3", "the Icecast mount, never its password");
    assert!(!m3u.contains("not-in-any-playlist"));

    let r = server.http.get(server.url("/channels/radio_station/main/epg.xml")).send().await.expect("epg");
    assert_eq!(r.status(), StatusCode::OK);
    let xml = r.text().await.expect("text");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("epg.xml");
    std::fs::write(&path, &xml).expect("write");
    let lint = Command::new("xmllint").arg("--noout").arg(&path).output().expect("xmllint");
    assert!(lint.status.success(), "not well-formed: {}\n{xml}", String::from_utf8_lossy(&lint.stderr));
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let out = Command::new(python).arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/xmltv_read.py")).arg(&path).output().expect("python-xmltv (run ./scripts/test)");
    assert!(out.status.success(), "python-xmltv refused it: {}\n{xml}", String::from_utf8_lossy(&out.stderr));
    let read: Value = serde_json::from_slice(&out.stdout).expect("json");
    let channels = read["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 2, "{read}");
    assert_eq!(channels[0]["names"], json!(["Morning & News"]));
    let programmes = read["programmes"].as_array().expect("programmes");
    // A daily slot from a day ago to a week ahead: 8 or 9 of them, all on the morning stream.
    assert!((8..=9).contains(&programmes.len()), "{read}");
    assert!(programmes.iter().all(|p| p["channel"] == channels[0]["id"] && p["titles"] == json!(["Breakfast <live>"])), "{read}");
    // 07:00 in Berlin, written in New York's zone: 01:00 (or 02:00 while their DST dates differ), with its offset.
    let start = programmes[0]["start"].as_str().expect("start");
    assert!(start.ends_with(" -0500") || start.ends_with(" -0400"), "{start}");
    assert!(start[8..12] == *"0100" || start[8..12] == *"0200", "{start}");

    let r = server.http.get(server.url("/channels/radio_station/elsewhere/epg.xml")).send().await.expect("404");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_channel_naming_another_productions_stream_or_a_taken_name_is_refused() {
    let server = Server::start(&["--workers", "0"]).await;
    let admin = server.admin_token();
    let mut prods = Vec::new();
    for name in ["first_station", "second_station"] {
        let (_, p) = call(&server, &admin, Method::POST, "/a/v1/production", Some(json!({"name": name, "title": "S"}))).await;
        prods.push(p["guid"].as_str().expect("guid").to_owned());
    }
    let (a, b) = (&prods[0], &prods[1]);
    let (s, _) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{a}/profile/aaaaaaaaaaa1"), Some(json!({"name": "t", "format": "mp3", "bitrate": 64000, "sample_rate": 44100, "channels": 1}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{a}/stream/bbbbbbbbbbb1"), Some(json!({"title": "A", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 440}}, "outputs": [{"kind": "hls"}]}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let channel = json!({"name": "main", "title": "Main", "streams": ["bbbbbbbbbbb1"], "timezone": "Europe/Berlin"});
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{b}/channel/ddddddddddd1"), Some(channel.clone())).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("channel.stream_missing")), "{e}");
    assert_eq!(call(&server, &admin, Method::POST, &format!("/a/v1/resource/{a}/channel/ddddddddddd1"), Some(channel.clone())).await.0, StatusCode::CREATED);
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{a}/channel/ddddddddddd2"), Some(channel.clone())).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("channel.name_taken")));
    let mut bad = channel.clone();
    bad["timezone"] = json!("Nowhere/Special");
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{a}/channel/ddddddddddd3"), Some(bad)).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("channel.timezone")));
    bad = channel;
    bad["name"] = json!("Main Channel!");
    let (s, e) = call(&server, &admin, Method::POST, &format!("/a/v1/resource/{a}/channel/ddddddddddd3"), Some(bad)).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("channel.name")));
}
