//! A PodOps API on the real embedded adapters in a temp dir, driven in-process
//! with `oneshot`, plus helpers to mint tokens and send JSON.
#![allow(dead_code)]

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    http::{header, HeaderMap, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use podops_adapters::embedded::{FsBlobs, SqliteDb, SqliteJobs, SqliteRecords};
use podops_api::{AppParts, AppState, Limits, TokenAuthority};
use podops_core::{
    domain::{ClientId, Scopes},
    ports::{Clock, SystemClock},
    service::{MediaRules, Podops, Publishing},
    signing::Signer,
};
use serde_json::Value;
use tower::ServiceExt;

pub const FULL: &str = "production:read production:write resource:read resource:write";

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    /// The server's clock: tests move it to make scheduled episodes come due.
    pub clock: Arc<ManualClock>,
}

/// A clock that starts at the real time and moves only when told to.
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or("").to_owned()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

pub fn app() -> TestApp {
    app_with(MediaRules::default(), Limits::default())
}

pub fn app_with(media: MediaRules, limits: Limits) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = b"test-master-secret-test-master-secret";
    let db = SqliteDb::open(&dir.path().join("podops.db")).expect("db");
    let media_signer = Signer::derive(secret, "media");
    let blobs = FsBlobs::new(dir.path().join("media"), media_signer.clone(), "http://podops.test".into()).expect("blobs");
    let clock = Arc::new(ManualClock(std::sync::atomic::AtomicI64::new(SystemClock.now())));
    let podops = Podops::new(
        Arc::new(SqliteRecords::new(db.clone())),
        Arc::new(blobs),
        Arc::new(SqliteJobs::new(db, "jobs", 5)),
        clock.clone(),
        secret,
        media,
    )
    .with_publishing(Publishing {
        public: Arc::new(FsBlobs::new(dir.path().join("public"), media_signer.clone(), "http://podops.test".into()).expect("public")),
        feed_base_url: "http://podops.test".into(),
        rebuild_delay: 0,
    });
    let tokens = Arc::new(TokenAuthority::new(b"jwt-key-jwt-key-jwt-key-jwt-key!", "podops", "podops-api"));
    let state = AppState::from(AppParts { podops, tokens, media_signer, limits, feeds: Default::default() });
    TestApp { router: podops_api::router(state.clone()), state, dir, clock }
}

impl TestApp {
    pub fn token(&self, client: &str, scopes: &str) -> String {
        self.token_for(client, scopes, 3600)
    }

    pub fn token_for(&self, client: &str, scopes: &str, lifetime: i64) -> String {
        let client = ClientId::parse(client).expect("client id");
        let scopes = Scopes::parse(scopes).expect("scopes");
        self.state.tokens.mint(&client, &scopes, SystemClock.now(), lifetime).expect("mint").0
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Reply { status, headers, body }
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.expect("request")).await
    }

    /// Creates a production owned by `token`'s client and returns its GUID.
    pub async fn production(&self, token: &str, name: &str) -> String {
        let r = self
            .call(Method::POST, "/a/v1/production", Some(token), Some(serde_json::json!({"name": name, "title": "T"})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
        r.json()["guid"].as_str().expect("guid").to_owned()
    }
}
