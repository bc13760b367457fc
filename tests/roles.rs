//! Every route of `/openapi.json`, called as every role, against the table
//! in README.md ("Roles"): no route missing from the table, none in it that
//! does not exist, and no cell more open (or more closed) than it says.

mod support;

use std::{collections::BTreeSet, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{mail::sign_in, Server};

/// The table's columns, in order.
const ROLES: [&str; 7] = ["anonymous", "user", "viewer", "operator", "editor", "owner", "admin"];

/// Answers that mean "you may not": missing or bad credentials, a missing
/// scope, a role too low, or a production hidden from a non-member.
const REFUSALS: [&str; 7] =
    ["auth.missing_token", "auth.invalid_token", "auth.invalid_key", "auth.missing_scope", "production.forbidden", "production.not_found", "token.user_only"];

/// `(METHOD path, cells)` rows of the README's Roles table.
fn table() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let section = readme.split("\n## Roles\n").nth(1).expect("a Roles section").split("\n## ").next().unwrap_or_default();
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<String> = line.trim_matches('|').split('|').map(|c| c.trim().trim_matches('`').to_owned()).collect();
        assert_eq!(cells.len(), ROLES.len() + 1, "row {line}");
        rows.push((cells[0].clone(), cells[1..].to_vec()));
    }
    rows
}

struct World {
    prod: String,
    name: String,
    keys: Vec<Option<String>>,
}

impl World {
    /// The request path with every parameter filled with something that
    /// exists (the production) or is well-formed (ids, names).
    fn path(&self, template: &str) -> String {
        let by_external = template.contains("by-external");
        template
            .replace("{prod}", &self.prod)
            .replace("{name}", if by_external { "isrc" } else { &self.name })
            .replace("{value}", "USRC17607839")
            .replace("{production}", &self.name)
            .replace("{kind}", "episode")
            .replace("{id}", if template.starts_with("/a/v1/tokens") { "0123456789abcdef" } else { "aaaaaaaaaaa1" })
            .replace("{asset}", "aaaaaaaaaaa1")
            .replace("{stream}", "aaaaaaaaaaa1")
            .replace("{file}", "index.m3u8")
            .replace("{action}", "stop")
            .replace("{client}", "bystander")
            .replace("{email}", "target@example.com")
            .replace("{path}", &format!("{}/feed.xml", self.name))
            .replace("{key}", &format!("media/{}/aaaaaaaaaaa1.mp3", self.prod))
    }

    /// A body the route can read, so what answers is the authorization and
    /// not the request's shape.
    fn body(&self, method: &Method, template: &str, role: usize) -> Option<Value> {
        let prod = &self.prod;
        Some(match (method.as_str(), template) {
            ("POST", "/a/v1/login") => json!({ "email": format!("someone-{role}@example.org") }),
            ("POST", "/a/v1/auth") => json!({ "email": "nobody@example.org", "code": "00000000" }),
            ("POST", "/a/v1/auth/refresh") => json!({ "refresh_token": "por_junk" }),
            ("POST", "/a/v1/auth/2fa/verify") => json!({ "code": "000000" }),
            ("POST", "/a/v1/tokens") => json!({ "name": "roles", "scopes": ["resource:read"] }),
            ("POST", "/a/v1/production") => json!({ "name": format!("roles_new_{role}"), "title": "New" }),
            ("PUT", "/a/v1/production/{prod}/member/{client}") => json!({ "role": "viewer" }),
            ("POST", "/a/v1/build") | ("POST", "/a/v1/build/rollback") => json!({ "production": prod }),
            ("POST", "/a/v1/ffmpeg/preview") => json!({ "production": prod, "stream": "aaaaaaaaaaa1" }),
            ("POST", "/_a/token") => json!({ "client_id": "svc", "scopes": ["resource:read"] }),
            ("POST", "/_t/import") => json!({ "production": prod, "url": "https://example.com/episode.mp3" }),
            ("POST", "/a/v1/import/feed") => json!({ "url": "https://example.com/feed.xml", "dry_run": true }),
            ("POST", "/a/v1/backups") => json!({ "production": prod }),
            ("POST", "/a/v1/backups/restore") => json!({ "archive": "aaaaaaaaaaa1-aaaaaaaaaaa1" }),
            ("PUT", "/a/v1/users/{email}") => json!({ "role": "user" }),
            ("POST", _) | ("PUT", _) => json!({}),
            _ => return None,
        })
    }
}

