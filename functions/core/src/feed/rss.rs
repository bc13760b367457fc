//! RSS 2.0 with the `itunes:` tags Apple requires and recommends and the
//! Podcasting 2.0 `podcast:` namespace. Written by hand into one `String`:
//! rendering 10,000 episodes must take milliseconds, and every piece of text
//! goes through `text`/`attr`, which escape it and drop characters XML 1.0
//! cannot carry.

use std::{borrow::Cow, fmt::Write};

use quick_xml::escape::escape;

use crate::domain::{Episode, EpisodeType, Guid, Show, ShowType, Timestamp};

/// The podcast namespace's UUIDv5 namespace for `podcast:guid`.
const PODCAST_GUID_NAMESPACE: uuid::Uuid = uuid::uuid!("ead4c236-bf58-58c6-a2c6-a6b28d128cb6");

pub struct Channel<'a> {
    pub show: &'a Show,
    pub feed_url: &'a str,
    pub image_url: Option<&'a str>,
    pub built_at: Timestamp,
    /// Live shows (`podcast:liveItem`), before the episodes.
    pub live: Vec<LiveItem>,
    /// WebSub hubs this feed is announced to (`atom:link rel="hub"`).
    pub hubs: Vec<String>,
}

/// One occurrence of a live show: pending (scheduled), live, or ended.
pub struct LiveItem {
    pub status: &'static str,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Stable per occurrence.
    pub guid: String,
    pub title: String,
    /// Where to listen: the HLS playlist or the Icecast mount, with its type.
    pub enclosure: Option<(String, String)>,
    pub content_link: Option<String>,
}

pub struct Item<'a> {
    pub production: &'a Guid,
    pub guid: &'a Guid,
    pub episode: &'a Episode,
    pub enclosure: Media<'a>,
    /// Other renditions of the enclosure (`podcast:alternateEnclosure`).
    pub alternates: Vec<Media<'a>>,
    pub duration: Option<u64>,
    pub image_url: Option<&'a str>,
    pub chapters_url: Option<&'a str>,
    /// Our copy of the episode's transcript, linked instead of its `transcript` URL.
    pub transcript_url: Option<&'a str>,
}

pub struct Media<'a> {
    pub url: &'a str,
    pub length: u64,
    pub content_type: &'a str,
    pub bitrate: Option<u32>,
}

/// `podcast:guid`: the show's own if set, else UUIDv5 of the feed URL without
/// its scheme and trailing slashes (the namespace's rule).
pub fn podcast_guid(show: &Show, feed_url: &str) -> String {
    if let Some(g) = show.podcast_guid.as_deref().filter(|g| !g.is_empty()) {
        return g.to_owned();
    }
    let bare = feed_url.split_once("://").map_or(feed_url, |(_, rest)| rest).trim_end_matches('/');
    uuid::Uuid::new_v5(&PODCAST_GUID_NAMESPACE, bare.as_bytes()).to_string()
}

