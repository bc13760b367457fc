//! Productions: create one (the caller becomes its owner), list the caller's,
//! read one, and manage its members.

use std::collections::BTreeMap;

use futures::future::try_join_all;
use serde_json::{json, Value};

use crate::{
    domain::{
        audit::{changes, Target},
        ClientId, Guid, Member, NewProduction, Production, ProductionName, Role, Scope, Version,
    },
    ports::{Record, StoreError, WriteOp},
};

use super::{clamp_limit, keys, Caller, Need, Podops, ServiceError};

#[derive(Debug, Clone)]
pub struct ProductionPage {
    pub items: Vec<Production>,
    pub total: u64,
    pub limit: usize,
    pub next: Option<String>,
}

fn production_record(p: &Production) -> Result<Record, ServiceError> {
    let body = serde_json::to_value(p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Record { key: keys::production(&p.guid), version: p.version, body, expires_at: None })
}

fn membership_record(client: &ClientId, prod: &Guid, role: Role, version: Version) -> Record {
    Record { key: keys::membership(client, prod), version, body: json!({ "role": role }), expires_at: None }
}

impl Podops {
    pub async fn create_production(&self, caller: &Caller, input: NewProduction) -> Result<Production, ServiceError> {
        self.create_production_as(caller, input, Guid::random()).await
    }

