//! One request-body schema per kind of resource, written to say what the
//! domain's validation takes (`domain/resource.rs`, `stream.rs`,
//! `webhook.rs`, `schedule.rs`, `channel.rs`): lengths, closed sets,
//! patterns, ranges. `{Kind}Create` lists what a `POST` needs; `{Kind}Update`
//! (a `PUT` merges the fields sent) has the same fields, none required.
//! Rules across fields or across stored records (tracks in order, one HLS
//! output, a profile that fits its outputs, references that must exist) are
//! the domain's alone and answer 400 or 422 as documented.

use serde_json::{json, Value};

const GUID: &str = "^[0-9a-f]{12}$";
/// A host name ending in an alphabetic top-level label (as real ones do; a
/// numeric-looking last label would be read as an IPv4 address).
pub(crate) const URL: &str = r"^https?://([a-z]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~!$&'()*+,;=:@/%-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*)?$";

fn text(min: u32, max: u32) -> Value {
    json!({ "type": "string", "minLength": min, "maxLength": max })
}

fn url_or_null() -> Value {
    json!({ "type": ["string", "null"], "pattern": URL, "maxLength": 2000 })
}

fn image() -> Value {
    json!({ "type": ["string", "null"], "pattern": format!("({GUID})|({URL})"), "maxLength": 2000 })
}

fn count(min: u64, max: u64) -> Value {
    json!({ "type": ["integer", "null"], "minimum": min, "maximum": max })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": properties })
}