/// What one call answered: status and error code (a HEAD is classified by
/// the same GET's code, its status checked equal).
async fn call(server: &Server, world: &World, method: &Method, template: &str, role: usize) -> (StatusCode, String) {
    let path = world.path(template);
    let send = |m: Method| {
        let mut req = server.http.request(m.clone(), server.url(&path)).timeout(Duration::from_secs(5));
        if let Some(key) = &world.keys[role] {
            req = req.bearer_auth(key);
        }
        if template == "/a/v1/upload/{prod}" {
            req = req.header("content-type", "audio/mpeg").body(vec![0u8; 64]);
        } else if let Some(body) = world.body(&m, template, role) {
            req = req.json(&body);
        }
        req.send()
    };
    let response = send(method.clone()).await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status();
    if *method == Method::HEAD {
        let (get_status, code) = Box::pin(call(server, world, &Method::GET, template, role)).await;
        assert_eq!(status, get_status, "HEAD {path} as {} answers as GET does", ROLES[role]);
        return (status, code);
    }
    // An event stream answers its headers and then keeps going: the status is enough.
    let is_stream = response.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body: Value = if is_stream { Value::Null } else { response.json().await.unwrap_or(Value::Null) };
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_readme_table_says() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "0", "--no-rate-limits", "--admin-email", "admin@example.com"], log.path()).await;

    let mut keys = vec![None];
    for role in &ROLES[1..] {
        keys.push(Some(sign_in(&server, &format!("{role}@example.com")).await));
    }
    sign_in(&server, "target@example.com").await;
    let owner = keys[5].clone().expect("owner key");
    let r = server.http.post(server.url("/a/v1/production")).bearer_auth(&owner).json(&json!({ "name": "roles_show", "title": "Roles" })).send().await.expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let prod: Value = r.json().await.expect("json");
    for role in ["viewer", "operator", "editor"] {
        let r = server
            .http
            .put(server.url(&format!("/a/v1/production/{}/member/{role}@example.com", prod["guid"].as_str().expect("guid"))))
            .bearer_auth(&owner)
            .json(&json!({ "role": role }))
            .send()
            .await
            .expect("member");
        assert!(r.status().is_success(), "{role}: {}", r.status());
    }
    let world = World { prod: prod["guid"].as_str().expect("guid").to_owned(), name: "roles_show".into(), keys };

    let rows = table();
    let documented: BTreeSet<String> = rows.iter().map(|(route, _)| route.clone()).collect();
    let spec: Value = server.http.get(server.url("/openapi.json")).send().await.expect("spec").json().await.expect("json");
    let mut served = BTreeSet::new();
    // The document lists the resource routes once per kind; the table, once with `{kind}`.
    let kinds = ["show", "episode", "asset", "profile", "playlist", "stream", "webhook", "schedule", "channel"];
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        let mut path = path.clone();
        for kind in kinds {
            for (from, to) in [(format!("/a/v1/resource/{{prod}}/{kind}/{{id}}"), "/a/v1/resource/{prod}/{kind}/{id}"), (format!("/a/v1/resource/{{prod}}/{kind}"), "/a/v1/resource/{prod}/{kind}")] {
                if path == from {
                    path = to.to_owned();
                }
            }
        }
        for method in ops.as_object().expect("operations").keys() {
            served.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert_eq!(served.difference(&documented).collect::<Vec<_>>(), Vec::<&String>::new(), "routes missing from the README's Roles table");
    assert_eq!(documented.difference(&served).collect::<Vec<_>>(), Vec::<&String>::new(), "rows of the Roles table that are not routes");

    // Sign-out ends each key: it goes last.
    let mut rows = rows;
    rows.sort_by_key(|(route, _)| route == "POST /a/v1/auth/logout");
    let mut wrong = Vec::new();
    for (route, cells) in &rows {
        let (method, template) = route.split_once(' ').expect("METHOD path");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        for (role, cell) in cells.iter().enumerate() {
            let (status, code) = call(&server, &world, &method, template, role).await;
            // (Health is 503 here by design: this server runs no worker.)
            let expected_503 = route == "GET /system/health" && status == StatusCode::SERVICE_UNAVAILABLE;
            assert!(!status.is_server_error() || expected_503, "{route} as {}: {status} {code}", ROLES[role]);
            let refused = REFUSALS.contains(&code.as_str());
            let ok = match cell.as_str() {
                "✓" => !refused,
                "✗" => refused,
                "url" => status == StatusCode::FORBIDDEN && code.starts_with("media.signature"),
                other => panic!("unknown cell {other:?} in {route}"),
            };
            if !ok {
                wrong.push(format!("{route} as {}: table says {cell}, got {status} {code}", ROLES[role]));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells differ:\n{}", wrong.len(), wrong.join("\n"));
}

async fn send(server: &Server, method: Method, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
    support::call(server, key, method, path, body).await
}

#[tokio::test]
async fn instance_and_production_roles_change_from_the_next_request_for_every_key_and_token() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "0", "--no-rate-limits", "--admin-email", "root@example.com"], log.path()).await;
    let root = sign_in(&server, "root@example.com").await;
    let sam = sign_in(&server, "sam@example.com").await;
    let (s, who) = send(&server, Method::GET, "/a/v1/whoami", &root, None).await;
    assert_eq!((s, who["user"]["role"].as_str()), (StatusCode::OK, Some("admin")));
    assert!(who["scopes"].as_array().expect("scopes").contains(&json!("admin")), "{who}");

    // Sam is a user: no admin token, no admin routes.
    let (s, e) = send(&server, Method::POST, "/a/v1/tokens", &sam, Some(json!({"name": "ops", "scopes": ["admin"]}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("token.scope_exceeds_user")));
    let (s, _) = send(&server, Method::GET, "/_a/token", &sam, None).await;
    assert_eq!(s, StatusCode::OK, "any credential verifies");
    let (s, e) = send(&server, Method::POST, "/_a/token", &sam, Some(json!({"client_id": "svc", "scopes": ["resource:read"]}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("auth.missing_scope")));

    // Promoted: the same key is an admin's at once, and may now make an admin token.
    let (s, u) = send(&server, Method::PUT, "/a/v1/users/sam@example.com", &root, Some(json!({"role": "admin"}))).await;
    assert_eq!((s, u["role"].as_str(), u["email"].as_str()), (StatusCode::OK, Some("admin"), Some("sam@example.com")));
    let (s, _) = send(&server, Method::POST, "/_a/token", &sam, Some(json!({"client_id": "svc", "scopes": ["resource:read"]}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, t) = send(&server, Method::POST, "/a/v1/tokens", &sam, Some(json!({"name": "ops", "scopes": ["admin"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let ops_token = t["token"].as_str().expect("token").to_owned();
    let (s, _) = send(&server, Method::POST, "/_a/token", &ops_token, Some(json!({"client_id": "svc", "scopes": ["resource:read"]}))).await;
    assert_eq!(s, StatusCode::CREATED);

    // Demoted: the key and the token lose admin on their next request.
    let (s, _) = send(&server, Method::PUT, "/a/v1/users/sam@example.com", &root, Some(json!({"role": "user"}))).await;
    assert_eq!(s, StatusCode::OK);
    for key in [&sam, &ops_token] {
        let (s, e) = send(&server, Method::POST, "/_a/token", key, Some(json!({"client_id": "svc", "scopes": ["resource:read"]}))).await;
        assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("auth.missing_scope")));
    }

    // Bad input: not an admin, no such user, a configured admin, junk.
    let (s, e) = send(&server, Method::PUT, "/a/v1/users/root@example.com", &sam, Some(json!({"role": "user"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("auth.missing_scope")));
    let (s, e) = send(&server, Method::PUT, "/a/v1/users/ghost@example.com", &root, Some(json!({"role": "admin"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("user.not_found")));
    let (s, e) = send(&server, Method::PUT, "/a/v1/users/root@example.com", &root, Some(json!({"role": "user"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("user.configured_admin")));
    let (s, e) = send(&server, Method::PUT, "/a/v1/users/not-an-address", &root, Some(json!({"role": "user"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("email.invalid")));
    let (s, _) = send(&server, Method::PUT, "/a/v1/users/sam@example.com", &root, Some(json!({"role": "root"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // A production role: an editor's key and token both lose writing when demoted to operator.
    let (s, prod) = send(&server, Method::POST, "/a/v1/production", &root, Some(json!({"name": "demotions", "title": "D"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    let member = format!("/a/v1/production/{prod}/member/sam@example.com");
    assert!(send(&server, Method::PUT, &member, &root, Some(json!({"role": "editor"}))).await.0.is_success());
    let (_, t) = send(&server, Method::POST, "/a/v1/tokens", &sam, Some(json!({"name": "laptop", "scopes": ["resource:read", "resource:write", "production:build"]}))).await;
    let laptop = t["token"].as_str().expect("token").to_owned();
    let show = format!("/a/v1/resource/{prod}/show/aaaaaaaaaaa1");
    let (s, e) = send(&server, Method::POST, &show, &laptop, Some(json!({"title": "Show"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    assert!(send(&server, Method::PUT, &member, &root, Some(json!({"role": "operator"}))).await.0.is_success());
    for key in [&sam, &laptop] {
        let (s, e) = send(&server, Method::PUT, &show, key, Some(json!({"title": "Renamed"}))).await;
        assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("production.forbidden")));
        // An operator still builds (here: the show is not complete yet, which is not a refusal).
        let (s, e) = send(&server, Method::POST, "/a/v1/build", key, Some(json!({"production": prod}))).await;
        assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("build.show_incomplete")));
    }
    assert!(send(&server, Method::DELETE, &member, &root, None).await.0.is_success());
    let (s, e) = send(&server, Method::GET, &show, &laptop, None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("production.not_found")), "removed: the production is hidden again");
}