    /// A new production with a given guid (a restore keeps the backed-up one when it is free).
    pub(crate) async fn create_production_as(&self, caller: &Caller, input: NewProduction, guid: Guid) -> Result<Production, ServiceError> {
        caller.require(Scope::ProductionWrite)?;
        input.validate()?;
        let now = self.clock.now();
        let production = Production {
            guid,
            name: input.name,
            title: input.title,
            summary: input.summary,
            owner: caller.client.clone(),
            members: Vec::new(),
            created: now,
            updated: now,
            last_build: None,
            feed_redirect: None,
            podcast_guid: None,
            version: Version::FIRST,
        };
        let name_key = keys::production_name(&production.name);
        let created = json!({ "name": production.name, "title": production.title, "summary": production.summary });
        let audit = self.audit_ops(caller, "production.create", Target::new("production", &production.guid), Some(&production.guid), changes(&Value::Null, &created))?;
        let mut ops = vec![
            WriteOp::Create(production_record(&production)?),
            WriteOp::Create(Record {
                key: name_key.clone(),
                version: Version::FIRST,
                body: json!({ "guid": production.guid }),
                expires_at: None,
            }),
            WriteOp::Create(membership_record(&caller.client, &production.guid, Role::Owner, Version::FIRST)),
        ];
        ops.extend(audit);
        match self.records.transact(&ops).await {
            Ok(()) => Ok(production),
            Err(StoreError::Conflict) if self.records.get(&name_key).await?.is_some() => {
                Err(ServiceError::NameTaken(production.name.to_string()))
            }
            Err(StoreError::Conflict) => Err(ServiceError::Contended),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_production(&self, caller: &Caller, prod: &Guid) -> Result<Production, ServiceError> {
        caller.require(Scope::ProductionRead)?;
        self.authorize(caller, prod, Need::Read).await
    }

    /// The productions the caller owns or is a member of, by GUID.
    pub async fn list_productions(
        &self,
        caller: &Caller,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<ProductionPage, ServiceError> {
        caller.require(Scope::ProductionRead)?;
        let limit = clamp_limit(limit);
        let partition = keys::member_partition(&caller.client);
        let after = self.open_cursor(&partition, cursor)?;
        let page = self
            .records
            .list(&crate::ports::ListQuery { partition: partition.clone(), prefix: "PROD#".into(), after, limit })
            .await?;
        let loads = page.records.iter().map(|m| async move {
            let guid = m.key.sort.trim_start_matches("PROD#");
            let Ok(guid) = Guid::parse(guid) else { return Ok(None) };
            match self.records.get(&keys::production(&guid)).await? {
                Some(r) => serde_json::from_value::<Production>(r.body)
                    .map(Some)
                    .map_err(|e| ServiceError::from(StoreError::Corrupt(e.to_string()))),
                None => Ok(None),
            }
        });
        let items = try_join_all(loads).await?.into_iter().flatten().collect();
        Ok(ProductionPage {
            items,
            total: page.total,
            limit,
            next: page.next.map(|after| self.seal_cursor(&partition, &after)),
        })
    }

    /// Adds, changes (`Some(role)`) or removes (`None`) a member. Owner only;
    /// the owner's own role cannot be changed here.
    pub async fn set_member(
        &self,
        caller: &Caller,
        prod: &Guid,
        client: &ClientId,
        role: Option<Role>,
    ) -> Result<Production, ServiceError> {
        caller.require(Scope::ProductionWrite)?;
        let mut production = self.authorize(caller, prod, Need::Manage).await?;
        if client == &production.owner {
            return Err(ServiceError::Unprocessable { code: "member.is_owner", field: "client".into(), message: "the owner's role cannot change".into() });
        }
        if matches!(role, Some(Role::Owner)) {
            return Err(crate::domain::Invalid::new("role", "member.role", "role is viewer, operator or editor").into());
        }
        let expected = production.version;
        let before = production.role_of(client);
        production.members.retain(|m| &m.client != client);
        if let Some(role) = role {
            production.members.push(Member { client: client.clone(), role });
        }
        production.version = expected.next();
        production.updated = self.clock.now();
        let existing = self.records.get(&keys::membership(client, prod)).await?;
        let mut ops = vec![WriteOp::Replace { record: production_record(&production)?, expected }];
        match (role, existing) {
            (Some(role), None) => ops.push(WriteOp::Create(membership_record(client, prod, role, Version::FIRST))),
            (Some(role), Some(old)) => ops.push(WriteOp::Replace {
                record: membership_record(client, prod, role, old.version.next()),
                expected: old.version,
            }),
            (None, Some(old)) => ops.push(WriteOp::Delete { key: old.key, expected: old.version }),
            (None, None) => {}
        }
        let action = if role.is_some() { "member.set" } else { "member.remove" };
        let change = BTreeMap::from([("role".to_owned(), [json!(before), json!(role)])]);
        ops.extend(self.audit_ops(caller, action, Target::new("member", client), Some(prod), change)?);
        match self.records.transact(&ops).await {
            Ok(()) => Ok(production),
            Err(StoreError::Conflict) => Err(ServiceError::Contended),
            Err(e) => Err(e.into()),
        }
    }
}

impl Podops {
    /// The GUID of the production named `name` (no authorization: names are public in feed URLs).
    /// The production named `name` if the caller may write it, `None` if there is none;
    /// another's is `NameTaken` (what imports and restores into a named production check).
    pub(crate) async fn writable_production(&self, caller: &Caller, name: &ProductionName) -> Result<Option<Guid>, ServiceError> {
        let Some(prod) = self.production_by_name(name.as_str()).await? else { return Ok(None) };
        match self.authorize(caller, &prod, Need::Write).await {
            Ok(_) => Ok(Some(prod)),
            Err(ServiceError::ProductionNotFound(_)) => Err(ServiceError::NameTaken(name.to_string())),
            Err(e) => Err(e),
        }
    }

    pub async fn production_by_name(&self, name: &str) -> Result<Option<Guid>, ServiceError> {
        let Ok(name) = crate::domain::ProductionName::parse(name) else { return Ok(None) };
        let Some(record) = self.records.get(&keys::production_name(&name)).await? else { return Ok(None) };
        Ok(record.body.get("guid").and_then(|g| g.as_str()).and_then(|g| Guid::parse(g).ok()))
    }

    /// A production's record without an authorization check, for internal use.
    pub async fn production_record(&self, prod: &Guid) -> Result<Option<Production>, ServiceError> {
        match self.records.get(&keys::production(prod)).await? {
            Some(r) => Ok(Some(serde_json::from_value(r.body).map_err(|e| StoreError::Corrupt(e.to_string()))?)),
            None => Ok(None),
        }
    }
}
