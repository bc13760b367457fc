//! Ports: the small capability traits the core needs from the outside world.
//! Each has one contract suite (in `podops-adapters`, module `contract`) that
//! every adapter must pass unchanged.

mod blobs;
mod clock;
mod jobs;
mod mailer;
mod media;
mod rate;
mod records;

pub use blobs::{BlobError, BlobKey, BlobMeta, Blobs, ByteStream, GetBlob, PartMeta, SignedMethod, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
pub use clock::{Clock, SystemClock};
pub use jobs::{Jobs, QueueError, Received};
pub use mailer::{Mail, MailError, Mailer};
pub use media::{EncodePlan, MediaError, MediaTool};
pub use rate::{Budget, RateBudgets, Take};
pub use records::{check_transaction, Key, ListQuery, Page, Record, Records, StoreError, StoredText, TextPage, WriteOp, MAX_TRANSACT_OPS};
