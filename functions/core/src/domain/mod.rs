//! Domain types. Every value that crosses the API boundary is parsed into one of
//! these once; code that holds one never validates it again.

mod access;
pub mod account;
pub mod analytics;
pub mod backup;
pub mod channel;
pub mod audit;
pub mod import_url;
mod job;
pub mod live;
pub mod notify;
pub mod preflight;
mod names;
mod production;
pub mod rendition;
pub mod resource;
pub mod schedule;
pub mod stored_json;
pub mod stream;
pub mod webhook;
pub mod whole;

pub use access::{Role, Scope, Scopes};
pub use account::{ApiKey, Email, InstanceRole, KeyKind, User};
pub use names::{ClientId, Guid, Kind, ProductionName, Version};
pub use job::{Job, JobKind, JobMessage, JobState};
pub use production::{Member, NewProduction, Production};
pub use rendition::{Matched, RenditionFormat, RenditionRequest, RenditionSpec};
pub use live::{Desired, Lease, Live, LiveError, LiveState, OutputState, OutputStatus};
pub use stream::{AudioFormat, OutputKind, Playlist, PlaylistItem, Profile, Stream, StreamInput, StreamOutput, Tone};
pub use resource::{
    Asset, AssetRel, Recorded, AssetState, Episode, EpisodeType, Owner, Probe, Rendition, Resource,
    ResourceBody, Show, ShowType, Track, check_external_id,
};

/// UNIX time in seconds.
pub type Timestamp = i64;

/// A value that failed to parse. `field` names the offending input so the API
/// can answer with a 400 the client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }

    /// Re-anchors an error found inside a nested value under its parent field.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() { parent.to_owned() } else { format!("{parent}.{}", self.field) };
        self
    }
}
