//! Resources under a production: the show (channel), its episodes and its
//! media assets. Field names are the JSON names of DESIGN's "Resource bodies".
//!
//! Clients send only the fields they own; `parse_client_body` drops the fields
//! the server owns (ids, timestamps, measured facts) so a client may PUT back
//! what it got from a GET.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    stream::{Playlist, Profile, Stream},
    Guid, Invalid, Kind, Timestamp, Version,
};

/// A stored resource: envelope fields plus the kind-specific body.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Resource {
    pub guid: Guid,
    pub parent_guid: Guid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub version: Version,
    #[serde(flatten)]
    pub body: ResourceBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ResourceBody {
    Show(Show),
    Episode(Episode),
    Asset(Asset),
    Profile(Profile),
    Playlist(Playlist),
    Stream(Stream),
    Webhook(super::webhook::Webhook),
    Schedule(super::schedule::Schedule),
    Channel(super::channel::Channel),
}

impl ResourceBody {
    pub fn kind(&self) -> Kind {
        match self {
            ResourceBody::Show(_) => Kind::Show,
            ResourceBody::Episode(_) => Kind::Episode,
            ResourceBody::Asset(_) => Kind::Asset,
            ResourceBody::Profile(_) => Kind::Profile,
            ResourceBody::Playlist(_) => Kind::Playlist,
            ResourceBody::Stream(_) => Kind::Stream,
            ResourceBody::Webhook(_) => Kind::Webhook,
            ResourceBody::Schedule(_) => Kind::Schedule,
            ResourceBody::Channel(_) => Kind::Channel,
        }
    }
}

impl Resource {
    /// A stored resource from its JSON, taking the value apart by move. Not a
    /// derived `Deserialize`: serde's `flatten` + internal tag buffers every
    /// field a second time, the largest cost of listing 100 episodes.
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut map) = value else { return Err("a resource is a JSON object".into()) };
        let mut take = |field: &str| map.remove(field).ok_or_else(|| format!("missing field {field}"));
        let guid: Guid = serde_json::from_value(take("guid")?).map_err(|e| e.to_string())?;
        let parent_guid: Guid = serde_json::from_value(take("parent_guid")?).map_err(|e| e.to_string())?;
        let created = take("created")?.as_i64().ok_or("created is not an integer")?;
        let updated = take("updated")?.as_i64().ok_or("updated is not an integer")?;
        let version = Version(take("version")?.as_u64().ok_or("version is not an integer")?);
        let kind: Kind = serde_json::from_value(take("kind")?).map_err(|e| e.to_string())?;
        let rest = Value::Object(map);
        let body = match kind {
            Kind::Show => ResourceBody::Show(serde_json::from_value(rest).map_err(|e| e.to_string())?),
            Kind::Episode => ResourceBody::Episode(serde_json::from_value(rest).map_err(|e| e.to_string())?),
            Kind::Asset => ResourceBody::Asset(serde_json::from_value(rest).map_err(|e| e.to_string())?),
            Kind::Profile => ResourceBody::Profile(serde_json::from_value(rest).map_err(|e| e.to_string())?),
            Kind::Playlist => ResourceBody::Playlist(serde_json::from_value(rest).map_err(|e| e.to_string())?),
            Kind::Stream => ResourceBody::Stream(serde_json::from_value(rest).map_err(|e| e.to_string())?),
            Kind::Webhook => ResourceBody::Webhook(serde_json::from_value(rest).map_err(|e| e.to_string())?),
            Kind::Schedule => ResourceBody::Schedule(serde_json::from_value(rest).map_err(|e| e.to_string())?),
            Kind::Channel => ResourceBody::Channel(serde_json::from_value(rest).map_err(|e| e.to_string())?),
        };
        Ok(Resource { guid, parent_guid, created, updated, version, body })
    }
}

/// Fields every resource's envelope carries; never taken from a client.
const ENVELOPE_FIELDS: &[&str] = &["guid", "parent_guid", "kind", "created", "updated", "version"];
/// Per-kind fields the server measures or manages.
const EPISODE_SERVER_FIELDS: &[&str] = &["duration", "transcript_object", "chapters_object"];
const ASSET_SERVER_FIELDS: &[&str] = &["size", "sha256", "state", "error", "probe", "renditions", "url", "object", "recorded"];
/// A stream's run state, shown with it but kept in its own record.
pub const STREAM_SERVER_FIELDS: &[&str] = &["desired", "state"];

