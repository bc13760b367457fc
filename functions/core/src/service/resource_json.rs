//! Resources answered in JSON. A show or an episode whose stored text is
//! complete (see `domain::stored_json`) goes out as stored: no parse, no
//! second serialisation. Everything else is parsed and presented, as
//! `get_resource` and `list_resources` do (which XML answers use).

use crate::{
    domain::{stored_json::answerable_as_stored, Guid, Kind, Resource, Scope, Version},
    ports::{Record, StoreError, StoredText},
};

use super::{keys, resources::parse_record, Caller, Need, Podops, ServiceError};

/// One resource as the API writes it in JSON.
#[derive(Debug)]
pub enum ResourceJson {
    Typed(Resource),
    /// The stored text: a complete JSON object, already checked.
    Stored(String),
}

impl ResourceJson {
    /// Appends the resource's JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        match self {
            ResourceJson::Typed(resource) => serde_json::to_writer(out, resource),
            ResourceJson::Stored(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(())
            }
        }
    }

    /// The resource's JSON, without a copy when it is the stored text.
    pub fn into_json(self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            ResourceJson::Typed(resource) => serde_json::to_vec(&resource),
            ResourceJson::Stored(text) => Ok(text.into_bytes()),
        }
    }
}

#[derive(Debug)]
pub struct ResourceJsonPage {
    pub items: Vec<ResourceJson>,
    pub total: u64,
    pub limit: usize,
    pub next: Option<String>,
}

impl Podops {
    /// `get_resource` for a JSON answer, with the version its `ETag` carries.
    pub async fn get_resource_json(&self, caller: &Caller, prod: &Guid, kind: Kind, id: &Guid) -> Result<(ResourceJson, Version), ServiceError> {
        caller.require(Scope::ResourceRead)?;
        // The production (for the authorization) and the resource from one
        // snapshot; nothing of the resource is answered before the check.
        let mut found = self.records.get_texts(&[keys::production(prod), keys::resource(prod, kind, id)]).await?.into_iter();
        let (production, text) = (found.next().flatten(), found.next().flatten());
        Podops::authorize_stored(caller, prod, Need::Read, production)?;
        let text = text.ok_or_else(|| ServiceError::ResourceNotFound { kind, guid: id.clone() })?;
        let version = text.version;
        Ok((self.answer(kind, text).await?, version))
    }

    /// `list_resources` for a JSON answer.
    pub async fn list_resources_json(
        &self,
        caller: &Caller,
        prod: &Guid,
        kind: Kind,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<ResourceJsonPage, ServiceError> {
        let (query, list_id) = self.resource_list_query(caller, prod, kind, limit, cursor).await?;
        let page = self.records.list_text(&query).await?;
        let mut items = Vec::with_capacity(page.records.len());
        for text in page.records {
            items.push(self.answer(kind, text).await?);
        }
        Ok(ResourceJsonPage { items, total: page.total, limit: query.limit, next: page.next.map(|a| self.seal_cursor(&list_id, &a)) })
    }

    async fn answer(&self, kind: Kind, text: StoredText) -> Result<ResourceJson, ServiceError> {
        let StoredText { key, version, body } = text;
        if answerable_as_stored(kind, &body) {
            return Ok(ResourceJson::Stored(body));
        }
        let body = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("{}: {e}", key.sort)))?;
        let record = Record { key, version, body, expires_at: None };
        Ok(ResourceJson::Typed(self.present(parse_record(record)?).await?))
    }
}
