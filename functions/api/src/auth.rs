//! Bearer tokens: JWTs signed with HS256 and nothing else (the algorithm is
//! pinned, so `alg: none` or an RSA/HMAC confusion is refused), with `exp`,
//! `iss`, `aud` and `sub` required. The `Authenticated` extractor turns a
//! request's token into the core's `Caller`.

use axum::{extract::FromRequestParts, http::request::Parts, http::StatusCode};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::sync::{Arc, Mutex};

use podops_core::{
    domain::{ApiKey, ClientId, Scopes},
    service::{Caller, RequestContext},
    Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::{error::ApiError, state::AppState};

/// The claims PodOps puts in (and requires of) a token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Claims {
    /// The client id.
    pub sub: String,
    /// Space-separated scopes.
    pub scope: String,
    pub iss: String,
    pub aud: String,
    pub iat: Timestamp,
    pub exp: Timestamp,
    /// A unique id per token, for audit logs.
    pub jti: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

/// The issuer and audience of every PodOps token, whichever deployment
/// (`podops serve`, the Lambda functions) mints or checks it: one value, so
/// each accepts the other's tokens.
pub const ISSUER: &str = "podops";
pub const AUDIENCE: &str = "podops-api";

pub struct TokenAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

/// Longest lifetime a minted token may have: one year.
pub const MAX_TOKEN_LIFETIME: i64 = 366 * 24 * 3600;

impl TokenAuthority {
    pub fn new(key: &[u8], issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    pub fn mint(&self, client: &ClientId, scopes: &Scopes, now: Timestamp, lifetime: i64) -> Result<(String, Claims), TokenError> {
        let claims = Claims {
            sub: client.to_string(),
            scope: scopes.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + lifetime,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok((token, claims))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// The caller a token speaks for; refuses tokens whose subject or scopes do not parse.
    pub fn caller(&self, token: &str) -> Result<(Caller, Claims), TokenError> {
        let claims = self.verify(token)?;
        let client = ClientId::parse(&claims.sub).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let scopes = Scopes::parse(&claims.scope).map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok((Caller::new(client, scopes), claims))
    }
}

/// A request whose bearer token (a JWT) or API key (`pok_…`, `pot_…`, as
/// `Authorization: Bearer` or `X-Api-Key`) verified.
pub struct Authenticated {
    pub caller: Caller,
    pub claims: Claims,
    /// The API key, when the caller is a signed-in user.
    pub key: Option<ApiKey>,
}

/// Who the answer is for: filled by `Authenticated`, written by the
/// `logged_in_as` middleware as `X-PodOps-Logged-In-As` on every answer.
#[derive(Clone, Default)]
pub struct LoggedInAs(pub Arc<Mutex<Option<String>>>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let api_key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim);
        let bearer = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(header) => Some(
                header
                    .to_str()
                    .ok()
                    .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                    .map(str::trim)
                    .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "auth.invalid_token", "the Authorization header is not a Bearer token"))?,
            ),
            None => None,
        };
        let token = bearer.or(api_key).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "auth.missing_token", "send 'Authorization: Bearer <token or key>' or 'X-Api-Key: <key>'")
        })?;
        if token.starts_with("pok_") || token.starts_with("pot_") {
            let (mut caller, key) = state.podops.resolve_key(token).await?;
            caller.context = request_context(parts, if key.kind == podops_core::domain::KeyKind::SignIn { "api_key" } else { "token" }, Some(key.email.to_string()), Some(&key.id));
            let claims = Claims {
                sub: caller.client.to_string(),
                scope: key.scopes.clone(),
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                iat: key.created,
                exp: key.expires.unwrap_or(i64::MAX),
                jti: key.id.clone(),
            };
            if let Some(slot) = parts.extensions.get::<LoggedInAs>() {
                if let Ok(mut who) = slot.0.lock() {
                    *who = Some(key.email.to_string());
                }
            }
            return Ok(Self { caller, claims, key: Some(key) });
        }
        let (mut caller, claims) = state.tokens.caller(token).map_err(|e| {
            // The reason (expired, bad signature…) helps the client and reveals no secret.
            ApiError::new(StatusCode::UNAUTHORIZED, "auth.invalid_token", e.to_string())
        })?;
        caller.context = request_context(parts, "jwt", None, Some(&claims.jti));
        if let Some(slot) = parts.extensions.get::<LoggedInAs>() {
            if let Ok(mut who) = slot.0.lock() {
                *who = Some(claims.sub.clone());
            }
        }
        Ok(Self { caller, claims, key: None })
    }
}