/// The whole feed document.
pub fn render(channel: &Channel<'_>, items: &[Item<'_>]) -> String {
    let mut out = String::with_capacity(2048 + items.len() * 1200);
    let w = &mut out;
    w.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    w.push_str("\n<rss version=\"2.0\" xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\" xmlns:podcast=\"https://podcastindex.org/namespace/1.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n");
    let show = channel.show;
    element(w, "title", &show.title);
    element(w, "description", &show.description);
    element(w, "link", show.link.as_deref().unwrap_or(channel.feed_url));
    element(w, "language", &show.language);
    if !show.copyright.is_empty() {
        element(w, "copyright", &show.copyright);
    }
    let _ = writeln!(w, "<atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>", attr(channel.feed_url));
    for hub in &channel.hubs {
        let _ = writeln!(w, "<atom:link href=\"{}\" rel=\"hub\"/>", attr(hub));
    }
    element(w, "lastBuildDate", &rfc2822(channel.built_at));
    element(w, "generator", concat!("PodOps ", env!("CARGO_PKG_VERSION")));
    if let Some(image) = channel.image_url {
        let _ = writeln!(w, "<image><url>{}</url><title>{}</title><link>{}</link></image>", text(image), text(&show.title), text(show.link.as_deref().unwrap_or(channel.feed_url)));
        let _ = writeln!(w, "<itunes:image href=\"{}\"/>", attr(image));
    }
    if !show.author.is_empty() {
        element(w, "itunes:author", &show.author);
    }
    if !show.owner.name.is_empty() || !show.owner.email.is_empty() {
        let _ = writeln!(w, "<itunes:owner><itunes:name>{}</itunes:name><itunes:email>{}</itunes:email></itunes:owner>", text(&show.owner.name), text(&show.owner.email));
    }
    if let Some(cat) = show.category.as_deref().filter(|c| !c.is_empty()) {
        match show.subcategory.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => {
                let _ = writeln!(w, "<itunes:category text=\"{}\"><itunes:category text=\"{}\"/></itunes:category>", attr(cat), attr(sub));
            }
            None => {
                let _ = writeln!(w, "<itunes:category text=\"{}\"/>", attr(cat));
            }
        }
    }
    element(w, "itunes:explicit", if show.explicit { "true" } else { "false" });
    element(w, "itunes:type", if show.show_type == ShowType::Serial { "serial" } else { "episodic" });
    if let Some(url) = show.new_feed_url.as_deref() {
        element(w, "itunes:new-feed-url", url);
    }
    if show.block {
        element(w, "itunes:block", "Yes");
    }
    if show.complete {
        element(w, "itunes:complete", "Yes");
    }
    element(w, "podcast:guid", &podcast_guid(show, channel.feed_url));
    let locked = if show.locked { "yes" } else { "no" };
    if show.owner.email.is_empty() {
        element(w, "podcast:locked", locked);
    } else {
        let _ = writeln!(w, "<podcast:locked owner=\"{}\">{locked}</podcast:locked>", attr(&show.owner.email));
    }
    for live in &channel.live {
        render_live(w, live);
    }
    for item in items {
        render_item(w, item);
    }
    w.push_str("</channel>\n</rss>\n");
    out
}

fn render_live(w: &mut String, live: &LiveItem) {
    let _ = writeln!(w, "<podcast:liveItem status=\"{}\" start=\"{}\" end=\"{}\">", live.status, iso8601(live.start), iso8601(live.end));
    element(w, "title", &live.title);
    let _ = writeln!(w, "<guid isPermaLink=\"false\">{}</guid>", text(&live.guid));
    if let Some((url, content_type)) = &live.enclosure {
        let _ = writeln!(w, "<enclosure url=\"{}\" type=\"{}\" length=\"0\"/>", attr(url), attr(content_type));
    }
    if let Some(link) = &live.content_link {
        let _ = writeln!(w, "<podcast:contentLink href=\"{}\">Listen live</podcast:contentLink>", attr(link));
    }
    w.push_str("</podcast:liveItem>\n");
}