/// Parses a client's JSON object into the body of a resource of `kind`.
/// Unknown fields are refused (a typo must not silently vanish); server-owned
/// fields are ignored.
pub fn parse_client_body(kind: Kind, value: Value) -> Result<ResourceBody, Invalid> {
    parse_client_body_with(kind, value, &[])
}

/// As `parse_client_body`, with the non-public addresses the operator allows
/// streams to reach (`--allow-address`).
pub fn parse_client_body_with(kind: Kind, mut value: Value, allowed: &[std::net::IpAddr]) -> Result<ResourceBody, Invalid> {
    let Some(obj) = value.as_object_mut() else {
        return Err(Invalid::new("", "body.not_object", "the body must be a JSON object"));
    };
    if let Some(k) = obj.get("kind") {
        if k.as_str() != Some(kind.as_str()) {
            return Err(Invalid::new("kind", "kind.mismatch", format!("the body's kind must be '{kind}'")));
        }
    }
    let server_fields = match kind {
        Kind::Show | Kind::Profile | Kind::Playlist | Kind::Webhook | Kind::Schedule | Kind::Channel => &[][..],
        Kind::Episode => EPISODE_SERVER_FIELDS,
        Kind::Asset => ASSET_SERVER_FIELDS,
        Kind::Stream => STREAM_SERVER_FIELDS,
    };
    for f in ENVELOPE_FIELDS.iter().chain(server_fields) {
        obj.remove(*f);
    }
    let body = match kind {
        Kind::Show => ResourceBody::Show(from_value::<ShowInput>(value)?.into()),
        Kind::Episode => ResourceBody::Episode(from_value::<EpisodeInput>(value)?.into()),
        Kind::Asset => ResourceBody::Asset(from_value::<AssetInput>(value)?.into()),
        Kind::Profile => ResourceBody::Profile(from_value::<Profile>(value)?),
        Kind::Playlist => ResourceBody::Playlist(from_value::<Playlist>(value)?),
        Kind::Stream => ResourceBody::Stream(from_value::<Stream>(value)?),
        Kind::Webhook => ResourceBody::Webhook(from_value::<super::webhook::Webhook>(value)?),
        Kind::Schedule => ResourceBody::Schedule(from_value::<super::schedule::Schedule>(value)?),
        Kind::Channel => ResourceBody::Channel(from_value::<super::channel::Channel>(value)?),
    };
    body.validate(allowed)?;
    Ok(body)
}

/// The client-owned fields of a stored body, as a JSON object, so a PUT can
/// merge a partial update onto them.
pub fn client_fields(body: &ResourceBody) -> Map<String, Value> {
    let mut value = serde_json::to_value(body).unwrap_or(Value::Null);
    let Some(obj) = value.as_object_mut() else { return Map::new() };
    obj.remove("kind");
    let server_fields = match body.kind() {
        Kind::Episode => EPISODE_SERVER_FIELDS,
        Kind::Asset => ASSET_SERVER_FIELDS,
        _ => &[][..],
    };
    for f in server_fields {
        obj.remove(*f);
    }
    std::mem::take(obj)
}

fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = if path == "." { String::new() } else { path };
        Invalid::new(field, "body.invalid_field", inner)
    })
}

impl ResourceBody {
    fn validate(&self, allowed: &[std::net::IpAddr]) -> Result<(), Invalid> {
        match self {
            ResourceBody::Show(s) => s.validate(),
            ResourceBody::Episode(e) => e.validate(),
            ResourceBody::Asset(a) => a.validate(),
            ResourceBody::Profile(p) => p.validate(),
            ResourceBody::Playlist(p) => p.validate(),
            ResourceBody::Stream(s) => s.validate(allowed),
            ResourceBody::Webhook(w) => w.validate(allowed),
            ResourceBody::Schedule(s) => s.validate(),
            ResourceBody::Channel(c) => c.validate(),
        }
    }
}

pub(crate) fn check_text(field: &str, s: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let n = s.chars().count();
    if n < min {
        return Err(Invalid::new(field, "field.required", format!("{field} must not be empty")));
    }
    if n > max {
        return Err(Invalid::new(field, "field.too_long", format!("{field} has at most {max} characters")));
    }
    Ok(())
}

