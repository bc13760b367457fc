//! Shows, episodes and assets under a production: read, list, create, update
//! (a merge of the fields sent), delete — every write conditional on the
//! version, so two concurrent writers never lose an update.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    domain::{
        audit::Target,
        import_url::check_import_url_allowing,
        resource::{client_fields, parse_client_body_with},
        Asset, AssetRel, Guid, Invalid, Kind, Production, Resource, ResourceBody, Scope, Version,
    },
    ports::{BlobKey, ListQuery, Record, SignedMethod, StoreError, WriteOp},
};

use super::{clamp_limit, external_ids::external_id_ops, keys, Caller, Need, Podops, ServiceError};

#[derive(Debug, Clone)]
pub struct ResourcePage {
    pub items: Vec<Resource>,
    pub total: u64,
    pub limit: usize,
    pub next: Option<String>,
}

/// A partial update: the fields to change, as the client sent them.
#[derive(Debug, Clone)]
pub struct Update {
    pub fields: Value,
    /// The version the client last saw (`If-Match`); `None` means "whatever is stored now".
    pub if_match: Option<Version>,
}

pub(crate) fn resource_record(r: &Resource) -> Result<Record, ServiceError> {
    let body = serde_json::to_value(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Record { key: keys::resource(&r.parent_guid, r.body.kind(), &r.guid), version: r.version, body, expires_at: None })
}

pub(super) fn parse_record(record: Record) -> Result<Resource, ServiceError> {
    let sort = record.key.sort;
    Resource::from_value(record.body).map_err(|e| StoreError::Corrupt(format!("{sort}: {e}")).into())
}

