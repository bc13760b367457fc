//! Content negotiation: JSON by default, XML when the client prefers it
//! (`Accept: application/xml`), 406 when it accepts neither.

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use crate::{error::ApiError, xml};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// The best format for the request's `Accept` header, by q-value.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let accept = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
        if accept.trim().is_empty() {
            return Ok(Format::Json);
        }
        let mut best: Option<(f32, u8, Format)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .next()
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            // Exact types beat wildcards at the same q; JSON wins ties among wildcards.
            let candidate = match media.as_str() {
                "application/json" => Some((2, Format::Json)),
                "application/xml" | "text/xml" => Some((2, Format::Xml)),
                "application/*" | "*/*" => Some((1, Format::Json)),
                _ => None,
            };
            if let Some((specificity, format)) = candidate {
                if q > 0.0 && best.is_none_or(|(bq, bs, _)| q > bq || (q == bq && specificity > bs)) {
                    best = Some((q, specificity, format));
                }
            }
        }
        best.map(|(_, _, f)| f).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_ACCEPTABLE, "request.not_acceptable", "this resource is available as application/json or application/xml")
        })
    }

    /// Renders `value` in this format; `root` names the XML document element.
    /// An error answer as the client asked for it: the same `{error: {code, message, params}}`
    /// as XML (`<error><code>…`) when it prefers XML, else unchanged.
    pub async fn errors_as_asked(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
        let wants_xml = matches!(Format::from_headers(request.headers()), Ok(Format::Xml));
        let response = next.run(request).await;
        let is_json_error = (response.status().is_client_error() || response.status().is_server_error())
            && response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if !wants_xml || !is_json_error {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else { return Response::from_parts(parts, axum::body::Body::empty()) };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return Response::from_parts(parts, axum::body::Body::from(bytes)) };
        let xml = xml::to_xml("error", &value["error"]);
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, axum::body::Body::from(xml))
    }

    pub fn render<T: Serialize>(self, status: StatusCode, root: &str, value: &T) -> Response {
        match self {
            Format::Json => (status, Json(value)).into_response(),
            Format::Xml => match serde_json::to_value(value) {
                Ok(v) => {
                    let body = xml::to_xml(root, &v);
                    let mut resp = (status, body).into_response();
                    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
                    resp
                }
                Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()).into_response(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &str) -> Result<Format, StatusCode> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        Format::from_headers(&h).map_err(|e| e.status)
    }

    #[test]
    fn accept_headers_choose_the_format() {
        assert_eq!(pick("application/xml"), Ok(Format::Xml));
        assert_eq!(pick("text/xml"), Ok(Format::Xml));
        assert_eq!(pick("*/*"), Ok(Format::Json));
        assert_eq!(pick("application/json;q=0.5, application/xml"), Ok(Format::Xml));
        assert_eq!(pick("application/xml;q=0.1, */*"), Ok(Format::Json));
        assert_eq!(pick("text/html, */*;q=0.8"), Ok(Format::Json));
        assert_eq!(pick("text/html"), Err(StatusCode::NOT_ACCEPTABLE));
        assert_eq!(pick("application/json;q=0"), Err(StatusCode::NOT_ACCEPTABLE));
        assert_eq!(Format::from_headers(&HeaderMap::new()).ok(), Some(Format::Json));
    }
}
