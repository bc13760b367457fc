//! Whether a stored resource's JSON text is complete as today's code writes
//! it, so that a read can answer the stored text as it is instead of parsing
//! it and writing it out again (the largest cost of listing episodes).
//!
//! Complete means: every object has exactly the keys that serialising the
//! typed resource gives, at every level. Text written before a field was
//! added lacks it, and text of a kind whose fields are sometimes left out
//! varies; both go the typed way, which fills defaults. Only shows and
//! episodes are checked: they need no presentation (assets get signed URLs,
//! streams their run state, webhooks a mask) and every field is always written.

use std::{borrow::Cow, fmt, sync::OnceLock};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Episode, Guid, Kind, Resource, ResourceBody, Show, Track, Version};

/// The keys expected at each level of a resource's JSON.
#[derive(Debug)]
enum Shape {
    /// A scalar, or null where the sample had null: not looked into.
    Any,
    /// Its keys in byte order: the order stores write them (through a JSON
    /// value, whose map is sorted), so a check compares each key once.
    Object(Vec<(String, Shape)>),
    /// Every element has the element's shape.
    Array(Box<Shape>),
}

impl Shape {
    fn of(value: &Value) -> Shape {
        match value {
            Value::Object(map) => {
                let mut fields: Vec<_> = map.iter().map(|(k, v)| (k.clone(), Shape::of(v))).collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Shape::Object(fields)
            }
            Value::Array(items) => items.first().map_or(Shape::Any, |first| Shape::Array(Box::new(Shape::of(first)))),
            _ => Shape::Any,
        }
    }
}

/// The shape of a resource of `kind` as written today, from a sample whose
/// lists have one element (so their elements' keys are known too).
fn shape(kind: Kind) -> Option<&'static Shape> {
    static SHOW: OnceLock<Shape> = OnceLock::new();
    static EPISODE: OnceLock<Shape> = OnceLock::new();
    let (cell, body): (&OnceLock<Shape>, fn() -> ResourceBody) = match kind {
        Kind::Show => (&SHOW, || ResourceBody::Show(Show::default())),
        Kind::Episode => (&EPISODE, || {
            ResourceBody::Episode(Episode { tracks: vec![Track { artist: String::new(), title: String::new(), offset: 0 }], ..Default::default() })
        }),
        _ => return None,
    };
    Some(cell.get_or_init(|| {
        let guid = Guid::parse("000000000000").unwrap_or_else(|_| unreachable!("a valid guid"));
        let sample = Resource { guid: guid.clone(), parent_guid: guid, created: 0, updated: 0, version: Version::FIRST, body: body() };
        Shape::of(&serde_json::to_value(sample).unwrap_or(Value::Null))
    }))
}

/// True when `text` (a stored resource of `kind`) can be answered as it is.
pub fn answerable_as_stored(kind: Kind, text: &str) -> bool {
    let Some(shape) = shape(kind) else { return false };
    let mut de = serde_json::Deserializer::from_str(text);
    matches!(shape.deserialize(&mut de), Ok(true)) && de.end().is_ok()
}

impl<'de> DeserializeSeed<'de> for &Shape {
    /// Whether the value has the shape (the value is consumed either way).
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        match self {
            Shape::Any => deserializer.deserialize_ignored_any(IgnoredAny).map(|_| true),
            _ => deserializer.deserialize_any(Check(self)),
        }
    }
}

/// Field names are short: a byte loop here costs less than a call to
/// `memcmp`, which was the largest single cost of listing 100 episodes.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

struct Check<'a>(&'a Shape);