impl Podops {
    pub async fn get_resource(&self, caller: &Caller, prod: &Guid, kind: Kind, id: &Guid) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        let resource = self.load(prod, kind, id).await?;
        self.present(resource).await
    }

    pub async fn list_resources(
        &self,
        caller: &Caller,
        prod: &Guid,
        kind: Kind,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<ResourcePage, ServiceError> {
        let (query, list_id) = self.resource_list_query(caller, prod, kind, limit, cursor).await?;
        let page = self.records.list(&query).await?;
        let mut items = Vec::with_capacity(page.records.len());
        for record in page.records {
            items.push(self.present(parse_record(record)?).await?);
        }
        Ok(ResourcePage { items, total: page.total, limit: query.limit, next: page.next.map(|a| self.seal_cursor(&list_id, &a)) })
    }

    /// The authorised query of a resource list, and the id its cursors are sealed to.
    pub(super) async fn resource_list_query(
        &self,
        caller: &Caller,
        prod: &Guid,
        kind: Kind,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<(ListQuery, String), ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        let limit = clamp_limit(limit);
        let partition = keys::production_partition(prod);
        let prefix = keys::resource_prefix(kind);
        let list_id = format!("{partition}/{prefix}");
        let after = self.open_cursor(&list_id, cursor)?;
        Ok((ListQuery { partition, prefix, after, limit }, list_id))
    }

    pub async fn create_resource(
        &self,
        caller: &Caller,
        prod: &Guid,
        kind: Kind,
        id: &Guid,
        body: Value,
    ) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        let production = self.authorize(caller, prod, Need::Write).await?;
        let mut body = parse_client_body_with(kind, body, &self.media.allow_addresses)?;
        if matches!(&body, ResourceBody::Asset(a) if a.rel == AssetRel::Recording) {
            return Err(Invalid::new("rel", "asset.rel_reserved", "recordings are made by streams with record: true").into());
        }
        if let ResourceBody::Asset(asset) = &body {
            if asset.rel == AssetRel::Local {
                return Err(Invalid::new(
                    "rel",
                    "asset.rel",
                    "create assets with rel 'external' or 'import' here; upload local files with POST /a/v1/upload/{prod}",
                )
                .into());
            }
        }
        self.check_references(&production, &mut body).await?;
        self.check_placement(prod, id, &body).await?;
        let now = self.clock.now();
        let resource =
            Resource { guid: id.clone(), parent_guid: prod.clone(), created: now, updated: now, version: Version::FIRST, body };
        if let ResourceBody::Asset(asset) = &resource.body {
            let index = external_id_ops(prod, id, &BTreeMap::new(), &asset.external_ids);
            if asset.rel == AssetRel::Import {
                check_import_url_allowing(asset.source.as_deref().unwrap_or(""), &self.media.allow_addresses)
                    .map_err(|r| ServiceError::ImportRefused { code: r.code, reason: r.reason })?;
                let ids = asset.external_ids.clone();
                let mut index = index;
                index.extend(self.audit_resource(caller, "create", &resource, None)?);
                return match self.create_import(resource, index).await {
                    Ok(created) => self.present(created).await,
                    Err(ServiceError::Store(StoreError::Conflict)) => Err(self.create_conflict(prod, kind, id, &ids).await?),
                    Err(e) => Err(e),
                };
            }
        }
        let mut ops = vec![WriteOp::Create(resource_record(&resource)?)];
        if let ResourceBody::Asset(asset) = &resource.body {
            ops.extend(external_id_ops(prod, id, &BTreeMap::new(), &asset.external_ids));
        }
        if kind == Kind::Show {
            ops.push(WriteOp::Create(Record {
                key: keys::show_marker(prod),
                version: Version::FIRST,
                body: serde_json::json!({ "guid": id }),
                expires_at: None,
            }));
        }
        if kind == Kind::Schedule {
            ops.push(WriteOp::Create(Record { key: super::schedules::schedule_index(prod, id), version: Version::FIRST, body: serde_json::json!({}), expires_at: None }));
        }
        ops.extend(self.audit_resource(caller, "create", &resource, None)?);
        match self.records.transact(&ops).await {
            Ok(()) => {
                self.feed_is_stale_after(prod, kind).await?;
                self.present(resource).await
            }
            Err(StoreError::Conflict) => {
                let ids = match &resource.body {
                    ResourceBody::Asset(a) => a.external_ids.clone(),
                    _ => BTreeMap::new(),
                };
                Err(self.create_conflict(prod, kind, id, &ids).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What a resource's id and its production's other resources decide: a
    /// schedule's slots overlap no other of its stream; a channel's name is
    /// its production's only one.
    async fn check_placement(&self, prod: &Guid, id: &Guid, body: &ResourceBody) -> Result<(), ServiceError> {
        match body {
            ResourceBody::Schedule(s) => self.check_schedule(prod, id, s).await,
            ResourceBody::Channel(c) => self.check_channel(prod, id, c).await,
            _ => Ok(()),
        }
    }

    /// Every resource of `kind` in a production, as the body `pick` takes out
    /// (the ones it does not recognise are skipped).
    pub(crate) async fn bodies_of<T>(&self, prod: &Guid, kind: Kind, pick: impl Fn(ResourceBody) -> Option<T>) -> Result<Vec<(Guid, T)>, ServiceError> {
        let records = self.list_all(prod, &keys::resource_prefix(kind)).await?;
        Ok(records.into_iter().filter_map(|r| Resource::from_value(r.body).ok()).filter_map(|r| pick(r.body).map(|b| (r.guid, b))).collect())
    }

    /// The audit entry of a resource's create or update, with the fields it changed.
    pub(crate) fn audit_resource(&self, caller: &Caller, verb: &str, resource: &Resource, before: Option<&Resource>) -> Result<Vec<WriteOp>, ServiceError> {
        let json = |r: Option<&Resource>| r.map_or(Ok(Value::Null), |r| serde_json::to_value(&r.body)).map_err(|e| StoreError::Corrupt(e.to_string()));
        let changes = crate::domain::audit::changes(&json(before)?, &json(Some(resource))?);
        let kind = resource.body.kind().as_str();
        self.audit_ops(caller, &format!("{kind}.{verb}"), Target::new(kind, &resource.guid), Some(&resource.parent_guid), changes)
    }

    /// Why a create transaction's condition failed, from what is stored now.
    async fn create_conflict(&self, prod: &Guid, kind: Kind, id: &Guid, ids: &BTreeMap<String, String>) -> Result<ServiceError, ServiceError> {
        if self.records.get(&keys::resource(prod, kind, id)).await?.is_some() {
            Ok(ServiceError::ResourceExists { kind, guid: id.clone() })
        } else if kind == Kind::Show {
            Ok(ServiceError::ShowExists)
        } else if let Some(taken) = self.taken_external_id(prod, id, ids).await? {
            Ok(taken)
        } else {
            Ok(ServiceError::Contended)
        }
    }

    pub async fn update_resource(
        &self,
        caller: &Caller,
        prod: &Guid,
        kind: Kind,
        id: &Guid,
        update: Update,
    ) -> Result<Resource, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        let production = self.authorize(caller, prod, Need::Write).await?;
        let stored = self.load(prod, kind, id).await?;
        let Value::Object(changes) = update.fields else {
            return Err(Invalid::new("", "body.not_object", "the body must be a JSON object").into());
        };
        let mut merged = client_fields(&stored.body);
        merged.extend(changes);
        if let ResourceBody::Webhook(old) = &stored.body {
            // What a GET showed stands for the stored secret.
            if merged.get("secret").and_then(Value::as_str) == Some(crate::domain::stream::mask(&old.secret).as_str()) {
                merged.insert("secret".into(), Value::String(old.secret.clone()));
            }
        }
        let mut body = parse_client_body_with(kind, Value::Object(merged), &self.media.allow_addresses)?;
        keep_server_fields(&mut body, &stored.body)?;
        if let (ResourceBody::Stream(new), ResourceBody::Stream(old)) = (&mut body, &stored.body) {
            new.restore_secrets(old)?;
        }
        // A body that is wrong whatever the version is refused as such (400) before its
        // version is compared (412).
        if let Some(expected) = update.if_match {
            if expected != stored.version {
                return Err(ServiceError::VersionMismatch { current: stored.version });
            }
        }
        self.check_references(&production, &mut body).await?;
        self.check_placement(prod, id, &body).await?;
        let index = match (&stored.body, &body) {
            (ResourceBody::Asset(old), ResourceBody::Asset(new)) => external_id_ops(prod, id, &old.external_ids, &new.external_ids),
            _ => Vec::new(),
        };
        let updated = Resource { version: stored.version.next(), updated: self.clock.now(), body, ..stored.clone() };
        let mut ops = vec![WriteOp::Replace { record: resource_record(&updated)?, expected: stored.version }];
        ops.extend(index);
        ops.extend(self.audit_resource(caller, "update", &updated, Some(&stored))?);
        let written = self.records.transact(&ops).await;
        match written {
            Ok(()) => {
                self.feed_is_stale_after(prod, kind).await?;
                self.present(updated).await
            }
            Err(StoreError::Conflict) => {
                if let ResourceBody::Asset(a) = &updated.body {
                    if let Some(taken) = self.taken_external_id(prod, id, &a.external_ids).await? {
                        return Err(taken);
                    }
                }
                Err(self.lost_race(prod, kind, id, update.if_match).await)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_resource(
        &self,
        caller: &Caller,
        prod: &Guid,
        kind: Kind,
        id: &Guid,
        if_match: Option<Version>,
    ) -> Result<(), ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Write).await?;
        let stored = self.load(prod, kind, id).await?;
        if let Some(expected) = if_match {
            if expected != stored.version {
                return Err(ServiceError::VersionMismatch { current: stored.version });
            }
        }
        let mut ops = vec![WriteOp::Delete { key: keys::resource(prod, kind, id), expected: stored.version }];
        if kind == Kind::Stream {
            ops.extend(self.stream_delete_ops(prod, id).await?);
        }
        if kind == Kind::Show {
            if let Some(marker) = self.records.get(&keys::show_marker(prod)).await? {
                ops.push(WriteOp::Delete { key: marker.key, expected: marker.version });
            }
        }
        if kind == Kind::Schedule {
            if let Some(entry) = self.records.get(&super::schedules::schedule_index(prod, id)).await? {
                ops.push(WriteOp::Delete { key: entry.key, expected: entry.version });
            }
        }
        if let ResourceBody::Asset(asset) = &stored.body {
            ops.extend(external_id_ops(prod, id, &asset.external_ids, &BTreeMap::new()));
        }
        ops.extend(self.audit_ops(caller, &format!("{}.delete", kind.as_str()), Target::new(kind.as_str(), id), Some(prod), BTreeMap::new())?);
        match self.records.transact(&ops).await {
            Ok(()) => self.feed_is_stale_after(prod, kind).await?,
            Err(StoreError::Conflict) => return Err(self.lost_race(prod, kind, id, if_match).await),
            Err(e) => return Err(e.into()),
        }
        if let ResourceBody::Asset(asset) = &stored.body {
            self.delete_asset_bytes(prod, id, asset).await?;
        }
        Ok(())
    }

    /// After an asset's record is gone: its object and renditions, unless
    /// another asset shares them (an import of identical content). Checked
    /// after the record delete, so a concurrent import that starts sharing
    /// is seen (see `finish_import`). A failed delete orphans, never dangles.
    async fn delete_asset_bytes(&self, prod: &Guid, id: &Guid, asset: &Asset) -> Result<(), ServiceError> {
        let Some(key) = self.media_key(prod, id, asset)? else { return Ok(()) };
        let others = self.other_assets(prod, id).await?;
        let mut doomed = Vec::new();
        if !others.iter().any(|(g, a)| self.media_key(prod, g, a).ok().flatten().as_ref() == Some(&key)) {
            doomed.push(key);
        }
        if !others.iter().any(|(_, a)| a.sha256.is_some() && a.sha256 == asset.sha256) {
            doomed.extend(asset.renditions.iter().filter_map(|r| r.key.as_deref().and_then(|k| BlobKey::parse(k).ok())));
        }
        for key in doomed {
            if let Err(e) = self.blobs.delete(&key).await {
                tracing::warn!(key = %key, error = %e, "asset deleted but its object was not");
            }
        }
        Ok(())
    }

    pub(crate) async fn load(&self, prod: &Guid, kind: Kind, id: &Guid) -> Result<Resource, ServiceError> {
        match self.records.get(&keys::resource(prod, kind, id)).await? {
            Some(record) => parse_record(record),
            None => Err(ServiceError::ResourceNotFound { kind, guid: id.clone() }),
        }
    }

    /// The resource as clients see it: stored assets (uploads, fetched
    /// imports) get a fresh signed URL, others their source.
    pub(crate) async fn present(&self, mut resource: Resource) -> Result<Resource, ServiceError> {
        if let ResourceBody::Stream(stream) = &mut resource.body {
            self.present_stream(&resource.parent_guid, &resource.guid, stream).await?;
        }
        if let ResourceBody::Webhook(hook) = &mut resource.body {
            *hook = hook.masked();
        }
        if let ResourceBody::Asset(asset) = &mut resource.body {
            asset.url = match self.media_key(&resource.parent_guid, &resource.guid, asset)? {
                Some(key) => {
                    let expires = self.clock.now() + self.media.url_ttl;
                    Some(self.blobs.signed_url(&key, SignedMethod::Get, expires).await?)
                }
                None if asset.rel == AssetRel::Local => None,
                None => asset.source.clone(),
            };
        }
        Ok(resource)
    }

    /// An episode's enclosure must be an asset of the same production; the
    /// episode's duration is the enclosure's measured one (none until probed).
    async fn check_references(&self, production: &Production, body: &mut ResourceBody) -> Result<(), ServiceError> {
        self.check_live_references(production, body).await?;
        if let ResourceBody::Episode(ep) = body {
            if let Some(enclosure) = &ep.enclosure {
                let Some(record) = self.records.get(&keys::resource(&production.guid, Kind::Asset, enclosure)).await? else {
                    return Err(ServiceError::EnclosureMissing(enclosure.clone()));
                };
                if let Ok(Resource { body: ResourceBody::Asset(asset), .. }) = Resource::from_value(record.body) {
                    if let Some(probe) = asset.probe {
                        ep.duration = Some(probe.duration.round().clamp(0.0, f64::from(u32::MAX)) as u32);
                    }
                }
            }
        }
        Ok(())
    }

    /// Only what a feed shows makes the published feed stale.
    async fn feed_is_stale_after(&self, prod: &Guid, kind: Kind) -> Result<(), ServiceError> {
        match kind {
            Kind::Show | Kind::Episode | Kind::Asset => self.feed_is_stale(prod).await,
            // Streams and their schedules are the feed's live items.
            Kind::Stream | Kind::Schedule => self.feed_is_stale(prod).await,
            Kind::Profile | Kind::Playlist | Kind::Webhook | Kind::Channel => Ok(()),
        }
    }

    /// After a conditional write failed: say why, from what is stored now.
    async fn lost_race(&self, prod: &Guid, kind: Kind, id: &Guid, if_match: Option<Version>) -> ServiceError {
        match self.records.get(&keys::resource(prod, kind, id)).await {
            Ok(None) => ServiceError::ResourceNotFound { kind, guid: id.clone() },
            Ok(Some(now)) if if_match.is_some() => ServiceError::VersionMismatch { current: now.version },
            Ok(Some(_)) => ServiceError::Contended,
            Err(e) => e.into(),
        }
    }
}

/// Facts the server measured or manages survive a client's update.
fn keep_server_fields(new: &mut ResourceBody, old: &ResourceBody) -> Result<(), ServiceError> {
    match (new, old) {
        (ResourceBody::Episode(n), ResourceBody::Episode(o)) => {
            n.duration = o.duration;
            // A copy stands for the URL it was fetched from: a new URL drops it.
            if n.transcript == o.transcript {
                n.transcript_object.clone_from(&o.transcript_object);
            }
            if n.chapters == o.chapters {
                n.chapters_object.clone_from(&o.chapters_object);
            }
        }
        (ResourceBody::Stream(n), _) => {
            n.desired = None;
            n.state = None;
        }
        (ResourceBody::Asset(n), ResourceBody::Asset(o)) => {
            if n.rel != o.rel || (o.rel != AssetRel::External && n.content_type != o.content_type && o.size.is_some()) {
                return Err(Invalid::new("rel", "asset.immutable", "an asset's rel and stored media type cannot change").into());
            }
            n.size = o.size;
            n.sha256 = o.sha256.clone();
            n.state = o.state;
            n.error = o.error.clone();
            n.probe = o.probe.clone();
            n.renditions = o.renditions.clone();
            n.object = o.object.clone();
            n.recorded = o.recorded.clone();
            // An import's source is where its bytes came from: fixed once fetched.
            if matches!(o.rel, AssetRel::Import | AssetRel::Recording) {
                n.source = o.source.clone();
            }
        }
        _ => {}
    }
    Ok(())
}

