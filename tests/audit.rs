//! The audit log through a real `podops serve`, on SQLite and on DynamoDB
//! (moto): every mutation appends an entry with its actor, request id, IP
//! and changes (secrets redacted); failed sign-ins are recorded; a change
//! that fails records nothing; owners read their production's log, admins
//! every log; filters and cursors.

mod support;

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{aws::provision_fresh, call, mail::sign_in, Server};

const FLAGS: [&str; 7] = ["--workers", "0", "--no-rate-limits", "--admin-email", "root@example.com", "--mailer", "outbox"];

/// Every entry of a log, newest first, following `next` with pages of `limit`.
async fn read_all(server: &Server, key: &str, path: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let (s, page) = call(server, key, Method::GET, &url, None).await;
        assert_eq!(s, StatusCode::OK, "{url}: {page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= limit);
        out.extend(items.iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries.iter().map(|e| e["action"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn the_audit_log_records_every_change_once_with_who_and_what(server: Server) {
    let ann = sign_in(&server, "ann@example.com").await;
    let bob = sign_in(&server, "bob@example.com").await;
    let root = sign_in(&server, "root@example.com").await;

    let r = server.http.post(server.url("/a/v1/production")).bearer_auth(&ann).json(&json!({"name": format!("audited_{:06x}", rand::random::<u32>() >> 8), "title": "Audited"})).send().await.expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let request_id = r.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    let prod = r.json::<Value>().await.expect("json")["guid"].as_str().expect("guid").to_owned();
    let base = format!("/a/v1/resource/{prod}");
    assert!(call(&server, &ann, Method::PUT, &format!("/a/v1/production/{prod}/member/bob@example.com"), Some(json!({"role": "editor"}))).await.0.is_success());
    let (s, e) = call(&server, &bob, Method::POST, &format!("{base}/show/aaaaaaaaaaa1"), Some(json!({"title": "First"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    assert!(call(&server, &bob, Method::PUT, &format!("{base}/show/aaaaaaaaaaa1"), Some(json!({"title": "Second"}))).await.0.is_success());
    // A change that fails (the id is taken) writes no entry.
    assert_eq!(call(&server, &bob, Method::POST, &format!("{base}/show/aaaaaaaaaaa1"), Some(json!({"title": "Again"}))).await.0, StatusCode::CONFLICT);
    let profile = json!({"name": "talk", "format": "mp3", "bitrate": 128000, "sample_rate": 44100, "channels": 2});
    assert_eq!(call(&server, &ann, Method::POST, &format!("{base}/profile/bbbbbbbbbbb1"), Some(profile)).await.0, StatusCode::CREATED);
    let stream = json!({"title": "Live", "profile": "bbbbbbbbbbb1", "input": {"tone": {"frequency": 440}},
        "outputs": [{"kind": "icecast", "url": "icecast://radio.example.com:8000/live.mp3", "password": "first-secret-1234"}]});
    let (s, e) = call(&server, &ann, Method::POST, &format!("{base}/stream/ccccccccccc1"), Some(stream)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let new_outputs = json!({"outputs": [{"kind": "icecast", "url": "icecast://radio.example.com:8000/live.mp3", "password": "second-secret-5678"}]});
    assert!(call(&server, &ann, Method::PUT, &format!("{base}/stream/ccccccccccc1"), Some(new_outputs)).await.0.is_success());
    assert_eq!(call(&server, &bob, Method::DELETE, &format!("{base}/show/aaaaaaaaaaa1"), None).await.0, StatusCode::NO_CONTENT);

    // The owner reads the production's log, newest first.
    let log = read_all(&server, &ann, &format!("/a/v1/audit/{prod}"), 100).await;
    assert_eq!(
        actions(&log),
        ["show.delete", "stream.update", "stream.create", "profile.create", "show.update", "show.create", "member.set", "production.create"],
        "{log:#?}"
    );
    let created = log.last().expect("entry");
    assert_eq!(created["request_id"], request_id.as_str());
    assert_eq!(created["ip"], "127.0.0.1");
    assert_eq!((created["actor"]["user"].as_str(), created["actor"]["via"].as_str()), (Some("ann@example.com"), Some("api_key")));
    assert_eq!(created["outcome"], "ok");
    let update = &log[4];
    assert_eq!(update["changes"]["title"], json!(["First", "Second"]));
    assert_eq!((update["actor"]["user"].as_str(), update["target"]["kind"].as_str(), update["target"]["id"].as_str()), (Some("bob@example.com"), Some("show"), Some("aaaaaaaaaaa1")));
    assert_eq!(log[6]["changes"]["role"], json!([null, "editor"]));
    // Secrets never reach the log, but their change does.
    let text = serde_json::to_string(&log).expect("json");
    assert!(!text.contains("secret-1234") && !text.contains("secret-5678") && !text.contains("1234\"") && !text.contains("5678\""), "{text}");
    assert!(log[1]["changes"].get("outputs").is_some(), "{}", log[1]);
    let ids: Vec<&str> = log.iter().map(|e| e["id"].as_str().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "ids are time-ordered: {ids:?}");

    // Pages of 3 give the same entries, each once.
    let paged = read_all(&server, &ann, &format!("/a/v1/audit/{prod}"), 3).await;
    assert_eq!(paged, log);
    // Filters: by actor, by action or its kind, by time.
    assert_eq!(actions(&read_all(&server, &ann, &format!("/a/v1/audit/{prod}?actor=bob@example.com"), 2).await), ["show.delete", "show.update", "show.create"]);
    assert_eq!(actions(&read_all(&server, &ann, &format!("/a/v1/audit/{prod}?action=stream"), 100).await), ["stream.update", "stream.create"]);
    assert_eq!(actions(&read_all(&server, &ann, &format!("/a/v1/audit/{prod}?action=member.set"), 100).await), ["member.set"]);
    let ts = created["ts"].as_i64().expect("ts");
    assert_eq!(read_all(&server, &ann, &format!("/a/v1/audit/{prod}?to={}", ts - 1), 100).await.len(), 0);
    assert_eq!(read_all(&server, &ann, &format!("/a/v1/audit/{prod}?from={ts}"), 100).await.len(), log.len());

    // Who may read: the owner and admins; not an editor, not a stranger, not anonymous.
    let (s, e) = call(&server, &bob, Method::GET, &format!("/a/v1/audit/{prod}"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("production.forbidden")));
    assert_eq!(read_all(&server, &root, &format!("/a/v1/audit/{prod}"), 100).await, log);
    let (s, e) = call(&server, &ann, Method::GET, "/a/v1/audit", None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("auth.missing_scope")));
    let r = server.http.get(server.url(&format!("/a/v1/audit/{prod}"))).send().await.expect("anonymous");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Bad queries: 400 with a code.
    for q in ["limit=0", "limit=101", "from=yesterday", "cursor=junk"] {
        let (s, e) = call(&server, &ann, Method::GET, &format!("/a/v1/audit/{prod}?{q}"), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {e}");
        assert!(e["error"]["code"].as_str().is_some(), "{e}");
    }

    // A wrong sign-in code, a new token and a revocation show in the instance log.
    let r = server.http.post(server.url("/a/v1/login")).json(&json!({"email": "ann@example.com"})).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = server.http.post(server.url("/a/v1/auth")).json(&json!({"email": "ann@example.com", "code": "00000000"})).send().await.expect("auth");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (s, t) = call(&server, &ann, Method::POST, "/a/v1/tokens", Some(json!({"name": "ci", "scopes": ["resource:read"]}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let token_id = t["id"].as_str().expect("id").to_owned();
    assert_eq!(call(&server, &ann, Method::DELETE, &format!("/a/v1/tokens/{token_id}"), None).await.0, StatusCode::NO_CONTENT);
    let all = read_all(&server, &root, "/a/v1/audit?actor=ann@example.com", 5).await;
    let seen = actions(&all);
    assert_eq!(seen[..3], ["token.revoke", "token.create", "auth.sign_in"], "{all:#?}");
    let failed = &all[2];
    assert_eq!((failed["outcome"].as_str(), failed["code"].as_str()), (Some("failed"), Some("login.invalid_code")));
    assert!(!serde_json::to_string(failed).expect("json").contains("00000000"), "the code tried is not logged");
    assert!(seen.contains(&"production.create".to_owned()) && seen.iter().filter(|a| *a == "auth.sign_in").count() == 2, "{seen:?}");
    let unique: HashSet<&str> = all.iter().map(|e| e["id"].as_str().expect("id")).collect();
    assert_eq!(unique.len(), all.len(), "no entry twice across pages");
}

#[tokio::test]
async fn embedded_the_audit_log_records_every_change_once_with_who_and_what() {
    let log = tempfile::NamedTempFile::new().expect("log");
    the_audit_log_records_every_change_once_with_who_and_what(Server::start_logging_to(&FLAGS, log.path()).await).await;
}

#[tokio::test]
async fn on_dynamodb_the_audit_log_records_every_change_once_with_who_and_what() {
    let (_, flags) = provision_fresh();
    let mut args: Vec<&str> = vec!["--backend", "aws"];
    args.extend(flags.iter().map(String::as_str));
    args.extend(FLAGS);
    let log = tempfile::NamedTempFile::new().expect("log");
    the_audit_log_records_every_change_once_with_who_and_what(Server::start_logging_to(&args, log.path()).await).await;
}