/// ISO 8601 in UTC, as `podcast:liveItem` wants its times.
pub fn iso8601(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

fn render_item(w: &mut String, item: &Item<'_>) {
    let ep = item.episode;
    w.push_str("<item>\n");
    element(w, "title", &ep.title);
    element(w, "description", if ep.summary.is_empty() { &ep.title } else { &ep.summary });
    if !ep.content.is_empty() {
        let _ = writeln!(w, "<content:encoded>{}</content:encoded>", cdata(&ep.content));
    }
    if let Some(link) = ep.link.as_deref() {
        element(w, "link", link);
    }
    // Never changes for an episode, whatever is edited: apps key downloads on it.
    match item.episode.feed_guid.as_deref() {
        Some(kept) => {
            let _ = writeln!(w, "<guid isPermaLink=\"false\">{}</guid>", text(kept.trim()));
        }
        None => {
            let _ = writeln!(w, "<guid isPermaLink=\"false\">podops:{}:{}</guid>", item.production, item.guid);
        }
    }
    if let Some(published) = ep.published {
        element(w, "pubDate", &rfc2822(published));
    }
    let e = &item.enclosure;
    let _ = writeln!(w, "<enclosure url=\"{}\" length=\"{}\" type=\"{}\"/>", attr(e.url), e.length, attr(e.content_type));
    if let Some(d) = item.duration {
        let _ = writeln!(w, "<itunes:duration>{d}</itunes:duration>");
    }
    if let Some(n) = ep.episode {
        let _ = writeln!(w, "<itunes:episode>{n}</itunes:episode>");
    }
    if let Some(n) = ep.season {
        let _ = writeln!(w, "<itunes:season>{n}</itunes:season>");
    }
    let kind = match ep.episode_type {
        EpisodeType::Full => "full",
        EpisodeType::Trailer => "trailer",
        EpisodeType::Bonus => "bonus",
    };
    element(w, "itunes:episodeType", kind);
    element(w, "itunes:explicit", if ep.explicit { "true" } else { "false" });
    if let Some(image) = item.image_url {
        let _ = writeln!(w, "<itunes:image href=\"{}\"/>", attr(image));
    }
    if let Some(n) = ep.season {
        // The namespace's 2021 XSD requires `name`; the current docs make it optional.
        let _ = writeln!(w, "<podcast:season name=\"Season {n}\">{n}</podcast:season>");
    }
    if let Some(n) = ep.episode {
        let _ = writeln!(w, "<podcast:episode>{n}</podcast:episode>");
    }
    if let Some(url) = item.transcript_url.or(ep.transcript.as_deref()) {
        let _ = writeln!(w, "<podcast:transcript url=\"{}\" type=\"{}\"/>", attr(url), transcript_type(url));
    }
    if let Some(url) = item.chapters_url.or(ep.chapters.as_deref()) {
        let _ = writeln!(w, "<podcast:chapters url=\"{}\" type=\"{}\"/>", attr(url), super::chapters::CONTENT_TYPE);
    }
    for alt in &item.alternates {
        let bitrate = alt.bitrate.map(|b| format!(" bitrate=\"{b}\"")).unwrap_or_default();
        let _ = writeln!(
            w,
            "<podcast:alternateEnclosure type=\"{}\" length=\"{}\"{bitrate}><podcast:source uri=\"{}\"/></podcast:alternateEnclosure>",
            attr(alt.content_type),
            alt.length,
            attr(alt.url)
        );
    }
    w.push_str("</item>\n");
}

fn transcript_type(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    if path.ends_with(".vtt") {
        "text/vtt"
    } else if path.ends_with(".srt") {
        "application/x-subrip"
    } else if path.ends_with(".json") {
        "application/json"
    } else if path.ends_with(".html") {
        "text/html"
    } else {
        "text/plain"
    }
}

fn element(w: &mut String, name: &str, value: &str) {
    let _ = writeln!(w, "<{name}>{}</{name}>", text(value));
}

/// XML 1.0 forbids most control characters even when escaped; they are dropped.
fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().all(allowed) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| allowed(c)).collect())
    }
}

fn allowed(c: char) -> bool {
    !(c.is_control() && !matches!(c, '\t' | '\n' | '\r')) && c != '\u{FFFE}' && c != '\u{FFFF}'
}

fn text(s: &str) -> String {
    escape(clean(s).as_ref()).into_owned()
}

fn attr(s: &str) -> String {
    // Also escapes quotes, so a value can never end its attribute.
    escape(clean(s).as_ref()).into_owned()
}

/// HTML show notes as CDATA; a `]]>` inside is split across two sections.
fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", clean(s).replace("]]>", "]]]]><![CDATA[>"))
}

/// RFC 2822 date as podcast apps expect (`Sun, 22 Nov 2026 11:41:37 GMT`).
pub fn rfc2822(t: Timestamp) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    httpdate::fmt_http_date(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped_and_cleaned() {
        assert_eq!(text("a<b>&\"c'\u{1}\u{7}d"), "a&lt;b&gt;&amp;&quot;c&apos;d");
        assert_eq!(cdata("<p>x]]>y</p>"), "<![CDATA[<p>x]]]]><![CDATA[>y</p>]]>");
        assert_eq!(text("🎙️ مرحبا"), "🎙️ مرحبا");
    }

    #[test]
    fn podcast_guid_follows_the_namespace_rule() {
        // The example from the podcast namespace documentation.
        let show = Show::default();
        assert_eq!(podcast_guid(&show, "https://mp3s.nashownotes.com/pc20rss.xml/"), "917393e3-1b1e-5cef-ace4-edaa54e1f810");
        let own = Show { podcast_guid: Some("x".into()), ..Default::default() };
        assert_eq!(podcast_guid(&own, "https://e.com/f"), "x");
    }

    #[test]
    fn dates_are_rfc2822() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(rfc2822(1795000000), "Wed, 18 Nov 2026 11:06:40 GMT");
    }
}
