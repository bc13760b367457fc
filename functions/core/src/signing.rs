//! HMAC-SHA256 signing for tamper-proof tokens the server hands out: list
//! cursors and signed media URLs. Each use derives its own key, so a value
//! signed for one purpose never verifies for another.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    /// Derives the key for `purpose` from the server's master secret.
    pub fn derive(master: &[u8], purpose: &str) -> Self {
        Self { key: derive_key(master, purpose) }
    }

    /// Base64url signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(message).finalize().into_bytes())
    }

    /// Constant-time check of a signature made by `sign`.
    pub fn verify(&self, message: &[u8], signature: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        self.mac(message).verify_slice(&sig).is_ok()
    }

    /// Wraps `payload` as `base64url(payload).signature`: opaque, tamper-evident.
    pub fn seal(&self, payload: &[u8]) -> String {
        let body = URL_SAFE_NO_PAD.encode(payload);
        let sig = self.sign(body.as_bytes());
        format!("{body}.{sig}")
    }

    /// The payload of a value made by `seal`, if its signature holds.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let (body, sig) = sealed.split_once('.')?;
        if !self.verify(body.as_bytes(), sig) {
            return None;
        }
        URL_SAFE_NO_PAD.decode(body).ok()
    }

    fn mac(&self, message: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(message);
        mac
    }
}

/// Shortest master secret accepted, in bytes.
pub const MIN_MASTER_SECRET: usize = 32;

/// A master secret as stored (a data directory's `secret` file, an SSM
/// parameter): hex of at least `MIN_MASTER_SECRET` bytes. The error says what
/// is wrong, never what the text is.
pub fn parse_master_secret(text: &str) -> Result<Vec<u8>, String> {
    let bytes = hex::decode(text.trim()).map_err(|_| "not hex".to_owned())?;
    if bytes.len() < MIN_MASTER_SECRET {
        return Err(format!("{} bytes; at least {MIN_MASTER_SECRET} are needed", bytes.len()));
    }
    Ok(bytes)
}

/// A 32-byte key for `purpose`, derived from the master secret (HMAC as a KDF),
/// so one secret on disk serves every signing use without reusing a key.
pub fn derive_key(master: &[u8], purpose: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(master).expect("HMAC takes keys of any length");
    mac.update(b"podops/");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The message a signed media URL covers: method, key and expiry, separated by
/// a byte no key can contain.
pub fn media_message(method: &str, key: &str, expires_at: i64) -> Vec<u8> {
    format!("{method}\n{key}\n{expires_at}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_unchanged_and_for_their_purpose() {
        let cursors = Signer::derive(b"master", "cursor");
        let media = Signer::derive(b"master", "media");
        let sealed = cursors.seal(b"EPISODE#42");
        assert_eq!(cursors.open(&sealed).as_deref(), Some(&b"EPISODE#42"[..]));
        assert_eq!(media.open(&sealed), None);
        let mut tampered = sealed.clone();
        tampered.replace_range(0..1, if sealed.starts_with('A') { "B" } else { "A" });
        assert_eq!(cursors.open(&tampered), None);
        assert_eq!(cursors.open("garbage"), None);
    }

    #[test]
    fn signatures_cover_method_key_and_expiry() {
        let s = Signer::derive(b"k", "media");
        let sig = s.sign(&media_message("GET", "a/b", 10));
        assert!(s.verify(&media_message("GET", "a/b", 10), &sig));
        assert!(!s.verify(&media_message("PUT", "a/b", 10), &sig));
        assert!(!s.verify(&media_message("GET", "a/c", 10), &sig));
        assert!(!s.verify(&media_message("GET", "a/b", 11), &sig));
    }
}

/// The query string of a signed media URL: `expires=<ts>&signature=<sig>`.
/// `HEAD` is signed as `GET` (a HEAD is a GET without the body).
pub fn media_query(signer: &Signer, method: &str, key: &str, expires_at: i64) -> String {
    let method = if method == "HEAD" { "GET" } else { method };
    format!("expires={expires_at}&signature={}", signer.sign(&media_message(method, key, expires_at)))
}

/// Checks a signed media URL's parts at time `now`.
pub fn media_url_valid(signer: &Signer, method: &str, key: &str, expires_at: i64, signature: &str, now: i64) -> bool {
    let method = if method == "HEAD" { "GET" } else { method };
    now <= expires_at && signer.verify(&media_message(method, key, expires_at), signature)
}

/// What a signed part-upload URL covers in place of a key: the key, the
/// upload and the part. `\n` is in no key, so it names no object.
pub fn part_resource(key: &str, upload_id: &str, number: u32) -> String {
    format!("{key}\n{upload_id}\n{number}")
}
