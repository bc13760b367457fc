//! The import parser against real feeds from 13 hosting platforms and a few
//! self-hosted ones (`../shared/feeds/`, third parties' data, never copied into
//! the repository; skipped, and saying so, when the folder is absent). Each is
//! read by feedparser too (Python, an implementation apart from ours): the
//! same items, the same guids verbatim, the same publication times, the same
//! enclosure URLs and types.

use std::{path::PathBuf, process::Command};

use podops_core::feed::import::parse;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What feedparser read: per entry its guid, publication time, enclosure.
fn feedparser(path: &std::path::Path) -> Value {
    let script = r#"
import feedparser, calendar, json, sys
d = feedparser.parse(sys.argv[1])
out = []
for e in d.entries:
    enc = [l for l in e.get('links', []) if l.get('rel') == 'enclosure']
    t = e.get('published_parsed')
    out.append({'guid': e.get('id'), 'published': calendar.timegm(t) if t else None,
                'url': enc[0].get('href') if enc else None, 'type': enc[0].get('type') if enc else None})
print(json.dumps({'title': d.feed.get('title'), 'entries': out}))
"#;
    let python = repo().join(".venv/bin/python");
    let out = Command::new(&python).args(["-c", script]).arg(path).output().unwrap_or_else(|e| panic!("{}: {e} (run ./scripts/test)", python.display()));
    assert!(out.status.success(), "feedparser: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn real_feeds_read_as_feedparser_reads_them() {
    let dir = repo().join("../shared/feeds");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("SKIPPED: {} is absent (third-party feeds are not in the repository)", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "xml")).collect();
    files.sort();
    assert!(files.len() >= 13, "the corpus has feeds from 13 hosts: {files:?}");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let (feed, findings) = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let theirs = feedparser(&path);
        let entries = theirs["entries"].as_array().unwrap();
        assert_eq!(feed.items.len(), entries.len(), "{name}: items");
        assert_eq!(Some(feed.show.title.as_str()), theirs["title"].as_str().map(str::trim), "{name}: title");
        let mut dated = 0;
        for (ours, theirs) in feed.items.iter().zip(entries) {
            if !ours.guid_derived {
                assert_eq!(Some(ours.guid.as_str()), theirs["guid"].as_str().map(str::trim), "{name}: guid");
            }
            if let Some(t) = theirs["published"].as_i64() {
                assert_eq!(ours.published, Some(t), "{name}: {} pubDate", ours.guid);
                dated += 1;
            }
            let enclosure = ours.enclosure.as_ref();
            assert_eq!(enclosure.map(|e| e.url.as_str()), theirs["url"].as_str(), "{name}: {} enclosure", ours.guid);
            if let Some(kind) = theirs["type"].as_str().filter(|t| !t.is_empty()) {
                assert_eq!(enclosure.map(|e| e.content_type.as_str()), Some(kind), "{name}: {} type", ours.guid);
            }
        }
        // SOURCES.md: these three publish podcast:locked yes.
        let locked = ["buzzsprout", "rsscom", "freedomcontroller"].iter().any(|h| name.starts_with(h));
        assert_eq!(feed.show.locked, locked, "{name}: podcast:locked");
        let derived = feed.items.iter().filter(|i| i.guid_derived).count();
        let codes: std::collections::BTreeSet<&str> = findings.iter().map(|f| f.code).collect();
        eprintln!("{name}: {} items, {dated} dated as feedparser dates them, {derived} guids derived, findings {codes:?}", feed.items.len());
    }
}
