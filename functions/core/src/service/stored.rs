//! Records whose body is one serde type, read and changed as that type: the
//! shape of feed imports, backups and restores (a state, a report, `updated`).

use serde::{de::DeserializeOwned, Serialize};

use crate::{
    domain::{Timestamp, Version},
    ports::{Key, Record, StoreError},
};

use super::{Podops, ServiceError};

impl Podops {
    /// The record at `key` as a `T`, with its version; `None` when absent.
    pub(crate) async fn load_json<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<(T, Version)>, ServiceError> {
        let Some(record) = self.records.get(key).await? else { return Ok(None) };
        let found = serde_json::from_value(record.body).map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", key.partition, key.sort)))?;
        Ok(Some((found, record.version)))
    }

    /// Applies `change` (given the time) to the record at `key` and writes it
    /// back, again on a concurrent write; `ttl` is from that time. `None` when absent.
    pub(crate) async fn update_json<T: Serialize + DeserializeOwned>(
        &self,
        key: &Key,
        ttl: Option<Timestamp>,
        change: impl Fn(&mut T, Timestamp),
    ) -> Result<Option<T>, ServiceError> {
        for _ in 0..5 {
            let Some((mut found, version)) = self.load_json::<T>(key).await? else { return Ok(None) };
            let now = self.clock.now();
            change(&mut found, now);
            let body = serde_json::to_value(&found).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let record = Record { key: key.clone(), version: version.next(), body, expires_at: ttl.map(|t| now + t) };
            match self.records.replace(&record, version).await {
                Ok(()) => return Ok(Some(found)),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }
}
