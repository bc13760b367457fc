//! Telling the podcast world that a feed changed: WebSub hubs, Podcast
//! Index's pubnotify and podping. The operator configures where; this module
//! says what each request is, so the worker only sends them.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// Why a feed is announced (podping's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    #[serde(rename = "update")]
    Update,
    #[serde(rename = "live")]
    Live,
    #[serde(rename = "liveEnd")]
    LiveEnd,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Update => "update",
            Reason::Live => "live",
            Reason::LiveEnd => "liveEnd",
        }
    }
}

/// Where announcements go. Empty (the default): nothing is announced.
#[derive(Clone, Default)]
pub struct NotifyTargets {
    /// WebSub hubs: each is declared in the feed (`atom:link rel="hub"`) and pinged.
    pub websub_hubs: Vec<Url>,
    /// Podcast Index's pubnotify endpoint (`https://api.podcastindex.org/api/1.0/hub/pubnotify`).
    pub pubnotify: Option<Url>,
    /// A podping endpoint (`https://podping.cloud/`) and the operator's token for it.
    pub podping: Option<(Url, String)>,
    /// Announcements of one feed for one reason are coalesced within windows of this many seconds.
    pub window: i64,
}

/// The podping token is a credential: never printed.
impl fmt::Debug for NotifyTargets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyTargets")
            .field("websub_hubs", &self.websub_hubs.iter().map(Url::as_str).collect::<Vec<_>>())
            .field("pubnotify", &self.pubnotify.as_ref().map(Url::as_str))
            .field("podping", &self.podping.as_ref().map(|(u, _)| format!("{u} (token set)")))
            .field("window", &self.window)
            .finish()
    }
}

/// One announcement, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Announcement {
    /// `websub`, `pubnotify` or `podping`: how it is reported.
    pub target: &'static str,
    /// POST with a form body when `form` is set, else GET.
    pub url: Url,
    pub form: Option<String>,
    /// Extra headers (podping's `Authorization`).
    pub headers: Vec<(&'static str, String)>,
}

impl fmt::Debug for Announcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Announcement").field("target", &self.target).field("url", &self.url.as_str()).field("form", &self.form).finish_non_exhaustive()
    }
}

impl NotifyTargets {
    pub fn is_empty(&self) -> bool {
        self.websub_hubs.is_empty() && self.pubnotify.is_none() && self.podping.is_none()
    }

    /// Every request that announces `feed_url` for `reason`.
    pub fn announcements(&self, feed_url: &str, reason: Reason) -> Vec<Announcement> {
        let mut out = Vec::new();
        for hub in &self.websub_hubs {
            let form = url::form_urlencoded::Serializer::new(String::new()).append_pair("hub.mode", "publish").append_pair("hub.url", feed_url).finish();
            out.push(Announcement { target: "websub", url: hub.clone(), form: Some(form), headers: Vec::new() });
        }
        if let Some(endpoint) = &self.pubnotify {
            let mut url = endpoint.clone();
            url.query_pairs_mut().append_pair("url", feed_url);
            out.push(Announcement { target: "pubnotify", url, form: None, headers: Vec::new() });
        }
        if let Some((endpoint, token)) = &self.podping {
            let mut url = endpoint.clone();
            url.query_pairs_mut().append_pair("url", feed_url).append_pair("reason", reason.as_str()).append_pair("medium", "podcast");
            out.push(Announcement { target: "podping", url, form: None, headers: vec![("authorization", token.clone())] });
        }
        out
    }
}

/// Parses an operator's endpoint (http or https).
pub fn endpoint(flag: &str, text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{flag}: '{text}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{flag}: '{text}' is not an http(s) URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> NotifyTargets {
        NotifyTargets {
            websub_hubs: vec![endpoint("hub", "https://pubsubhubbub.appspot.com/").unwrap(), endpoint("hub", "http://127.0.0.1:9/hub").unwrap()],
            pubnotify: Some(endpoint("p", "https://api.podcastindex.org/api/1.0/hub/pubnotify").unwrap()),
            podping: Some((endpoint("pp", "https://podping.cloud/").unwrap(), "s3cret-token".into())),
            window: 60,
        }
    }

    #[test]
    fn each_target_gets_its_own_request_with_the_feed_url_encoded() {
        let feed = "https://feeds.example.com/feeds/my_show/feed.xml?a=1&b=2";
        let all = targets().announcements(feed, Reason::LiveEnd);
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].form.as_deref(), Some("hub.mode=publish&hub.url=https%3A%2F%2Ffeeds.example.com%2Ffeeds%2Fmy_show%2Ffeed.xml%3Fa%3D1%26b%3D2"));
        assert_eq!(all[2].url.as_str(), "https://api.podcastindex.org/api/1.0/hub/pubnotify?url=https%3A%2F%2Ffeeds.example.com%2Ffeeds%2Fmy_show%2Ffeed.xml%3Fa%3D1%26b%3D2");
        assert_eq!(all[3].url.query(), Some("url=https%3A%2F%2Ffeeds.example.com%2Ffeeds%2Fmy_show%2Ffeed.xml%3Fa%3D1%26b%3D2&reason=liveEnd&medium=podcast"));
        assert_eq!(all[3].headers, vec![("authorization", "s3cret-token".to_owned())]);
    }

    #[test]
    fn nothing_configured_announces_nothing_and_the_token_is_never_printed() {
        assert!(NotifyTargets::default().is_empty());
        assert!(NotifyTargets::default().announcements("https://x/feed.xml", Reason::Update).is_empty());
        let printed = format!("{:?} {:?}", targets(), targets().announcements("https://x/f", Reason::Live));
        assert!(!printed.contains("s3cret"), "{printed}");
    }

    #[test]
    fn endpoints_are_http_urls() {
        assert!(endpoint("--podping-url", "ftp://x/").is_err());
        assert!(endpoint("--podping-url", "not a url").is_err());
    }
}
