//! Imports from the media bucket's inbox: an operator (or a tool with write
//! access to `inbox/` only) drops `inbox/<production guid>/<file>`, S3 tells
//! EventBridge, and the tasks function calls `import_from_inbox`. The asset
//! is an import whose source names the inbox object; the worker moves the
//! bytes to the asset's own key (hashing them on the way), removes the inbox
//! object, and probes it like any other import.
//!
//! EventBridge delivers at least once: the asset's id is derived from the
//! object's key and ETag, so a repeated event finds the asset made by the
//! first, and a new file at the same key (another ETag) is a new asset.

use sha2::{Digest, Sha256};

use crate::{
    domain::{Asset, AssetRel, Guid, Resource, ResourceBody, Version},
    ports::{BlobKey, StoreError},
};

use super::{keys, Podops, ServiceError};

/// Where files to import are dropped in the media bucket.
pub const INBOX_PREFIX: &str = "inbox/";
/// An import's `source` when its bytes are an inbox object: `inbox:<key>`.
pub const INBOX_SOURCE: &str = "inbox:";

/// What an inbox event came to.
#[derive(Debug)]
pub enum InboxOutcome {
    /// A new asset, `importing`, with its import job sent.
    Created(Box<Resource>),
    /// The same object (key and ETag) was imported before: its asset.
    Repeated(Guid),
}

/// The inbox object an import's `source` names, if it names one.
pub fn inbox_key(source: &str) -> Option<BlobKey> {
    let key = source.strip_prefix(INBOX_SOURCE)?;
    key.starts_with(INBOX_PREFIX).then(|| BlobKey::parse(key).ok()).flatten()
}

/// `inbox/<production>/<file>` → the production and the file's name. Only
/// object-key characters PodOps stores (letters, digits, `.`, `_`, `-`), so
/// the key needs no decoding and is the same in S3's event and in the store.
fn parse_inbox_key(key: &str) -> Result<(Guid, BlobKey, String), ServiceError> {
    let refused = |reason: String| ServiceError::ImportRefused { code: "inbox.bad_key", reason };
    let rest = key.strip_prefix(INBOX_PREFIX).ok_or_else(|| refused(format!("{key:?} is not under {INBOX_PREFIX}")))?;
    let (prod, name) = rest.split_once('/').ok_or_else(|| refused(format!("{key:?} is not inbox/<production guid>/<file>")))?;
    let prod = Guid::parse(prod).map_err(|_| refused(format!("{key:?}: {prod:?} is not a production guid")))?;
    if name.is_empty() || name.contains('/') {
        return Err(refused(format!("{key:?} is not inbox/<production guid>/<file>")));
    }
    let blob = BlobKey::parse(key).map_err(|_| refused(format!("{key:?}: file names may hold only letters, digits, '.', '_' and '-'")))?;
    Ok((prod, blob, name.to_owned()))
}

impl Podops {
    /// An object landed in the inbox (see the module's comment). Refused with
    /// `inbox.bad_key` (not inbox/<production>/<file>, or a name with other
    /// characters), `inbox.unknown_production`, `media.unsupported` (not an
    /// audio file by its extension) or `inbox.missing` (gone since).
    pub async fn import_from_inbox(&self, key: &str, etag: &str) -> Result<InboxOutcome, ServiceError> {
        let (prod, blob, name) = parse_inbox_key(key)?;
        if self.records.get(&keys::production(&prod)).await?.is_none() {
            return Err(ServiceError::ImportRefused { code: "inbox.unknown_production", reason: format!("no production {prod}") });
        }
        if self.media.audio_type("", &name).is_none() {
            return Err(ServiceError::ImportRefused { code: "media.unsupported", reason: format!("{name:?} is not an audio file PodOps accepts") });
        }
        if self.blobs.head(&blob).await?.is_none() {
            return Err(ServiceError::ImportRefused { code: "inbox.missing", reason: format!("{key} is gone") });
        }
        let digest = Sha256::digest(format!("{key}\n{}", etag.trim_matches('"')).as_bytes());
        let mut six = [0u8; 6];
        six.copy_from_slice(&digest[..6]);
        let id = Guid::from_bytes(six);
        let asset = Asset { name: name.chars().take(255).collect(), rel: AssetRel::Import, source: Some(format!("{INBOX_SOURCE}{key}")), ..Default::default() };
        let now = self.clock.now();
        let resource = Resource { guid: id.clone(), parent_guid: prod, created: now, updated: now, version: Version::FIRST, body: ResourceBody::Asset(asset) };
        match self.create_import(resource, Vec::new()).await {
            Ok(created) => Ok(InboxOutcome::Created(Box::new(created))),
            Err(ServiceError::Store(StoreError::Conflict)) => Ok(InboxOutcome::Repeated(id)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_keys_name_a_production_and_a_plain_file() {
        let (prod, blob, name) = parse_inbox_key("inbox/0123456789ab/pilot-01.mp3").unwrap();
        assert_eq!((prod.as_str(), blob.as_str(), name.as_str()), ("0123456789ab", "inbox/0123456789ab/pilot-01.mp3", "pilot-01.mp3"));
        for bad in ["media/0123456789ab/x.mp3", "inbox/x.mp3", "inbox/NOTAGUID0000/x.mp3", "inbox/0123456789ab/", "inbox/0123456789ab/a/b.mp3", "inbox/0123456789ab/my show.mp3", "inbox/0123456789ab/../x.mp3"] {
            match parse_inbox_key(bad) {
                Err(ServiceError::ImportRefused { code, .. }) => assert_eq!(code, "inbox.bad_key", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_inbox_sources_name_inbox_objects() {
        assert_eq!(inbox_key("inbox:inbox/0123456789ab/x.mp3").map(|k| k.as_str().to_owned()).as_deref(), Some("inbox/0123456789ab/x.mp3"));
        assert!(inbox_key("inbox:media/0123456789ab/x.mp3").is_none());
        assert!(inbox_key("https://example.com/inbox/x.mp3").is_none());
    }
}
