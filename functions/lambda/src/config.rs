//! A function's settings, read from the environment once at start (the
//! variables infra/template.yaml sets). A missing or bad variable stops the
//! function with its name, before anything else runs.

use podops_adapters::aws::{AwsConfig, DEFAULT_MAX_RECEIVES, SdkTuning, dlq_name};
use podops_core::domain::notify::{endpoint, NotifyTargets};
use podops_api::rate_limit::{Rate, RateLimitConfig};
use podops_core::{domain::Email, service::MediaRules, signing::parse_master_secret};
use secrecy::SecretBox;

/// Seconds after an edit of a published production before its feed rebuilds
/// (`podops serve --rebuild-delay`'s default).
const DEFAULT_REBUILD_DELAY: i64 = 30;

pub struct Config {
    pub aws: AwsConfig,
    pub signing_key: SigningKey,
    /// Feeds are at `<base>/feeds/<name>/feed.xml` (CloudFront in front of the public bucket).
    /// Empty until `cdn_url_parameter` is read, when that is how it is given.
    pub feed_base_url: String,
    /// `PODOPS_CDN_URL_PARAMETER`: an SSM String parameter holding the CDN's
    /// URL, the default of both `feed_base_url` and `public_media_url`. The
    /// template passes the URL this way because a function whose environment
    /// named the distribution would close a cycle (distribution → API →
    /// function → distribution) CloudFormation cannot create.
    pub cdn_url_parameter: Option<String>,
    /// Where enclosures are served unsigned (CloudFront's `media/*`); unset:
    /// feeds link presigned URLs, which S3 caps at 7 days.
    pub public_media_url: Option<String>,
    pub media: MediaRules,
    pub rebuild_delay: i64,
    pub max_json_body: usize,
    pub accounts: AccountSettings,
    /// `PODOPS_RATE_ANONYMOUS`, `…_SIGNED_IN`, `…_PER_IP`, `…_LOGIN` (as
    /// `podops serve`'s flags); `PODOPS_NO_RATE_LIMITS=1` turns them off
    /// (behind a gateway that limits already).
    pub rate_limits: Option<RateLimitConfig>,
    /// `PODOPS_WEBSUB_HUBS` (comma-separated), `PODOPS_PUBNOTIFY_URL`,
    /// `PODOPS_PODPING_URL`: where changed feeds are announced. A function
    /// only queues announcements (the worker sends them, with the podping
    /// token), so it needs no token; the hubs are declared in feeds.
    pub notify: NotifyTargets,
}

/// Sign-in by email on AWS. Every function knows the admins (a key's
/// rights depend on them); the auth function also mails, through SES.
pub struct AccountSettings {
    /// `PODOPS_MAIL_FROM`: the sender, a verified SES identity. Unset: no
    /// sign-in mail (`POST /a/v1/login` answers 503 `login.unavailable`).
    pub mail_from: Option<String>,
    /// `PODOPS_SIGNUP`: `open` (default) or `closed`.
    pub signup_open: bool,
    /// `PODOPS_ADMIN_EMAILS`: comma-separated instance admins.
    pub admins: Vec<Email>,
    /// `PODOPS_API_URL`: where sign-in links point; or `PODOPS_API_URL_PARAMETER`,
    /// an SSM parameter holding it (the template's way: naming the API in a
    /// function's environment would close a cycle).
    pub api_url: Option<String>,
    pub api_url_parameter: Option<String>,
}

