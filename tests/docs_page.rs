//! `GET /docs`: the API reference page renders every operation in a real
//! browser (headless Chromium, installed by ./scripts/test), with every host
//! but the server itself unreachable: the page needs nothing from elsewhere.

mod support;

use std::process::Command;

use serde_json::Value;
use support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_the_operations_with_nothing_from_elsewhere() {
    let server = Server::start(&["--workers", "0"]).await;
    let r = server.http.get(server.url("/docs")).send().await.expect("docs");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap_or("").starts_with("text/html"));
    let html = r.text().await.expect("html");
    assert!(html.contains("redoc.standalone.js") && html.len() > 1_000_000, "Redoc is in the page, not fetched from its CDN");

    let profile = tempfile::tempdir().expect("profile");
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--virtual-time-budget=20000"])
        // Every name resolves nowhere except the server's own address.
        .arg("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(server.url("/docs"))
        .output()
        .expect("chromium (run ./scripts/test, which installs it)");
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    // Rendered by the page's script, not in the HTML we sent: the operations' summaries.
    let spec: Value = server.http.get(server.url("/openapi.json")).send().await.expect("spec").json().await.expect("json");
    let mut summaries = Vec::new();
    for ops in spec["paths"].as_object().expect("paths").values() {
        for op in ops.as_object().expect("operations").values() {
            if let Some(s) = op["summary"].as_str() {
                summaries.push(s.to_owned());
            }
        }
    }
    assert!(summaries.len() > 50, "{} summaries", summaries.len());
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let shown: Vec<&String> = summaries.iter().filter(|s| dom.contains(&esc(s))).collect();
    assert!(!html.contains(summaries[0].as_str()), "the summaries come from the page's script");
    assert!(shown.len() * 10 >= summaries.len() * 9, "{} of {} operations rendered; first missing: {:?}", shown.len(), summaries.len(), summaries.iter().find(|s| !dom.contains(&esc(s))));
}
