//! External ids (seed 003's legacy track tokens): an asset may carry
//! `{"legacy_track_token": "370456"}`; each pair has an index record written
//! in the same transaction as the asset, so a pair is carried by one asset at
//! most and an asset is found by it with one read.
//!
//! A pair may also be *mapped* to more assets (seed 003's "one legacy track,
//! several original assets", e.g. its FLAC master and its WAV). A mapping is
//! a record of its own beside the carrier's index record; the asset that
//! carries the pair is the one a lookup answers first, then the mapped ones
//! in asset id order. A mapping whose asset was deleted is skipped.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::{
    domain::{audit::Target, check_external_id, Guid, Invalid, Kind, Resource, ResourceBody, Scope, Version},
    ports::{ListQuery, Record, StoreError, WriteOp, MAX_TRANSACT_OPS},
};

use super::{clamp_limit, keys, Caller, Need, Podops, ServiceError};

/// Most assets one mapping request may name: one transaction holds them and its audit entry.
pub const MAX_MAPPED_PER_REQUEST: usize = MAX_TRANSACT_OPS - 5;

/// That external id `name` = `value` names `asset`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExternalIdMapping {
    pub name: String,
    pub value: String,
    #[schema(value_type = String)]
    pub asset: Guid,
}

/// One row of the external id listing (seed 003's legacy assets).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExternalIdEntry {
    pub name: String,
    pub value: String,
    #[schema(value_type = String)]
    pub asset: Guid,
    /// False for the asset that carries the pair in its `external_ids`, true for one mapped to it.
    pub mapped: bool,
    /// The asset's file name.
    pub file_name: String,
    /// The sha256 of the asset's bytes, once stored.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExternalIdPage {
    pub items: Vec<ExternalIdEntry>,
    /// How many pairs (carried and mapped) match the filter in all.
    pub total: u64,
    pub limit: usize,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next: Option<String>,
}

/// The asset ids of a mapping request: a bare list, as seed 003 sent it, or
/// `{"assets": [...]}`; duplicates count once.
fn parse_mapping_body(body: Value) -> Result<Vec<Guid>, Invalid> {
    let list = match body {
        Value::Array(list) => list,
        Value::Object(mut fields) if fields.len() == 1 => match fields.remove("assets") {
            Some(Value::Array(list)) => list,
            _ => return Err(Invalid::new("assets", "field.type", "send a list of asset ids, or {\"assets\": [ids]}")),
        },
        _ => return Err(Invalid::new("assets", "field.type", "send a list of asset ids, or {\"assets\": [ids]}")),
    };
    let mut ids: Vec<Guid> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let field = format!("assets[{i}]");
        let text = item.as_str().ok_or_else(|| Invalid::new(field.clone(), "field.type", "an asset id is a string"))?;
        let id = Guid::parse(text).map_err(|e| Invalid { field, ..e })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() || ids.len() > MAX_MAPPED_PER_REQUEST {
        return Err(Invalid::new("assets", "field.length", format!("name 1 to {MAX_MAPPED_PER_REQUEST} asset ids")));
    }
    Ok(ids)
}

