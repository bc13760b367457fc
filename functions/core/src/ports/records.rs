//! The records port: a key-value store of versioned JSON documents, grouped in
//! partitions and ordered by sort key within one (DynamoDB's model; SQLite
//! implements the same).

use async_trait::async_trait;
use serde_json::Value;

use crate::domain::{Timestamp, Version};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub partition: String,
    pub sort: String,
}

impl Key {
    pub fn new(partition: impl Into<String>, sort: impl Into<String>) -> Self {
        Self { partition: partition.into(), sort: sort.into() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: Key,
    pub version: Version,
    pub body: Value,
    /// After this UNIX time the record is treated as absent (DynamoDB TTL).
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Fails the whole transaction if the key exists.
    Create(Record),
    /// Fails the whole transaction unless the stored version is `expected`.
    Replace { record: Record, expected: Version },
    /// Fails the whole transaction unless the stored version is `expected`.
    Delete { key: Key, expected: Version },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub partition: String,
    /// Only sort keys starting with this prefix.
    pub prefix: String,
    /// Resume strictly after this sort key (from a previous page's `next`).
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// In ascending sort-key order.
    pub records: Vec<Record>,
    /// The last sort key of this page when more records follow; `None` on the last page.
    pub next: Option<String>,
    /// How many records match `partition` + `prefix` in all.
    pub total: u64,
}

/// A record's body as the store holds it, JSON text unparsed: for read paths
/// that answer it as it is (see `domain::stored_json`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredText {
    pub key: Key,
    pub version: Version,
    pub body: String,
}

impl From<Record> for StoredText {
    fn from(record: Record) -> Self {
        Self { body: record.body.to_string(), key: record.key, version: record.version }
    }
}

/// `Page`, with bodies as text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPage {
    pub records: Vec<StoredText>,
    pub next: Option<String>,
    pub total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition failed: the key exists (create), or is absent or at
    /// another version (replace, delete), or any condition in a transaction.
    #[error("conflicting write")]
    Conflict,
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait Records: Send + Sync {
    /// The record at `key`, or `None` if absent or expired.
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError>;
    /// Writes `record` only if nothing (live) is stored at its key.
    async fn create(&self, record: &Record) -> Result<(), StoreError>;
    /// Writes `record` only if the stored version is `expected`.
    async fn replace(&self, record: &Record, expected: Version) -> Result<(), StoreError>;
    /// Deletes only if the stored version is `expected`.
    async fn delete(&self, key: &Key, expected: Version) -> Result<(), StoreError>;
    /// One page of a partition, ascending by sort key.
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError>;
    /// `get`, the body as JSON text. A store that keeps text hands it over
    /// without parsing; the default writes the parsed body out again.
    async fn get_text(&self, key: &Key) -> Result<Option<StoredText>, StoreError> {
        Ok(self.get(key).await?.map(StoredText::from))
    }
    /// `get_text` of each key, in order, from one snapshot where the store
    /// can: a read that needs two records pays for one round of locking.
    async fn get_texts(&self, keys: &[Key]) -> Result<Vec<Option<StoredText>>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            found.push(self.get_text(key).await?);
        }
        Ok(found)
    }
    /// `list`, the bodies as JSON text (see `get_text`).
    async fn list_text(&self, query: &ListQuery) -> Result<TextPage, StoreError> {
        let page = self.list(query).await?;
        Ok(TextPage { records: page.records.into_iter().map(StoredText::from).collect(), next: page.next, total: page.total })
    }
    /// All writes or none. At most 25 operations, each on a distinct key.
    async fn transact(&self, ops: &[WriteOp]) -> Result<(), StoreError>;
}

/// Most operations one `transact` may hold (DynamoDB's limit, kept by every adapter).
pub const MAX_TRANSACT_OPS: usize = 25;

/// What every adapter refuses before touching storage: more than
/// `MAX_TRANSACT_OPS` operations, or two on one key. These are caller bugs,
/// reported as `Unavailable` (a `Conflict` would invite a retry loop).
pub fn check_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.len() > MAX_TRANSACT_OPS {
        return Err(StoreError::Unavailable(format!("invalid transaction: {} operations, at most {MAX_TRANSACT_OPS}", ops.len())));
    }
    let mut seen = std::collections::HashSet::with_capacity(ops.len());
    for op in ops {
        let key = match op {
            WriteOp::Create(record) | WriteOp::Replace { record, .. } => &record.key,
            WriteOp::Delete { key, .. } => key,
        };
        if !seen.insert(key) {
            return Err(StoreError::Unavailable(format!("invalid transaction: two operations on {}/{}", key.partition, key.sort)));
        }
    }
    Ok(())
}
