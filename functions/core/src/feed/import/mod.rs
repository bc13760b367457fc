//! Reading a show's RSS feed as real hosts publish it, to import the show:
//! RSS 2.0 with the itunes, podcast, content and atom namespaces, in the
//! encoding it declares, with HTML and CDATA where hosts put them. Tolerant
//! of what apps tolerate (odd dates, missing guids, empty tags), strict on
//! what is unsafe: a document type declaration is refused outright, so no
//! entity is ever expanded and no external file or URL is ever read.
//! Pure: bytes come in (all at once, or as a stream read item by item), the
//! show and its items come out.

mod when;

use std::{
    collections::HashSet,
    io::{BufRead, BufReader, Read},
};

use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use quick_xml::{
    events::{attributes::Attributes, BytesStart, Event},
    name::ResolveResult,
    NsReader,
};
use sha2::{Digest, Sha256};

pub use when::{parse_date, parse_duration};

use crate::domain::Timestamp;

/// Largest feed read (the biggest real feeds are a few MB; 10,000 items of text fit).
pub const MAX_FEED_BYTES: usize = 64 << 20;

/// What the channel says about the show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceShow {
    pub title: String,
    /// HTML as published (sanitised when stored).
    pub description: String,
    pub language: String,
    pub link: Option<String>,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub explicit: Option<bool>,
    /// `episodic` or `serial`.
    pub show_type: Option<String>,
    pub author: String,
    pub owner_name: String,
    pub owner_email: String,
    pub copyright: String,
    pub image: Option<String>,
    pub podcast_guid: Option<String>,
    pub locked: bool,
    /// `podcast:locked owner="…"`: who may move the show.
    pub locked_owner: Option<String>,
    pub new_feed_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enclosure {
    pub url: String,
    pub content_type: String,
    /// As declared (`length="0"` and junk are `None`).
    pub length: Option<u64>,
}

/// One item, as the source published it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceItem {
    /// The item's `guid`, trimmed only; or, without one, its enclosure URL
    /// (what apps key such items by), else a hash of its title and date.
    pub guid: String,
    /// True when the feed gave no guid.
    pub guid_derived: bool,
    pub published: Option<Timestamp>,
    pub title: String,
    pub description: String,
    /// `content:encoded`, the long show notes.
    pub content: String,
    pub season: Option<u32>,
    pub episode: Option<u32>,
    /// `full`, `trailer` or `bonus`.
    pub episode_type: Option<String>,
    pub explicit: Option<bool>,
    pub block: bool,
    pub duration: Option<u32>,
    pub image: Option<String>,
    pub link: Option<String>,
    pub enclosure: Option<Enclosure>,
    /// `podcast:transcript` (url, type), in feed order.
    pub transcripts: Vec<(String, String)>,
    pub chapters: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceFeed {
    pub show: SourceShow,
    pub items: Vec<SourceItem>,
}

/// Something the import reports without stopping: which item (by position), a code, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The item's position as parsed (before repeated guids are dropped).
    pub item: Option<usize>,
    /// The item's guid (kept or derived), when the finding is about an item.
    pub guid: Option<String>,
    pub code: &'static str,
    pub message: String,
}

/// Why a document is not imported at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct NotAFeed {
    /// `import.too_large`, `import.doctype`, `import.not_xml`, `import.not_rss`, `import.no_items`.
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> NotAFeed {
    NotAFeed { code, message: message.into() }
}

const ITUNES: &[u8] = b"http://www.itunes.com/dtds/podcast-1.0.dtd";
const PODCAST: &[&[u8]] = &[b"https://podcastindex.org/namespace/1.0", b"https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"];
const CONTENT: &[u8] = b"http://purl.org/rss/1.0/modules/content/";
const ATOM: &[u8] = b"http://www.w3.org/2005/Atom";

