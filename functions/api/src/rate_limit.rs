//! Rate limits with bursts (seed 002: "around 3 requests/sec per IP", with
//! bursting), by GCRA token buckets behind the `RateBudgets` port: in
//! process on the embedded backend, in DynamoDB where many processes serve
//! one deployment (the Lambda functions, `podops serve --backend aws`).
//! - Anonymous requests are charged to the client IP.
//! - Requests with credentials are charged to the credential (a hash of it),
//!   and also to a generous per-IP ceiling, so minting junk credentials does
//!   not escape the limit.
//! - `POST /a/v1/login` is charged to a per-IP sign-in budget as well.
//! - Public delivery (`/feeds`, `/media`, `/live`) is not limited here.
//!
//! A refusal is 429 `rate.limited` with `Retry-After` and the IETF
//! `RateLimit-Policy` / `RateLimit` headers; allowed answers carry them too.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use podops_core::ports::{Budget, RateBudgets, Take};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// A sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per `per`.
    pub requests: u32,
    pub per: Duration,
    pub burst: u32,
}

impl Rate {
    pub const fn per_second(requests: u32, burst: u32) -> Self {
        Self { requests, per: Duration::from_secs(1), burst }
    }

    /// `"3/s:20"`, `"5/h:5"`, `"20/s:100"`: rate per second, minute or hour, then the burst.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a rate such as 3/s:20 (requests per s, m or h, then the burst)");
        let (rate, burst) = s.split_once(':').ok_or_else(bad)?;
        let (n, unit) = rate.split_once('/').ok_or_else(bad)?;
        let per = match unit {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let requests: u32 = n.parse().map_err(|_| bad())?;
        let burst: u32 = burst.parse().map_err(|_| bad())?;
        if requests == 0 || burst == 0 {
            return Err(bad());
        }
        Ok(Self { requests, per, burst })
    }

    fn budget(self) -> Budget {
        Budget { interval: (self.per / self.requests).max(Duration::from_nanos(1)), burst: self.burst.max(1) }
    }

    /// The window (seconds) in which the burst refills: the policy's `w`.
    fn window(self) -> u64 {
        (self.per.as_secs_f64() * f64::from(self.burst) / f64::from(self.requests)).ceil().max(1.0) as u64
    }
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub anonymous: Rate,
    pub signed_in: Rate,
    /// Every request of one IP, with or without credentials.
    pub per_ip_ceiling: Rate,
    pub login_per_ip: Rate,
    /// Take the client IP from `X-Forwarded-For` (its last entry: the one the
    /// trusted proxy appended), not the socket.
    pub trust_proxy: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            anonymous: Rate::per_second(3, 20),
            signed_in: Rate::per_second(20, 100),
            per_ip_ceiling: Rate::per_second(100, 500),
            login_per_ip: Rate { requests: 5, per: Duration::from_secs(3600), burst: 5 },
            trust_proxy: false,
        }
    }
}

struct Bucket {
    name: &'static str,
    rate: Rate,
}

pub struct Limiters {
    budgets: Arc<dyn RateBudgets>,
    anonymous: Bucket,
    signed_in: Bucket,
    ceiling: Bucket,
    login: Bucket,
    trust_proxy: bool,
}

impl Limiters {
    pub fn new(config: &RateLimitConfig, budgets: Arc<dyn RateBudgets>) -> Arc<Self> {
        Arc::new(Self {
            budgets,
            anonymous: Bucket { name: "anonymous", rate: config.anonymous },
            signed_in: Bucket { name: "signed-in", rate: config.signed_in },
            ceiling: Bucket { name: "per-ip", rate: config.per_ip_ceiling },
            login: Bucket { name: "login", rate: config.login_per_ip },
            trust_proxy: config.trust_proxy,
        })
    }

