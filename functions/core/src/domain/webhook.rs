//! Webhooks (CastCore's notifications): a URL told of chosen events, each
//! delivery signed per the Standard Webhooks convention (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`). The secret is write-only, like a stream's.

use std::net::IpAddr;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{
    stream::{check_host, mask, MASK},
    Invalid,
};

/// The events a webhook may ask for.
pub const WEBHOOK_EVENTS: [&str; 8] =
    ["stream.started", "stream.stopped", "stream.failed", "stream.reconnecting", "recording.ready", "build.published", "asset.ready", "asset.failed"];
/// The event of `POST /a/v1/webhook/{prod}/{id}/test`, sent whatever the webhook asked for.
pub const TEST_EVENT: &str = "webhook.test";

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where deliveries are POSTed: an http(s) URL of a public host.
    pub url: String,
    /// Which events are sent (see `WEBHOOK_EVENTS`).
    pub events: Vec<String>,
    /// Signs every delivery: `whsec_<base64>` (the Standard Webhooks form), or
    /// any 16 to 256 printable characters. Write-only: read back masked.
    pub secret: String,
    #[serde(default)]
    pub description: String,
}

impl Webhook {
    pub(crate) fn validate(&self, allowed: &[IpAddr]) -> Result<(), Invalid> {
        let parsed = url::Url::parse(&self.url).map_err(|_| Invalid::new("url", "webhook.url", "the url is an http(s) URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Invalid::new("url", "webhook.url", "the url is an http(s) URL"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Invalid::new("url", "webhook.url_credentials", "the url holds no credentials: the secret signs each delivery"));
        }
        check_host(&parsed, allowed).map_err(|_| Invalid::new("url", "webhook.forbidden_address", "the url points at a private, loopback, link-local or metadata address"))?;
        if self.events.is_empty() {
            return Err(Invalid::new("events", "field.required", "name at least one event"));
        }
        if let Some(unknown) = self.events.iter().find(|e| !WEBHOOK_EVENTS.contains(&e.as_str())) {
            return Err(Invalid::new("events", "webhook.event_unknown", format!("unknown event '{unknown}'; events are {}", WEBHOOK_EVENTS.join(", "))));
        }
        let n = self.secret.chars().count();
        if !(16..=256).contains(&n) || self.secret.chars().any(char::is_control) || self.secret.starts_with(MASK) {
            return Err(Invalid::new("secret", "webhook.secret", "the secret is 16 to 256 printable characters"));
        }
        if let Some(b64) = self.secret.strip_prefix("whsec_") {
            if base64::engine::general_purpose::STANDARD.decode(b64).map_or(true, |k| k.len() < 16) {
                return Err(Invalid::new("secret", "webhook.secret", "a whsec_ secret is the base64 of at least 16 bytes"));
            }
        }
        crate::domain::resource::check_text("description", &self.description, 0, 1000)
    }

    pub fn wants(&self, event: &str) -> bool {
        event == TEST_EVENT || self.events.iter().any(|e| e == event)
    }

    /// The webhook as clients read it: the secret masked.
    pub fn masked(&self) -> Webhook {
        Webhook { secret: mask(&self.secret), ..self.clone() }
    }

    /// `v1,<signature>` of one delivery, per Standard Webhooks: the key is the
    /// base64 after `whsec_`, or the secret's bytes as they are.
    pub fn signature(&self, id: &str, timestamp: i64, body: &str) -> String {
        let key = match self.secret.strip_prefix("whsec_").and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()) {
            Some(bytes) => bytes,
            None => self.secret.as_bytes().to_vec(),
        };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook() -> Webhook {
        Webhook { url: "https://hooks.example.com/podops".into(), events: vec!["build.published".into()], secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(), description: String::new() }
    }

    #[test]
    fn the_signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (its README).
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(hook().signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn private_addresses_unknown_events_and_short_secrets_are_refused() {
        let bad = |f: fn(&mut Webhook)| {
            let mut h = hook();
            f(&mut h);
            h.validate(&[]).unwrap_err().code
        };
        assert_eq!(bad(|h| h.url = "http://169.254.169.254/latest/meta-data".into()), "webhook.forbidden_address");
        assert_eq!(bad(|h| h.url = "http://127.0.0.1:8080/x".into()), "webhook.forbidden_address");
        assert_eq!(bad(|h| h.url = "ftp://example.com/x".into()), "webhook.url");
        assert_eq!(bad(|h| h.url = "https://user:pw@example.com/x".into()), "webhook.url_credentials");
        assert_eq!(bad(|h| h.events = vec!["stream.exploded".into()]), "webhook.event_unknown");
        assert_eq!(bad(|h| h.events.clear()), "field.required");
        assert_eq!(bad(|h| h.secret = "short".into()), "webhook.secret");
        assert!(hook().validate(&[]).is_ok());
        let mut local = hook();
        local.url = "http://127.0.0.1:8080/x".into();
        assert!(local.validate(&["127.0.0.1".parse().unwrap()]).is_ok(), "allowed by the operator (tests)");
    }

    #[test]
    fn the_secret_reads_back_masked_and_a_mask_is_no_secret() {
        let read = hook().masked();
        assert!(read.secret.starts_with(MASK) && !read.secret.contains("MfKQ"));
        assert_eq!(read.validate(&[]).unwrap_err().code, "webhook.secret", "a mask sent as a new secret");
    }
}
