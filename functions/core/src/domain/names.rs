//! Identifier newtypes: production names, GUIDs, resource kinds, client ids, versions.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// A production's URL-safe name: 8–44 characters of `[a-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[a-z0-9_-]{8,44}$", example = "my-first-podcast")]
pub struct ProductionName(String);

impl ProductionName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let len = s.chars().count();
        if !(8..=44).contains(&len) {
            return Err(Invalid::new("name", "name.length", "a production name has 8 to 44 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err(Invalid::new(
                "name",
                "name.characters",
                "a production name contains only lowercase letters, digits, '-' and '_'",
            ));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProductionName {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}
impl From<ProductionName> for String {
    fn from(n: ProductionName) -> String {
        n.0
    }
}
impl fmt::Display for ProductionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resource id: exactly 12 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[0-9a-f]{12}$", example = "91804b93b56a")]
pub struct Guid(String);

impl Guid {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new("guid", "guid.format", "a GUID is exactly 12 lowercase hex digits"))
        }
    }
    /// A fresh random GUID (48 bits from the OS's generator).
    pub fn random() -> Self {
        Self::from_bytes(rand::random())
    }
    pub fn from_bytes(bytes: [u8; 6]) -> Self {
        Self(hex::encode(bytes))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Guid {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}
impl From<Guid> for String {
    fn from(g: Guid) -> String {
        g.0
    }
}
impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of resources that live under a production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Show,
    Episode,
    Asset,
    Profile,
    Playlist,
    Stream,
    Webhook,
    Schedule,
    Channel,
}

impl Kind {
    pub const ALL: [Kind; 9] = [Kind::Show, Kind::Episode, Kind::Asset, Kind::Profile, Kind::Playlist, Kind::Stream, Kind::Webhook, Kind::Schedule, Kind::Channel];

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "show" => Ok(Kind::Show),
            "episode" => Ok(Kind::Episode),
            "asset" => Ok(Kind::Asset),
            "profile" => Ok(Kind::Profile),
            "playlist" => Ok(Kind::Playlist),
            "stream" => Ok(Kind::Stream),
            "webhook" => Ok(Kind::Webhook),
            "schedule" => Ok(Kind::Schedule),
            "channel" => Ok(Kind::Channel),
            _ => Err(Invalid::new("kind", "kind.unknown", "kind is one of show, episode, asset, profile, playlist, stream, webhook, schedule, channel")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Show => "show",
            Kind::Episode => "episode",
            Kind::Asset => "asset",
            Kind::Profile => "profile",
            Kind::Playlist => "playlist",
            Kind::Stream => "stream",
            Kind::Webhook => "webhook",
            Kind::Schedule => "schedule",
            Kind::Channel => "channel",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id of an API client (a person, an app, a script): the `sub` of its token.
/// 1–64 characters of `[A-Za-z0-9._@:-]`, so it is safe inside storage keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "studio-cli", pattern = "^[A-Za-z0-9._@:-]{1,64}$")]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@:-".contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new("client_id", "client_id.format", "a client id has 1 to 64 characters of A-Z a-z 0-9 . _ @ : -"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}
impl From<ClientId> for String {
    fn from(c: ClientId) -> String {
        c.0
    }
}
impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Optimistic-locking version of a stored record. Starts at 1, grows by one per write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Version(pub u64);

impl Version {
    pub const FIRST: Version = Version(1);
    pub fn next(self) -> Version {
        Version(self.0 + 1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_names_follow_the_seed_rules() {
        assert!(ProductionName::parse("simple_podcast").is_ok());
        assert!(ProductionName::parse("my-first-podcast").is_ok());
        assert_eq!(ProductionName::parse("short").unwrap_err().code, "name.length");
        assert_eq!(ProductionName::parse(&"a".repeat(45)).unwrap_err().code, "name.length");
        assert!(ProductionName::parse(&"a".repeat(44)).is_ok());
        assert_eq!(ProductionName::parse("has space in").unwrap_err().code, "name.characters");
        assert_eq!(ProductionName::parse("has.dots.in").unwrap_err().code, "name.characters");
        assert_eq!(ProductionName::parse("UpperCase123").unwrap_err().code, "name.characters");
    }

    #[test]
    fn guids_are_twelve_lowercase_hex_digits() {
        assert!(Guid::parse("91804b93b56a").is_ok());
        assert!(Guid::parse("91804B93B56A").is_err());
        assert!(Guid::parse("91804b93b56").is_err());
        assert!(Guid::parse("91804b93b56az").is_err());
        assert!(Guid::parse("91804b93b56g").is_err());
        assert_eq!(Guid::from_bytes([0xab, 0, 1, 2, 3, 0xff]).as_str(), "ab00010203ff");
    }

    #[test]
    fn kinds_parse_from_their_names_only() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Ok(k));
        }
        assert_eq!(Kind::parse("Show").unwrap_err().field, "kind");
        assert!(Kind::parse("playlists").is_err());
    }

    #[test]
    fn serde_goes_through_parse() {
        let err = serde_json::from_str::<Guid>("\"nothex\"").unwrap_err();
        assert!(err.to_string().contains("12 lowercase hex"), "{err}");
        let ok: Guid = serde_json::from_str("\"c7b5414a9c02\"").unwrap();
        assert_eq!(ok.as_str(), "c7b5414a9c02");
    }
}
