//! End to end: the README's tour against the real `podops serve` binary over
//! real HTTP — token → production → show → upload → episode → media with a range.

mod support;

use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use support::Server;

#[tokio::test]
async fn the_readme_tour_works_against_the_binary() {
    let mut server = Server::start(&[]).await;
    let http = server.http.clone();
    let admin = server.admin_token();
    let mode = std::fs::metadata(server.data_dir.path().join("admin-token")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the admin token is private");

    let version: Value = http.get(server.url("/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(version["name"], "podops");

    // 1. The operator mints a token for a podcaster's client.
    let minted: Value = http
        .post(server.url("/_a/token"))
        .bearer_auth(&admin)
        .json(&json!({"client_id": "studio-cli", "scopes": ["production:read", "production:write", "resource:read", "resource:write"]}))
        .send().await.unwrap().json().await.unwrap();
    let token = minted["token"].as_str().unwrap().to_owned();

    // 2. A production, 3. its show.
    let r = http.post(server.url("/a/v1/production")).bearer_auth(&token)
        .json(&json!({"name": "my-first-podcast", "title": "My First Podcast"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let prod = r.json::<Value>().await.unwrap()["guid"].as_str().unwrap().to_owned();
    let r = http.post(server.url(&format!("/a/v1/resource/{prod}/show/c7b5414a9c02"))).bearer_auth(&token)
        .json(&json!({"title": "My First Podcast", "language": "en", "author": "Me", "owner": {"name": "Me", "email": "me@example.com"}}))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // 4. Upload audio (raw body), 5. an episode that encloses it.
    let audio: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let r = http.post(server.url(&format!("/a/v1/upload/{prod}?filename=pilot.mp3")))
        .bearer_auth(&token).header(header::CONTENT_TYPE, "audio/mpeg").body(audio.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let asset: Value = r.json().await.unwrap();
    assert_eq!(asset["sha256"], hex::encode(Sha256::digest(&audio)));
    let asset_id = asset["guid"].as_str().unwrap();
    let r = http.post(server.url(&format!("/a/v1/resource/{prod}/episode/91804b93b56a"))).bearer_auth(&token)
        .json(&json!({"title": "Pilot", "enclosure": asset_id, "tracks": [{"artist": "Beirut", "title": "Elephant Gun", "offset": 754}]}))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()[header::LOCATION], format!("/a/v1/resource/{prod}/episode/91804b93b56a"));

    // 6. Fetch the media through its signed URL, with a range, as a podcast app would.
    let url = asset["url"].as_str().unwrap();
    assert!(url.starts_with(&server.base), "{url}");
    let r = http.get(url).header(header::RANGE, "bytes=1000-1999").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()[header::CONTENT_RANGE], format!("bytes 1000-1999/{}", audio.len()));
    assert_eq!(r.bytes().await.unwrap().as_ref(), &audio[1000..2000]);
    let r = http.head(url).send().await.unwrap();
    assert_eq!(r.headers()[header::CONTENT_LENGTH], audio.len().to_string());

    // The list and the XML view.
    let list: Value = http.get(server.url(&format!("/a/v1/resource/{prod}/episode"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["tracks"][0]["artist"], "Beirut");
    let xml = http.get(server.url(&format!("/a/v1/resource/{prod}/episode/91804b93b56a"))).bearer_auth(&token)
        .header(header::ACCEPT, "application/xml").send().await.unwrap().text().await.unwrap();
    assert!(xml.contains("<parent-guid>"), "{xml}");

    // Graceful shutdown on SIGTERM, and the data survives a restart.
    assert!(server.stop().success(), "podops exits cleanly on SIGTERM");
    let data_dir = server.data_dir.path().to_owned();
    let port = support::free_port();
    let mut again = std::process::Command::new(support::binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")]).arg("--data-dir").arg(&data_dir)
        .stderr(std::process::Stdio::null()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut episode = None;
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/a/v1/resource/{prod}/episode/91804b93b56a")).bearer_auth(&token).send().await {
            episode = Some(r.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = again.kill();
    let _ = again.wait();
    assert_eq!(episode.expect("restarted server answers")["title"], "Pilot", "tokens and data survive a restart");
}

#[tokio::test]
async fn podops_token_mints_with_the_data_dirs_key() {
    let server = Server::start(&[]).await;
    let out = std::process::Command::new(support::binary())
        .args(["token", "--client", "ci-bot", "--scopes", "production:read,resource:read", "--data-dir"])
        .arg(server.data_dir.path())
        .output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let claims: Value = server.http.get(server.url("/_a/token")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!((claims["sub"].as_str(), claims["scope"].as_str()), (Some("ci-bot"), Some("production:read resource:read")));

    let bad = std::process::Command::new(support::binary())
        .args(["token", "--client", "x", "--scopes", "root", "--data-dir"]).arg(server.data_dir.path()).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope"));
}

#[tokio::test]
async fn logs_are_json_lines_with_a_request_id_and_never_the_token() {
    let mut server = Server::start(&[]).await;
    let admin = server.admin_token();
    let r = server.http.get(server.url("/_a/token")).bearer_auth(&admin).send().await.unwrap();
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    server.stop();
    let mut stderr = String::new();
    use std::io::Read;
    server.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(stderr.contains(&request_id), "{stderr}");
    assert!(!stderr.contains(&admin), "a token reached the logs");
    for line in stderr.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
}
