//! The one error type of the use cases. The API maps each variant to a status
//! and a machine-readable code in one place.

use crate::{
    domain::{Guid, Invalid, Kind, Version},
    ports::{BlobError, QueueError, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The production does not exist, or the caller may not see it (never tell which).
    #[error("production {0} not found")]
    ProductionNotFound(Guid),
    #[error("{kind} {guid} not found")]
    ResourceNotFound { kind: Kind, guid: Guid },
    #[error("the token lacks the scope {0}")]
    MissingScope(&'static str),
    #[error("your role in this production does not allow this")]
    RoleTooLow,
    #[error("a production named '{0}' exists")]
    NameTaken(String),
    #[error("{kind} {guid} exists")]
    ResourceExists { kind: Kind, guid: Guid },
    #[error("this production already has a show")]
    ShowExists,
    #[error("the resource changed: it is at version {current}")]
    VersionMismatch { current: Version },
    #[error("a concurrent write won; read the resource again and retry")]
    Contended,
    #[error("the enclosure {0} is not an asset of this production")]
    EnclosureMissing(Guid),
    #[error("no feed import {0}")]
    ImportNotFound(String),
    #[error("no backup, archive or restore {0}")]
    BackupNotFound(String),
    #[error("the backup is {0}, not done")]
    BackupNotReady(String),
    #[error("asset {0} is not in this production, so nothing was mapped")]
    MappedAssetMissing(Guid),
    #[error("the list cursor is invalid or belongs to another list")]
    BadCursor,
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("media type '{0}' is not accepted")]
    UnsupportedMediaType(String),
    #[error("no upload of this asset is waiting to be completed")]
    UploadNotStarted,
    /// Nothing at the presigned URL yet, or (multipart) these parts are missing.
    #[error("the upload is not complete yet")]
    UploadIncomplete { missing: Vec<u32> },
    #[error("the uploaded file does not match what was declared ({field})")]
    UploadMismatch { field: &'static str, declared: String, received: String },
    #[error("the upload was cut off: {0}")]
    UploadInterrupted(String),
    #[error("the show is not ready to publish")]
    FeedInvalid(Vec<crate::feed::Problem>),
    #[error("there is no earlier build to roll back to")]
    NothingToRollBack,
    #[error("this server has no public store configured for feeds")]
    PublishingNotConfigured,
    /// The asset (or the rendition asked for) is being made; ask again later.
    #[error("the asset is not ready yet in the form asked for")]
    AssetNotReady { retry_after: u64 },
    #[error("the source is of lower quality than asked for ({field})")]
    LowQuality { field: &'static str },
    #[error("the asset could not be processed: {0}")]
    AssetFailed(String),
    #[error("this rendition could not be made: {0}")]
    RenditionFailed(String),
    /// A retry of something that has not failed (or does not exist yet).
    #[error("nothing to retry: {0}")]
    NothingToRetry(&'static str),
    #[error("external id {name}={value} belongs to another asset")]
    ExternalIdTaken { name: String, value: String },
    #[error("no asset has external id {name}={value}")]
    ExternalIdNotFound { name: String, value: String },
    #[error("the import URL is refused: {reason}")]
    ImportRefused { code: &'static str, reason: String },
    /// A reference or state that makes the request impossible (422), with the code naming it.
    #[error("{message}")]
    Unprocessable { code: &'static str, field: String, message: String },
    #[error("this slot overlaps schedule {other}'s, at {start}")]
    ScheduleOverlap { other: crate::domain::Guid, start: crate::domain::Timestamp },
    #[error("the stream is running; stop it first")]
    StreamRunning,
    #[error("the stream is not running")]
    StreamNotRunning,
    #[error("a sign-in for this address is waiting; use its code or link, or wait")]
    LoginPending { retry_after: u64 },
    #[error("the code or link is wrong, used or expired")]
    LoginInvalid,
    #[error("too many wrong codes: ask for a new one")]
    LoginTooManyAttempts,
    #[error("{0}")]
    KeyInvalid(&'static str),
    #[error("no token {0}")]
    TokenNotFound(String),
    #[error("no user {0}")]
    UserNotFound(String),
    #[error("sign-in by email is not configured on this server")]
    AccountsUnavailable,
    #[error("the refresh token is unknown, expired or already used")]
    RefreshInvalid,
    #[error("this refresh token was used before: the session is revoked; sign in again")]
    RefreshReused,
    #[error("this account has two-factor sign-in on: send the code from the authenticator app as 'totp'")]
    TotpRequired,
    #[error("the authenticator code is wrong, expired or already used")]
    TotpInvalid,
    #[error("two-factor sign-in is already on")]
    TotpAlreadyOn,
    #[error("enrol first: POST /a/v1/auth/2fa/enroll")]
    TotpNotEnrolled,
    /// Nothing public here (no such production, never published, or not a public episode).
    #[error("nothing is published here")]
    PublicNotFound,
    /// A job changed hands (its lease ran out and another worker claimed it).
    #[error("the job's lease was lost to another worker")]
    LeaseLost,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(BlobError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<BlobError> for ServiceError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::TooLarge { limit } => ServiceError::TooLarge { limit },
            BlobError::Body(io) => ServiceError::UploadInterrupted(io.to_string()),
            other => ServiceError::Blob(other),
        }
    }
}
