//! End to end on the AWS backend: `podops provision` on the emulator at
//! PODOPS_TEST_AWS_ENDPOINT (fresh names per test), then `podops serve
//! --backend aws` driven over real HTTP through the README's tour; media comes
//! from S3 through a presigned URL. Plus the faults the backend must survive.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use podops_adapters::aws::AwsClients;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use support::Server;

use support::aws::{endpoint, provision_fresh};

async fn aws_server(flags: &[String]) -> Server {
    let mut args = vec!["--backend", "aws"];
    args.extend(flags.iter().map(String::as_str));
    Server::start(&args).await
}

/// A token for a podcaster's client, and a production with its show.
async fn production(server: &Server) -> (String, String) {
    let http = &server.http;
    let minted: Value = http
        .post(server.url("/_a/token"))
        .bearer_auth(server.admin_token())
        .json(&json!({"client_id": "studio-cli", "scopes": ["production:read", "production:write", "resource:read", "resource:write"]}))
        .send().await.expect("mint").json().await.expect("token JSON");
    let token = minted["token"].as_str().expect("token").to_owned();
    let name = format!("tour-{:08x}", rand::random::<u32>());
    let r = http.post(server.url("/a/v1/production")).bearer_auth(&token)
        .json(&json!({"name": name, "title": "My First Podcast"})).send().await.expect("create production");
    assert_eq!(r.status(), StatusCode::CREATED);
    let prod = r.json::<Value>().await.expect("JSON")["guid"].as_str().expect("guid").to_owned();
    let r = http.post(server.url(&format!("/a/v1/resource/{prod}/show/c7b5414a9c02"))).bearer_auth(&token)
        .json(&json!({"title": "My First Podcast", "language": "en", "author": "Me", "owner": {"name": "Me", "email": "me@example.com"}}))
        .send().await.expect("create show");
    assert_eq!(r.status(), StatusCode::CREATED);
    (token, prod)
}

