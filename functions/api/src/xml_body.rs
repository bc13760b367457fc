//! XML request bodies (seed 001's clients send `<episode><title>…</title>…`):
//! read into the same JSON value a JSON body gives, names with `-` made `_`,
//! `<item>` children made arrays, and each text typed by the kind's schema in
//! the OpenAPI document (XML has no numbers or booleans of its own), so one
//! validation path serves both.

use quick_xml::{events::Event, Reader};
use serde_json::{Map, Value};

/// An element as read: its children in order, and its text.
#[derive(Default)]
struct Element {
    children: Vec<(String, Element)>,
    text: String,
}

/// The root element's name and content as an untyped value (texts are strings).
pub fn parse(xml: &[u8]) -> Result<(String, Value), String> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<(String, Element)> = Vec::new();
    let mut root = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| e.to_string())? {
            Event::Start(e) => {
                if stack.len() >= 32 {
                    return Err("the XML is nested more than 32 deep".into());
                }
                stack.push((name_of(e.name().as_ref()), Element::default()));
            }
            Event::Empty(e) => {
                let child = (name_of(e.name().as_ref()), Element::default());
                match stack.last_mut() {
                    Some((_, parent)) => parent.children.push(child),
                    None => root = Some(child),
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| e.to_string())?;
                if let Some((_, el)) = stack.last_mut() {
                    el.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some((_, el)) = stack.last_mut() {
                    el.text.push_str(&String::from_utf8_lossy(&t.into_inner()));
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else { return Err("an end tag without its start".into()) };
                match stack.last_mut() {
                    Some((_, parent)) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Eof => break,
            // Declarations, comments, processing instructions and DOCTYPEs carry no data.
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err("the XML ends inside an element".into());
    }
    let (name, el) = root.ok_or("the body holds no XML element")?;
    Ok((name, untyped(el)))
}

fn name_of(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).replace('-', "_")
}

fn untyped(el: Element) -> Value {
    if el.children.is_empty() {
        return Value::String(el.text);
    }
    if el.children.iter().all(|(n, _)| n == "item") {
        return Value::Array(el.children.into_iter().map(|(_, c)| untyped(c)).collect());
    }
    let mut map = Map::new();
    for (name, child) in el.children {
        let value = untyped(child);
        match map.get_mut(&name) {
            // A repeated name is a list.
            Some(Value::Array(list)) => list.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                map.insert(name, value);
            }
        }
    }
    Value::Object(map)
}

/// Types `value` as `schema` says, resolving `$ref`s in `components`: texts
/// become integers, numbers and booleans where the schema has them; an empty
/// text is null where null is allowed; a lone element where a list is
/// expected is a list of one. What cannot be typed is left as it is, for the
/// validation to refuse with its usual error.
pub fn typed(value: Value, schema: &Value, components: &Value) -> Value {
    let schema = resolve(schema, components);
    if let Some(alternatives) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
        if value == Value::String(String::new()) && alternatives.iter().any(|a| a.get("type") == Some(&Value::from("null"))) {
            return Value::Null;
        }
        return match alternatives.iter().find(|a| a.get("type") != Some(&Value::from("null"))) {
            Some(a) => typed(value, a, components),
            None => value,
        };
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let nullable = types.contains(&"null");
    match value {
        Value::String(s) if s.is_empty() && nullable => Value::Null,
        Value::String(s) if types.contains(&"integer") => s.trim().parse::<i64>().map(Value::from).unwrap_or(Value::String(s)),
        Value::String(s) if types.contains(&"number") => s.trim().parse::<f64>().ok().and_then(|n| serde_json::Number::from_f64(n).map(Value::Number)).unwrap_or(Value::String(s)),
        Value::String(s) if types.contains(&"boolean") => match s.trim() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => Value::String(s),
        },
        Value::String(s) if types.contains(&"array") && s.is_empty() => Value::Array(Vec::new()),
        Value::String(s) if types.contains(&"object") && s.is_empty() => Value::Object(Map::new()),
        Value::Array(items) => {
            let item_schema = schema.get("items").cloned().unwrap_or(Value::Null);
            Value::Array(items.into_iter().map(|v| typed(v, &item_schema, components)).collect())
        }
        Value::Object(map) if types.contains(&"array") => {
            let item_schema = schema.get("items").cloned().unwrap_or(Value::Null);
            Value::Array(vec![typed(Value::Object(map), &item_schema, components)])
        }
        Value::Object(map) => {
            let properties = schema.get("properties").cloned().unwrap_or(Value::Null);
            let extra = schema.get("additionalProperties").cloned().unwrap_or(Value::Null);
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let s = properties.get(&k).cloned().unwrap_or_else(|| extra.clone());
                        (k.clone(), typed(v, &s, components))
                    })
                    .collect(),
            )
        }
        other => other,
    }
}

fn resolve<'a>(schema: &'a Value, components: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..16 {
        match current.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/")) {
            Some(name) => current = components.get(name).unwrap_or(&Value::Null),
            None => return current,
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_xml_episode_reads_as_its_json() {
        let (root, value) = parse(br#"<?xml version="1.0"?><episode><title>Fish &amp; Chips</title><season>2</season><explicit>true</explicit>
            <link></link><tracks><item><artist>A</artist><title>B</title><offset>3</offset></item></tracks></episode>"#)
        .unwrap();
        assert_eq!(root, "episode");
        let components = json!({
            "Episode": {"type": "object", "properties": {
                "title": {"type": "string"}, "season": {"type": ["integer", "null"]}, "explicit": {"type": "boolean"},
                "link": {"type": ["string", "null"]}, "tracks": {"type": "array", "items": {"$ref": "#/components/schemas/Track"}}}},
            "Track": {"type": "object", "properties": {"artist": {"type": "string"}, "title": {"type": "string"}, "offset": {"type": "integer"}}}
        });
        let typed = typed(value, &json!({"$ref": "#/components/schemas/Episode"}), &components);
        assert_eq!(typed, json!({"title": "Fish & Chips", "season": 2, "explicit": true, "link": null,
            "tracks": [{"artist": "A", "title": "B", "offset": 3}]}));
    }

    #[test]
    fn dashes_become_underscores_and_broken_xml_is_an_error() {
        let (_, v) = parse(b"<show><new-feed-url>https://x.example/f.xml</new-feed-url></show>").unwrap();
        assert_eq!(v, json!({"new_feed_url": "https://x.example/f.xml"}));
        assert!(parse(b"<show><title>open").is_err());
        assert!(parse(b"").is_err());
    }
}
