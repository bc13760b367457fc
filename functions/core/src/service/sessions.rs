//! Sessions (seed 004): a sign-in starts a family — its `pok_` key and a
//! rotating refresh token (`por_…`). `refresh` swaps both for new ones; a
//! refresh token used twice (stolen and replayed) revokes the whole family.
//! `logout` revokes the caller's family. A new sign-in revokes the previous
//! sign-in's family (Teal: a new key invalidates the old one).

use serde::{Deserialize, Serialize};

use crate::domain::{
    account::{key_hash, new_key},
    audit::{Actor, Target},
    ApiKey, Email, KeyKind, User, Version,
};
use crate::ports::{Key, Record, StoreError, WriteOp};

use super::{Caller, Podops, RequestContext, ServiceError, SignedIn};

/// A refresh token lives this long unused.
pub const REFRESH_TTL: i64 = 30 * 24 * 3600;
/// A used refresh token is kept this long to recognise its replay.
const USED_TTL: i64 = REFRESH_TTL;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Family {
    user: String,
    email: Email,
    /// SHA-256 of the family's current key and refresh token.
    key: String,
    refresh: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Refresh {
    family: String,
    #[serde(default)]
    used: bool,
}

fn family_key(id: &str) -> Key {
    Key::new(format!("FAMILY#{id}"), "F")
}
fn refresh_key(hash: &str) -> Key {
    Key::new(format!("REFRESH#{hash}"), "R")
}
pub(crate) fn api_key_key(hash: &str) -> Key {
    Key::new(format!("KEY#{hash}"), "KEY")
}
/// A user's keys and tokens, listed by id (each entry names its key's hash).
pub(crate) fn user_keys_partition(user: &str) -> String {
    format!("USERKEYS#{user}")
}
pub(crate) fn user_key_entry(user: &str, id: &str) -> Key {
    Key::new(user_keys_partition(user), id.to_owned())
}
fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value, ServiceError> {
    serde_json::to_value(v).map_err(|e| StoreError::Corrupt(e.to_string()).into())
}
fn new_refresh() -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
    format!("por_{}", hex::encode(bytes))
}

/// A family's new key and refresh token, and the writes that store them.
pub(crate) struct Issued {
    pub key: String,
    pub refresh: String,
    pub family: String,
    pub ops: Vec<WriteOp>,
}

impl Podops {
    /// New key + refresh token for `family` (a new family when `None`).
    pub(crate) fn issue_session(&self, user: &User, family: Option<&str>) -> Result<Issued, ServiceError> {
        let now = self.clock.now();
        let key = new_key(KeyKind::SignIn);
        let hash = key_hash(&key);
        let family = family.map_or_else(|| hash[..16].to_owned(), str::to_owned);
        let api_key = ApiKey {
            id: hash[..16].to_owned(),
            user: user.id.clone(),
            kind: KeyKind::SignIn,
            email: user.email.clone(),
            name: "sign-in".into(),
            scopes: User::scopes().to_string(),
            created: now,
            expires: None,
            masked: format!("••••{}", &key[key.len() - 4..]),
            last_used: None,
            family: Some(family.clone()),
        };
        let refresh = new_refresh();
        let refresh_hash = key_hash(&refresh);
        let ops = vec![
            WriteOp::Create(Record { key: api_key_key(&hash), version: Version::FIRST, body: to_json(&api_key)?, expires_at: None }),
            WriteOp::Create(Record { key: user_key_entry(&user.id, &api_key.id), version: Version::FIRST, body: serde_json::json!({ "hash": hash }), expires_at: None }),
            WriteOp::Create(Record { key: refresh_key(&refresh_hash), version: Version::FIRST, body: to_json(&Refresh { family: family.clone(), used: false })?, expires_at: Some(now + REFRESH_TTL) }),
        ];
        Ok(Issued { key, refresh, family, ops })
    }