#[tokio::test]
async fn the_readme_tour_works_on_the_aws_backend() {
    let (_, flags) = provision_fresh();
    let mut server = aws_server(&flags).await;
    let http = server.http.clone();
    let (token, prod) = production(&server).await;

    // Upload, then an episode that encloses it.
    let audio: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let r = http.post(server.url(&format!("/a/v1/upload/{prod}?filename=pilot.mp3")))
        .bearer_auth(&token).header(header::CONTENT_TYPE, "audio/mpeg").body(audio.clone()).send().await.expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let asset: Value = r.json().await.expect("asset JSON");
    assert_eq!((asset["sha256"].as_str(), asset["size"].as_u64()), (Some(hex::encode(Sha256::digest(&audio)).as_str()), Some(300_000)));
    let asset_id = asset["guid"].as_str().expect("guid");
    let r = http.post(server.url(&format!("/a/v1/resource/{prod}/episode/91804b93b56a"))).bearer_auth(&token)
        .json(&json!({"title": "Pilot", "enclosure": asset_id, "tracks": [{"artist": "Beirut", "title": "Elephant Gun", "offset": 754}]}))
        .send().await.expect("create episode");
    assert_eq!(r.status(), StatusCode::CREATED);

    // The media URL is an S3 presigned URL on the emulator; a range gets 206.
    let url = asset["url"].as_str().expect("url");
    assert!(url.starts_with(&endpoint()) && url.contains("X-Amz-Signature="), "{url}");
    let r = http.get(url).header(header::RANGE, "bytes=1000-1999").send().await.expect("media GET");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()[header::CONTENT_RANGE], format!("bytes 1000-1999/{}", audio.len()));
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), &audio[1000..2000]);

    let list: Value = http.get(server.url(&format!("/a/v1/resource/{prod}/episode"))).bearer_auth(&token)
        .send().await.expect("list").json().await.expect("list JSON");
    assert_eq!((list["total"].as_u64(), list["items"][0]["tracks"][0]["artist"].as_str()), (Some(1), Some("Beirut")));
    let xml = http.get(server.url(&format!("/a/v1/resource/{prod}/episode/91804b93b56a"))).bearer_auth(&token)
        .header(header::ACCEPT, "application/xml").send().await.expect("XML").text().await.expect("text");
    assert!(xml.contains("<title>Pilot</title>"), "{xml}");

    // The data lives in DynamoDB and S3: a new server on the same names and
    // data directory (for the signing secret) sees it.
    assert!(server.stop().success(), "podops exits cleanly on SIGTERM");
    let port = support::free_port();
    let mut again = Command::new(support::binary())
        .args(["serve", "--backend", "aws", "--listen", &format!("127.0.0.1:{port}")]).args(&flags)
        .arg("--data-dir").arg(server.data_dir.path()).stderr(Stdio::null()).spawn().expect("restart");
    let mut episode = None;
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/a/v1/resource/{prod}/episode/91804b93b56a")).bearer_auth(&token).send().await {
            episode = Some(r.json::<Value>().await.expect("JSON"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = again.kill();
    let _ = again.wait();
    assert_eq!(episode.expect("the restarted server answers")["title"], "Pilot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_on_dynamodb_exactly_one_wins() {
    let (_, flags) = provision_fresh();
    let server = aws_server(&flags).await;
    let (token, prod) = production(&server).await;
    let episode = server.url(&format!("/a/v1/resource/{prod}/episode/0123456789ab"));
    let r = server.http.post(&episode).bearer_auth(&token).json(&json!({"title": "v1"})).send().await.expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let writes = (0..4).map(|n| {
        let (http, episode, token) = (server.http.clone(), episode.clone(), token.clone());
        tokio::spawn(async move {
            let r = http.put(&episode).bearer_auth(&token).header(header::IF_MATCH, "\"1\"")
                .json(&json!({"title": format!("writer {n}")})).send().await.expect("PUT");
            (n, r.status())
        })
    });
    let mut statuses = Vec::new();
    for write in writes {
        statuses.push(write.await.expect("task"));
    }
    let winners: Vec<_> = statuses.iter().filter(|(_, s)| *s == StatusCode::NO_CONTENT).map(|(n, _)| *n).collect();
    assert_eq!(winners.len(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|(_, s)| [StatusCode::NO_CONTENT, StatusCode::PRECONDITION_FAILED, StatusCode::CONFLICT].contains(s)), "{statuses:?}");
    let stored: Value = server.http.get(&episode).bearer_auth(&token).send().await.expect("GET").json().await.expect("JSON");
    assert_eq!((stored["title"].as_str(), stored["version"].as_u64()), (Some(format!("writer {}", winners[0]).as_str()), Some(2)));
}

#[tokio::test]
async fn an_upload_cut_off_midway_leaves_no_asset_and_no_object() {
    let (config, flags) = provision_fresh();
    let server = aws_server(&flags).await;
    let (token, prod) = production(&server).await;
    // The client promises 20 MiB, sends 17 (a multipart upload on S3: two
    // full parts), then goes away.
    let mut socket = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://")).await.expect("connect");
    let head = format!(
        "POST /a/v1/upload/{prod}?filename=cut.wav HTTP/1.1\r\nHost: podops\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: audio/wav\r\nContent-Length: {}\r\n\r\n",
        20 << 20
    );
    socket.write_all(head.as_bytes()).await.expect("send head");
    let mib = vec![7u8; 1 << 20];
    for _ in 0..17 {
        socket.write_all(&mib).await.expect("send body");
    }
    drop(socket);
    // The server notices the cut, aborts the upload and writes no record;
    // the checks below hold for two seconds, long after it has.
    let settled = Instant::now() + Duration::from_secs(2);
    // Nothing in the bucket: no object, no staging object, no parts.
    let s3 = AwsClients::new(&config).await.s3;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let objects = s3.list_objects_v2().bucket(&config.media_bucket).send().await.expect("list objects");
        let uploads = s3.list_multipart_uploads().bucket(&config.media_bucket).send().await.expect("list uploads");
        if objects.contents().is_empty() && uploads.uploads().is_empty() && Instant::now() > settled {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {:?} {:?}", objects.contents(), uploads.uploads());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let assets: Value = server.http.get(server.url(&format!("/a/v1/resource/{prod}/asset"))).bearer_auth(&token)
        .send().await.expect("list").json().await.expect("JSON");
    assert_eq!(assets["total"], 0, "no asset record: {assets}");
}

#[tokio::test]
async fn serve_exits_with_a_clear_message_when_the_endpoint_is_unreachable() {
    let dead = format!("http://127.0.0.1:{}", support::free_port());
    let data_dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let out = Command::new(support::binary())
        .args(["serve", "--backend", "aws", "--endpoint", &dead, "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .expect("run podops serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot reach DynamoDB at {dead}")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn serve_says_to_provision_when_the_table_is_missing() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let table = format!("podops-missing-{:08x}", rand::random::<u32>());
    let out = Command::new(support::binary())
        .args(["serve", "--backend", "aws", "--endpoint", &endpoint(), "--table", &table, "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .expect("run podops serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("table {table} does not exist at {}", endpoint())) && stderr.contains("podops provision"), "{stderr}");
}

#[tokio::test]
async fn presigned_uploads_go_straight_to_s3_and_completion_checks_them() {
    let (config, flags) = provision_fresh();
    let server = aws_server(&flags).await;
    let (token, prod) = production(&server).await;
    let http = &server.http;
    let bytes: Vec<u8> = (0..2_000_000u32).map(|i| (i % 239) as u8).collect();
    let sha = hex::encode(Sha256::digest(&bytes));
    let declare = |body: Value| http.post(server.url(&format!("/a/v1/upload/{prod}"))).bearer_auth(&token).json(&body).send();

    let out: Value = declare(json!({"filename": "cover.png", "size": bytes.len(), "content_type": "image/png", "sha256": sha}))
        .await.expect("declare").json().await.expect("JSON");
    let url = out["upload"]["url"].as_str().expect("url");
    assert!(url.contains(&config.media_bucket) && url.contains("X-Amz-Signature="), "an S3 presigned URL: {url}");
    let put = http.put(url).header(header::CONTENT_TYPE, "image/png").body(bytes.clone()).send().await.expect("PUT to S3");
    assert!(put.status().is_success(), "{}", put.status());
    let done = http.post(server.url(out["upload"]["complete"].as_str().expect("complete"))).bearer_auth(&token).send().await.expect("complete");
    assert_eq!(done.status(), StatusCode::OK);
    let asset: Value = done.json().await.expect("JSON");
    assert_eq!((asset["size"].as_u64(), asset["sha256"].as_str(), asset["state"].as_str()), (Some(bytes.len() as u64), Some(sha.as_str()), Some("ready")));

    // A declared size that the PUT does not match: 422, and neither asset nor object is kept.
    let out: Value = declare(json!({"filename": "b.png", "size": 99, "content_type": "image/png"}))
        .await.expect("declare").json().await.expect("JSON");
    http.put(out["upload"]["url"].as_str().expect("url")).body(vec![1u8; 10]).send().await.expect("PUT");
    let r = http.post(server.url(out["upload"]["complete"].as_str().expect("complete"))).bearer_auth(&token).send().await.expect("complete");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<Value>().await.expect("JSON")["error"]["code"], "upload.size_mismatch");
    let s3 = AwsClients::new(&config).await.s3;
    let objects = s3.list_objects_v2().bucket(&config.media_bucket).send().await.expect("list");
    let keys: Vec<&str> = objects.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "only the completed upload remains: {keys:?}");
}

/// Puts the SecureString `name` on the emulator.
async fn put_secure_parameter(name: &str, value: &str) {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into())))
        .endpoint_url(endpoint())
        .load()
        .await;
    aws_sdk_ssm::Client::new(&shared)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .expect("put parameter");
}

