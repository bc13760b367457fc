//! HTTP metrics for `/metrics` (Prometheus text, `prometheus-client`):
//! requests by method, route and status, and their latency, recorded by a
//! middleware on the whole router. Per process: on `podops serve` that is
//! the whole API; the Lambda functions leave it to CloudWatch.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route's pattern (`/a/v1/resource/{prod}/{kind}/{id}`), never the
    /// path itself: ids would make a series per resource.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to ~4 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.000_25, 2.0, 15))
}

/// The process's HTTP metrics (families share their state when cloned).
pub fn http() -> &'static HttpMetrics {
    static METRICS: OnceLock<HttpMetrics> = OnceLock::new();
    METRICS.get_or_init(|| HttpMetrics { requests: Family::default(), latency: Family::new_with_constructor(latency_histogram) })
}

/// Counts and times every request.
pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(request).await;
    let metrics = http();
    metrics.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status: response.status().as_u16() }).inc();
    metrics.latency.get_or_create(&RouteLabels { method, route }).observe(started.elapsed().as_secs_f64());
    response
}
