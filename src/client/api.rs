//! HTTP to the PodOps API: bearer token, JSON in and out, and the API's
//! error shape turned into [`ClientError`] (4xx → refused, else failed).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{config::Settings, ClientError};

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    token: String,
}

impl Api {
    pub fn new(settings: &Settings) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("podops-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Failed(format!("HTTP client: {e}")))?;
        Ok(Self { http, base: settings.api.clone(), token: settings.token.clone() })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let url = self.url(path);
        let mut request = self.http.request(method, &url);
        // No token yet (signing in by email): no Authorization header at all.
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| unreachable(&url, &e))?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Failed(format!("{url} answered {status} with something that is not JSON: {e}")));
        }
        Err(refusal(&url, status, &bytes))
    }
}

/// The API's error shape as a refusal (4xx) or failure (5xx, or no shape).
pub fn refusal(url: &str, status: StatusCode, body: &[u8]) -> ClientError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let text = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_str).map(str::to_owned);
    match (status.is_client_error(), text("code")) {
        (true, Some(code)) => ClientError::Refused {
            status: status.as_u16(),
            code,
            message: text("message").unwrap_or_default(),
            params: error.and_then(|e| e.get("params")).cloned().unwrap_or(Value::Null),
        },
        (_, code) => ClientError::Failed(format!(
            "{url} answered {status}{}",
            code.map(|c| format!(" ({c}: {})", text("message").unwrap_or_default())).unwrap_or_default()
        )),
    }
}

pub fn unreachable(url: &str, e: &reqwest::Error) -> ClientError {
    // reqwest's Display already names the URL; the source says why.
    let mut reason = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    let reason = if reason.is_empty() { e.to_string() } else { reason };
    ClientError::Failed(format!("cannot reach the PodOps API at {url}: {reason}"))
}
