//! Published feeds held in memory, with their gzip and brotli forms made
//! once per published version: podcast apps poll the same few files all day,
//! so an answer is a map lookup and a copy of shared bytes. An entry is
//! checked against the store (its sha256, one `head`) when this process has
//! published since, and otherwise at most once a second, so another
//! process's publish (serve on AWS, several instances) shows within a second.

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use bytes::Bytes;

/// How long an entry is served without looking at the store.
const FRESH: Duration = Duration::from_secs(1);
/// Feeds kept; past it, the least recently checked one goes.
const MAX_ENTRIES: usize = 4096;

#[derive(Debug)]
pub struct CachedFeed {
    pub sha256: String,
    pub content_type: String,
    pub last_modified: Option<String>,
    /// Where the feed moved (the show's `new_feed_url` with `redirect: true`): answered with 301.
    pub redirect: Option<String>,
    pub identity: Bytes,
    pub gzip: Bytes,
    pub brotli: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The best encoding the client accepts (`q=0` refuses one): brotli, then gzip.
    pub fn negotiate(accept: Option<&str>) -> Encoding {
        let Some(accept) = accept else { return Encoding::Identity };
        let accepts = |name: &str| {
            accept.split(',').any(|part| {
                let mut it = part.split(';');
                let coding = it.next().unwrap_or("").trim();
                let q = it.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
                (coding.eq_ignore_ascii_case(name) || coding == "*") && q > 0.0
            })
        };
        if accepts("br") {
            Encoding::Brotli
        } else if accepts("gzip") {
            Encoding::Gzip
        } else {
            Encoding::Identity
        }
    }

    pub fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }
}

impl CachedFeed {
    pub fn new(sha256: String, content_type: String, last_modified: Option<String>, identity: Bytes) -> Self {
        let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(identity.len() / 4), flate2::Compression::best());
        let gzip = gz.write_all(&identity).and_then(|()| gz.finish()).map(Bytes::from).unwrap_or_default();
        let mut br = Vec::with_capacity(identity.len() / 4);
        let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
        let brotli = brotli::BrotliCompress(&mut identity.as_ref(), &mut br, &params).map(|_| Bytes::from(br)).unwrap_or_default();
        Self { sha256, content_type, last_modified, redirect: None, identity, gzip, brotli }
    }

    /// The bytes of one encoding (identity when a compressor failed).
    pub fn body(&self, encoding: Encoding) -> (Encoding, Bytes) {
        match encoding {
            Encoding::Gzip if !self.gzip.is_empty() => (encoding, self.gzip.clone()),
            Encoding::Brotli if !self.brotli.is_empty() => (encoding, self.brotli.clone()),
            _ => (Encoding::Identity, self.identity.clone()),
        }
    }

    /// A strong ETag per representation, so caches never mix encodings.
    pub fn etag(&self, encoding: Encoding) -> String {
        match encoding {
            Encoding::Identity => format!("\"{}\"", self.sha256),
            Encoding::Gzip => format!("\"{}-gz\"", self.sha256),
            Encoding::Brotli => format!("\"{}-br\"", self.sha256),
        }
    }
}

#[derive(Debug, Default)]
pub struct FeedCache {
    /// Each entry with when it was checked and the publish count then.
    entries: RwLock<HashMap<String, (Arc<CachedFeed>, Instant, u64)>>,
    /// Held while a changed feed is read and compressed, so the requests that
    /// arrive meanwhile wait for that one build instead of each making their own.
    pub building: tokio::sync::Mutex<()>,
}

impl FeedCache {
    /// The entry, if it was checked within the last second and nothing was
    /// published by this process since (`published`: the count now).
    pub fn fresh(&self, path: &str, published: u64) -> Option<Arc<CachedFeed>> {
        let entries = self.entries.read().ok()?;
        entries.get(path).filter(|(_, checked, seen)| *seen == published && checked.elapsed() < FRESH).map(|(f, _, _)| f.clone())
    }

    /// The entry whatever its age, to compare with the store's sha256.
    pub fn any(&self, path: &str) -> Option<Arc<CachedFeed>> {
        self.entries.read().ok()?.get(path).map(|(f, _, _)| f.clone())
    }

    /// Stores (or re-confirms) an entry as checked now, when the publish count was `published`.
    pub fn put(&self, path: &str, feed: Arc<CachedFeed>, published: u64) {
        let Ok(mut entries) = self.entries.write() else { return };
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(path) {
            if let Some(oldest) = entries.iter().min_by_key(|(_, (_, t, _))| *t).map(|(k, _)| k.clone()) {
                entries.remove(&oldest);
            }
        }
        entries.insert(path.to_owned(), (feed, Instant::now(), published));
    }

    pub fn forget(&self, path: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_negotiated_by_preference_and_q_values() {
        assert_eq!(Encoding::negotiate(None), Encoding::Identity);
        assert_eq!(Encoding::negotiate(Some("gzip, deflate, br")), Encoding::Brotli);
        assert_eq!(Encoding::negotiate(Some("gzip")), Encoding::Gzip);
        assert_eq!(Encoding::negotiate(Some("br;q=0, gzip;q=0.5")), Encoding::Gzip);
        assert_eq!(Encoding::negotiate(Some("identity")), Encoding::Identity);
        assert_eq!(Encoding::negotiate(Some("*")), Encoding::Brotli);
    }

    #[test]
    fn compressed_forms_decompress_to_the_feed() {
        let xml = Bytes::from("<rss>".to_owned() + &"<item><title>Episode</title></item>".repeat(500) + "</rss>");
        let feed = CachedFeed::new("abc".into(), "application/rss+xml".into(), None, xml.clone());
        assert!(feed.gzip.len() * 10 < xml.len() && feed.brotli.len() * 10 < xml.len());
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(feed.gzip.as_ref()), &mut back).unwrap();
        assert_eq!(back, xml.as_ref());
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut feed.brotli.as_ref(), &mut back).unwrap();
        assert_eq!(back, xml.as_ref());
        assert_ne!(feed.etag(Encoding::Gzip), feed.etag(Encoding::Identity));
    }
}