/// Reads a whole feed held in memory. Refuses what is not an RSS feed with
/// items; reports per-item oddities. `FeedReader` reads one item at a time.
pub fn parse(bytes: &[u8]) -> Result<(SourceFeed, Vec<Finding>), NotAFeed> {
    if bytes.len() > MAX_FEED_BYTES {
        return Err(refuse("import.too_large", format!("the feed is larger than {} MB", MAX_FEED_BYTES >> 20)));
    }
    let mut reader = FeedReader::new(bytes);
    let mut items = Vec::new();
    while let Some(item) = reader.next_item()? {
        items.push(item);
    }
    let findings = reader.take_findings();
    Ok((SourceFeed { show: reader.show().clone(), items }, findings))
}

type Decoded<R> = BufReader<DecodeReaderBytes<BufReader<R>, Vec<u8>>>;

/// A feed read as a stream: item by item, holding one item's text at a
/// time (and the guids seen, to drop repeats), whatever the feed's size.
/// The channel's fields are complete once `next_item` has answered `None`
/// (hosts put some after the items).
pub struct FeedReader<R: Read> {
    reader: NsReader<Decoded<R>>,
    buf: Vec<u8>,
    parser: Parser,
    seen: HashSet<String>,
    /// Items read so far, repeats included: how findings name an item before its guid is known.
    position: usize,
    yielded: usize,
    ended: bool,
}

impl<R: Read> FeedReader<R> {
    /// Decodes `input` in the encoding its byte order mark or XML declaration
    /// names (UTF-8 when neither does); undecodable bytes become U+FFFD.
    pub fn new(input: R) -> Self {
        let mut raw = BufReader::with_capacity(64 << 10, input);
        let encoding = match raw.fill_buf() {
            Ok(head) => declared_encoding(head),
            Err(_) => encoding_rs::UTF_8,
        };
        let decoder = DecodeReaderBytesBuilder::new().encoding(Some(encoding)).bom_override(true).build(raw);
        let mut reader = NsReader::from_reader(BufReader::with_capacity(64 << 10, decoder));
        reader.config_mut().check_end_names = false;
        Self { reader, buf: Vec::new(), parser: Parser::default(), seen: HashSet::new(), position: 0, yielded: 0, ended: false }
    }

    /// What the channel says, as far as read.
    pub fn show(&self) -> &SourceShow {
        &self.parser.show
    }

