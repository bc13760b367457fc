//! Imports through the guarded HTTP client: the issue's hostile URLs are all
//! refused before any byte is fetched from them, an allowed server's audio
//! streams into the store and is probed, and identical content is shared.
//! The "public" server lives on 127.0.0.2, which the test's resolver and
//! address policy allow; 127.0.0.1 hosts a trap that must never be reached.

mod support;

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use axum::{
    extract::{Path, State},
    http::{header, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use podops_worker::{AddressPolicy, FetchConfig, Fetcher, StaticLookup};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::{generate, harness, tone, Harness, FULL};

const ALLOWED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[derive(Clone)]
struct Site {
    hits: Arc<AtomicUsize>,
    audio: Arc<Vec<u8>>,
    trap_port: u16,
}

async fn serve(ip: IpAddr, site: Site) -> u16 {
    let app = Router::new()
        .route("/audio/{name}", get(|State(s): State<Site>| async move { ([(header::CONTENT_TYPE, "audio/mpeg")], s.audio.as_ref().clone()) }))
        .route("/to-loopback", get(|State(s): State<Site>| async move { redirect(format!("http://127.0.0.1:{}/audio/x.mp3", s.trap_port)) }))
        .route("/to-name", get(|State(s): State<Site>| async move { redirect(format!("http://evil.podops.test:{}/audio/x.mp3", s.trap_port)) }))
        .route("/hop/{n}", get(|Path(n): Path<u32>| async move { redirect(format!("/hop/{}", n + 1)) }))
        .route("/slow", get(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            "late"
        }))
        // Declares 5 GiB; refused on the header, before any of the body is read.
        .route("/huge", get(|| async {
            let body = axum::body::Body::from_stream(futures::stream::pending::<Result<bytes::Bytes, std::io::Error>>());
            ([(header::CONTENT_TYPE, "audio/mpeg"), (header::CONTENT_LENGTH, "5368709120")], body)
        }))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn_with_state(site.clone(), count))
        .with_state(site);
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn count(State(s): State<Site>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

fn redirect(to: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

struct Sites {
    public_port: u16,
    trap_port: u16,
    public_hits: Arc<AtomicUsize>,
    trap_hits: Arc<AtomicUsize>,
    audio: Vec<u8>,
}

async fn sites() -> Sites {
    let audio = generate(&tone(3), &["-c:a", "libmp3lame", "-b:a", "128k"], "mp3");
    let trap_hits = Arc::new(AtomicUsize::new(0));
    let trap_port = serve(LOOPBACK, Site { hits: trap_hits.clone(), audio: Arc::new(b"secret".to_vec()), trap_port: 0 }).await;
    let public_hits = Arc::new(AtomicUsize::new(0));
    let public_port = serve(ALLOWED, Site { hits: public_hits.clone(), audio: Arc::new(audio.clone()), trap_port }).await;
    Sites { public_port, trap_port, public_hits, trap_hits, audio }
}

fn lookup() -> Arc<StaticLookup> {
    Arc::new(StaticLookup(HashMap::from([
        ("audio.podops.test".to_owned(), vec![ALLOWED]),
        // A public-looking name that resolves to loopback (or rebinds to it).
        ("evil.podops.test".to_owned(), vec![LOOPBACK]),
        ("mixed.podops.test".to_owned(), vec![ALLOWED, LOOPBACK]),
    ])))
}

fn policy() -> AddressPolicy {
    AddressPolicy { also_allowed: vec![ALLOWED] }
}

async fn import(h: &Harness, admin: &str, prod: &str, url: &str) -> support::Reply {
    h.call(Method::POST, "/_t/import", admin, Some(json!({"production": prod, "url": url}))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_urls_are_refused_with_a_code_and_nothing_is_fetched() {
    let s = sites().await;
    let mut h = harness();
    h.start_worker_with(lookup(), policy());
    let admin = h.token("operator", "admin");
    let prod = h.production(&h.token("alice", FULL), "import_refusals").await;
    let p = s.trap_port;
    // Refused when asked: the scheme, or an address written in the URL (in any form).
    let literal = [
        (format!("http://127.0.0.1:{p}/"), "import.forbidden_address"),
        (format!("http://2130706433:{p}/"), "import.forbidden_address"),
        (format!("http://0x7f.1:{p}/"), "import.forbidden_address"),
        (format!("http://[::ffff:127.0.0.1]:{p}/"), "import.forbidden_address"),
        ("http://169.254.169.254/latest/meta-data/".to_owned(), "import.forbidden_address"),
        ("file:///etc/passwd".to_owned(), "import.forbidden_scheme"),
        ("gopher://127.0.0.1:70/_GET".to_owned(), "import.forbidden_scheme"),
    ];
    for (url, code) in &literal {
        let r = import(&h, &admin, &prod, url).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, code.to_string()), "{url}");
    }
    // The same through the resource route (rel: import).
    let r = h.call(Method::POST, &format!("/a/v1/resource/{prod}/asset/00000000000a"), &admin,
        Some(json!({"rel": "import", "source": format!("http://0x7f.1:{p}/a.mp3")}))).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "import.forbidden_address"));
    let listed = h.call(Method::GET, &format!("/a/v1/resource/{prod}/asset"), &admin, None).await.json();
    assert_eq!(listed["total"], 0, "refused imports leave no asset");

    // Accepted when asked (a name), refused by the worker when it resolves or redirects.
    let resolved = [
        format!("http://evil.podops.test:{p}/audio/a.mp3"),
        format!("http://mixed.podops.test:{}/audio/a.mp3", s.public_port),
        format!("http://audio.podops.test:{}/to-loopback", s.public_port),
        format!("http://audio.podops.test:{}/to-name", s.public_port),
    ];
    for url in &resolved {
        let r = import(&h, &admin, &prod, url).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{url}");
        assert_eq!(r.json()["state"], "importing");
        let a = h.settled(&admin, &prod, r.json()["guid"].as_str().unwrap()).await;
        assert_eq!((a["state"].as_str(), a["error"].as_str()), (Some("failed"), Some("import.forbidden_address")), "{url}: {a}");
    }
    assert_eq!(s.trap_hits.load(Ordering::SeqCst), 0, "nothing was fetched from loopback");
    assert_eq!(s.public_hits.load(Ordering::SeqCst), 2, "only the two redirecting requests reached the allowed server");
    assert_eq!(s.trap_hits.load(Ordering::SeqCst), 0);
    assert_eq!(h.objects().len(), 0);
    // Larger than the upload limit by its own declaration: refused before the body.
    let r = import(&h, &admin, &prod, &format!("http://audio.podops.test:{}/huge", s.public_port)).await;
    let a = h.settled(&admin, &prod, r.json()["guid"].as_str().unwrap()).await;
    assert_eq!(a["error"], "import.too_large", "{a}");
    h.stop_worker().await;
}

#[tokio::test]
async fn the_fetcher_itself_refuses_every_forbidden_address_and_long_redirect_chains() {
    let s = sites().await;
    let fetcher = Fetcher::new(lookup(), policy(), FetchConfig::default()).unwrap();
    let p = s.trap_port;
    for url in [format!("http://127.0.0.1:{p}/"), format!("http://2130706433:{p}/"), format!("http://0x7f.1:{p}/"),
                format!("http://[::ffff:127.0.0.1]:{p}/"), format!("http://[::1]:{p}/"), format!("http://evil.podops.test:{p}/"),
                "http://169.254.169.254/latest/meta-data/".into(), "http://10.0.0.1/".into(), "http://[fd00::1]/".into()] {
        let e = fetcher.open(&url).await.expect_err(&url);
        assert_eq!(e.code, "import.forbidden_address", "{url}: {e}");
    }
    for url in ["file:///etc/passwd", "gopher://example.com/", "ftp://example.com/a.mp3"] {
        assert_eq!(fetcher.open(url).await.expect_err(url).code, "import.forbidden_scheme", "{url}");
    }
    let e = fetcher.open(&format!("http://audio.podops.test:{}/hop/0", s.public_port)).await.expect_err("redirect chain");
    assert_eq!(e.code, "import.too_many_redirects");
    assert_eq!(s.public_hits.load(Ordering::SeqCst), 6, "the first request and five redirects, no more");
    assert_eq!(s.trap_hits.load(Ordering::SeqCst), 0);
    let impatient = Fetcher::new(lookup(), policy(), FetchConfig { total_timeout: std::time::Duration::from_secs(1), ..FetchConfig::default() }).unwrap();
    let e = impatient.open(&format!("http://audio.podops.test:{}/slow", s.public_port)).await.expect_err("slow server");
    assert_eq!(e.code, "import.timeout", "{e}");
    let ok = fetcher.open(&format!("http://audio.podops.test:{}/audio/a.mp3", s.public_port)).await.expect("allowed");
    assert_eq!(ok.bytes().await.unwrap().as_ref(), s.audio.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_import_is_stored_probed_and_shares_identical_content() {
    let s = sites().await;
    let mut h = harness();
    h.start_worker_with(lookup(), policy());
    let alice = h.token("alice", FULL);
    let admin = h.token("operator", "admin");
    let prod = h.production(&alice, "import_allowed").await;
    let url = format!("http://audio.podops.test:{}/audio/pilot.mp3", s.public_port);
    let r = import(&h, &admin, &prod, &url).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("location"), format!("/a/v1/resource/{prod}/asset/{}", r.json()["guid"].as_str().unwrap()));
    let first = h.settled(&alice, &prod, r.json()["guid"].as_str().unwrap()).await;
    assert_eq!(first["state"], "ready", "{first}");
    assert_eq!((first["rel"].as_str(), first["name"].as_str(), first["content_type"].as_str()), (Some("import"), Some("pilot.mp3"), Some("audio/mpeg")));
    assert_eq!(first["sha256"], hex::encode(Sha256::digest(&s.audio)));
    assert_eq!(first["size"], s.audio.len());
    assert_eq!(first["probe"]["format"], "mp3");
    assert_eq!(h.fetch_media(first["url"].as_str().unwrap()).await.as_ref(), s.audio.as_slice());

    // The same bytes again (by a client's own import resource): shared, and not probed twice.
    let r = h.call(Method::POST, &format!("/a/v1/resource/{prod}/asset/0000000000b2"), &alice,
        Some(json!({"rel": "import", "source": url, "external_ids": {"legacy_track_token": "370456"}}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let second = h.settled(&alice, &prod, "0000000000b2").await;
    assert_eq!(second["state"], "ready", "{second}");
    assert_eq!(second["object"], first["object"], "identical content shares one object");
    assert_eq!(second["probe"], first["probe"]);
    assert_eq!(h.objects().len(), 1, "{:?}", h.objects());
    let by_token = h.call(Method::GET, &format!("/a/v1/asset/{prod}/by-external/legacy_track_token/370456"), &alice, None).await;
    assert_eq!((by_token.status, by_token.json()["guid"].as_str()), (StatusCode::OK, Some("0000000000b2")));
    // Deleting the first keeps the shared bytes for the second.
    let first_id = first["guid"].as_str().unwrap();
    assert_eq!(h.call(Method::DELETE, &format!("/a/v1/resource/{prod}/asset/{first_id}"), &alice, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(h.fetch_media(h.asset(&alice, &prod, "0000000000b2").await["url"].as_str().unwrap()).await.as_ref(), s.audio.as_slice());
    assert_eq!(h.call(Method::DELETE, &format!("/a/v1/resource/{prod}/asset/0000000000b2"), &alice, None).await.status, StatusCode::NO_CONTENT);
    assert!(h.objects().is_empty(), "the last user of the bytes removes them: {:?}", h.objects());
    h.stop_worker().await;
}
