//! Accounts on AWS, through the function binaries behind their runtime APIs:
//! sign-in mail goes through SES (moto's, read back from its state), the
//! link points at the API URL the template's SSM parameter names, the key a
//! sign-in yields works on another function (DynamoDB is the shared truth),
//! and the audit log records it all with the gateway's client IP.

mod support;

use podops_core::ports::Records;
use podops_lambda::Function;
use serde_json::{json, Value};
use support::events::{get, post, put};
use support::{endpoint, unique, Stack};

const SENDER: &str = "podops@example.com";
const API_URL: &str = "https://api.podops.example";

async fn aws_config(at: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).region(aws_config::Region::new("us-east-1")).endpoint_url(at).load().await
}

/// A moto server of this test's own for SES: moto shows sent mail only in
/// its state dump (`/moto-api/data.json`), which fails once any test on the
/// shared emulator has deleted a bucket. Stopped when dropped.
struct OwnMoto {
    child: std::process::Child,
    url: String,
}

impl OwnMoto {
    async fn start() -> Self {
        let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        let child = std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} ({e}): run ./scripts/test, which installs moto in .venv", bin.display()));
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if reqwest::get(format!("{url}/moto-api/")).await.is_ok() {
                return Self { child, url };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("moto did not start on {url}");
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `(code, link token)` of the newest message SES (moto) accepted for `to`.
async fn sent_to(ses: &OwnMoto, to: &str) -> Option<(String, String)> {
    let state: Value = reqwest::get(format!("{}/moto-api/data.json", ses.url)).await.ok()?.json().await.ok()?;
    let raw = state["ses"]["RawMessage"].as_array()?.iter().rev().find(|m| m["destinations"].to_string().contains(to))?;
    let text = raw["raw_data"].as_str()?.replace("=\r\n", "").replace("=3D", "=");
    assert!(text.contains(&format!("{API_URL}/a/v1/auth?token=")), "the link points at the API: {text}");
    let code = text.split("sign-in code is ").nth(1)?.chars().take_while(char::is_ascii_digit).collect();
    let token = text.split("token=").nth(1)?.chars().take_while(char::is_ascii_hexdigit).collect();
    Some((code, token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_by_email_runs_on_the_functions_with_ses_and_the_key_works_everywhere() {
    let mut stack = Stack::fresh_with_ssm_key().await;
    let ses = OwnMoto::start().await;
    aws_sdk_sesv2::Client::new(&aws_config(&ses.url).await).create_email_identity().email_identity(SENDER).send().await.expect("verify the sender in SES");
    stack.set("AWS_ENDPOINT_URL_SESV2", &ses.url);
    let shared = aws_config(&endpoint()).await;
    let api_url_parameter = format!("/{}/api-url", unique("stack"));
    aws_sdk_ssm::Client::new(&shared).put_parameter().name(&api_url_parameter).value(API_URL).r#type(aws_sdk_ssm::types::ParameterType::String).send().await.expect("api-url parameter");
    stack.set("PODOPS_MAIL_FROM", &format!("PodOps <{SENDER}>"));
    stack.set("PODOPS_API_URL_PARAMETER", &api_url_parameter);
    stack.set("PODOPS_ADMIN_EMAILS", "root@example.com");
    let (auth, productions) = tokio::join!(stack.start(Function::Auth), stack.start(Function::Productions));

    // Bad input first: nothing is sent, nothing is written.
    let r = auth.http(post("/a/v1/login").json(json!({"email": "not an address"}))).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("email.invalid")));

    let email = format!("ann-{:06x}@example.com", rand::random::<u32>() >> 8);
    let r = auth.http(post("/a/v1/login").json(json!({ "email": email }))).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let (code, token) = sent_to(&ses, &email).await.expect("a sign-in message in SES");
    assert_eq!((code.len(), token.len()), (8, 64));
    let r = auth.http(post("/a/v1/login").json(json!({ "email": email }))).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (429, Some("login.pending")));

    let r = auth.http(post("/a/v1/auth").json(json!({ "email": email, "code": "00000000" }))).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("login.invalid_code")));
    let r = auth.http(post("/a/v1/auth").json(json!({ "email": email, "code": code }))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let key = r.json()["key"].as_str().expect("key").to_owned();
    let r = auth.http(get(&format!("/a/v1/auth?token={token}"))).await;
    assert_eq!(r.status, 401, "the link went with the code");

    // The key on another function: it creates a production the user owns.
    let r = auth.http(get("/a/v1/whoami").bearer(&key)).await;
    assert_eq!((r.status, r.json()["via"].as_str()), (200, Some("api_key")));
    assert_eq!(r.header("x-podops-logged-in-as"), email);
    let r = productions.http(post("/a/v1/production").bearer(&key).json(json!({"name": unique("show"), "title": "On Lambda"}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let prod = r.json()["guid"].as_str().expect("guid").to_owned();

    // A personal token, made on the auth function, works on the productions function.
    let r = auth.http(post("/a/v1/tokens").bearer(&key).json(json!({"name": "ci", "scopes": ["production:read"]}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let pot = r.json()["token"].as_str().expect("token").to_owned();
    assert_eq!(productions.http(get(&format!("/a/v1/production/{prod}")).bearer(&pot)).await.status, 200);

    // The audit log, with the client IP from the gateway's request context.
    let r = auth.http(get(&format!("/a/v1/audit/{prod}")).bearer(&key)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let entries = r.json()["items"].as_array().expect("items").clone();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((entries[0]["action"].as_str(), entries[0]["ip"].as_str()), (Some("production.create"), Some("203.0.113.9")));
    let r = auth.http(get("/a/v1/audit").bearer(&key)).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (403, Some("auth.missing_scope")));

    // The configured admin signs in the same way and reads every log, the failed code included.
    let r = auth.http(post("/a/v1/login").json(json!({ "email": "root@example.com" }))).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let (root_code, _) = sent_to(&ses, "root@example.com").await.expect("mail to root");
    let r = auth.http(post("/a/v1/auth").json(json!({ "email": "root@example.com", "code": root_code }))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let root = r.json()["key"].as_str().expect("key").to_owned();
    let r = auth.http(get(&format!("/a/v1/audit?actor={email}")).bearer(&root)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let actions: Vec<String> = r.json()["items"].as_array().expect("items").iter().map(|e| format!("{}:{}", e["action"].as_str().unwrap_or(""), e["outcome"].as_str().unwrap_or(""))).collect();
    assert_eq!(actions, ["token.create:ok", "production.create:ok", "auth.sign_in:ok", "auth.sign_in:failed"]);
    let r = auth.http(put(&format!("/a/v1/users/{email}")).bearer(&root).json(json!({"role": "admin"}))).await;
    assert_eq!((r.status, r.json()["role"].as_str()), (200, Some("admin")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_sender_sign_in_is_unavailable_and_writes_nothing() {
    let stack = Stack::fresh().await;
    let auth = stack.start(Function::Auth).await;
    let r = auth.http(post("/a/v1/login").json(json!({"email": "ann@example.com"}))).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (503, Some("login.unavailable")));
    let pending = stack.records().get(&podops_core::ports::Key::new("LOGIN#ann@example.com", "PENDING")).await.expect("read");
    assert!(pending.is_none(), "no pending sign-in was written");
}