    /// The oddities found so far (taken: each is given once).
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.parser.findings)
    }

    /// The next item (repeated guids dropped), or `None` at the end of the document.
    pub fn next_item(&mut self) -> Result<Option<SourceItem>, NotAFeed> {
        while !self.ended {
            let Some(mut item) = self.parser.ready.take() else {
                self.step()?;
                continue;
            };
            let index = self.position;
            self.position += 1;
            if item.guid.is_empty() {
                item.guid_derived = true;
                item.guid = match &item.enclosure {
                    Some(enclosure) => enclosure.url.clone(),
                    None => format!("podops-import:{}", &hex::encode(Sha256::digest(format!("{}\n{:?}", item.title, item.published)))[..32]),
                };
                self.parser.findings.push(Finding { item: Some(index), guid: None, code: "import.guid_derived", message: format!("no guid: keyed by {}", item.guid) });
            }
            for f in self.parser.findings.iter_mut().filter(|f| f.item == Some(index) && f.guid.is_none()) {
                f.guid = Some(item.guid.clone());
            }
            if !self.seen.insert(item.guid.clone()) {
                let message = format!("guid {} appears again: only its first item is imported", item.guid);
                self.parser.findings.push(Finding { item: Some(index), guid: Some(item.guid.clone()), code: "import.duplicate_guid", message });
                continue;
            }
            self.yielded += 1;
            return Ok(Some(item));
        }
        Ok(None)
    }

    /// Reads one event; at the end, refuses what was not an RSS feed with items.
    fn step(&mut self) -> Result<(), NotAFeed> {
        self.buf.clear();
        let at = self.reader.buffer_position();
        let (ns, event) = self.reader.read_resolved_event_into(&mut self.buf).map_err(|e| refuse("import.not_xml", format!("not well-formed XML after byte {at}: {e}")))?;
        let parser = &mut self.parser;
        match event {
            Event::DocType(d) if String::from_utf8_lossy(&d).trim().to_ascii_lowercase().starts_with("html") => {
                return Err(refuse("import.not_rss", "this is an HTML page, not a feed"));
            }
            Event::DocType(_) => {
                return Err(refuse("import.doctype", "the feed declares a document type; feeds have none, and entities it could define are never expanded"));
            }
            Event::Start(e) => {
                let name = canonical(ns, e.local_name().as_ref(), e.name().as_ref());
                parser.open(&name, &e);
                parser.path.push(name);
                parser.starts.push(parser.text.len());
            }
            Event::Empty(e) => {
                let name = canonical(ns, e.local_name().as_ref(), e.name().as_ref());
                parser.open(&name, &e);
                parser.path.push(name);
                parser.starts.push(parser.text.len());
                parser.close();
            }
            Event::Text(t) if !parser.seen_element => {
                if !String::from_utf8_lossy(&t).trim().is_empty() {
                    return Err(refuse("import.not_xml", "this is not XML: it does not start with a tag"));
                }
            }
            Event::Text(t) => match t.unescape() {
                Ok(s) => parser.text.push_str(&s),
                // An HTML entity (&nbsp;) in a text outside CDATA: kept as written.
                Err(_) => parser.text.push_str(&String::from_utf8_lossy(&t)),
            },
            Event::CData(c) => parser.text.push_str(&String::from_utf8_lossy(&c)),
            Event::End(_) => parser.close(),
            Event::Eof => {
                self.ended = true;
                if !parser.seen_element {
                    return Err(refuse("import.not_xml", "this is not XML: no element at all"));
                }
                if !parser.seen_rss {
                    return Err(refuse("import.not_rss", "this is XML, but not an RSS feed (no <rss><channel>)"));
                }
                if self.yielded == 0 && parser.ready.is_none() {
                    return Err(refuse("import.no_items", "the feed has no items to import"));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The encoding the first bytes name: a byte order mark, else the XML
/// declaration's label, else UTF-8. A declaration of UTF-16 on bytes
/// without a BOM is a lie: they are read as UTF-8.
fn declared_encoding(head: &[u8]) -> &'static encoding_rs::Encoding {
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(head) {
        return encoding;
    }
    let head = &head[..head.len().min(200)];
    let declared = std::str::from_utf8(head).ok().or_else(|| std::str::from_utf8(&head[..head.len().saturating_sub(3)]).ok()).and_then(|h| {
        let decl = h.strip_prefix("<?xml")?.split("?>").next()?;
        let at = decl.find("encoding")?;
        let rest = decl[at + 8..].trim_start().strip_prefix('=')?.trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        rest[1..].split(quote).next().map(str::to_owned)
    });
    let encoding = declared.and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes())).unwrap_or(encoding_rs::UTF_8);
    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE { encoding_rs::UTF_8 } else { encoding }
}

/// An element's name with its namespace made canonical (`itunes:image`
/// whatever prefix the feed bound), or its plain local name.
fn canonical(ns: ResolveResult<'_>, local: &[u8], qname: &[u8]) -> String {
    let local = String::from_utf8_lossy(local);
    match ns {
        // Some hosts bind Apple's namespace in another case (…/DTDs/Podcast-1.0.dtd).
        ResolveResult::Bound(n) if n.as_ref().eq_ignore_ascii_case(ITUNES) => format!("itunes:{local}"),
        ResolveResult::Bound(n) if PODCAST.contains(&n.as_ref()) => format!("podcast:{local}"),
        ResolveResult::Bound(n) if n.as_ref() == CONTENT => format!("content:{local}"),
        ResolveResult::Bound(n) if n.as_ref() == ATOM => format!("atom:{local}"),
        ResolveResult::Bound(n) => format!("{{{}}}{local}", String::from_utf8_lossy(n.as_ref())),
        // An undeclared prefix stays a prefix: `itunes:title` never stands in for `title`.
        _ => String::from_utf8_lossy(qname).into_owned(),
    }
}

fn attribute(attrs: Attributes<'_>, name: &str) -> Option<String> {
    attrs.flatten().find(|a| a.key.local_name().as_ref() == name.as_bytes()).and_then(|a| a.unescape_value().ok().map(|v| v.trim().to_owned())).filter(|v| !v.is_empty())
}

fn yes(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "explicit" => Some(true),
        "no" | "false" | "clean" => Some(false),
        _ => None,
    }
}

