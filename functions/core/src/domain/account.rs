//! People: a user is an email address (seed 002); they sign in by a one-time
//! code or link and hold opaque API keys (`pok_` from a sign-in, `pot_`
//! personal tokens, seed 004). A key is stored only as its SHA-256 and its
//! last 4 characters; its checksum lets anyone reject junk without a lookup.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ClientId, Invalid, Scope, Scopes, Timestamp};

/// A normalised email address: trimmed, the domain case-folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "you@example.com")]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("email", "email.invalid", "an email address such as you@example.com");
        let s = s.trim();
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty() && local.len() <= 64 && !local.contains('@') && local.chars().all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:\"".contains(c));
        let domain_ok = domain.len() <= 253
            && domain.contains('.')
            && domain.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !l.starts_with('-') && !l.ends_with('-'));
        if !local_ok || !domain_ok || s.len() > 254 {
            return Err(bad());
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// 16 hex digits.
    pub id: String,
    pub email: Email,
    pub created: Timestamp,
}

impl User {
    /// The client id this user acts as (memberships, ownership).
    pub fn client(&self) -> ClientId {
        ClientId::parse(&format!("u:{}", self.id)).unwrap_or_else(|_| unreachable!("hex ids are valid client ids"))
    }
    /// What a signed-in user may do (their production roles still decide per production).
    pub fn scopes() -> Scopes {
        Scopes::new(vec![Scope::ProductionRead, Scope::ProductionWrite, Scope::ProductionBuild, Scope::ResourceRead, Scope::ResourceWrite])
    }
}

/// A user's role on the whole instance (production roles are per production).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InstanceRole {
    #[default]
    User,
    /// Sees and manages every production and user, mints service tokens, reads every audit log.
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Issued by a sign-in; the next sign-in revokes it.
    SignIn,
    /// Made by the user for a tool, with a name and chosen scopes.
    Personal,
}

impl KeyKind {
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::SignIn => "pok_",
            KeyKind::Personal => "pot_",
        }
    }
}

/// Random bytes in a key (160 bits or more, from the OS RNG).
const KEY_BYTES: usize = 24;
const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn base62(bytes: &[u8], len: usize) -> String {
    // Big-endian base conversion, fixed length (leading zeros kept).
    let mut digits = bytes.to_vec();
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let mut rem = 0u32;
        for d in digits.iter_mut() {
            let acc = (rem << 8) | u32::from(*d);
            *d = (acc / 62) as u8;
            rem = acc % 62;
        }
        out.push(BASE62[rem as usize]);
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn checksum(body: &str) -> String {
    base62(&Sha256::digest(body.as_bytes())[..8], CHECKSUM_LEN)
}

/// A new key's text: prefix, random body, checksum. Shown once.
pub fn new_key(kind: KeyKind) -> String {
    let mut random = [0u8; KEY_BYTES];
    rand::Rng::fill(&mut rand::rng(), &mut random[..]);
    let body = format!("{}{}", kind.prefix(), base62(&random, 33));
    let sum = checksum(&body);
    format!("{body}{sum}")
}

/// The kind of a well-formed key whose checksum holds; `None` for junk.
pub fn key_kind(key: &str) -> Option<KeyKind> {
    let kind = [KeyKind::SignIn, KeyKind::Personal].into_iter().find(|k| key.starts_with(k.prefix()))?;
    if key.len() != 4 + 33 + CHECKSUM_LEN || !key.bytes().skip(4).all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (body, sum) = key.split_at(key.len() - CHECKSUM_LEN);
    (checksum(body) == sum).then_some(kind)
}

/// What is stored of a key: its SHA-256 (hex).
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A stored key (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// The public id (list, revoke).
    pub id: String,
    pub user: String,
    pub kind: KeyKind,
    /// The user's email when the key was made (shown as who is logged in).
    pub email: Email,
    pub name: String,
    /// Space-separated, as in a token's `scope` claim.
    pub scopes: String,
    pub created: Timestamp,
    #[serde(default)]
    pub expires: Option<Timestamp>,
    /// `••••` + the key's last 4 characters.
    pub masked: String,
    #[serde(default)]
    pub last_used: Option<Timestamp>,
    /// The sign-in session (key + refresh token) a sign-in key belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_junk_refused() {
        assert_eq!(Email::parse("  Ann.Lee+pod@Example.COM ").unwrap().as_str(), "Ann.Lee+pod@example.com");
        for bad in ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@exa_mple.com", "ann@@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_carry_their_kind_and_a_checksum() {
        let key = new_key(KeyKind::Personal);
        assert!(key.starts_with("pot_") && key.len() == 43, "{key}");
        assert_eq!(key_kind(&key), Some(KeyKind::Personal));
        assert_eq!(key_kind(&new_key(KeyKind::SignIn)), Some(KeyKind::SignIn));
        let mut broken = key.clone().into_bytes();
        broken[10] = if broken[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(key_kind(&String::from_utf8(broken).unwrap()), None);
        assert_eq!(key_kind("pot_short"), None);
        assert_ne!(new_key(KeyKind::SignIn), new_key(KeyKind::SignIn));
        assert_eq!(key_hash("x").len(), 64);
    }
}