/// Where a stored external id record points, and whether it is a mapping.
fn target_of(record: &Record) -> Option<(Guid, bool)> {
    let asset = record.body.get("asset").and_then(Value::as_str).and_then(|a| Guid::parse(a).ok())?;
    Some((asset, record.body.get("mapped").and_then(Value::as_bool).unwrap_or(false)))
}

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

    /// The asset external id `name` = `value` names: the one carrying it, else the first mapped one.
    pub async fn asset_by_external_id(&self, caller: &Caller, prod: &Guid, name: &str, value: &str) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        for id in self.external_id_targets(prod, name, value, true).await? {
            match self.load(prod, Kind::Asset, &id).await {
                Ok(resource) => return self.present(resource).await,
                Err(ServiceError::ResourceNotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ServiceError::ExternalIdNotFound { name: name.to_owned(), value: value.to_owned() })
    }

    /// Every asset external id `name` = `value` names: the carrier first, then the mapped ones.
    pub async fn assets_by_external_id(&self, caller: &Caller, prod: &Guid, name: &str, value: &str) -> Result<Vec<Resource>, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        let mut assets = Vec::new();
        for id in self.external_id_targets(prod, name, value, false).await? {
            match self.load(prod, Kind::Asset, &id).await {
                Ok(resource) => assets.push(self.present(resource).await?),
                Err(ServiceError::ResourceNotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        if assets.is_empty() {
            return Err(ServiceError::ExternalIdNotFound { name: name.to_owned(), value: value.to_owned() });
        }
        Ok(assets)
    }

    /// Maps external id `name` = `value` to `assets` as well (idempotent: a pair
    /// already naming an asset is left as it is). All or none: an asset that is
    /// not in the production fails the request and maps nothing.
    pub async fn map_external_id(
        &self,
        caller: &Caller,
        prod: &Guid,
        name: &str,
        value: &str,
        body: Value,
    ) -> Result<Vec<ExternalIdMapping>, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Write).await?;
        check_external_id(name, value)?;
        let wanted = parse_mapping_body(body)?;
        let named = self.external_id_targets(prod, name, value, false).await?;
        let mut ops = Vec::new();
        for id in &wanted {
            match self.load(prod, Kind::Asset, id).await {
                Ok(_) => {}
                Err(ServiceError::ResourceNotFound { .. }) => return Err(ServiceError::MappedAssetMissing(id.clone())),
                Err(e) => return Err(e),
            }
            if !named.contains(id) {
                ops.push(WriteOp::Create(Record {
                    key: keys::external_mapping(prod, name, value, id),
                    version: Version::FIRST,
                    body: json!({ "asset": id, "mapped": true }),
                    expires_at: None,
                }));
            }
        }
        if !ops.is_empty() {
            let mut changes = BTreeMap::new();
            changes.insert(format!("external_ids.{name}"), [Value::Null, json!(value)]);
            for id in wanted.iter().filter(|id| !named.contains(id)) {
                changes.insert(format!("mapped.{id}"), [Value::Null, json!(true)]);
            }
            let audit = self.audit_ops(caller, "asset.map_external_id", Target::new("external_id", format!("{name}={value}")), Some(prod), changes)?;
            ops.extend(audit);
            match self.records.transact(&ops).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => return Err(ServiceError::Contended),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(wanted.into_iter().map(|asset| ExternalIdMapping { name: name.to_owned(), value: value.to_owned(), asset }).collect())
    }

    /// One page of the external ids named `name` whose value starts with
    /// `value_prefix`, carried and mapped, in value order.
    pub async fn list_external_ids(
        &self,
        caller: &Caller,
        prod: &Guid,
        name: &str,
        value_prefix: &str,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<ExternalIdPage, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        check_external_id(name, "x").map_err(|e| e.within("name"))?;
        let limit = clamp_limit(limit);
        let partition = keys::production_partition(prod);
        let prefix = keys::external_id_prefix(name, value_prefix);
        let list_id = format!("{partition}/{prefix}");
        let after = self.open_cursor(&list_id, cursor)?;
        let page = self.records.list(&ListQuery { partition, prefix, after, limit }).await?;
        let name_prefix = keys::external_id_prefix(name, "");
        let mut items = Vec::with_capacity(page.records.len());
        for record in &page.records {
            let Some((asset, mapped)) = target_of(record) else { continue };
            let Some(rest) = record.key.sort.strip_prefix(&name_prefix) else { continue };
            let value = if mapped { rest.strip_suffix(&format!("#{asset}")).unwrap_or(rest) } else { rest };
            let stored = match self.load(prod, Kind::Asset, &asset).await {
                Ok(resource) => resource,
                Err(ServiceError::ResourceNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let (file_name, sha256) = match stored.body {
                ResourceBody::Asset(a) => (a.name, a.sha256),
                _ => continue,
            };
            items.push(ExternalIdEntry { name: name.to_owned(), value: value.to_owned(), asset, mapped, file_name, sha256 });
        }
        Ok(ExternalIdPage { items, total: page.total, limit, next: page.next.map(|a| self.seal_cursor(&list_id, &a)) })
    }

    /// The assets a pair names, as stored: the carrier first, then (unless
    /// `first_only` found the carrier) the mapped ones in asset id order.
    async fn external_id_targets(&self, prod: &Guid, name: &str, value: &str, first_only: bool) -> Result<Vec<Guid>, ServiceError> {
        let mut ids = Vec::new();
        if let Some(record) = self.records.get(&keys::external_id(prod, name, value)).await? {
            if let Some((asset, false)) = target_of(&record) {
                ids.push(asset);
                if first_only {
                    return Ok(ids);
                }
            }
        }
        // The prefix also matches pairs whose value continues with '#'; only
        // a mapping whose key is exactly this pair's counts.
        let partition = keys::production_partition(prod);
        let prefix = format!("{}#", keys::external_id(prod, name, value).sort);
        let mut after = None;
        loop {
            let page = self.records.list(&ListQuery { partition: partition.clone(), prefix: prefix.clone(), after, limit: 100 }).await?;
            for record in &page.records {
                if let Some((asset, true)) = target_of(record) {
                    if record.key == keys::external_mapping(prod, name, value, &asset) && !ids.contains(&asset) {
                        ids.push(asset);
                    }
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(ids),
            }
        }
    }
}