fn some(text: String) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

#[derive(Default)]
struct Parser {
    show: SourceShow,
    /// The item just closed, for `FeedReader::next_item` to hand out.
    ready: Option<SourceItem>,
    /// Items closed so far: how findings name an item before its guid is known.
    closed: usize,
    findings: Vec<Finding>,
    /// Canonical names of the open elements.
    path: Vec<String>,
    /// Where each open element's text starts in `text`: an element's text
    /// is all text inside it, markup that should have been escaped (`a<br/>b`
    /// in a description) included as text.
    starts: Vec<usize>,
    text: String,
    item: Option<SourceItem>,
    seen_element: bool,
    seen_rss: bool,
}

impl Parser {
    fn parent(&self) -> Option<&str> {
        self.path.last().map(String::as_str)
    }

    fn in_channel(&self) -> bool {
        self.path.len() == 2 && self.path[0] == "rss" && self.path[1] == "channel"
    }

    /// Attributes are read as an element opens.
    fn open(&mut self, name: &str, e: &BytesStart<'_>) {
        self.seen_element = true;
        if name == "rss" && self.path.is_empty() {
            self.seen_rss = true;
        }
        if name == "item" && self.in_channel() {
            self.item = Some(SourceItem::default());
            return;
        }
        let in_item = self.item.is_some() && self.parent() == Some("item");
        let in_channel = self.in_channel();
        let in_category = self.parent() == Some("itunes:category") && self.path.len() == 3;
        let show = &mut self.show;
        match name {
            "enclosure" if in_item => {
                let url = attribute(e.attributes(), "url");
                if let (Some(item), Some(url)) = (self.item.as_mut(), url) {
                    if item.enclosure.is_none() {
                        let length = attribute(e.attributes(), "length").and_then(|l| l.parse::<u64>().ok()).filter(|l| *l > 0);
                        item.enclosure = Some(Enclosure { url, content_type: attribute(e.attributes(), "type").unwrap_or_default(), length });
                    }
                }
            }
            "itunes:image" if in_item => {
                if let Some(item) = self.item.as_mut() {
                    item.image = attribute(e.attributes(), "href").or(attribute(e.attributes(), "url"));
                }
            }
            "podcast:transcript" if in_item => {
                if let (Some(item), Some(url)) = (self.item.as_mut(), attribute(e.attributes(), "url")) {
                    item.transcripts.push((url, attribute(e.attributes(), "type").unwrap_or_default()));
                }
            }
            "podcast:chapters" if in_item => {
                if let Some(item) = self.item.as_mut() {
                    item.chapters = attribute(e.attributes(), "url");
                }
            }
            "itunes:image" if in_channel => show.image = attribute(e.attributes(), "href").or(show.image.take()),
            "itunes:category" if in_channel => {
                if show.category.is_none() {
                    show.category = attribute(e.attributes(), "text");
                }
            }
            "itunes:category" if in_category => {
                if show.subcategory.is_none() {
                    show.subcategory = attribute(e.attributes(), "text");
                }
            }
            "podcast:locked" if in_channel => show.locked_owner = attribute(e.attributes(), "owner"),
            _ => {}
        }
    }

