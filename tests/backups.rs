//! Backups and restores through the real binaries: a show backed up with
//! `podops export` on `podops serve`, restored with `podops restore` into
//! the AWS backend (moto: DynamoDB, S3, SQS, and a separate worker), backed
//! up there and restored into another `podops serve`. The audio arrives
//! byte-identical, the guids are the same, and the rebuilt feed is the same
//! except for its URLs. Archives that do not check out fail with a code and
//! leave no production behind.

mod support;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{call, tone_wav, Server};

const WEBHOOK_SECRET: &str = "backup-test-secret-0123456789";

async fn wait_ready(server: &Server, token: &str, prod: &str, asset: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, a) = call(server, token, Method::GET, &format!("/a/v1/resource/{prod}/asset/{asset}"), None).await;
        if a["state"] == "ready" {
            return;
        }
        assert!(Instant::now() < deadline, "never ready: {a}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A production with a show, an uploaded episode's audio, external ids, two
/// episodes, a webhook with a secret, and a published feed.
async fn a_show(server: &Server, token: &str, name: &str, audio: &[u8]) -> (String, String) {
    let (s, p) = call(server, token, Method::POST, "/a/v1/production", Some(json!({"name": name, "title": "Backed Up"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let prod = p["guid"].as_str().expect("guid").to_owned();
    let show = json!({"title": "Backed Up", "description": "A show that travels.", "language": "en", "category": "Technology",
        "image": "https://example.com/art.jpg", "author": "Ann", "owner": {"name": "Ann", "email": "ann@example.com"}});
    assert_eq!(call(server, token, Method::POST, &format!("/a/v1/resource/{prod}/show/aaaaaaaaaaaa"), Some(show)).await.0, StatusCode::CREATED);
    let r = server.http.post(server.url(&format!("/a/v1/upload/{prod}?filename=ep.wav"))).bearer_auth(token).header("content-type", "audio/wav").body(audio.to_vec()).send().await.expect("upload");
    let asset = r.json::<Value>().await.expect("json")["guid"].as_str().expect("asset").to_owned();
    wait_ready(server, token, &prod, &asset).await;
    let (s, e) = call(server, token, Method::PUT, &format!("/a/v1/resource/{prod}/asset/{asset}"), Some(json!({"external_ids": {"legacy_id": "track-77"}}))).await;
    assert!(s.is_success(), "{e}");
    let now = support::now();
    for (id, title, at) in [("bbbbbbbbbbb1", "First", now - 7200), ("bbbbbbbbbbb2", "Second", now - 3600)] {
        let (s, e) = call(server, token, Method::POST, &format!("/a/v1/resource/{prod}/episode/{id}"), Some(json!({"title": title, "enclosure": asset, "published": at}))).await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
    }
    let hook = json!({"url": "https://hooks.example.com/podops", "events": ["asset.ready"], "secret": WEBHOOK_SECRET});
    let (s, e) = call(server, token, Method::POST, &format!("/a/v1/resource/{prod}/webhook/cccccccccccc"), Some(hook)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    build(server, token, &prod).await;
    (prod, asset)
}

async fn build(server: &Server, token: &str, prod: &str) {
    let (s, e) = call(server, token, Method::POST, "/a/v1/build", Some(json!({"production": prod}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
}

fn cli(server: &Server, token: &str, args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().expect("home");
    Command::new(support::binary())
        .args(args)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("PODOPS_API", &server.base)
        .env("PODOPS_TOKEN", token)
        .env_remove("PODOPS_PROFILE")
        .env_remove("PODOPS_PRODUCTION")
        .output()
        .expect("run podops")
}

fn ok_json(out: std::process::Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json output")
}

fn manifest_of(archive: &Path) -> Value {
    let out = Command::new("tar").arg("-xOf").arg(archive).arg("manifest.json").output().expect("tar");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("manifest")
}

async fn content(server: &Server, token: &str, prod: &str, asset: &str) -> Vec<u8> {
    let r = server.http.get(server.url(&format!("/a/v1/asset/{prod}/{asset}/content"))).bearer_auth(token).send().await.expect("content");
    assert_eq!(r.status(), StatusCode::OK);
    r.bytes().await.expect("bytes").to_vec()
}

async fn ids(server: &Server, token: &str, prod: &str, kind: &str) -> Vec<String> {
    let (_, list) = call(server, token, Method::GET, &format!("/a/v1/resource/{prod}/{kind}?limit=100"), None).await;
    list["items"].as_array().map(|a| a.iter().filter_map(|x| x["guid"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// The published feed with every URL and build time taken out: what must match across deployments.
async fn feed_without_urls(server: &Server, name: &str) -> String {
    let text = server.http.get(server.url(&format!("/feeds/{name}/feed.xml"))).send().await.expect("feed").text().await.expect("text");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("http") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("http://") || tail.starts_with("https://") {
            let end = tail.find(['"', '<', '>', ' ', '\n']).unwrap_or(tail.len());
            out.push_str("URL");
            rest = &tail[end..];
        } else {
            out.push_str("http");
            rest = &tail[4..];
        }
    }
    out.push_str(rest);
    let cut = |s: String, open: &str, close: &str| match (s.find(open), s.find(close)) {
        (Some(a), Some(b)) if b > a => format!("{}{}", &s[..a], &s[b + close.len()..]),
        _ => s,
    };
    cut(out, "<lastBuildDate>", "</lastBuildDate>")
}

async fn restore_status(server: &Server, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (s, r) = call(server, token, Method::GET, &format!("/a/v1/backups/restore/{id}"), None).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        if r["state"] == "done" || r["state"] == "failed" {
            return r;
        }
        assert!(Instant::now() < deadline, "restore never ended: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Uploads `bytes` as an archive and restores it under `name`; the restore's end state.
async fn restore_bytes(server: &Server, token: &str, bytes: Vec<u8>, name: &str) -> Value {
    let (s, slot) = call(server, token, Method::POST, "/a/v1/backups/uploads", None).await;
    assert_eq!(s, StatusCode::CREATED, "{slot}");
    let put = server.http.put(slot["url"].as_str().expect("url")).body(bytes).send().await.expect("put");
    assert!(put.status().is_success(), "{}", put.status());
    let (s, started) = call(server, token, Method::POST, "/a/v1/backups/restore", Some(json!({"archive": slot["archive"], "name": name}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    restore_status(server, token, started["id"].as_str().expect("id")).await
}

async fn production_named(server: &Server, token: &str, name: &str) -> Option<String> {
    let (_, list) = call(server, token, Method::GET, "/a/v1/productions?limit=100", None).await;
    list["items"].as_array()?.iter().find(|p| p["name"] == name).and_then(|p| p["guid"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_moves_from_embedded_to_aws_and_back_byte_for_byte() {
    let audio = tone_wav();
    let dir = tempfile::tempdir().expect("dir");
    let (a_tar, b_tar) = (dir.path().join("a.tar"), dir.path().join("b.tar"));

    // Embedded → archive.
    let a = Server::start(&["--workers", "2", "--rebuild-delay", "3600"]).await;
    let a_admin = a.admin_token();
    let (prod, asset) = a_show(&a, &a_admin, "moving_show", &audio).await;
    let exported = ok_json(cli(&a, &a_admin, &["export", "moving_show", "-f", a_tar.to_str().expect("path"), "--output", "json"]));
    assert_eq!(exported["state"], "done", "{exported}");
    let manifest = manifest_of(&a_tar);
    assert_eq!(manifest["format"], "podops-backup/1");
    assert_eq!(manifest["production"]["guid"], prod.as_str());
    let audio_sha = hex::encode(Sha256::digest(&audio));
    assert!(manifest["objects"].as_array().expect("objects").iter().any(|o| o["sha256"] == audio_sha.as_str()), "{manifest}");
    assert_eq!(manifest["secrets_to_set"], json!(["webhook/cccccccccccc"]));
    let archive_bytes = std::fs::read(&a_tar).expect("archive");
    assert!(!archive_bytes.windows(WEBHOOK_SECRET.len()).any(|w| w == WEBHOOK_SECRET.as_bytes()), "an archive holds no secret");
    let a_feed = feed_without_urls(&a, "moving_show").await;

    // Archive → AWS (a fresh set of resources on moto, with its own worker process).
    let (_, flags) = support::aws::provision_fresh();
    let mut args = vec!["--backend", "aws", "--workers", "0", "--rebuild-delay", "3600"];
    args.extend(flags.iter().map(String::as_str));
    let b = Server::start(&args).await;
    let _worker = support::aws::start_worker(&flags, &[]);
    let b_admin = b.admin_token();
    let restored = ok_json(cli(&b, &b_admin, &["restore", a_tar.to_str().expect("path"), "--output", "json"]));
    assert_eq!((restored["state"].as_str(), restored["production"].as_str(), restored["name"].as_str()), (Some("done"), Some(prod.as_str()), Some("moving_show")), "{restored}");
    assert_eq!(restored["report"]["secrets_to_set"], json!(["webhook/cccccccccccc"]));
    assert_eq!(content(&b, &b_admin, &prod, &asset).await, audio, "the audio arrives byte-identical");
    assert_eq!(ids(&b, &b_admin, &prod, "episode").await, ["bbbbbbbbbbb1", "bbbbbbbbbbb2"]);
    let (_, mapped) = call(&b, &b_admin, Method::GET, &format!("/a/v1/asset/{prod}/by-external/legacy_id?limit=10"), None).await;
    assert_eq!(mapped["items"][0]["value"], "track-77", "{mapped}");
    build(&b, &b_admin, &prod).await;
    assert_eq!(feed_without_urls(&b, "moving_show").await, a_feed, "the feed is the same but for its URLs");

    // AWS → archive → another embedded server, under another name.
    let exported = ok_json(cli(&b, &b_admin, &["export", &prod, "-f", b_tar.to_str().expect("path"), "--output", "json"]));
    assert_eq!(exported["state"], "done", "{exported}");
    let c = Server::start(&["--workers", "2", "--rebuild-delay", "3600"]).await;
    let c_admin = c.admin_token();
    let back = ok_json(cli(&c, &c_admin, &["restore", b_tar.to_str().expect("path"), "--name", "moved_back", "--output", "json"]));
    assert_eq!((back["state"].as_str(), back["production"].as_str()), (Some("done"), Some(prod.as_str())), "{back}");
    assert_eq!(content(&c, &c_admin, &prod, &asset).await, audio);
    assert_eq!(ids(&c, &c_admin, &prod, "episode").await, ["bbbbbbbbbbb1", "bbbbbbbbbbb2"]);
    build(&c, &c_admin, &prod).await;
    let c_feed = feed_without_urls(&c, "moved_back").await;
    assert_eq!(c_feed.replace("moved_back", "moving_show"), a_feed);

    // The same archive again on that server: its guid is taken there, so a new one is made.
    let copy = restore_bytes(&c, &c_admin, archive_bytes.clone(), "second_copy").await;
    let copy_prod = copy["production"].as_str().expect("production").to_owned();
    assert_eq!(copy["state"], "done", "{copy}");
    assert_ne!(copy_prod, prod);
    assert_eq!(content(&c, &c_admin, &copy_prod, &asset).await, audio);
    assert_eq!(ids(&c, &c_admin, &copy_prod, "episode").await, ["bbbbbbbbbbb1", "bbbbbbbbbbb2"]);

    // Archives that do not check out fail with a code and leave nothing.
    let failed = restore_bytes(&c, &c_admin, archive_bytes.clone(), "moved_back").await;
    assert_eq!((failed["state"].as_str(), failed["error"]["code"].as_str()), (Some("failed"), Some("backup.not_empty")), "{failed}");
    let mut tampered = archive_bytes.clone();
    let riff = tampered.windows(4).position(|w| w == b"RIFF").expect("the audio is in the archive");
    tampered[riff + 2000] ^= 0x55;
    let failed = restore_bytes(&c, &c_admin, tampered, "tampered_copy").await;
    assert_eq!(failed["error"]["code"], "backup.checksum", "{failed}");
    assert_eq!(production_named(&c, &c_admin, "tampered_copy").await, None, "a refused archive leaves no production");
    let failed = restore_bytes(&c, &c_admin, b"not a tar file at all".repeat(100), "garbage_copy").await;
    assert_eq!(failed["error"]["code"], "backup.not_an_archive", "{failed}");
    assert_eq!(production_named(&c, &c_admin, "garbage_copy").await, None);

    // A crafted archive naming another production's media is refused whole, and that media is untouched.
    let work = tempfile::tempdir().expect("dir");
    let unpacked = Command::new("tar").arg("-xf").arg(&a_tar).arg("-C").arg(work.path()).status().expect("tar");
    assert!(unpacked.success());
    let mut crafted: Value = serde_json::from_slice(&std::fs::read(work.path().join("manifest.json")).expect("manifest")).expect("json");
    let victim = format!("media/{copy_prod}/{asset}.wav");
    crafted["objects"][0]["key"] = json!(victim);
    std::fs::write(work.path().join("manifest.json"), serde_json::to_vec(&crafted).expect("json")).expect("write");
    let packed = Command::new("tar").arg("-cf").arg(work.path().join("crafted.tar")).arg("-C").arg(work.path()).args(["records.jsonl", "objects", "manifest.json"]).status().expect("tar");
    assert!(packed.success());
    let failed = restore_bytes(&c, &c_admin, std::fs::read(work.path().join("crafted.tar")).expect("crafted"), "crafted_copy").await;
    assert_eq!(failed["error"]["code"], "backup.foreign_key", "{failed}");
    assert_eq!(content(&c, &c_admin, &copy_prod, &asset).await, audio, "the other production's audio is untouched");
    assert_eq!(production_named(&c, &c_admin, "crafted_copy").await, None);

    // Another user can neither download nor restore what is not theirs.
    let stranger = support::mail::sign_in(&c, "stranger@example.com").await;
    let (_, list) = call(&c, &c_admin, Method::POST, "/a/v1/backups", Some(json!({"production": prod}))).await;
    let backup = list["id"].as_str().expect("backup id").to_owned();
    let (s, _) = call(&c, &stranger, Method::GET, &format!("/a/v1/backups/{prod}/{backup}/download"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = call(&c, &stranger, Method::POST, "/a/v1/backups/restore", Some(json!({"archive": format!("{prod}-{backup}")}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("backup.not_found")));
    let (s, e) = call(&c, &stranger, Method::POST, "/a/v1/backups/restore", Some(json!({"archive": "0123456789ab-0123456789ab", "name": "moved_back"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("backup.not_found")));
}