    /// One request from `key`'s budget. A store that cannot answer lets the
    /// request through (logged): the limiter must not take the API down with it.
    async fn check(&self, bucket: &Bucket, key: &str) -> Take {
        match self.budgets.take(bucket.name, key, bucket.rate.budget()).await {
            Ok(take) => take,
            Err(e) => {
                tracing::warn!(error = %e, bucket = bucket.name, "rate budget unavailable: request allowed");
                Take::Allowed { remaining: bucket.rate.burst }
            }
        }
    }

    /// The client's address: one the gateway gave (Lambda), else the last
    /// `X-Forwarded-For` entry with `--trust-proxy`, else the socket's.
    fn client_ip(&self, request: &Request) -> Option<IpAddr> {
        if let Some(crate::auth::ClientIp(ip)) = request.extensions().get::<crate::auth::ClientIp>() {
            return Some(*ip);
        }
        if self.trust_proxy {
            let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
            if let Some(ip) = forwarded.and_then(|v| v.rsplit(',').next()).and_then(|v| v.trim().parse().ok()) {
                return Some(ip);
            }
        }
        request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
    }
}

fn credential(headers: &HeaderMap) -> Option<String> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").trim_start_matches("bearer ").trim().to_owned())
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_owned()))?;
    // Never the credential itself as a map key: its hash.
    Some(hex::encode(&Sha256::digest(raw.as_bytes())[..16]))
}

/// Mounts the limits on a router, with budgets kept in `budgets`
/// (`podops serve` must be served with `into_make_service_with_connect_info`
/// for the socket's IP).
pub fn apply(router: Router, config: &RateLimitConfig, budgets: Arc<dyn RateBudgets>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(Limiters::new(config, budgets), limit))
}

async fn limit(State(limiters): State<Arc<Limiters>>, mut request: Request, next: Next) -> Response {
    // Public delivery (feeds, media ranges, live HLS) is what podcast apps and
    // players poll all day; on AWS the CDN serves it. The limits guard the API.
    let path = request.uri().path();
    if !(path.starts_with("/a/") || path.starts_with("/_")) {
        return next.run(request).await;
    }
    let client = limiters.client_ip(&request);
    if let Some(found) = client {
        request.extensions_mut().insert(crate::auth::ClientIp(found));
    }
    let ip = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let mut checks: Vec<(&Bucket, String)> = Vec::with_capacity(3);
    match credential(request.headers()) {
        Some(cred) => {
            checks.push((&limiters.signed_in, cred));
            checks.push((&limiters.ceiling, ip.clone()));
        }
        None => checks.push((&limiters.anonymous, ip.clone())),
    }
    if request.method() == Method::POST && request.uri().path() == "/a/v1/login" {
        checks.push((&limiters.login, ip));
    }
    let mut reported: Option<(&Bucket, u32)> = None;
    for (bucket, key) in &checks {
        match limiters.check(bucket, key).await {
            Take::Refused { retry_after } => return refused(bucket, retry_after),
            Take::Allowed { remaining } => {
                if reported.is_none_or(|(_, r)| remaining < r) {
                    reported = Some((bucket, remaining));
                }
            }
        }
    }
    let mut response = next.run(request).await;
    if let Some((bucket, remaining)) = reported {
        set_headers(response.headers_mut(), bucket, remaining, 0);
    }
    response
}

fn set_headers(headers: &mut HeaderMap, bucket: &Bucket, remaining: u32, reset: u64) {
    let policy = format!("\"{}\";q={};w={}", bucket.name, bucket.rate.burst, bucket.rate.window());
    let state = format!("\"{}\";r={remaining};t={reset}", bucket.name);
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

fn refused(bucket: &Bucket, wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate.limited", format!("too many requests: retry in {seconds} s"))
        .with_params(serde_json::json!({ "policy": bucket.name, "retry_after": seconds }))
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    set_headers(response.headers_mut(), bucket, 0, seconds);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("3/s:20"), Ok(Rate::per_second(3, 20)));
        assert_eq!(Rate::parse("5/h:5").map(|r| r.window()), Ok(3600));
        assert!(Rate::parse("0/s:1").is_err() && Rate::parse("3/d:1").is_err() && Rate::parse("3").is_err());
    }
}