    fn close(&mut self) {
        let Some(name) = self.path.pop() else { return };
        let start = self.starts.pop().unwrap_or(0).min(self.text.len());
        let text = self.text[start..].to_owned();
        // A field's text stays its parent's when the parent is a field too (markup
        // inside a description); a container (channel, item, …) needs none of it,
        // so memory holds one item's text at a time.
        if matches!(self.parent(), None | Some("rss" | "channel" | "item" | "image" | "itunes:owner" | "itunes:category")) {
            self.text.truncate(start);
        }
        if name == "item" && self.in_channel() {
            if let Some(item) = self.item.take() {
                self.ready = Some(item);
                self.closed += 1;
            }
            return;
        }
        if self.item.is_some() && self.parent() == Some("item") {
            self.close_item_field(&name, text);
        } else if self.in_channel() {
            self.close_show_field(&name, text);
        } else if name == "url" && self.parent() == Some("image") && self.path.len() == 3 && self.show.image.is_none() {
            self.show.image = some(text);
        } else if self.parent() == Some("itunes:owner") {
            match name.as_str() {
                "itunes:name" => self.show.owner_name = text.trim().to_owned(),
                "itunes:email" => self.show.owner_email = text.trim().to_owned(),
                _ => {}
            }
        }
    }

    fn close_show_field(&mut self, name: &str, text: String) {
        let show = &mut self.show;
        match name {
            "title" => show.title = text.trim().to_owned(),
            "description" => show.description = text.trim().to_owned(),
            "itunes:summary" if show.description.is_empty() => show.description = text.trim().to_owned(),
            "language" => show.language = text.trim().to_owned(),
            "link" => show.link = some(text).or(show.link.take()),
            "itunes:explicit" => show.explicit = yes(&text),
            "itunes:type" => show.show_type = some(text).map(|t| t.to_ascii_lowercase()),
            "itunes:author" => show.author = text.trim().to_owned(),
            "copyright" => show.copyright = text.trim().to_owned(),
            "podcast:guid" => show.podcast_guid = some(text),
            "podcast:locked" => show.locked = yes(&text) == Some(true),
            "itunes:new-feed-url" => show.new_feed_url = some(text),
            _ => {}
        }
    }

    fn close_item_field(&mut self, name: &str, text: String) {
        let index = self.closed;
        let Some(item) = self.item.as_mut() else { return };
        match name {
            "guid" => item.guid = text.trim().to_owned(),
            "pubDate" => {
                item.published = parse_date(&text);
                if item.published.is_none() && !text.trim().is_empty() {
                    self.findings.push(Finding { item: Some(index), guid: None, code: "import.bad_date", message: format!("pubDate '{}' is no date", text.trim()) });
                }
            }
            "title" => item.title = text.trim().to_owned(),
            "itunes:title" if item.title.is_empty() => item.title = text.trim().to_owned(),
            "description" => item.description = text.trim().to_owned(),
            "itunes:summary" if item.description.is_empty() => item.description = text.trim().to_owned(),
            "content:encoded" => item.content = text.trim().to_owned(),
            "link" => item.link = some(text),
            "itunes:season" => item.season = text.trim().parse().ok(),
            "itunes:episode" => item.episode = text.trim().parse().ok(),
            "itunes:episodeType" => item.episode_type = some(text).map(|t| t.to_ascii_lowercase()).filter(|t| ["full", "trailer", "bonus"].contains(&t.as_str())),
            "itunes:explicit" => item.explicit = yes(&text),
            "itunes:block" => item.block = yes(&text) == Some(true),
            "itunes:duration" => {
                item.duration = parse_duration(&text);
                if item.duration.is_none() && !text.trim().is_empty() {
                    self.findings.push(Finding { item: Some(index), guid: None, code: "import.bad_duration", message: format!("itunes:duration '{}' is no duration", text.trim()) });
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
