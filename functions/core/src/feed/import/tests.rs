//! One small feed per quirk, written for the purpose.

use super::*;

fn feed(channel: &str, items: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:podcast="https://podcastindex.org/namespace/1.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>{channel}{items}</channel></rss>"#
    )
}

const ITEM: &str = r#"<item><title>One</title><guid isPermaLink="false">  abc-1 </guid><pubDate>Tue, 05 Mar 2024 16:00:00 GMT</pubDate>
<enclosure url="https://cdn.example.com/one.mp3?dest-id=9" length="0" type="audio/mpeg"/><itunes:duration>1:02:03</itunes:duration></item>"#;

#[test]
fn the_channel_gives_the_show() {
    let channel = r#"<title>The Show</title><link>https://show.example.com</link><language>en-us</language>
<description><![CDATA[<p>Hello <b>world</b></p>]]></description><copyright>© 2024</copyright>
<itunes:author>Ann</itunes:author><itunes:explicit>clean</itunes:explicit><itunes:type>Serial</itunes:type>
<itunes:owner><itunes:name>Ann A.</itunes:name><itunes:email>ann@example.com</itunes:email></itunes:owner>
<itunes:image href="https://img.example.com/art.jpg"/>
<itunes:category text="Society &amp; Culture"><itunes:category text="Documentary"/></itunes:category><itunes:category text="News"/>
<podcast:guid>917393e3-1b1e-5cef-ace4-edaa54e1f810</podcast:guid><podcast:locked owner="ann@example.com">yes</podcast:locked>"#;
    let (f, findings) = parse(feed(channel, ITEM).as_bytes()).unwrap();
    let s = &f.show;
    assert_eq!((s.title.as_str(), s.language.as_str(), s.description.as_str()), ("The Show", "en-us", "<p>Hello <b>world</b></p>"));
    assert_eq!((s.category.as_deref(), s.subcategory.as_deref()), (Some("Society & Culture"), Some("Documentary")));
    assert_eq!((s.explicit, s.show_type.as_deref(), s.author.as_str()), (Some(false), Some("serial"), "Ann"));
    assert_eq!((s.owner_name.as_str(), s.owner_email.as_str()), ("Ann A.", "ann@example.com"));
    assert_eq!(s.image.as_deref(), Some("https://img.example.com/art.jpg"));
    assert_eq!((s.locked, s.locked_owner.as_deref()), (true, Some("ann@example.com")));
    assert_eq!(s.podcast_guid.as_deref(), Some("917393e3-1b1e-5cef-ace4-edaa54e1f810"));
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn an_item_keeps_its_guid_verbatim_and_its_enclosure_with_query_and_zero_length() {
    let (f, _) = parse(feed("<title>S</title>", ITEM).as_bytes()).unwrap();
    let item = &f.items[0];
    assert_eq!((item.guid.as_str(), item.guid_derived), ("abc-1", false), "trimmed only");
    assert_eq!(item.published, Some(1_709_654_400));
    assert_eq!(item.duration, Some(3723));
    let e = item.enclosure.as_ref().unwrap();
    assert_eq!((e.url.as_str(), e.content_type.as_str(), e.length), ("https://cdn.example.com/one.mp3?dest-id=9", "audio/mpeg", None));
}

#[test]
fn item_fields_html_cdata_and_podcasting_2_0_tags() {
    let item = r#"<item><title><![CDATA[Ep & <Two>]]></title><guid>g2</guid><description>Short &lt;i&gt;notes&lt;/i&gt;</description>
<content:encoded><![CDATA[<p>Long <a href="https://x.example.com/?a=1&b=2">notes</a></p>]]></content:encoded>
<itunes:season>2</itunes:season><itunes:episode>14</itunes:episode><itunes:episodeType>Bonus</itunes:episodeType><itunes:explicit>true</itunes:explicit>
<itunes:block>Yes</itunes:block><itunes:image href="https://img.example.com/ep2.jpg"/>
<podcast:transcript url="https://x.example.com/t.vtt" type="text/vtt"/><podcast:transcript url="https://x.example.com/t.json" type="application/json"/>
<podcast:chapters url="https://x.example.com/c.json" type="application/json+chapters"/><enclosure url="https://cdn.example.com/2.m4a" type="audio/x-m4a" length="12345"/></item>"#;
    let (f, _) = parse(feed("<title>S</title>", item).as_bytes()).unwrap();
    let i = &f.items[0];
    assert_eq!((i.title.as_str(), i.description.as_str()), ("Ep & <Two>", "Short <i>notes</i>"));
    assert_eq!(i.content, r#"<p>Long <a href="https://x.example.com/?a=1&b=2">notes</a></p>"#);
    assert_eq!((i.season, i.episode, i.episode_type.as_deref(), i.explicit, i.block), (Some(2), Some(14), Some("bonus"), Some(true), true));
    assert_eq!(i.image.as_deref(), Some("https://img.example.com/ep2.jpg"));
    assert_eq!(i.transcripts.len(), 2);
    assert_eq!(i.chapters.as_deref(), Some("https://x.example.com/c.json"));
    assert_eq!(i.enclosure.as_ref().and_then(|e| e.length), Some(12345));
}

#[test]
fn items_without_guids_are_keyed_by_their_enclosure_and_repeats_are_dropped() {
    let items = r#"<item><title>A</title><enclosure url="https://cdn.example.com/a.mp3" type="audio/mpeg"/></item>
<item><title>B</title><pubDate>5 Mar 2024 10:00:00 EST</pubDate></item>
<item><title>C</title><guid>same</guid></item><item><title>D</title><guid>same</guid></item>"#;
    let (f, findings) = parse(feed("<title>S</title>", items).as_bytes()).unwrap();
    assert_eq!(f.items.len(), 3);
    assert_eq!((f.items[0].guid.as_str(), f.items[0].guid_derived), ("https://cdn.example.com/a.mp3", true));
    assert!(f.items[1].guid.starts_with("podops-import:"));
    let again = parse(feed("<title>S</title>", items).as_bytes()).unwrap().0;
    assert_eq!(again.items[1].guid, f.items[1].guid, "derived guids are stable");
    assert_eq!(f.items[2].title, "C");
    let codes: Vec<&str> = findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, ["import.guid_derived", "import.guid_derived", "import.duplicate_guid"]);
}

#[test]
fn declared_latin_encodings_are_decoded() {
    let text = feed("<title>Caf\u{e9} \u{2013} \u{201c}Ol\u{e9}\u{201d}</title>", ITEM).replace("UTF-8", "windows-1252");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let (f, _) = parse(&bytes).unwrap();
    assert_eq!(f.show.title, "Caf\u{e9} \u{2013} \u{201c}Ol\u{e9}\u{201d}");
    let text = feed("<title>Caf\u{e9}</title>", ITEM).replace("UTF-8", "ISO-8859-1");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    assert_eq!(parse(&bytes).unwrap().0.show.title, "Caf\u{e9}");
    let bom = [&[0xEF, 0xBB, 0xBF][..], feed("<title>Bom</title>", ITEM).as_bytes()].concat();
    assert_eq!(parse(&bom).unwrap().0.show.title, "Bom");
}

#[test]
fn odd_dates_and_durations_are_reported_not_fatal() {
    let item = r#"<item><guid>x</guid><pubDate>sometime soon</pubDate><itunes:duration>about an hour</itunes:duration></item>"#;
    let (f, findings) = parse(feed("<title>S</title>", item).as_bytes()).unwrap();
    assert_eq!((f.items[0].published, f.items[0].duration), (None, None));
    let codes: Vec<&str> = findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, ["import.bad_date", "import.bad_duration"]);
}