fn token_from_parameter(parameter: &str, scopes: &str) -> std::process::Output {
    Command::new(support::binary())
        .args(["token", "--client", "admin", "--scopes", scopes, "--signing-key-parameter", parameter, "--endpoint", &endpoint()])
        .arg("--data-dir").arg(tempfile::tempdir().expect("temp dir").path())
        .output()
        .expect("run podops token")
}

/// The deployment's way in: the first admin token minted from the SSM
/// parameter the functions read, and a separate `podops worker --backend aws`
/// (the ECS service's command) doing the server's jobs.
#[tokio::test]
async fn a_worker_process_on_aws_probes_uploads_and_tokens_come_from_the_ssm_key() {
    let (_, flags) = provision_fresh();
    let parameter = format!("/podops-test-{:08x}/signing-key", rand::random::<u32>());
    put_secure_parameter(&parameter, &hex::encode(rand::random::<[u8; 32]>())).await;
    let mut args = vec!["--backend", "aws", "--workers", "0", "--signing-key-parameter", &parameter];
    args.extend(flags.iter().map(String::as_str));
    let mut server = Server::start(&args).await;

    let out = token_from_parameter(&parameter, "admin");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = String::from_utf8(out.stdout).expect("UTF-8").trim().to_owned();
    let http = server.http.clone();
    let r = http.post(server.url("/a/v1/production")).bearer_auth(&admin)
        .json(&json!({"name": format!("fleet-{:08x}", rand::random::<u32>()), "title": "Fleet"})).send().await.expect("production");
    assert_eq!(r.status(), StatusCode::CREATED, "a token from the parameter is the server's");
    let prod = r.json::<Value>().await.expect("JSON")["guid"].as_str().expect("guid").to_owned();
    assert_eq!(http.get(server.url("/_a/token")).bearer_auth(server.admin_token()).send().await.expect("token check").status(), StatusCode::OK,
        "serve's own admin token is minted with the parameter's key too");

    let r = http.post(server.url(&format!("/a/v1/upload/{prod}?filename=tone.wav"))).bearer_auth(&admin)
        .header(header::CONTENT_TYPE, "audio/wav").body(support::tone_wav()).send().await.expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.expect("JSON")["guid"].as_str().expect("guid").to_owned();
    let asset_path = server.url(&format!("/a/v1/resource/{prod}/asset/{id}"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiting: Value = http.get(&asset_path).bearer_auth(&admin).send().await.expect("asset").json().await.expect("JSON");
    assert_eq!(waiting["state"], "pending", "no worker runs yet (--workers 0)");

    let data_dir = tempfile::tempdir().expect("temp dir");
    let worker = Command::new(support::binary())
        .args(["worker", "--backend", "aws", "--visibility", "10", "--grace", "5", "--signing-key-parameter", &parameter])
        .args(&flags)
        .arg("--data-dir").arg(data_dir.path())
        .stdout(Stdio::null()).stderr(Stdio::null())
        .spawn().expect("spawn podops worker");
    let deadline = Instant::now() + Duration::from_secs(60);
    let asset = loop {
        let asset: Value = http.get(&asset_path).bearer_auth(&admin).send().await.expect("asset").json().await.expect("JSON");
        if asset["state"] != "pending" {
            break asset;
        }
        assert!(Instant::now() < deadline, "the worker never probed the upload: {asset}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(asset["state"], "ready", "{asset}");
    let duration = asset["probe"]["duration"].as_f64().expect("probed duration");
    assert!((duration - 3.0).abs() < 0.05, "{asset}");
    assert!(support::terminate(worker).success(), "the worker exits cleanly on SIGTERM");
    assert!(!data_dir.path().join("secret").exists(), "with a parameter, no data-directory secret is made");
    assert!(server.stop().success());
}

#[tokio::test]
async fn a_missing_or_malformed_signing_key_parameter_stops_with_its_name_and_never_its_value() {
    let missing = format!("/podops-test-{:08x}/absent", rand::random::<u32>());
    let out = token_from_parameter(&missing, "admin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&missing) && stderr.contains("ParameterNotFound"), "{stderr}");
    assert!(out.stdout.is_empty(), "no token printed");

    let malformed = format!("/podops-test-{:08x}/short", rand::random::<u32>());
    put_secure_parameter(&malformed, "c0ffee-not-a-key").await;
    let out = token_from_parameter(&malformed, "admin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&malformed) && stderr.contains("not hex"), "{stderr}");
    assert!(!stderr.contains("c0ffee"), "the value is never printed: {stderr}");
}