/// What the audit log records of a request besides its caller.
pub fn request_context(parts: &Parts, via: &'static str, user: Option<String>, token: Option<&str>) -> RequestContext {
    RequestContext {
        via,
        user,
        token: token.map(str::to_owned),
        request_id: parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
        ip: client_ip(parts).map(|ip| ip.to_string()),
    }
}

/// The client's address: as the rate limiter decided it (which honours
/// `--trust-proxy`), else the socket's, else the one the gateway saw (Lambda).
pub fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    if let Some(ClientIp(ip)) = parts.extensions.get::<ClientIp>() {
        return Some(*ip);
    }
    parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
}

/// Where an unauthenticated request came from (sign-ins), for the audit log.
pub struct Origin(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_context(parts, "anonymous", None, None)))
    }
}

/// The client's address as a handler argument (`client_ip`), read without copying the request's parts.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts)))
    }
}

/// The client address of a request, set by whoever knows it best (the rate
/// limiter, the Lambda adapter from the gateway's request context).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

/// Adds `X-PodOps-Logged-In-As` to every authenticated answer (seed 002's `teal-logged-in-as`).
pub async fn logged_in_as(mut request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let slot = LoggedInAs::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let who = slot.0.lock().ok().and_then(|w| w.clone());
    if let Some(value) = who.and_then(|w| axum::http::HeaderValue::from_str(&w).ok()) {
        response.headers_mut().insert("x-podops-logged-in-as", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority() -> TokenAuthority {
        TokenAuthority::new(b"0123456789abcdef0123456789abcdef", "podops", "podops-api")
    }

    fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let a = authority();
        let client = ClientId::parse("studio").unwrap();
        let (token, claims) = a.mint(&client, &Scopes::parse("resource:read").unwrap(), now(), 60).unwrap();
        let (caller, back) = a.caller(&token).unwrap();
        assert_eq!(back, claims);
        assert_eq!(caller.client, client);
        assert!(caller.scopes.allows(podops_core::domain::Scope::ResourceRead));
    }

    #[test]
    fn expired_foreign_and_unsigned_tokens_are_refused() {
        let a = authority();
        let client = ClientId::parse("studio").unwrap();
        let (expired, _) = a.mint(&client, &Scopes::default(), now() - 7200, 60).unwrap();
        assert!(a.verify(&expired).is_err());
        let other = TokenAuthority::new(b"another-key-another-key-another!", "podops", "podops-api");
        let (foreign, _) = other.mint(&client, &Scopes::default(), now(), 60).unwrap();
        assert!(a.verify(&foreign).is_err());
        let wrong_aud = TokenAuthority::new(b"0123456789abcdef0123456789abcdef", "podops", "elsewhere");
        let (aud, _) = wrong_aud.mint(&client, &Scopes::default(), now(), 60).unwrap();
        assert!(a.verify(&aud).is_err());
        // alg none: header {"alg":"none","typ":"JWT"}, claims valid, empty signature.
        let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64(format!(r#"{{"sub":"studio","scope":"admin","iss":"podops","aud":"podops-api","iat":0,"exp":{},"jti":"x"}}"#, now() + 60).as_bytes());
        assert!(a.verify(&format!("{header}.{body}.")).is_err());
    }
}

/// Credentials if any were sent (and then they must verify): public routes
/// answer anonymous callers too, and members see a little more.
pub struct MaybeAuthenticated(pub Option<Authenticated>);

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let sent = parts.headers.contains_key(axum::http::header::AUTHORIZATION) || parts.headers.contains_key("x-api-key");
        if !sent {
            return Ok(Self(None));
        }
        Authenticated::from_request_parts(parts, state).await.map(|a| Self(Some(a)))
    }
}
