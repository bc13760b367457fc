//! Object-level authorization: a caller sees a production only as its owner or
//! a member (or as an operator with `admin`). Everyone else gets "not found",
//! so ids of other tenants' productions leak nothing.

use crate::{
    domain::{ClientId, Guid, Production, Role, Scope, Scopes},
    ports::{StoreError, StoredText},
};

use super::{keys, Podops, ServiceError};

/// The authenticated client of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client: ClientId,
    pub scopes: Scopes,
    /// How the request came: what the audit log records of it.
    pub context: super::RequestContext,
}

impl Caller {
    pub fn new(client: ClientId, scopes: Scopes) -> Self {
        Self { client, scopes, context: super::RequestContext::default() }
    }
}

impl Caller {
    pub fn require(&self, scope: Scope) -> Result<(), ServiceError> {
        if self.scopes.allows(scope) {
            Ok(())
        } else {
            Err(ServiceError::MissingScope(scope.as_str()))
        }
    }
}

/// What a use case needs to do in a production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    /// Uploads, imports, builds, stream control: operators and up.
    Operate,
    Write,
    Manage,
}

impl Podops {
    /// Loads a production the caller may act on with `need`.
    pub async fn authorize(&self, caller: &Caller, prod: &Guid, need: Need) -> Result<Production, ServiceError> {
        let record = self.records.get(&keys::production(prod)).await?;
        let Some(record) = record else { return Err(ServiceError::ProductionNotFound(prod.clone())) };
        let production: Production =
            serde_json::from_value(record.body).map_err(|e| StoreError::Corrupt(format!("production {prod}: {e}")))?;
        grant(caller, prod, need, production)
    }

    /// `authorize`, on the production's stored text read along with other records.
    pub(crate) fn authorize_stored(caller: &Caller, prod: &Guid, need: Need, stored: Option<StoredText>) -> Result<Production, ServiceError> {
        let Some(stored) = stored else { return Err(ServiceError::ProductionNotFound(prod.clone())) };
        let production: Production =
            serde_json::from_str(&stored.body).map_err(|e| StoreError::Corrupt(format!("production {prod}: {e}")))?;
        grant(caller, prod, need, production)
    }
}

fn grant(caller: &Caller, prod: &Guid, need: Need, production: Production) -> Result<Production, ServiceError> {
    {
        let role = match production.role_of(&caller.client) {
            Some(role) => role,
            None if caller.scopes.is_admin() => Role::Owner,
            None => return Err(ServiceError::ProductionNotFound(prod.clone())),
        };
        let allowed = match need {
            Need::Read => role.can_read(),
            Need::Operate => role.can_operate(),
            Need::Write => role.can_write(),
            Need::Manage => role.can_manage(),
        };
        if allowed { Ok(production) } else { Err(ServiceError::RoleTooLow) }
    }
}