#[test]
fn what_is_not_a_feed_is_refused_with_a_code() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<rss><channel><title>&lol2;</title><item><guid>a</guid></item></channel></rss>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><rss><channel><title>&xxe;</title><item><guid>a</guid></item></channel></rss>"#;
    let garbage: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for (what, bytes, code) in [
        ("billion laughs", laughs.as_bytes().to_vec(), "import.doctype"),
        ("external entity", xxe.as_bytes().to_vec(), "import.doctype"),
        ("an HTML page", b"<!doctype html><html><body><p>Not a feed</body></html>".to_vec(), "import.not_rss"),
        ("XHTML without doctype", b"<html><body><p>Not a feed</p></body></html>".to_vec(), "import.not_rss"),
        ("an Atom feed", b"<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>x</title></feed>".to_vec(), "import.not_rss"),
        ("no items", feed("<title>Empty</title>", "").into_bytes(), "import.no_items"),
        ("garbage", garbage, "import.not_xml"),
        ("a PNG", [&b"\x89PNG\r\n\x1a\n"[..], &[0u8; 64][..]].concat(), "import.not_xml"),
    ] {
        match parse(&bytes) {
            Err(e) => assert_eq!(e.code, code, "{what}: {e}"),
            Ok((f, _)) => panic!("{what} was read as a feed: {:?}", f.show.title),
        }
    }
    assert_eq!(parse(&vec![b' '; MAX_FEED_BYTES + 1]).unwrap_err().code, "import.too_large");
}

#[test]
fn unescaped_markup_keeps_its_text_and_namespaces_are_matched_by_uri() {
    let text = r#"<?xml version="1.0"?><rss xmlns:it="http://www.itunes.com/DTDs/Podcast-1.0.dtd"><channel><title>Show</title>
<item><guid>g</guid><title>Real title</title><itunes:title>Undeclared prefix</itunes:title><description>line one<br/>line two</description>
<it:episode>7</it:episode><it:block>yes</it:block></item></channel></rss>"#;
    let (f, _) = parse(text.as_bytes()).unwrap();
    let i = &f.items[0];
    assert_eq!(i.description, "line oneline two");
    assert_eq!(i.title, "Real title", "an undeclared itunes: prefix is not the itunes namespace, and never replaces <title>");
    assert_eq!((i.episode, i.block), (Some(7), true), "Apple's namespace in another case, under another prefix");
}
