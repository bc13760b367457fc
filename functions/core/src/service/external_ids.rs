//! External ids (seed 003's legacy track tokens): an asset may carry
//! `{"legacy_track_token": "370456"}`; each pair has an index record written
//! in the same transaction as the asset, so a pair names one asset at most
//! and an asset is found by it with one read.

use std::collections::BTreeMap;

use serde_json::json;

use crate::{
    domain::{Guid, Kind, Resource, Scope, Version},
    ports::{Record, WriteOp},
};

use super::{keys, Caller, Need, Podops, ServiceError};

/// The index writes that take an asset from `old` external ids to `new`.
/// Index records are written once and never changed, so deleting one
/// expects version 1.
pub(crate) fn external_id_ops(prod: &Guid, id: &Guid, old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<WriteOp> {
    let mut ops = Vec::new();
    for (name, value) in old {
        if new.get(name) != Some(value) {
            ops.push(WriteOp::Delete { key: keys::external_id(prod, name, value), expected: Version::FIRST });
        }
    }
    for (name, value) in new {
        if old.get(name) != Some(value) {
            ops.push(WriteOp::Create(Record {
                key: keys::external_id(prod, name, value),
                version: Version::FIRST,
                body: json!({ "asset": id }),
                expires_at: None,
            }));
        }
    }
    ops
}

impl Podops {
    /// After a transaction with external id creates failed: the pair that is
    /// taken by another asset, if that was the reason.
    pub(crate) async fn taken_external_id(&self, prod: &Guid, id: &Guid, ids: &BTreeMap<String, String>) -> Result<Option<ServiceError>, ServiceError> {
        for (name, value) in ids {
            if let Some(record) = self.records.get(&keys::external_id(prod, name, value)).await? {
                if record.body.get("asset").and_then(|a| a.as_str()) != Some(id.as_str()) {
                    return Ok(Some(ServiceError::ExternalIdTaken { name: name.clone(), value: value.clone() }));
                }
            }
        }
        Ok(None)
    }

    /// The asset carrying external id `name` = `value`.
    pub async fn asset_by_external_id(&self, caller: &Caller, prod: &Guid, name: &str, value: &str) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        let not_found = || ServiceError::ExternalIdNotFound { name: name.to_owned(), value: value.to_owned() };
        let record = self.records.get(&keys::external_id(prod, name, value)).await?.ok_or_else(not_found)?;
        let id = record.body.get("asset").and_then(|a| a.as_str()).and_then(|a| Guid::parse(a).ok()).ok_or_else(not_found)?;
        match self.load(prod, Kind::Asset, &id).await {
            Ok(resource) => self.present(resource).await,
            Err(ServiceError::ResourceNotFound { .. }) => Err(not_found()),
            Err(e) => Err(e),
        }
    }
}