impl<'de> Visitor<'de> for Check<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let Shape::Object(fields) = self.0 else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(false);
        };
        // Complete text has exactly these keys, in this order; anything else
        // (a key missing, added or out of order) is answered the typed way.
        let mut expected = fields.iter();
        let mut complete = true;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match expected.next() {
                Some((name, shape)) if complete && same_key(name, &key) => complete = map.next_value_seed(shape)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    complete = false;
                }
            }
        }
        Ok(complete && expected.next().is_none())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let Shape::Array(element) = self.0 else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(false);
        };
        let mut complete = true;
        while let Some(ok) = seq.next_element_seed(element.as_ref())? {
            complete &= ok;
        }
        Ok(complete)
    }

    // Any other value where an object or a list belongs: not the shape.
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Owner;

    fn stored(body: ResourceBody) -> String {
        let guid = Guid::parse("0123456789ab").expect("guid");
        let resource = Resource { guid: guid.clone(), parent_guid: guid, created: 1, updated: 2, version: Version(3), body };
        // As the stores write it: through a JSON value, keys sorted.
        serde_json::to_value(resource).expect("serialises").to_string()
    }

    fn episode() -> Episode {
        Episode {
            title: "Pilot".into(),
            enclosure: Some(Guid::parse("00000000000a").expect("guid")),
            tracks: vec![Track { artist: "Beirut".into(), title: "Elephant Gun".into(), offset: 754 }],
            published: Some(1_795_000_000),
            ..Default::default()
        }
    }

    #[test]
    fn text_written_today_is_answered_as_stored() {
        assert!(answerable_as_stored(Kind::Episode, &stored(ResourceBody::Episode(episode()))));
        assert!(answerable_as_stored(Kind::Episode, &stored(ResourceBody::Episode(Episode::default()))));
        let show = Show { title: "T".into(), owner: Owner { name: "N".into(), email: "n@example.com".into() }, ..Default::default() };
        assert!(answerable_as_stored(Kind::Show, &stored(ResourceBody::Show(show))));
    }

    #[test]
    fn text_missing_a_field_goes_the_typed_way() {
        let mut value: Value = serde_json::from_str(&stored(ResourceBody::Episode(episode()))).expect("json");
        value.as_object_mut().expect("object").remove("chapters_object");
        assert!(!answerable_as_stored(Kind::Episode, &value.to_string()), "a field added since");
        let mut value: Value = serde_json::from_str(&stored(ResourceBody::Episode(episode()))).expect("json");
        value["tracks"][0].as_object_mut().expect("track").remove("offset");
        assert!(!answerable_as_stored(Kind::Episode, &value.to_string()), "a nested field added since");
        let mut value: Value = serde_json::from_str(&stored(ResourceBody::Show(Show::default()))).expect("json");
        value["owner"] = Value::Null;
        assert!(!answerable_as_stored(Kind::Show, &value.to_string()), "an object where null was written");
    }

    #[test]
    fn text_with_an_unknown_field_or_not_json_goes_the_typed_way() {
        let mut value: Value = serde_json::from_str(&stored(ResourceBody::Episode(episode()))).expect("json");
        value["removed_since"] = Value::Bool(true);
        assert!(!answerable_as_stored(Kind::Episode, &value.to_string()));
        let text = stored(ResourceBody::Episode(episode()));
        assert!(!answerable_as_stored(Kind::Episode, &text[..text.len() - 1]));
        assert!(!answerable_as_stored(Kind::Episode, &format!("{text} {{}}")));
    }

    #[test]
    fn text_with_its_keys_in_another_order_goes_the_typed_way() {
        let guid = Guid::parse("0123456789ab").expect("guid");
        let resource = Resource { guid: guid.clone(), parent_guid: guid, created: 1, updated: 2, version: Version(3), body: ResourceBody::Episode(episode()) };
        // Struct order, as a direct serialisation writes it: complete, but not as stores write it.
        assert!(!answerable_as_stored(Kind::Episode, &serde_json::to_string(&resource).expect("serialises")));
    }

    #[test]
    fn kinds_that_need_presenting_are_never_answered_as_stored() {
        for kind in [Kind::Asset, Kind::Stream, Kind::Webhook, Kind::Profile, Kind::Playlist, Kind::Schedule, Kind::Channel] {
            assert!(!answerable_as_stored(kind, "{}"), "{kind}");
        }
    }
}