/// Each kind's properties and the fields a create needs.
fn kinds() -> Vec<(&'static str, &'static [&'static str], Value)> {
    let profile = |format: &str, bitrate: Value, rates: &[u32]| {
        json!({
            "type": "object", "additionalProperties": false, "required": ["format", "sample_rate", "channels"],
            "properties": {
                "name": text(0, 255), "format": { "const": format }, "bitrate": bitrate,
                "sample_rate": { "enum": rates }, "channels": { "type": "integer", "minimum": 1, "maximum": 2 },
                "hls_segment_seconds": count(1, 30),
            }
        })
    };
    let secret = json!({ "type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^\x00-\x1f\x7f]+$" });
    let timezone = json!({ "type": "string", "pattern": r"^(UTC|[A-Z][A-Za-z_+-]+(/[A-Za-z0-9_+-]+){1,2})$", "description": "an IANA time zone, e.g. Europe/Berlin" });
    vec![
        ("show", &["title"], json!({
            "title": text(1, 255), "description": text(0, 4000),
            "language": { "type": "string", "maxLength": 35, "pattern": "^([A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8})*)?$" },
            "link": url_or_null(), "category": { "type": ["string", "null"] }, "subcategory": { "type": ["string", "null"] },
            "explicit": { "type": "boolean" }, "type": { "enum": ["episodic", "serial"] }, "author": text(0, 255),
            "owner": object(&[], json!({ "name": { "type": "string" }, "email": { "type": "string", "pattern": r"^([\s\S]*@[\s\S]*)?$" } })),
            "copyright": text(0, 255), "image": image(), "block": { "type": "boolean" }, "complete": { "type": "boolean" },
            "new_feed_url": url_or_null(), "redirect": { "type": "boolean" }, "podcast_guid": { "type": ["string", "null"] }, "locked": { "type": "boolean" },
        })),
        ("episode", &["title"], json!({
            "title": text(1, 255), "summary": text(0, 4000), "content": text(0, 100_000), "link": url_or_null(),
            "published": { "type": ["integer", "null"], "description": "UNIX seconds; in the future: scheduled" },
            "season": count(1, u32::MAX.into()), "episode": count(1, u32::MAX.into()),
            "type": { "enum": ["full", "trailer", "bonus"] }, "explicit": { "type": "boolean" }, "block": { "type": "boolean" },
            "enclosure": { "type": ["string", "null"], "pattern": GUID, "description": "an asset of the production (422 episode.enclosure_missing)" },
            "image": image(), "transcript": url_or_null(), "chapters": url_or_null(),
            "feed_guid": { "type": ["string", "null"], "pattern": r"^\s*[^\x00-\x1f\x7f\s]([^\x00-\x1f\x7f]{0,1998}[^\x00-\x1f\x7f\s])?\s*$", "maxLength": 2000, "description": "the guid the feed publishes (kept from another host); unset: podops:<production>:<episode>" },
            "tracks": { "type": "array", "maxItems": 1000, "description": "in order of offset (400 tracks.order)",
                "items": object(&["artist", "title", "offset"], json!({ "artist": text(1, 255), "title": text(1, 255), "offset": { "type": "integer", "minimum": 0, "maximum": u32::MAX } })) },
        })),
        ("asset", &["rel", "source"], json!({
            "name": text(0, 255), "content_type": { "type": "string", "maxLength": 127, "pattern": "^([^/]*/[\\s\\S]*)?$" },
            "rel": { "enum": ["external", "import"], "description": "local assets come from uploads; recordings from streams" },
            "source": { "type": "string", "pattern": URL, "maxLength": 2000 },
            "external_ids": { "type": "object", "maxProperties": 16, "propertyNames": { "pattern": "^[A-Za-z0-9_]{1,64}$" }, "additionalProperties": text(1, 255) },
        })),
        ("profile", &["format", "sample_rate", "channels"], json!({
            "oneOf": [
                profile("mp3", json!({ "type": "integer", "minimum": 32000, "maximum": 320000 }), &[22_050, 24_000, 32_000, 44_100, 48_000]),
                profile("aac", json!({ "type": "integer", "minimum": 32000, "maximum": 320000 }), &[22_050, 24_000, 32_000, 44_100, 48_000]),
                profile("opus", json!({ "type": "integer", "minimum": 16000, "maximum": 256000 }), &[8_000, 12_000, 16_000, 24_000, 48_000]),
                profile("flac", json!({ "const": 0 }), &[22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000]),
            ]
        })),
        ("playlist", &[], json!({
            "title": text(0, 255),
            "items": { "type": "array", "maxItems": 500, "items": object(&["asset"], json!({ "asset": { "type": "string", "pattern": GUID }, "title": { "type": ["string", "null"], "maxLength": 255 } })) },
        })),
        ("stream", &["profile", "input", "outputs"], json!({
            "title": text(0, 255), "profile": { "type": "string", "pattern": GUID },
            "input": { "oneOf": [
                object(&["playlist"], json!({ "playlist": { "type": "string", "pattern": GUID } })),
                object(&["url"], json!({ "url": { "type": "string", "pattern": URL, "maxLength": 2000 } })),
                object(&["tone"], json!({ "tone": object(&["frequency"], json!({ "frequency": { "type": "integer", "minimum": 20, "maximum": 20000 } })) })),
            ] },
            "outputs": { "type": "array", "minItems": 1, "maxItems": 8, "description": "at most one hls", "items": { "oneOf": [
                object(&["kind"], json!({ "kind": { "const": "hls" } })),
                object(&["kind", "url", "password"], json!({ "kind": { "const": "icecast" },
                    "url": { "type": "string", "pattern": r"^icecast://([a-z]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(:[0-9]{1,5})?/[A-Za-z0-9._-]+$" },
                    "password": secret })),
                object(&["kind", "url", "stream_key"], json!({ "kind": { "const": "rtmp" },
                    "url": { "type": "string", "pattern": r"^rtmps?://([a-z]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(:[0-9]{1,5})?/[A-Za-z0-9._~/-]+$" },
                    "stream_key": secret })),
            ] } },
            "loop": { "type": "boolean" }, "show_feed": { "type": "boolean" }, "record": { "type": "boolean" },
            "publish_recordings": { "type": "boolean", "description": "needs record: true" },
        })),
        ("webhook", &["url", "events", "secret"], json!({
            "url": { "type": "string", "pattern": URL, "maxLength": 2000 },
            "events": { "type": "array", "minItems": 1, "items": { "enum": podops_core::domain::webhook::WEBHOOK_EVENTS } },
            "secret": { "type": "string", "minLength": 16, "maxLength": 256, "description": "write-only; whsec_<base64 of 16+ bytes> or 16-256 printable characters" },
            "description": text(0, 1000),
        })),
        ("schedule", &["stream", "title", "timezone", "duration"], json!({
            "stream": { "type": "string", "pattern": GUID }, "title": text(1, 255), "timezone": timezone,
            "start": { "type": ["string", "null"], "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$", "description": "one slot, local date-time (or rule)" },
            "rule": { "oneOf": [{ "type": "null" }, object(&["weekdays", "time"], json!({
                "weekdays": { "type": "array", "minItems": 1, "items": { "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] } },
                "time": { "type": "string", "pattern": "^[0-9]{2}:[0-9]{2}(:[0-9]{2})?$" } }))] },
            "duration": { "type": "integer", "minimum": 60, "maximum": podops_core::domain::schedule::MAX_DURATION },
        })),
        ("channel", &["name", "title", "streams", "timezone"], json!({
            "name": { "type": "string", "pattern": "^[a-z0-9_-]{1,64}$" }, "title": text(1, 255),
            "streams": { "type": "array", "minItems": 1, "maxItems": 100, "items": { "type": "string", "pattern": GUID } },
            "timezone": timezone,
        })),
    ]
}

/// `(kind, create schema, update schema)` for every kind.
pub fn bodies() -> Vec<(&'static str, Value, Value)> {
    kinds()
        .into_iter()
        .map(|(kind, required, properties)| {
            let mut create = if properties.get("oneOf").is_some() { properties.clone() } else { object(required, properties.clone()) };
            if kind == "show" {
                // A feed redirects only to where the show moved.
                create["if"] = json!({ "required": ["redirect"], "properties": { "redirect": { "const": true } } });
                create["then"] = json!({ "required": ["new_feed_url"], "properties": { "new_feed_url": { "type": "string" } } });
            }
            let update = strip_required(create.clone());
            (kind, create, update)
        })
        .collect()
}

/// The same schema with nothing required at its top level (a PUT sends what changes).
fn strip_required(mut schema: Value) -> Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("required");
        if let Some(Value::Array(alternatives)) = obj.get_mut("oneOf") {
            for a in alternatives.iter_mut() {
                if let Some(o) = a.as_object_mut() {
                    // A profile's format stays what selects the alternative.
                    o.insert("required".into(), json!(["format"]));
                }
            }
        }
    }
    schema
}
