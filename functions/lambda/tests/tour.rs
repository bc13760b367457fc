//! The PodOps tour across the function binaries, each a real process behind
//! its own runtime API, on one fresh stack (DynamoDB, S3, SQS and SSM on the
//! emulator): auth mints a token → productions creates a production →
//! upload stores artwork and audio → resources writes the show and an
//! episode → build publishes → feeds serves the feed and its chapters →
//! tasks redirects to the audio; then an edit is republished by the
//! schedule's event to the build function.

mod support;

use podops_core::ports::{Clock, SystemClock};
use podops_lambda::Function;
use serde_json::json;
use sha2::{Digest, Sha256};
use support::events::{HttpEvent, get, post, put};
use support::runtime_api::Outcome;
use support::{FEED_BASE_URL, PUBLIC_MEDIA_URL, Stack};

const SCOPES: [&str; 5] = ["production:read", "production:write", "production:build", "resource:read", "resource:write"];
const SHOW: &str = "aaaaaaaaaaaa";
const EPISODE: &str = "bbbbbbbbbbbb";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_podops_tour_runs_across_the_function_binaries() {
    let mut stack = Stack::fresh_with_ssm_key().await;
    // An edit of a published feed rebuilds at once, so the schedule's event finds it due.
    stack.set("PODOPS_REBUILD_DELAY", "0");
    let (auth, productions, resources, upload, build, feeds, tasks) = tokio::join!(
        stack.start(Function::Auth),
        stack.start(Function::Productions),
        stack.start(Function::Resources),
        stack.start(Function::Upload),
        stack.start(Function::Build),
        stack.start(Function::Feeds),
        stack.start(Function::Tasks),
    );

    // auth: the API's name, then a token for a client, minted with the admin token.
    let r = auth.http(get("/")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "podops");
    assert!(r.header("x-request-id").len() >= 32, "the shared middleware ran: {:?}", r.headers);
    let admin = stack.token("admin", "admin");
    let r = auth.http(post("/_a/token").bearer(&admin).json(json!({"client_id": "studio-cli", "scopes": SCOPES}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("content-type"), "application/json");
    let token = r.json()["token"].as_str().expect("a token").to_owned();
    let r = auth.http(get("/_a/token").bearer(&token)).await;
    assert_eq!((r.status, r.json()["sub"].as_str()), (200, Some("studio-cli")));
    assert_eq!(auth.http(get("/_a/token").bearer("not-a-token")).await.status, 401);

    // productions: create, then find it in the caller's list.
    let r = productions.http(post("/a/v1/production").bearer(&token).json(json!({"name": "lambda-tour", "title": "The Lambda Tour"}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let prod = r.json()["guid"].as_str().expect("guid").to_owned();
    assert_eq!(r.header("location"), format!("/a/v1/production/{prod}"));
    let r = productions.http(get("/a/v1/productions").bearer(&token)).await;
    assert_eq!((r.status, r.json()["total"].as_u64()), (200, Some(1)));
    assert_eq!(r.json()["items"][0]["name"], "lambda-tour");

    // upload: artwork (ready at once) and audio (pending until probed; a probe job is queued).
    let png: Vec<u8> = [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 600]].concat();
    let r = upload.http(post(&format!("/a/v1/upload/{prod}?filename=cover.png")).bearer(&token).bytes("image/png", &png)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let cover = r.json();
    assert_eq!((cover["state"].as_str(), cover["size"].as_u64()), (Some("ready"), Some(png.len() as u64)));
    assert_eq!(cover["sha256"].as_str(), Some(hex::encode(Sha256::digest(&png)).as_str()), "the bytes arrived intact through base64");
    let mp3 = vec![0xffu8; 4096];
    let r = upload.http(post(&format!("/a/v1/upload/{prod}?filename=pilot.mp3")).bearer(&token).bytes("audio/mpeg", &mp3)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let audio = r.json()["guid"].as_str().expect("guid").to_owned();
    assert_eq!(r.json()["state"], "pending");
    let queued = stack.queued_messages().await;
    assert_eq!(queued.len(), 1, "one probe job: {queued:?}");
    assert!(queued[0].contains(&format!("probe-{audio}")) && queued[0].contains(&prod), "{}", queued[0]);
    stack.probe_as_the_worker_would(&prod, &audio).await;

    // resources: the full show (artwork = the uploaded image) and a published episode with tracks.
    let show = json!({"title": "The Lambda Tour", "description": "A show about functions.", "language": "en",
        "category": "Technology", "author": "Tess Ter", "owner": {"name": "Tess Ter", "email": "tess@example.com"},
        "image": cover["guid"], "link": "https://example.com"});
    let r = resources.http(post(&format!("/a/v1/resource/{prod}/show/{SHOW}")).bearer(&token).json(show)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let published = SystemClock.now() - 60;
    let episode = json!({"title": "Pilot", "enclosure": audio, "published": published,
        "tracks": [{"artist": "Beirut", "title": "Elephant Gun", "offset": 754}]});
    let r = resources.http(post(&format!("/a/v1/resource/{prod}/episode/{EPISODE}")).bearer(&token).json(episode)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = resources.http(get(&format!("/a/v1/resource/{prod}/episode/{EPISODE}")).bearer(&token).header("accept", "application/xml")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("application/xml") && r.text().contains("<title>Pilot</title>"), "{}", r.text());

    // build: publish.
    let r = build.http(post("/a/v1/build").bearer(&token).json(json!({"production": prod}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let feed_url = format!("{FEED_BASE_URL}/feeds/lambda-tour/feed.xml");
    assert_eq!((r.json()["published"].as_bool(), r.json()["episodes"].as_u64()), (Some(true), Some(1)));
    assert_eq!(r.header("location"), feed_url);

    // feeds: the feed (enclosure and artwork at the public media origin), 304, chapters.
    let r = feeds.http(get("/feeds/lambda-tour/feed.xml")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), "application/rss+xml; charset=utf-8");
    let xml = r.text();
    assert!(xml.contains("<title>Pilot</title>"), "{xml}");
    assert!(xml.contains(&format!("url=\"{PUBLIC_MEDIA_URL}/media/{prod}/{audio}.mp3\"")), "{xml}");
    assert!(xml.contains(&format!("{PUBLIC_MEDIA_URL}/media/{prod}/{}.png", cover["guid"].as_str().unwrap_or_default())), "{xml}");
    assert!(xml.contains(&format!("{FEED_BASE_URL}/feeds/lambda-tour/chapters/{EPISODE}.json")), "{xml}");
    let etag = r.header("etag").to_owned();
    assert_eq!(etag, format!("\"{}\"", hex::encode(Sha256::digest(&r.body))), "the ETag is the published bytes' sha256");
    assert_eq!(feeds.http(get("/feeds/lambda-tour/feed.xml").header("if-none-match", &etag)).await.status, 304);
    let r = feeds.http(get(&format!("/feeds/lambda-tour/chapters/{EPISODE}.json"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), "application/json+chapters");
    assert_eq!(r.json(), json!({"version": "1.2.0", "chapters": [{"startTime": 754, "title": "Beirut – Elephant Gun"}]}));

    // tasks: the original audio is a redirect to a presigned URL on the media bucket.
    let r = tasks.http(get(&format!("/a/v1/asset/{prod}/{audio}/content")).bearer(&token)).await;
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location");
    assert!(location.contains(&stack.config.media_bucket) && location.contains("X-Amz-Signature="), "{location}");

    // schedule: an edit of the published episode is republished by the schedule's event.
    let r = resources.http(put(&format!("/a/v1/resource/{prod}/episode/{EPISODE}")).bearer(&token).json(json!({"title": "Pilot (remastered)"}))).await;
    assert_eq!((r.status, r.header("etag")), (204, "\"2\""), "{}", r.text());
    let Outcome::Response(body) = build.invoke(&json!({"podops": "run-due-builds"})).await else { panic!("the scheduled run failed: {}", build.log()) };
    let due: podops_lambda::DueBuilds = serde_json::from_slice(&body).expect("a summary");
    assert_eq!((due.published.len(), due.failed.len()), (1, 0), "{due:?}");
    assert_eq!((due.published[0].production.as_str(), due.published[0].episodes), (prod.as_str(), 1));
    // The feeds function holds the feed in memory and looks at the bucket again at most a
    // second later: another function's publish shows within that second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let xml = loop {
        let xml = feeds.http(get("/feeds/lambda-tour/feed.xml")).await.text();
        if xml.contains("<title>Pilot (remastered)</title>") || std::time::Instant::now() > deadline {
            break xml;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(xml.contains("<title>Pilot (remastered)</title>"), "{xml}");

    for f in [&auth, &productions, &resources, &upload, &build, &feeds, &tasks] {
        assert_eq!(f.api.unknown_requests(), Vec::<String>::new(), "{} used only the runtime API's routes", f.function.binary());
    }
}

#[tokio::test]
async fn a_route_of_another_function_is_a_json_404_not_a_failed_invocation() {
    let stack = Stack::fresh().await;
    let feeds = stack.start(Function::Feeds).await;
    let r = feeds.http(HttpEvent::new("POST", "/a/v1/production").json(json!({"name": "x"}))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "route.not_found");
}

/// Inbox drops reach the tasks function through EventBridge (tests/inbox.rs);
/// a classic S3 notification (no bucket sends one to it) must fail loudly —
/// never pass as an HTTP request.
#[tokio::test]
async fn a_classic_s3_notification_fails_the_invocation_and_the_tasks_function_keeps_serving() {
    let stack = Stack::fresh().await;
    let tasks = stack.start(Function::Tasks).await;
    // The shape of aws_lambda_events' fixture example-s3-event.json.
    let event = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-22T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "inbox",
               "bucket": {"name": stack.config.media_bucket, "arn": format!("arn:aws:s3:::{}", stack.config.media_bucket)},
               "object": {"key": "inbox/0123456789ab/pilot.mp3", "size": 4096, "eTag": "0123456789abcdef0123456789abcdef"}}}]});
    let Outcome::Error { body, .. } = tasks.invoke(&event).await else { panic!("an S3 event was answered as a request") };
    assert!(body["errorMessage"].as_str().is_some_and(|m| m.contains("API Gateway")), "{body}");
    let r = tasks.http(get("/a/v1/asset/0123456789ab/0123456789ab/content")).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("auth.missing_token")));
}