/// Where the master secret comes from.
pub enum SigningKey {
    /// `PODOPS_SIGNING_KEY`: the secret itself, hex (tests, local runs).
    Hex(SecretBox<Vec<u8>>),
    /// `PODOPS_SIGNING_KEY_PARAMETER`: an SSM SecureString holding the hex secret.
    Parameter(String),
    /// Neither is set: only a function that signs and verifies nothing may start.
    Unset,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` (the environment, or a map in tests). Empty
    /// values count as unset: CloudFormation writes `""` for an empty parameter.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let queue = required("PODOPS_QUEUE")?;
        let aws = AwsConfig {
            endpoint: get("AWS_ENDPOINT_URL"),
            // The Lambda service always sets it; a local run must too.
            region: required("AWS_REGION")?,
            table: required("PODOPS_TABLE")?,
            media_bucket: required("PODOPS_MEDIA_BUCKET")?,
            public_bucket: required("PODOPS_PUBLIC_BUCKET")?,
            dlq_name: dlq_name(&queue),
            queue_name: queue,
            max_receives: DEFAULT_MAX_RECEIVES,
            sdk: SdkTuning::default(),
        };
        let signing_key = match (get("PODOPS_SIGNING_KEY"), get("PODOPS_SIGNING_KEY_PARAMETER")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    var: "PODOPS_SIGNING_KEY",
                    reason: "set either it or PODOPS_SIGNING_KEY_PARAMETER, not both".into(),
                });
            }
            (Some(hex), None) => SigningKey::Hex(SecretBox::new(Box::new(parse_master_secret(&hex).map_err(|reason| {
                ConfigError::Invalid { var: "PODOPS_SIGNING_KEY", reason }
            })?))),
            (None, Some(name)) => SigningKey::Parameter(name),
            (None, None) => SigningKey::Unset,
        };
        let defaults = MediaRules::default();
        let cdn_url_parameter = get("PODOPS_CDN_URL_PARAMETER");
        Ok(Self {
            aws,
            signing_key,
            feed_base_url: match (get("PODOPS_FEED_BASE_URL"), &cdn_url_parameter) {
                (Some(v), _) => url("PODOPS_FEED_BASE_URL", v)?,
                (None, Some(_)) => String::new(),
                (None, None) => return Err(ConfigError::Missing("PODOPS_FEED_BASE_URL")),
            },
            cdn_url_parameter,
            public_media_url: get("PODOPS_PUBLIC_MEDIA_URL").map(|v| url("PODOPS_PUBLIC_MEDIA_URL", v)).transpose()?,
            media: MediaRules {
                max_upload: number("PODOPS_MAX_UPLOAD", get("PODOPS_MAX_UPLOAD"), defaults.max_upload)?,
                url_ttl: number("PODOPS_MEDIA_URL_TTL", get("PODOPS_MEDIA_URL_TTL"), defaults.url_ttl)?,
                allow_addresses: Vec::new(),
            },
            rebuild_delay: number("PODOPS_REBUILD_DELAY", get("PODOPS_REBUILD_DELAY"), DEFAULT_REBUILD_DELAY)?,
            max_json_body: number("PODOPS_MAX_JSON_BODY", get("PODOPS_MAX_JSON_BODY"), podops_api::Limits::default().json_body)?,
            rate_limits: if get("PODOPS_NO_RATE_LIMITS").is_some_and(|v| v != "0" && v != "false") {
                None
            } else {
                let defaults = RateLimitConfig::default();
                let rate = |var: &'static str, default: Rate| match get(var) {
                    Some(v) => Rate::parse(&v).map_err(|reason| ConfigError::Invalid { var, reason }),
                    None => Ok(default),
                };
                Some(RateLimitConfig {
                    anonymous: rate("PODOPS_RATE_ANONYMOUS", defaults.anonymous)?,
                    signed_in: rate("PODOPS_RATE_SIGNED_IN", defaults.signed_in)?,
                    per_ip_ceiling: rate("PODOPS_RATE_PER_IP", defaults.per_ip_ceiling)?,
                    login_per_ip: rate("PODOPS_RATE_LOGIN", defaults.login_per_ip)?,
                    // The client IP comes from the gateway's request context.
                    trust_proxy: false,
                })
            },
            notify: NotifyTargets {
                websub_hubs: get("PODOPS_WEBSUB_HUBS")
                    .map(|v| v.split(',').map(str::trim).filter(|h| !h.is_empty()).map(|h| endpoint("PODOPS_WEBSUB_HUBS", h)).collect::<Result<Vec<_>, _>>())
                    .transpose()
                    .map_err(|reason| ConfigError::Invalid { var: "PODOPS_WEBSUB_HUBS", reason })?
                    .unwrap_or_default(),
                pubnotify: get("PODOPS_PUBNOTIFY_URL").map(|v| endpoint("PODOPS_PUBNOTIFY_URL", &v)).transpose().map_err(|reason| ConfigError::Invalid { var: "PODOPS_PUBNOTIFY_URL", reason })?,
                podping: get("PODOPS_PODPING_URL")
                    .map(|v| endpoint("PODOPS_PODPING_URL", &v).map(|u| (u, String::new())))
                    .transpose()
                    .map_err(|reason| ConfigError::Invalid { var: "PODOPS_PODPING_URL", reason })?,
                window: number("PODOPS_NOTIFY_WINDOW", get("PODOPS_NOTIFY_WINDOW"), 60)?,
            },
            accounts: AccountSettings {
                mail_from: get("PODOPS_MAIL_FROM"),
                signup_open: match get("PODOPS_SIGNUP").as_deref() {
                    None | Some("open") => true,
                    Some("closed") => false,
                    Some(other) => return Err(ConfigError::Invalid { var: "PODOPS_SIGNUP", reason: format!("{other:?} is neither open nor closed") }),
                },
                admins: get("PODOPS_ADMIN_EMAILS")
                    .map(|list| {
                        list.split(',')
                            .map(str::trim)
                            .filter(|a| !a.is_empty())
                            .map(|a| Email::parse(a).map_err(|e| ConfigError::Invalid { var: "PODOPS_ADMIN_EMAILS", reason: e.to_string() }))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()?
                    .unwrap_or_default(),
                api_url: get("PODOPS_API_URL").map(|v| url("PODOPS_API_URL", v)).transpose()?,
                api_url_parameter: get("PODOPS_API_URL_PARAMETER"),
            },
        })
    }
}

impl Config {
    /// Fills the feed base and public media URLs that were not set directly
    /// with the CDN's URL (read from `cdn_url_parameter`).
    pub fn apply_cdn_url(&mut self, value: &str) -> Result<(), ConfigError> {
        let cdn = url("PODOPS_CDN_URL_PARAMETER", value.trim().to_owned())?;
        if self.feed_base_url.is_empty() {
            self.feed_base_url = cdn.clone();
        }
        self.public_media_url.get_or_insert(cdn);
        Ok(())
    }
}

/// The master secret's text form, as `podops serve` keeps it in `<data-dir>/secret`:
/// hex, at least 32 bytes.
fn url(var: &'static str, value: String) -> Result<String, ConfigError> {
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        return Err(ConfigError::Invalid { var, reason: format!("{value:?} is not an http(s) URL") });
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn number<T: std::str::FromStr>(var: &'static str, value: Option<String>, default: T) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ConfigError::Invalid { var, reason: format!("{v:?} is not a number") }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AWS_REGION", "eu-west-1"),
            ("PODOPS_TABLE", "t"),
            ("PODOPS_MEDIA_BUCKET", "m"),
            ("PODOPS_PUBLIC_BUCKET", "p"),
            ("PODOPS_QUEUE", "q"),
            ("PODOPS_SIGNING_KEY_PARAMETER", "/podops/signing-key"),
            ("PODOPS_FEED_BASE_URL", "https://d111.cloudfront.net/"),
        ]
    }

    #[test]
    fn the_template_variables_make_a_config_with_serve_defaults() {
        let config = Config::from_lookup(env(&full())).expect("config");
        assert_eq!((config.aws.table.as_str(), config.aws.queue_name.as_str(), config.aws.dlq_name.as_str()), ("t", "q", "q-dlq"));
        assert_eq!(config.aws.endpoint, None);
        assert_eq!(config.feed_base_url, "https://d111.cloudfront.net");
        assert!(matches!(config.signing_key, SigningKey::Parameter(ref p) if p == "/podops/signing-key"));
        assert_eq!((config.media.max_upload, config.media.url_ttl, config.rebuild_delay, config.max_json_body), (4 << 30, 3600, 30, 1 << 20));
    }

    #[test]
    fn the_cdn_parameter_stands_in_for_the_feed_base_url() {
        let pairs: Vec<_> = full().into_iter().filter(|(k, _)| *k != "PODOPS_FEED_BASE_URL").chain([("PODOPS_CDN_URL_PARAMETER", "/stack/cdn-url")]).collect();
        let config = Config::from_lookup(env(&pairs)).expect("config");
        assert_eq!(config.cdn_url_parameter.as_deref(), Some("/stack/cdn-url"));
        assert_eq!(config.feed_base_url, "", "filled in at start from the parameter");
    }

    /// The CDN's URL, once read from its parameter, for what was not given directly.
    #[test]
    fn a_cdn_url_fills_only_what_is_unset() {
        let pairs: Vec<_> = full().into_iter().filter(|(k, _)| *k != "PODOPS_FEED_BASE_URL").chain([("PODOPS_CDN_URL_PARAMETER", "/p")]).collect();
        let mut config = Config::from_lookup(env(&pairs)).expect("config");
        config.apply_cdn_url("https://d9.cloudfront.net/").expect("a URL");
        assert_eq!((config.feed_base_url.as_str(), config.public_media_url.as_deref()), ("https://d9.cloudfront.net", Some("https://d9.cloudfront.net")));
        assert!(config.apply_cdn_url("d9.cloudfront.net").is_err());
    }

    #[test]
    fn each_missing_variable_is_named() {
        for missing in ["AWS_REGION", "PODOPS_TABLE", "PODOPS_MEDIA_BUCKET", "PODOPS_PUBLIC_BUCKET", "PODOPS_QUEUE", "PODOPS_FEED_BASE_URL"] {
            let pairs: Vec<_> = full().into_iter().filter(|(k, _)| *k != missing).collect();
            let err = Config::from_lookup(env(&pairs)).err().expect("refused");
            assert_eq!(err.to_string(), format!("{missing} is not set"));
        }
    }

    #[test]
    fn bad_values_are_named_with_the_reason() {
        let with = |k: &'static str, v: &'static str| {
            let mut pairs: Vec<_> = full().into_iter().filter(|(name, _)| *name != k).collect();
            pairs.push((k, v));
            Config::from_lookup(env(&pairs)).err().expect("refused").to_string()
        };
        assert_eq!(with("PODOPS_FEED_BASE_URL", "d111.cloudfront.net"), "PODOPS_FEED_BASE_URL is invalid: \"d111.cloudfront.net\" is not an http(s) URL");
        assert_eq!(with("PODOPS_MAX_UPLOAD", "lots"), "PODOPS_MAX_UPLOAD is invalid: \"lots\" is not a number");
        assert_eq!(with("PODOPS_SIGNING_KEY", KEY), "PODOPS_SIGNING_KEY is invalid: set either it or PODOPS_SIGNING_KEY_PARAMETER, not both");
        let pairs: Vec<_> = full().into_iter().filter(|(k, _)| *k != "PODOPS_SIGNING_KEY_PARAMETER").chain([("PODOPS_SIGNING_KEY", "abcd")]).collect();
        let err = Config::from_lookup(env(&pairs)).err().expect("refused");
        assert_eq!(err.to_string(), "PODOPS_SIGNING_KEY is invalid: 2 bytes; at least 32 are needed");
    }

    #[test]
    fn a_hex_key_and_an_emulator_endpoint_are_taken_as_given() {
        let pairs: Vec<_> = full()
            .into_iter()
            .filter(|(k, _)| *k != "PODOPS_SIGNING_KEY_PARAMETER")
            .chain([("PODOPS_SIGNING_KEY", KEY), ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), ("PODOPS_PUBLIC_MEDIA_URL", "")])
            .collect();
        let config = Config::from_lookup(env(&pairs)).expect("config");
        assert_eq!(config.aws.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(config.public_media_url, None, "an empty value is unset");
        let SigningKey::Hex(secret) = config.signing_key else { panic!("not hex") };
        assert_eq!(hex::encode(secrecy::ExposeSecret::expose_secret(&secret)), KEY);
    }
}