fn check_url(field: &str, s: &Option<String>) -> Result<(), Invalid> {
    if let Some(s) = s {
        let ok = url::Url::parse(s).map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok.unwrap_or(false) {
            return Err(Invalid::new(field, "field.url", format!("{field} must be an http(s) URL")));
        }
    }
    Ok(())
}

/// An image is either an http(s) URL or the GUID of an asset of the production.
fn check_image(field: &str, s: &Option<String>) -> Result<(), Invalid> {
    match s {
        Some(v) if Guid::parse(v).is_ok() => Ok(()),
        _ => check_url(field, s),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShowType {
    #[default]
    Episodic,
    Serial,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
}

macro_rules! input_and_output {
    ($(#[$meta:meta])* $out:ident / $input:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? } $(server { $($sfield:ident : $sty:ty),* $(,)? })?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
        pub struct $out {
            $($(#[$fmeta])* #[serde(default)] pub $field: $ty,)*
            $($(#[serde(default)] pub $sfield: $sty,)*)?
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $input {
            $($(#[$fmeta])* #[serde(default)] $field: $ty,)*
        }
        impl From<$input> for $out {
            fn from(i: $input) -> Self {
                Self { $($field: i.$field,)* ..Default::default() }
            }
        }
    };
}

input_and_output! {
    /// The channel of a production's feed.
    Show / ShowInput {
        title: String,
        description: String,
        language: String,
        link: Option<String>,
        category: Option<String>,
        subcategory: Option<String>,
        explicit: bool,
        #[serde(rename = "type")]
        show_type: ShowType,
        author: String,
        owner: Owner,
        copyright: String,
        image: Option<String>,
        block: bool,
        complete: bool,
        new_feed_url: Option<String>,
        /// With `new_feed_url`: the published feed answers 301 to it (leaving PodOps).
        redirect: bool,
        podcast_guid: Option<String>,
        locked: bool,
    }
}

impl Show {
    fn validate(&self) -> Result<(), Invalid> {
        check_text("title", &self.title, 1, 255)?;
        check_text("description", &self.description, 0, 4000)?;
        check_text("author", &self.author, 0, 255)?;
        check_text("copyright", &self.copyright, 0, 255)?;
        let lang_ok = self.language.is_empty()
            || (self.language.len() <= 35
                && self.language.split('-').all(|p| !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_alphanumeric())));
        if !lang_ok {
            return Err(Invalid::new("language", "field.language", "language is a language tag such as 'en' or 'en-US'"));
        }
        if !self.owner.email.is_empty() && !self.owner.email.contains('@') {
            return Err(Invalid::new("owner.email", "field.email", "owner.email must be an email address"));
        }
        check_url("link", &self.link)?;
        check_url("new_feed_url", &self.new_feed_url)?;
        if self.redirect && self.new_feed_url.is_none() {
            return Err(Invalid::new("redirect", "show.redirect_without_url", "set new_feed_url to where the show moved before redirecting its feed"));
        }
        check_image("image", &self.image)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EpisodeType {
    #[default]
    Full,
    Trailer,
    Bonus,
}

/// One entry of an episode's music log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub artist: String,
    pub title: String,
    /// Seconds from the start of the episode.
    pub offset: u32,
}

input_and_output! {
    Episode / EpisodeInput {
        title: String,
        summary: String,
        content: String,
        link: Option<String>,
        published: Option<Timestamp>,
        season: Option<u32>,
        episode: Option<u32>,
        #[serde(rename = "type")]
        episode_type: EpisodeType,
        explicit: bool,
        block: bool,
        enclosure: Option<Guid>,
        image: Option<String>,
        transcript: Option<String>,
        chapters: Option<String>,
        tracks: Vec<Track>,
        /// The `<guid>` the feed publishes: set for a show moved in from another host, whose
        /// apps know its episodes by their old guids; unset, `podops:<production>:<episode>`.
        feed_guid: Option<String>,
    }
    // `*_object`: our copy (an object key) of a transcript or chapters file a
    // feed import fetched from the old host; the feed links the copy.
    server { duration: Option<u32>, transcript_object: Option<String>, chapters_object: Option<String> }
}

impl Episode {
    fn validate(&self) -> Result<(), Invalid> {
        check_text("title", &self.title, 1, 255)?;
        check_text("summary", &self.summary, 0, 4000)?;
        check_text("content", &self.content, 0, 100_000)?;
        check_url("link", &self.link)?;
        check_image("image", &self.image)?;
        check_url("transcript", &self.transcript)?;
        check_url("chapters", &self.chapters)?;
        if let Some(g) = &self.feed_guid {
            // Hosts use URLs as guids: longer than the 255 of other texts.
            check_text("feed_guid", g.trim(), 1, 2000)?;
            if g.chars().any(|c| c < ' ' || c == '\x7f') {
                return Err(Invalid::new("feed_guid", "field.control_character", "feed_guid has no control characters"));
            }
        }
        if self.season == Some(0) || self.episode == Some(0) {
            let field = if self.season == Some(0) { "season" } else { "episode" };
            return Err(Invalid::new(field, "field.range", format!("{field} starts at 1")));
        }
        if self.tracks.len() > 1000 {
            return Err(Invalid::new("tracks", "field.too_long", "an episode has at most 1000 tracks"));
        }
        for (i, t) in self.tracks.iter().enumerate() {
            check_text("artist", &t.artist, 1, 255).map_err(|e| e.within(&format!("tracks[{i}]")))?;
            check_text("title", &t.title, 1, 255).map_err(|e| e.within(&format!("tracks[{i}]")))?;
        }
        let mut offsets = self.tracks.iter().map(|t| t.offset);
        if let Some(first) = offsets.next() {
            if offsets.try_fold(first, |prev, o| (o >= prev).then_some(o)).is_none() {
                return Err(Invalid::new("tracks", "tracks.order", "tracks are listed in order of their offset"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetRel {
    /// Bytes held by PodOps (uploaded).
    #[default]
    Local,
    /// Bytes hosted elsewhere; PodOps only links to `source`.
    External,
    /// Bytes to be fetched from `source` by the worker.
    Import,
    /// A stream's recording (`source: stream:<id>`), made by the worker.
    Recording,
}

/// Which run of which stream a recording holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recorded {
    pub stream: Guid,
    /// When the stream started and stopped (UNIX seconds).
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetState {
    #[default]
    Pending,
    Importing,
    Ready,
    Failed,
}

/// Facts measured from the media by the worker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Probe {
    pub format: String,
    pub codec: String,
    pub duration: f64,
    pub bitrate: u64,
    pub channels: u8,
    pub sample_rate: u32,
    pub lufs: Option<f64>,
    pub loudness_range: Option<f64>,
    pub true_peak: Option<f64>,
}

/// A rendition the worker made (or failed to make) of an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rendition {
    pub format: String,
    /// Bits per second; 0 for lossless formats.
    pub bitrate: u32,
    pub channels: u8,
    pub size: Option<u64>,
    pub state: AssetState,
    /// The integrated loudness target (LUFS) it was normalised to, if any.
    #[serde(default)]
    pub loudness: Option<i8>,
    /// `RenditionSpec::name`: how a request finds it.
    #[serde(default)]
    pub name: String,
    /// Object key of its bytes (content-addressed: source sha256 + spec).
    #[serde(default)]
    pub key: Option<String>,
    /// Why it could not be made (a code such as `media.timeout`).
    #[serde(default)]
    pub error: Option<String>,
}

input_and_output! {
    Asset / AssetInput {
        name: String,
        content_type: String,
        rel: AssetRel,
        source: Option<String>,
        external_ids: BTreeMap<String, String>,
    }
    server {
        size: Option<u64>,
        sha256: Option<String>,
        state: AssetState,
        error: Option<String>,
        probe: Option<Probe>,
        renditions: Vec<Rendition>,
        url: Option<String>,
        object: Option<String>,
        recorded: Option<Recorded>,
    }
}

impl Asset {
    fn validate(&self) -> Result<(), Invalid> {
        check_text("name", &self.name, 0, 255)?;
        check_text("content_type", &self.content_type, 0, 127)?;
        if !self.content_type.is_empty() && !self.content_type.contains('/') {
            return Err(Invalid::new("content_type", "field.content_type", "content_type is a media type such as audio/mpeg"));
        }
        match (self.rel, self.source.as_deref().and_then(|s| s.strip_prefix("stream:"))) {
            (AssetRel::Recording, Some(stream)) if Guid::parse(stream).is_ok() => {}
            (AssetRel::Recording, _) => return Err(Invalid::new("source", "field.source", "a recording's source is stream:<stream id>")),
            _ => check_url("source", &self.source)?,
        }
        if self.rel != AssetRel::Local && self.source.is_none() {
            return Err(Invalid::new("source", "field.required", "an external or imported asset needs a source URL"));
        }
        if self.external_ids.len() > 16 {
            return Err(Invalid::new("external_ids", "field.too_long", "an asset has at most 16 external ids"));
        }
        for (k, v) in &self.external_ids {
            check_external_id(k, v).map_err(|e| e.within("external_ids"))?;
        }
        Ok(())
    }
}

/// An external id pair (seed 003's legacy track token): the name is 1-64 of
/// `[A-Za-z0-9_]`, so a store key can put a `#` after it unambiguously; the
/// value is 1-255 characters of text.
pub fn check_external_id(name: &str, value: &str) -> Result<(), Invalid> {
    let name_ok = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !name_ok {
        return Err(Invalid::new("", "field.external_id", "external id names are 1-64 of [A-Za-z0-9_]"));
    }
    check_text(name, value, 1, 255)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_episode_with_tracks_parses_and_ignores_server_fields() {
        let body = parse_client_body(
            Kind::Episode,
            json!({"title": "Pilot", "guid": "ffffffffffff", "version": 9, "duration": 99,
                   "tracks": [{"artist": "Beirut", "title": "Elephant Gun", "offset": 754}]}),
        )
        .unwrap();
        let ResourceBody::Episode(ep) = body else { panic!("not an episode") };
        assert_eq!(ep.title, "Pilot");
        assert_eq!(ep.duration, None);
        assert_eq!(ep.tracks[0].offset, 754);
    }

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let e = parse_client_body(Kind::Show, json!({"title": "x", "titel": "y"})).unwrap_err();
        assert_eq!(e.field, "titel");
        let e = parse_client_body(Kind::Episode, json!({"title": "x", "season": "one"})).unwrap_err();
        assert_eq!(e.field, "season");
        let e = parse_client_body(Kind::Episode, json!({"title": "x", "tracks": [{"artist": "a", "title": "b", "offset": -1}]}))
            .unwrap_err();
        assert_eq!(e.field, "tracks[0].offset");
        let e = parse_client_body(Kind::Episode, json!({"title": "x", "enclosure": "nope"})).unwrap_err();
        assert_eq!(e.field, "enclosure");
    }

    #[test]
    fn domain_rules_are_enforced() {
        assert_eq!(parse_client_body(Kind::Show, json!({})).unwrap_err().code, "field.required");
        assert_eq!(parse_client_body(Kind::Show, json!({"title": "t", "link": "ftp://x"})).unwrap_err().field, "link");
        assert_eq!(parse_client_body(Kind::Episode, json!({"title": "t", "season": 0})).unwrap_err().field, "season");
        let unordered = json!({"title": "t", "tracks": [{"artist": "a", "title": "b", "offset": 9}, {"artist": "a", "title": "b", "offset": 3}]});
        assert_eq!(parse_client_body(Kind::Episode, unordered).unwrap_err().code, "tracks.order");
        assert_eq!(parse_client_body(Kind::Asset, json!({"rel": "external"})).unwrap_err().field, "source");
        assert_eq!(parse_client_body(Kind::Show, json!({"kind": "episode", "title": "t"})).unwrap_err().code, "kind.mismatch");
        assert_eq!(parse_client_body(Kind::Show, json!([1])).unwrap_err().code, "body.not_object");
    }

    #[test]
    fn stored_resources_round_trip_with_kind_tag() {
        let r = Resource {
            guid: Guid::parse("0123456789ab").unwrap(),
            parent_guid: Guid::parse("ba9876543210").unwrap(),
            created: 1,
            updated: 2,
            version: Version(3),
            body: ResourceBody::Show(Show { title: "T".into(), ..Default::default() }),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["kind"], "show");
        assert_eq!(v["type"], "episodic");
        assert_eq!(Resource::from_value(v).unwrap(), r);
        let fields = client_fields(&r.body);
        assert!(fields.contains_key("title") && !fields.contains_key("kind"));
    }
}
