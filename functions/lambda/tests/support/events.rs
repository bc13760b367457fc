//! API Gateway HTTP API (payload format 2.0) events and responses, shaped as
//! in aws_lambda_events' fixture `example-apigw-v2-request-no-authorizer.json`
//! and lambda_http's `apigw_v2_proxy_request.json`: lowercase header names,
//! `rawPath` + `rawQueryString`, binary bodies base64 with `isBase64Encoded`.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

/// One HTTP request as API Gateway hands it to a function.
#[derive(Debug, Clone)]
pub struct HttpEvent {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    binary: bool,
}

pub fn get(path: &str) -> HttpEvent {
    HttpEvent::new("GET", path)
}

pub fn post(path: &str) -> HttpEvent {
    HttpEvent::new("POST", path)
}

pub fn put(path: &str) -> HttpEvent {
    HttpEvent::new("PUT", path)
}

impl HttpEvent {
    /// `target` is a path with an optional `?query`.
    pub fn new(method: &str, target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Self { method: method.into(), path: path.into(), query: query.into(), headers: Vec::new(), body: None, binary: false }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        // API Gateway lowercases header names in 2.0 payloads.
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(self, body: Value) -> Self {
        let mut event = self.header("content-type", "application/json");
        event.body = Some(body.to_string().into_bytes());
        event
    }

    /// A binary body: API Gateway passes it base64-encoded.
    pub fn bytes(self, content_type: &str, body: &[u8]) -> Self {
        let mut event = self.header("content-type", content_type);
        event.body = Some(body.to_vec());
        event.binary = true;
        event
    }

    /// Method, path with query, headers and body: the same request for an HTTP client.
    pub fn parts(&self) -> (&str, String, &[(String, String)], Option<&[u8]>) {
        let target = if self.query.is_empty() { self.path.clone() } else { format!("{}?{}", self.path, self.query) };
        (&self.method, target, &self.headers, self.body.as_deref())
    }

    /// The event document, as the HTTP API sends it for a `$default` stage.
    pub fn to_json(&self) -> Value {
        let mut headers: HashMap<&str, String> = HashMap::from([
            ("accept", "*/*".to_owned()),
            ("host", "aaaaaaaaaa.execute-api.us-east-1.amazonaws.com".to_owned()),
            ("user-agent", "podops-tests".to_owned()),
            ("x-forwarded-for", "203.0.113.9".to_owned()),
            ("x-forwarded-port", "443".to_owned()),
            ("x-forwarded-proto", "https".to_owned()),
        ]);
        for (name, value) in &self.headers {
            headers.insert(name, value.clone());
        }
        let length = self.body.as_ref().map_or(0, Vec::len);
        headers.insert("content-length", length.to_string());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut event = json!({
            "version": "2.0",
            "routeKey": format!("{} {}", self.method, self.path),
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "aaaaaaaaaa",
                "domainName": "aaaaaaaaaa.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "aaaaaaaaaa",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.9",
                    "userAgent": "podops-tests"
                },
                "requestId": format!("{:016x}", rand::random::<u64>()),
                "routeKey": format!("{} {}", self.method, self.path),
                "stage": "$default",
                "time": "22/Nov/2026:12:00:00 +0000",
                "timeEpoch": now.as_millis() as u64
            },
            "isBase64Encoded": self.binary
        });
        if !self.query.is_empty() {
            // API Gateway also sends the parsed form (repeated names joined by commas).
            let mut params: HashMap<String, String> = HashMap::new();
            for pair in self.query.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                params.entry(k.to_owned()).and_modify(|e| *e = format!("{e},{v}")).or_insert_with(|| v.to_owned());
            }
            event["queryStringParameters"] = json!(params);
        }
        if let Some(body) = &self.body {
            event["body"] = if self.binary { json!(STANDARD.encode(body)) } else { json!(String::from_utf8_lossy(body)) };
        }
        event
    }
}

/// A function's answer to an HTTP event (`statusCode`, `headers`, `body`).
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub base64: bool,
}

impl HttpResponse {
    pub fn parse(document: &[u8]) -> Self {
        let v: Value = serde_json::from_slice(document).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(document)));
        let status = v["statusCode"].as_u64().unwrap_or_else(|| panic!("no statusCode: {v}")) as u16;
        let headers = v["headers"]
            .as_object()
            .map(|h| h.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default();
        let base64 = v["isBase64Encoded"].as_bool().unwrap_or(false);
        let body = match v["body"].as_str() {
            None => Vec::new(),
            Some(text) if base64 => STANDARD.decode(text).expect("base64 body"),
            Some(text) => text.as_bytes().to_vec(),
        };
        Self { status, headers, body, base64 }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}
