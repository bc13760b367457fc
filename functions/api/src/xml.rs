//! JSON values as XML for clients that ask for it. Names follow XML practice:
//! `_` becomes `-`. Array elements are `<item>`; null fields are left out.

use quick_xml::{
    events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event},
    Writer,
};
use serde_json::Value;

pub fn to_xml(root: &str, value: &Value) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail; the results are ignored for that reason.
    let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    element(&mut writer, &xml_name(root), value);
    String::from_utf8(writer.into_inner()).unwrap_or_default()
}

fn element(w: &mut Writer<Vec<u8>>, name: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            let _ = w.write_event(Event::Start(BytesStart::new(name)));
            for (k, v) in map {
                element(w, &xml_name(k), v);
            }
            let _ = w.write_event(Event::End(BytesEnd::new(name)));
        }
        Value::Array(items) => {
            let _ = w.write_event(Event::Start(BytesStart::new(name)));
            for item in items {
                element(w, "item", item);
            }
            let _ = w.write_event(Event::End(BytesEnd::new(name)));
        }
        scalar => {
            let text = match scalar {
                Value::String(s) => strip_invalid_chars(s),
                other => other.to_string(),
            };
            let _ = w.write_event(Event::Start(BytesStart::new(name)));
            let _ = w.write_event(Event::Text(BytesText::new(&text)));
            let _ = w.write_event(Event::End(BytesEnd::new(name)));
        }
    }
}

/// `_` → `-`, and anything that would not be an XML name made safe (map keys
/// such as external id names come from clients).
fn xml_name(key: &str) -> String {
    let mut name: String =
        key.chars().map(|c| if c == '_' { '-' } else if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert(0, 'x');
    }
    name
}

/// XML 1.0 cannot carry most control characters, even escaped.
fn strip_invalid_chars(s: &str) -> String {
    s.chars().filter(|&c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn underscores_become_dashes_and_text_is_escaped() {
        let xml = to_xml("episode", &json!({"parent_guid": "abc", "title": "A & B <c>\u{1}", "link": null,
                                           "tracks": [{"artist": "x", "offset": 3}]}));
        assert!(xml.contains("<parent-guid>abc</parent-guid>"), "{xml}");
        assert!(xml.contains("<title>A &amp; B &lt;c&gt;</title>"), "{xml}");
        assert!(!xml.contains("link"));
        assert!(xml.contains("<tracks>") && xml.contains("<item>") && xml.contains("<offset>3</offset>"), "{xml}");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    }
}