    /// The writes that end a family: its record, its current key, its current refresh token.
    pub(crate) async fn revoke_family_ops(&self, family: &str) -> Result<Vec<WriteOp>, ServiceError> {
        let Some(record) = self.records.get(&family_key(family)).await? else { return Ok(Vec::new()) };
        let f: Family = serde_json::from_value(record.body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut ops = vec![WriteOp::Delete { key: record.key, expected: record.version }];
        if let Some(k) = self.records.get(&api_key_key(&f.key)).await? {
            ops.push(WriteOp::Delete { key: k.key, expected: k.version });
        }
        if let Some(e) = self.records.get(&user_key_entry(&f.user, &f.key[..16])).await? {
            ops.push(WriteOp::Delete { key: e.key, expected: e.version });
        }
        if let Some(r) = self.records.get(&refresh_key(&f.refresh)).await? {
            ops.push(WriteOp::Delete { key: r.key, expected: r.version });
        }
        Ok(ops)
    }

    /// The family record written with a session's first or next key.
    pub(crate) fn family_op(&self, issued: &Issued, user: &User, previous: Option<Version>) -> Result<WriteOp, ServiceError> {
        let body = to_json(&Family { user: user.id.clone(), email: user.email.clone(), key: key_hash(&issued.key), refresh: key_hash(&issued.refresh) })?;
        let expires_at = Some(self.clock.now() + REFRESH_TTL);
        Ok(match previous {
            Some(v) => WriteOp::Replace { record: Record { key: family_key(&issued.family), version: v.next(), body, expires_at }, expected: v },
            None => WriteOp::Create(Record { key: family_key(&issued.family), version: Version::FIRST, body, expires_at }),
        })
    }

    /// Swaps a refresh token for a new key and refresh token. A token used
    /// before means it was copied: the whole family is revoked.
    pub async fn refresh_session(&self, token: &str, context: &RequestContext) -> Result<SignedIn, ServiceError> {
        let hash = key_hash(token.trim());
        let Some(record) = self.records.get(&refresh_key(&hash)).await? else { return Err(ServiceError::RefreshInvalid) };
        let refresh: Refresh = serde_json::from_value(record.body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if refresh.used {
            let ops = self.revoke_family_ops(&refresh.family).await?;
            if !ops.is_empty() {
                self.records.transact(&ops).await?;
            }
            tracing::warn!(family = %refresh.family, "a refresh token was used twice: its family is revoked");
            let actor = Actor { user: None, client: "-".into(), via: "refresh_token".into(), token: Some(refresh.family.clone()) };
            self.audit_failure(actor, context, "auth.refresh", Target::new("session", &refresh.family), "auth.refresh_reused").await;
            return Err(ServiceError::RefreshReused);
        }
        let Some(family_record) = self.records.get(&family_key(&refresh.family)).await? else { return Err(ServiceError::RefreshInvalid) };
        let family: Family = serde_json::from_value(family_record.body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let user = User { id: family.user.clone(), email: family.email.clone(), created: 0 };
        let issued = self.issue_session(&user, Some(&refresh.family))?;
        let now = self.clock.now();
        let mut ops = issued.ops.clone();
        // The old refresh token stays, marked used, to recognise a replay.
        ops.push(WriteOp::Replace {
            record: Record { key: record.key.clone(), version: record.version.next(), body: to_json(&Refresh { family: refresh.family.clone(), used: true })?, expires_at: Some(now + USED_TTL) },
            expected: record.version,
        });
        if let Some(k) = self.records.get(&api_key_key(&family.key)).await? {
            ops.push(WriteOp::Delete { key: k.key, expected: k.version });
        }
        if let Some(e) = self.records.get(&user_key_entry(&family.user, &family.key[..16])).await? {
            ops.push(WriteOp::Delete { key: e.key, expected: e.version });
        }
        ops.push(self.family_op(&issued, &user, Some(family_record.version))?);
        let actor = Actor { user: Some(family.email.to_string()), client: user.client().to_string(), via: "refresh_token".into(), token: Some(refresh.family.clone()) };
        ops.extend(self.entry_ops(actor, context, "auth.refresh", Target::new("session", &refresh.family), None, None, Default::default())?);
        match self.records.transact(&ops).await {
            Ok(()) => {}
            // A concurrent refresh of the same token won: this one is the second use.
            Err(StoreError::Conflict) => return Err(ServiceError::RefreshInvalid),
            Err(e) => return Err(e.into()),
        }
        let user = self.user_by_email(&family.email).await?.unwrap_or(user);
        Ok(SignedIn { key: issued.key, refresh_token: issued.refresh, user })
    }

    /// Ends the caller's session: its family (key and refresh token), or just
    /// the key when it has none (a personal token).
    pub async fn logout(&self, caller: &Caller, key: &ApiKey) -> Result<(), ServiceError> {
        let mut ops = match &key.family {
            Some(family) => self.revoke_family_ops(family).await?,
            None => Vec::new(),
        };
        if !ops.is_empty() {
            ops.extend(self.audit_ops(caller, "auth.logout", Target::new("user", &key.user), None, Default::default())?);
            return match self.records.transact(&ops).await {
                Ok(()) | Err(StoreError::Conflict) => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        self.revoke_token(caller, &key.user, &key.id).await
    }
}
