//! Sign-in by email and API keys through a real `podops serve`: the mail is
//! read back from the outbox (the default) or from a real SMTP server on
//! loopback (aiosmtpd, installed by scripts/test).

mod support;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use support::{
    mail::{parse_mail, totp_code, wait_for_mail, wait_for_mail_to},
    Server,
};

async fn send(server: &Server, method: reqwest::Method, path: &str, auth: Option<&str>, body: Option<Value>) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = server.http.request(method, server.url(path));
    if let Some(a) = auth {
        req = req.bearer_auth(a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn sign_in_by_code_and_link_issues_keys_and_revokes_the_previous_one() {
    let server = Server::start(&["--workers", "0"]).await;
    let outbox = server.data_dir.path().join("outbox");
    let post = reqwest::Method::POST;

    let (s, _, e) = send(&server, post.clone(), "/a/v1/login", None, Some(json!({"email": "not an address"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("email.invalid")));

    let (s, _, first) = send(&server, post.clone(), "/a/v1/login", None, Some(json!({"email": "  ann@Example.COM "}))).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (to, code, token) = wait_for_mail(&outbox, 1).await;
    assert_eq!(to, "ann@example.com");
    assert_eq!(code.len(), 8, "an 8-digit code");
    assert_eq!(token.len(), 64);
    // While one is outstanding: 429 with Retry-After (the same for any address that has one).
    let (s, h, e) = send(&server, post.clone(), "/a/v1/login?email=ann@example.com", None, None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("login.pending")));
    let retry: u64 = h[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=480).contains(&retry), "{retry}");
    // An unknown address gets the same answer.
    let (s, _, other) = send(&server, post.clone(), "/a/v1/login", None, Some(json!({"email": "nobody@example.org"}))).await;
    assert_eq!((s, &other), (StatusCode::ACCEPTED, &first));

    // A wrong code counts; the right one signs in once.
    let wrong = if code == "00000000" { "11111111" } else { "00000000" };
    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth", None, Some(json!({"email": "ann@example.com", "code": wrong}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("login.invalid_code")));
    let (s, _, signed) = send(&server, post.clone(), "/a/v1/auth", None, Some(json!({"email": "ann@example.com", "code": code}))).await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    let key1 = signed["key"].as_str().expect("key").to_owned();
    assert!(key1.starts_with("pok_"));
    assert_eq!(signed["user"]["email"], "ann@example.com");
    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth", None, Some(json!({"email": "ann@example.com", "code": code}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("login.invalid_code")), "a code works once");
    let (s, _, e) = send(&server, reqwest::Method::GET, &format!("/a/v1/auth?token={token}"), None, None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("login.invalid_code")), "its link went with it");

    // The key works, as Bearer or X-Api-Key, and every answer says who is logged in.
    let (s, h, me) = send(&server, reqwest::Method::GET, "/a/v1/whoami", Some(&key1), None).await;
    assert_eq!((s, me["via"].as_str(), me["user"]["email"].as_str()), (StatusCode::OK, Some("api_key"), Some("ann@example.com")));
    assert_eq!(h["x-podops-logged-in-as"], "ann@example.com");
    let r = server.http.get(server.url("/a/v1/productions")).header("x-api-key", &key1).send().await.expect("x-api-key");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-podops-logged-in-as"], "ann@example.com");
    // A signed-in user owns what they create.
    let (s, _, prod) = send(&server, post.clone(), "/a/v1/production", Some(&key1), Some(json!({"name": "anns_first_show", "title": "Ann"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{prod}");

    // Second sign-in, by link: a mail scanner's GET (a browser's Accept) consumes nothing…
    let (s, _, _) = send(&server, post.clone(), "/a/v1/login", None, Some(json!({"email": "ann@example.com"}))).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, _, token2) = wait_for_mail_to(&outbox, "ann@example.com", 2).await;
    let page = server.http.get(server.url(&format!("/a/v1/auth?token={token2}"))).header(header::ACCEPT, "text/html,application/xhtml+xml").send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("html").contains("<form method=post action=\"/a/v1/auth/confirm\">"));
    // …the API client gets a new key, and the previous one is revoked.
    let (s, _, signed2) = send(&server, reqwest::Method::GET, &format!("/a/v1/auth?token={token2}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{signed2}");
    let key2 = signed2["key"].as_str().expect("key").to_owned();
    assert_ne!(key1, key2);
    assert_eq!(signed2["user"]["id"], signed["user"]["id"], "the same user");
    let (s, _, e) = send(&server, reqwest::Method::GET, "/a/v1/whoami", Some(&key1), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("auth.invalid_key")));
    assert_eq!(send(&server, reqwest::Method::GET, "/a/v1/whoami", Some(&key2), None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn five_wrong_codes_void_the_sign_in() {
    let server = Server::start(&["--workers", "0"]).await;
    let outbox = server.data_dir.path().join("outbox");
    send(&server, reqwest::Method::POST, "/a/v1/login", None, Some(json!({"email": "bob@example.com"}))).await;
    let (_, code, _) = wait_for_mail(&outbox, 1).await;
    let wrong = if code == "12345678" { "87654321" } else { "12345678" };
    for _ in 0..5 {
        let (s, _, _) = send(&server, reqwest::Method::POST, "/a/v1/auth", None, Some(json!({"email": "bob@example.com", "code": wrong}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _, e) = send(&server, reqwest::Method::POST, "/a/v1/auth", None, Some(json!({"email": "bob@example.com", "code": code}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("login.too_many_attempts")), "the 6th attempt, right or not");
    // The sign-in is void: a new one may be asked for at once.
    assert_eq!(send(&server, reqwest::Method::POST, "/a/v1/login", None, Some(json!({"email": "bob@example.com"}))).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn personal_tokens_have_at_most_their_users_rights_and_are_revoked_at_once() {
    let server = Server::start(&["--workers", "0"]).await;
    let outbox = server.data_dir.path().join("outbox");
    let mut keys = Vec::new();
    for (i, email) in ["cat@example.com", "dan@example.com"].iter().enumerate() {
        send(&server, reqwest::Method::POST, "/a/v1/login", None, Some(json!({"email": email}))).await;
        let (_, code, _) = wait_for_mail(&outbox, i + 1).await;
        let (_, _, signed) = send(&server, reqwest::Method::POST, "/a/v1/auth", None, Some(json!({"email": email, "code": code}))).await;
        keys.push(signed["key"].as_str().expect("key").to_owned());
    }
    let (cat, dan) = (&keys[0], &keys[1]);
    let (s, _, e) = send(&server, reqwest::Method::POST, "/a/v1/tokens", Some(cat), Some(json!({"name": "ci", "scopes": ["admin"]}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("token.scope_exceeds_user")));
    let (s, _, made) = send(&server, reqwest::Method::POST, "/a/v1/tokens", Some(cat), Some(json!({"name": "ci", "scopes": ["resource:read"], "expires_in": 3600}))).await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let token = made["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("pot_"));
    let (s, _, me) = send(&server, reqwest::Method::GET, "/a/v1/whoami", Some(&token), None).await;
    assert_eq!((s, me["via"].as_str()), (StatusCode::OK, Some("token")));
    assert_eq!(me["scopes"], json!(["resource:read"]));
    // Its scopes bind: creating a production needs production:write.
    let (s, _, e) = send(&server, reqwest::Method::POST, "/a/v1/production", Some(&token), Some(json!({"name": "cats_show_x", "title": "x"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("auth.missing_scope")));
    let (_, _, list) = send(&server, reqwest::Method::GET, "/a/v1/tokens", Some(cat), None).await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "the sign-in key and the token: {list}");
    let listed = list.to_string();
    assert!(!listed.contains(&token) && !listed.contains(cat.as_str()) && listed.contains(&format!("••••{}", &token[token.len() - 4..])));
    let id = made["id"].as_str().expect("id").to_owned();
    // Another user cannot revoke it; its owner can, and it stops at once.
    assert_eq!(send(&server, reqwest::Method::DELETE, &format!("/a/v1/tokens/{id}"), Some(dan), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&server, reqwest::Method::GET, "/a/v1/whoami", Some(&token), None).await.0, StatusCode::OK);
    assert_eq!(send(&server, reqwest::Method::DELETE, &format!("/a/v1/tokens/{id}"), Some(cat), None).await.0, StatusCode::NO_CONTENT);
    let (s, _, e) = send(&server, reqwest::Method::GET, "/a/v1/whoami", Some(&token), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("auth.invalid_key")));
    // Junk with a key's prefix is refused by its checksum; a JWT still works for services.
    let mut junk = token.clone().into_bytes();
    junk[8] = if junk[8] == b'A' { b'B' } else { b'A' };
    let (s, _, e) = send(&server, reqwest::Method::GET, "/a/v1/whoami", Some(&String::from_utf8(junk).expect("utf8")), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("auth.invalid_key")));
    let (s, h, me) = send(&server, reqwest::Method::GET, "/a/v1/whoami", Some(&server.admin_token()), None).await;
    assert_eq!((s, me["via"].as_str()), (StatusCode::OK, Some("jwt")));
    assert!(h.contains_key("x-podops-logged-in-as"));
    // A service JWT has no user, so no personal tokens.
    let (s, _, e) = send(&server, reqwest::Method::GET, "/a/v1/tokens", Some(&server.admin_token()), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("token.user_only")));
}

#[tokio::test]
async fn with_sign_up_closed_an_unknown_address_gets_the_same_answer_and_no_mail() {
    let server = Server::start(&["--workers", "0", "--signup", "closed"]).await;
    let outbox = server.data_dir.path().join("outbox");
    let (s, _, body) = send(&server, reqwest::Method::POST, "/a/v1/login", None, Some(json!({"email": "eve@example.com"}))).await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::ACCEPTED, Some("mail_sent_if_allowed")));
    let (s, _, e) = send(&server, reqwest::Method::POST, "/a/v1/login", None, Some(json!({"email": "eve@example.com"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("login.pending")), "the same refusal as for a known address");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0);
    assert_eq!(mails, 0, "no mail for an unknown address while sign-up is closed");
}

#[tokio::test]
async fn sign_in_mail_goes_through_a_real_smtp_server() {
    let port = support::free_port();
    let log = tempfile::NamedTempFile::new().expect("log");
    // aiosmtpd's debugging handler prints each message it receives.
    let mut smtp = Command::new("python3")
        .args(["-u", "-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::from(log.reopen().expect("log")))
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (scripts/test installs aiosmtpd into .venv)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start: is it installed (scripts/test)?");
        std::thread::sleep(Duration::from_millis(100));
    }
    let server = Server::start(&["--workers", "0", "--smtp-url", &format!("smtp://127.0.0.1:{port}"), "--mail-from", "PodOps <signin@podops.test>"]).await;
    let (s, _, _) = send(&server, reqwest::Method::POST, "/a/v1/login", None, Some(json!({"email": "fay@example.com"}))).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        if text.contains("sign-in code is") {
            break text;
        }
        assert!(Instant::now() < deadline, "the SMTP server got no mail: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (to, code, _) = parse_mail(&text);
    assert_eq!(to, "fay@example.com");
    assert!(text.contains("From: PodOps <signin@podops.test>"), "{text}");
    let (s, _, signed) = send(&server, reqwest::Method::POST, "/a/v1/auth", None, Some(json!({"email": "fay@example.com", "code": code}))).await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    assert!(std::fs::read_dir(server.data_dir.path().join("outbox")).is_err(), "SMTP, not the outbox");
    let _ = smtp.kill();
    let _ = smtp.wait();
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replay_revokes_the_session() {
    let server = Server::start(&["--workers", "0"]).await;
    let outbox = server.data_dir.path().join("outbox");
    let post = reqwest::Method::POST;
    send(&server, post.clone(), "/a/v1/login", None, Some(json!({"email": "gil@example.com"}))).await;
    let (_, code, _) = wait_for_mail(&outbox, 1).await;
    let (_, _, signed) = send(&server, post.clone(), "/a/v1/auth", None, Some(json!({"email": "gil@example.com", "code": code}))).await;
    let (key1, refresh1) = (signed["key"].as_str().expect("key").to_owned(), signed["refresh_token"].as_str().expect("refresh").to_owned());
    assert!(refresh1.starts_with("por_"));

    // Refresh: a new key and refresh token; the old key stops.
    let (s, _, next) = send(&server, post.clone(), "/a/v1/auth/refresh", None, Some(json!({"refresh_token": refresh1}))).await;
    assert_eq!(s, StatusCode::OK, "{next}");
    let (key2, refresh2) = (next["key"].as_str().expect("key").to_owned(), next["refresh_token"].as_str().expect("refresh").to_owned());
    assert_eq!(next["user"]["email"], "gil@example.com");
    assert_eq!(send(&server, reqwest::Method::GET, "/a/v1/auth/me", Some(&key1), None).await.0, StatusCode::UNAUTHORIZED);
    let (s, _, me) = send(&server, reqwest::Method::GET, "/a/v1/auth/me", Some(&key2), None).await;
    assert_eq!((s, me["user"]["email"].as_str()), (StatusCode::OK, Some("gil@example.com")));

    // The first refresh token again (a stolen copy): refused, and the whole session is revoked.
    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth/refresh", None, Some(json!({"refresh_token": refresh1}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("auth.refresh_reused")));
    assert_eq!(send(&server, reqwest::Method::GET, "/a/v1/auth/me", Some(&key2), None).await.0, StatusCode::UNAUTHORIZED, "the live key went with it");
    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth/refresh", None, Some(json!({"refresh_token": refresh2}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("auth.invalid_refresh")), "and the live refresh token");

    // Sign in again, then log out: the key and its refresh token stop at once.
    send(&server, post.clone(), "/a/v1/login", None, Some(json!({"email": "gil@example.com"}))).await;
    let (_, code, _) = wait_for_mail(&outbox, 2).await;
    let (_, _, signed) = send(&server, post.clone(), "/a/v1/auth", None, Some(json!({"email": "gil@example.com", "code": code}))).await;
    let (key3, refresh3) = (signed["key"].as_str().expect("key").to_owned(), signed["refresh_token"].as_str().expect("refresh").to_owned());
    assert_eq!(send(&server, post.clone(), "/a/v1/auth/logout", Some(&key3), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(&server, reqwest::Method::GET, "/a/v1/auth/me", Some(&key3), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&server, post.clone(), "/a/v1/auth/refresh", None, Some(json!({"refresh_token": refresh3}))).await.0, StatusCode::UNAUTHORIZED);
    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth/refresh", None, Some(json!({"refresh_token": "por_junk"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("auth.invalid_refresh")));
}

/// The RFC 6238 code of a base32 secret, `offset` steps from now (independent of the server's crate).

#[tokio::test]
async fn with_two_factor_on_a_sign_in_also_needs_a_fresh_authenticator_code() {
    let server = Server::start(&["--workers", "0"]).await;
    let outbox = server.data_dir.path().join("outbox");
    let post = reqwest::Method::POST;
    send(&server, post.clone(), "/a/v1/login", None, Some(json!({"email": "hal@example.com"}))).await;
    let (_, code, _) = wait_for_mail(&outbox, 1).await;
    let (_, _, signed) = send(&server, post.clone(), "/a/v1/auth", None, Some(json!({"email": "hal@example.com", "code": code}))).await;
    let key = signed["key"].as_str().expect("key").to_owned();

    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth/2fa/verify", Some(&key), Some(json!({"code": "123456"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("2fa.not_enrolled")));
    let (s, _, enrol) = send(&server, post.clone(), "/a/v1/auth/2fa/enroll", Some(&key), None).await;
    assert_eq!(s, StatusCode::OK, "{enrol}");
    let secret = enrol["secret"].as_str().expect("secret").to_owned();
    assert!(enrol["otpauth_uri"].as_str().is_some_and(|u| u.starts_with("otpauth://totp/PodOps:hal%40example.com?") && u.contains(&format!("secret={secret}"))), "{enrol}");
    let wrong = if totp_code(&secret, 0) == "000000" { "111111" } else { "000000" };
    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth/2fa/verify", Some(&key), Some(json!({"code": wrong}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("login.totp_invalid")));
    assert_eq!(send(&server, post.clone(), "/a/v1/auth/2fa/verify", Some(&key), Some(json!({"code": totp_code(&secret, 0)}))).await.0, StatusCode::NO_CONTENT);
    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth/2fa/enroll", Some(&key), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("2fa.already_on")));

    // Next sign-in: the mailed code alone is not enough…
    send(&server, post.clone(), "/a/v1/login", None, Some(json!({"email": "hal@example.com"}))).await;
    let (_, code, _) = wait_for_mail(&outbox, 2).await;
    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth", None, Some(json!({"email": "hal@example.com", "code": code}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("login.totp_required")));
    // …the code just used to turn it on does not work twice…
    let (s, _, e) = send(&server, post.clone(), "/a/v1/auth", None, Some(json!({"email": "hal@example.com", "code": code, "totp": totp_code(&secret, -1)}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("login.totp_invalid")), "an older step is refused");
    // …a fresh one does.
    let (s, _, signed) = send(&server, post.clone(), "/a/v1/auth", None, Some(json!({"email": "hal@example.com", "code": code, "totp": totp_code(&secret, 1)}))).await;
    assert_eq!(s, StatusCode::OK, "{signed}");
}

#[tokio::test]
async fn a_member_invited_by_email_gets_access_at_first_sign_in_and_loses_it_at_once_when_removed() {
    let server = Server::start(&["--workers", "0"]).await;
    let outbox = server.data_dir.path().join("outbox");
    let admin = server.admin_token();
    let (_, _, prod) = send(&server, reqwest::Method::POST, "/a/v1/production", Some(&admin), Some(json!({"name": "invites_show", "title": "Invites"}))).await;
    let prod = prod["guid"].as_str().expect("guid").to_owned();
    // Invited before she ever signed in: a pending user.
    let (s, _, e) = send(&server, reqwest::Method::PUT, &format!("/a/v1/production/{prod}/member/Ivy@Example.com"), Some(&admin), Some(json!({"role": "editor"}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{e}");
    let (_, _, production) = send(&server, reqwest::Method::GET, &format!("/a/v1/production/{prod}"), Some(&admin), None).await;
    let member = production["members"][0]["client"].as_str().expect("member").to_owned();
    assert!(member.starts_with("u:"), "the member is a user, not the address: {production}");

    send(&server, reqwest::Method::POST, "/a/v1/login", None, Some(json!({"email": "Ivy@example.com"}))).await;
    let (_, code, _) = wait_for_mail(&outbox, 1).await;
    let (_, _, signed) = send(&server, reqwest::Method::POST, "/a/v1/auth", None, Some(json!({"email": "Ivy@example.com", "code": code}))).await;
    let key = signed["key"].as_str().expect("key").to_owned();
    assert_eq!(format!("u:{}", signed["user"]["id"].as_str().expect("id")), member, "the invitation's user is the one who signs in");
    assert_eq!(send(&server, reqwest::Method::GET, &format!("/a/v1/production/{prod}"), Some(&key), None).await.0, StatusCode::OK);
    let (_, _, mine) = send(&server, reqwest::Method::GET, "/a/v1/productions", Some(&key), None).await;
    assert!(mine.to_string().contains(&prod), "{mine}");

    // Only the owner invites; and a removal takes effect on her next request.
    let (s, _, _) = send(&server, reqwest::Method::PUT, &format!("/a/v1/production/{prod}/member/jon@example.com"), Some(&key), Some(json!({"role": "viewer"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(send(&server, reqwest::Method::DELETE, &format!("/a/v1/production/{prod}/member/Ivy@example.com"), Some(&admin), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(&server, reqwest::Method::GET, &format!("/a/v1/production/{prod}"), Some(&key), None).await.0, StatusCode::NOT_FOUND);
}

/// The sign-in answer never waits for mail: with sign-up closed (only known
/// addresses get one) and an SMTP server that accepts and then says nothing,
/// a known and an unknown address get the same 202 at once. (Their timing,
/// measured side by side, is in BENCHMARKS.md: bench/login_timing.sh.)
#[tokio::test]
async fn the_sign_in_answer_never_waits_for_the_mail_server() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || silent.incoming().take(4).flatten().map(|c| std::thread::spawn(move || { std::thread::sleep(Duration::from_secs(30)); drop(c) })).count());
    let smtp = format!("smtp://127.0.0.1:{port}");
    let server = Server::start(&["--workers", "0", "--signup", "closed", "--smtp-url", &smtp]).await;
    let admin = server.admin_token();
    let (s, _, prod) = send(&server, reqwest::Method::POST, "/a/v1/production", Some(&admin), Some(json!({"name": "closed_signup", "title": "C"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let member = format!("/a/v1/production/{}/member/known@example.com", prod["guid"].as_str().expect("guid"));
    assert!(send(&server, reqwest::Method::PUT, &member, Some(&admin), Some(json!({"role": "viewer"}))).await.0.is_success());

    let quick = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let mut answers = Vec::new();
    for email in ["known@example.com", "stranger@example.com"] {
        let r = quick.post(server.url("/a/v1/login")).json(&json!({ "email": email })).send().await.expect("answered although the mail server is silent");
        answers.push((r.status(), r.json::<Value>().await.expect("json")));
    }
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    assert_eq!(answers[0], answers[1], "the same answer for a known and an unknown address");
    drop(held);
}
