//! The guarded HTTP client of imports. FFmpeg never sees a URL: the worker
//! downloads with this client, which only ever connects to public addresses.
//! - Names are resolved by `GuardedResolver`, inside reqwest, and a name with
//!   any non-public address is refused — the check and the connection use the
//!   same answer, so DNS rebinding cannot slip a private address past it.
//! - reqwest skips the resolver for IP literals, so every URL (the first and
//!   each redirect) is checked by `check_import_url`, which sees literals in
//!   their normalised form (`http://2130706433/` is 127.0.0.1).
//! - Redirects are followed here, at most `max_redirects`, each re-checked.
//! - No proxy (a proxy would resolve names itself), connect and total
//!   timeouts, and a size cap enforced while streaming.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use futures::{future::BoxFuture, StreamExt};
use podops_core::domain::import_url::{check_import_url, is_public, Refused, FORBIDDEN_ADDRESS};
use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    header, Response, StatusCode, Url,
};

/// Turns a host name into addresses. Injectable so tests can map names to
/// loopback servers; production uses the system resolver.
pub trait NameLookup: Send + Sync {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
    }
}

/// A fixed table of names (tests).
pub struct StaticLookup(pub HashMap<String, Vec<IpAddr>>);

impl NameLookup for StaticLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let found = self.0.get(host).cloned();
        Box::pin(async move { found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "unknown host")) })
    }
}

/// Which addresses may be connected to: public ones, plus `also_allowed`
/// (empty in production; tests put a loopback server's address here).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    pub also_allowed: Vec<IpAddr>,
}

impl AddressPolicy {
    pub fn allows(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.also_allowed.contains(&ip)
    }

    fn check_url(&self, url: &str) -> Result<Url, Refused> {
        match check_import_url(url) {
            Ok(u) => Ok(u),
            Err(refused) if refused.code == FORBIDDEN_ADDRESS => {
                let parsed = Url::parse(url).map_err(|_| refused.clone())?;
                let literal = match parsed.host() {
                    Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
                    Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
                    _ => None,
                };
                if literal.is_some_and(|ip| self.also_allowed.contains(&ip)) { Ok(parsed) } else { Err(refused) }
            }
            Err(refused) => Err(refused),
        }
    }
}

/// Resolves through `NameLookup` and refuses a name if any of its addresses is not allowed.
struct GuardedResolver {
    lookup: Arc<dyn NameLookup>,
    policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let found = self.lookup.lookup(name.as_str());
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = found.await?;
            if let Some(bad) = ips.iter().find(|ip| !policy.allows(**ip)) {
                let refused = Refused { code: FORBIDDEN_ADDRESS, reason: format!("{host} resolves to {bad}") };
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            if ips.is_empty() {
                return Err(Box::new(std::io::Error::new(std::io::ErrorKind::NotFound, "no address")) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub max_redirects: usize,
    pub connect_timeout: Duration,
    /// No byte for this long ends the download.
    pub read_timeout: Duration,
    /// The whole download (headers and body) of one URL.
    pub total_timeout: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            max_redirects: 5,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(3600),
        }
    }
}

/// Why a fetch failed; `code` goes on the asset.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct FetchError {
    pub code: &'static str,
    pub detail: String,
    pub transient: bool,
}

impl FetchError {
    fn refused(r: Refused) -> Self {
        Self { code: r.code, detail: r.reason, transient: false }
    }

    /// The HTTP status a server answered, for an `import.http_status` failure.
    pub fn http_status(&self) -> Option<u16> {
        if self.code != "import.http_status" {
            return None;
        }
        self.detail.rsplit_once(" answered ").and_then(|(_, s)| s.split_whitespace().next()).and_then(|n| n.parse().ok())
    }
}

pub struct Fetcher {
    client: reqwest::Client,
    policy: AddressPolicy,
    config: FetchConfig,
}

impl Fetcher {
    pub fn new(lookup: Arc<dyn NameLookup>, policy: AddressPolicy, config: FetchConfig) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { lookup, policy: policy.clone() }))
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.total_timeout)
            .user_agent(concat!("PodOps-Import/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError { code: "import.client", detail: e.to_string(), transient: true })?;
        Ok(Self { client, policy, config })
    }

    /// The production fetcher: system DNS, public addresses only.
    pub fn public() -> Result<Self, FetchError> {
        Self::new(Arc::new(SystemLookup), AddressPolicy::default(), FetchConfig::default())
    }

    /// GETs `url`, following redirects through the same checks, and returns
    /// the final successful response (its body not yet read).
    pub async fn open(&self, url: &str) -> Result<Response, FetchError> {
        let mut current = self.policy.check_url(url).map_err(FetchError::refused)?;
        for _ in 0..=self.config.max_redirects {
            let response = self.client.get(current.clone()).send().await.map_err(classify)?;
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
                let next = current.join(location).map_err(|e| FetchError { code: "import.bad_redirect", detail: e.to_string(), transient: false })?;
                current = self.policy.check_url(next.as_str()).map_err(FetchError::refused)?;
                continue;
            }
            if status.is_success() {
                return Ok(response);
            }
            let transient = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            return Err(FetchError { code: "import.http_status", detail: format!("{current} answered {status}"), transient });
        }
        Err(FetchError { code: "import.too_many_redirects", detail: format!("more than {} redirects", self.config.max_redirects), transient: false })
    }
}

impl Fetcher {
    /// POSTs `body` to `url` through the same address checks as a download
    /// (no redirect followed: a webhook's URL is where it is delivered) and
    /// returns the status.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: String) -> Result<StatusCode, FetchError> {
        let target = self.policy.check_url(url).map_err(FetchError::refused)?;
        // A receiver has 10 s to answer, not a download's hour.
        let mut request = self.client.post(target).timeout(Duration::from_secs(10)).header(header::CONTENT_TYPE, "application/json").body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(classify)?;
        Ok(response.status())
    }
}

/// Bytes handed to the blob store at once: socket reads arrive in ~16 KiB
/// pieces, and the store hashes and queues each piece it gets.
const COALESCE: usize = 1 << 20;
/// Coalesced pieces buffered between the reader and the store (bounds memory).
const READ_AHEAD: usize = 4;

/// The body of a response as a byte stream for the blob store. A separate
/// task reads the socket into 1 MiB pieces, so reading overlaps the store's
/// hashing and writing instead of alternating with it.
pub fn body_stream(response: Response) -> podops_core::ports::ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(READ_AHEAD);
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut piece = bytes::BytesMut::with_capacity(COALESCE);
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    piece.extend_from_slice(&chunk);
                    if piece.len() >= COALESCE {
                        let full = std::mem::replace(&mut piece, bytes::BytesMut::with_capacity(COALESCE));
                        // The store stopped reading (too large, gone): stop fetching.
                        if tx.send(Ok(full.freeze())).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
        if !piece.is_empty() {
            let _ = tx.send(Ok(piece.freeze())).await;
        }
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

/// A refusal from the resolver arrives wrapped in reqwest's error; find it.
fn classify(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return FetchError::refused(refused.clone());
        }
        source = err.source();
    }
    let code = if e.is_timeout() { "import.timeout" } else if e.is_connect() { "import.unreachable" } else { "import.fetch_failed" };
    FetchError { code, detail: e.to_string(), transient: true }
}
