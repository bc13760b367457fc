//! A production's backup archive: one tar file holding its records as JSON
//! lines, its media objects, and a manifest (written last) with the sha256 of
//! every part. The same archive restores into `podops serve` or AWS: nothing
//! in it names a backend. Records and object keys carry the production's
//! guid; a restore under another guid rewrites it (`rehome`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Guid, Kind, Timestamp, Version};

/// What `manifest.json` declares; a restore refuses any other.
pub const FORMAT: &str = "podops-backup/1";
pub const MANIFEST_PATH: &str = "manifest.json";
pub const RECORDS_PATH: &str = "records.jsonl";
/// The n-th object is stored at `objects/<n>` (zero-padded): tar paths stay
/// short whatever the key, and the manifest says which key each one is.
pub fn object_path(n: usize) -> String {
    format!("objects/{n:06}")
}

/// The production as it was backed up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArchivedProduction {
    #[schema(value_type = String)]
    pub guid: Guid,
    pub name: String,
    pub title: String,
    pub summary: String,
    /// When its feed was last built: a restore publishes it again.
    pub last_build: Option<Timestamp>,
    /// The `podcast:guid` the feed was published with: apps know the show by it.
    #[serde(default)]
    pub podcast_guid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// One media object: where it lived, and what its bytes hash to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedObject {
    pub path: String,
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub production: ArchivedProduction,
    pub created: Timestamp,
    pub records: ArchivedFile,
    /// How many lines `records.jsonl` holds.
    pub record_count: u64,
    pub objects: Vec<ArchivedObject>,
    /// Stream and webhook secrets are written masked, as the API shows them:
    /// an archive reveals no more than reading the production does. These
    /// `<kind>/<id>` need their secret set again after a restore.
    pub secrets_to_set: Vec<String>,
}

/// One line of `records.jsonl`: a record of the production's partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedRecord {
    pub sort: String,
    pub version: Version,
    pub body: Value,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// Whether a record of the production's partition belongs in a backup: what
/// the production *is* (its resources, the show marker, external ids), not
/// what it is doing (jobs, live runs, logs, builds, uploads in flight,
/// announcements, imports), which means nothing in another deployment. The
/// production's own record is rebuilt from the manifest.
pub fn carried(sort: &str) -> bool {
    sort == "UNIQUE#show" || sort.starts_with("EXTID#") || Kind::ALL.iter().any(|k| sort.strip_prefix(&k.as_str().to_uppercase()).is_some_and(|rest| rest.starts_with('#')))
}

/// `text` with every occurrence of the production's old guid replaced by the
/// new one: keys (`media/<guid>/…`) and bodies name their production this
/// way. A guid is 12 random hex digits, so nothing else matches by chance.
pub fn rehome(text: &str, from: &Guid, to: &Guid) -> String {
    if from == to {
        text.to_owned()
    } else {
        text.replace(from.as_str(), to.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_production_is_travels_and_what_it_is_doing_stays() {
        for kept in ["UNIQUE#show", "EPISODE#0123456789ab", "ASSET#0123456789ab", "STREAM#0123456789ab", "SCHEDULE#0123456789ab", "EXTID#track#42", "CHANNEL#0123456789ab"] {
            assert!(carried(kept), "{kept}");
        }
        for left in ["META", "JOB#import-x", "LIVE#0123456789ab", "LIVELOG#x#1", "BUILD#x", "UPLOAD#x", "NOTIFY#x", "FEEDIMPORT#x", "BACKUP#x", "SLOT#x#1", "PREFLIGHT#x", "DELIVERY#x"] {
            assert!(!carried(left), "{left}");
        }
    }

    #[test]
    fn rehoming_rewrites_the_guid_only() {
        let (a, b) = (Guid::parse("0123456789ab").unwrap(), Guid::parse("ba9876543210").unwrap());
        assert_eq!(rehome("media/0123456789ab/ffffffffffff.mp3", &a, &b), "media/ba9876543210/ffffffffffff.mp3");
        assert_eq!(rehome("media/0123456789ab/x", &a, &a), "media/0123456789ab/x");
    }
}
