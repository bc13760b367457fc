//! Sign-in by email (seed 002) and API keys (seed 004): a one-time code and
//! link by mail, consumed atomically; every sign-in issues a new `pok_` key
//! and revokes the previous one; personal `pot_` tokens with chosen scopes.
//! Unknown and known addresses take the same path (no enumeration).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{
    account::{key_hash, key_kind, new_key},
    ApiKey, ClientId, Email, InstanceRole, Invalid, KeyKind, Scope, Scopes, Timestamp, User, Version,
};
use crate::ports::{Key, ListQuery, Mail, Record, StoreError, WriteOp};

use super::{
    sessions::{api_key_key, user_key_entry, user_keys_partition},
    Caller, Podops, RequestContext, ServiceError,
};
use crate::domain::audit::{Actor, Target};

/// A sign-in code and link live this long.
pub const LOGIN_TTL: i64 = 8 * 60;
/// Wrong codes allowed before the sign-in is void.
pub const CODE_ATTEMPTS: u32 = 5;
/// Longest a personal token may live: a year.
pub const MAX_TOKEN_TTL: i64 = 366 * 24 * 3600;

/// What the server is told about sign-ups and where links point.
#[derive(Debug, Clone)]
pub struct AccountRules {
    /// Whether a first sign-in creates the user (`--signup open`).
    pub signup_open: bool,
    /// Where sign-in links point (the API's public URL).
    pub base_url: String,
    /// Addresses that are instance admins whatever their stored role
    /// (`--admin-email`): how a fresh instance gets its first admin.
    pub admins: Vec<Email>,
    /// `None`: sign-in mail leaves after the answer (a long-running server).
    /// `Some(pad)`: where nothing may run after the answer (a Lambda is
    /// frozen), the mail is sent first and every answer waits until `pad`
    /// after the request began, so its timing still says nothing.
    pub answer_after: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    /// The new API key, shown once.
    pub key: String,
    /// Swaps for a new key and refresh token at `POST /a/v1/auth/refresh` (once).
    pub refresh_token: String,
    pub user: User,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    code: String,
    link: String,
    #[serde(default)]
    attempts: u32,
    created: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredUser {
    #[serde(flatten)]
    pub(crate) user: User,
    /// The latest sign-in's session family: the next sign-in revokes it.
    #[serde(default)]
    pub(crate) signin_family: Option<String>,
    /// TOTP second factor (`two_factor`), once enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) totp: Option<super::two_factor::TotpState>,
    /// Granted by an admin (`PUT /a/v1/users/:email`).
    #[serde(default)]
    pub(crate) role: InstanceRole,
}

pub(crate) fn user_key(email: &Email) -> Key {
    Key::new(format!("EMAIL#{email}"), "USER")
}
fn pending_key(email: &Email) -> Key {
    Key::new(format!("LOGIN#{email}"), "PENDING")
}
fn link_key(hash: &str) -> Key {
    Key::new(format!("LOGINLINK#{hash}"), "LINK")
}
fn code_hash(email: &Email, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{email}\n{code}").as_bytes()))
}
pub(crate) fn json<T: Serialize>(v: &T) -> Result<serde_json::Value, ServiceError> {
    serde_json::to_value(v).map_err(|e| StoreError::Corrupt(e.to_string()).into())
}
pub(crate) fn parse<T: serde::de::DeserializeOwned>(r: Record) -> Result<T, ServiceError> {
    serde_json::from_value(r.body).map_err(|e| StoreError::Corrupt(format!("{}: {e}", r.key.partition)).into())
}

impl Podops {
    fn rules(&self) -> Result<&AccountRules, ServiceError> {
        self.accounts.as_ref().ok_or(ServiceError::AccountsUnavailable)
    }

    /// Starts a sign-in: the mail to send if `may_mail` agrees. The same work
    /// for every address, known or not — whether it is known is asked only
    /// later, off the request path (no enumeration by the answer or its timing).
    pub async fn request_login(&self, email: &Email) -> Result<Mail, ServiceError> {
        let rules = self.rules()?.clone();
        if self.mailer.is_none() {
            return Err(ServiceError::AccountsUnavailable);
        }
        let now = self.clock.now();
        let code = format!("{:08}", rand::random::<u32>() % 100_000_000);
        let mut link_bytes = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut link_bytes[..]);
        let link = hex::encode(link_bytes);
        let pending = Pending { code: code_hash(email, &code), link: key_hash(&link), attempts: 0, created: now };
        let expires_at = Some(now + LOGIN_TTL);
        let ops = [
            WriteOp::Create(Record { key: pending_key(email), version: Version::FIRST, body: json(&pending)?, expires_at }),
            WriteOp::Create(Record { key: link_key(&pending.link), version: Version::FIRST, body: serde_json::json!({ "email": email }), expires_at }),
        ];
        match self.records.transact(&ops).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                let retry_after = match self.records.get(&pending_key(email)).await? {
                    Some(r) => r.expires_at.map_or(LOGIN_TTL, |e| (e - now).max(1)),
                    None => 1,
                };
                return Err(ServiceError::LoginPending { retry_after: retry_after as u64 });
            }
            Err(e) => return Err(e.into()),
        }
        let url = format!("{}/a/v1/auth?token={link}", rules.base_url.trim_end_matches('/'));
        let text = format!(
            "Your PodOps sign-in code is {code}.\n\nOr open this link to sign in:\n{url}\n\nBoth work once and for 8 minutes. If you did not ask to sign in, ignore this message.\n"
        );
        Ok(Mail { to: email.to_string(), subject: format!("PodOps sign-in code: {code}"), text })
    }

    /// Whether a sign-in mail goes to `email`: always while sign-up is open,
    /// else only to a known user (an unknown one gets the same answer and no mail).
    pub async fn may_mail(&self, email: &Email) -> Result<bool, ServiceError> {
        Ok(self.rules()?.signup_open || self.records.get(&user_key(email)).await?.is_some())
    }

    /// Signs in with the mailed code: right code → a new key; a wrong one
    /// counts, and the sixth attempt voids the sign-in.
    pub async fn sign_in_with_code(&self, email: &Email, code: &str, totp: Option<&str>, context: &RequestContext) -> Result<SignedIn, ServiceError> {
        let result = self.code_sign_in(email, code, totp, context).await;
        self.audit_failed_sign_in(Some(email), context, &result).await;
        result
    }

    async fn code_sign_in(&self, email: &Email, code: &str, totp: Option<&str>, context: &RequestContext) -> Result<SignedIn, ServiceError> {
        self.rules()?;
        let Some(record) = self.live(&pending_key(email)).await? else { return Err(ServiceError::LoginInvalid) };
        let version = record.version;
        let expires_at = record.expires_at;
        let mut pending: Pending = parse(record)?;
        if pending.attempts >= CODE_ATTEMPTS {
            let _ = self.records.delete(&pending_key(email), version).await;
            return Err(ServiceError::LoginTooManyAttempts);
        }
        let checked = if pending.code == code_hash(email, code.trim()) { self.second_factor(email, totp).await } else { Err(ServiceError::LoginInvalid) };
        let step = match checked {
            Ok(step) => step,
            Err(e @ (ServiceError::LoginInvalid | ServiceError::TotpInvalid)) => {
                pending.attempts += 1;
                let record = Record { key: pending_key(email), version: version.next(), body: json(&pending)?, expires_at };
                // A lost race still counts as an attempt for whoever wins it.
                let _ = self.records.replace(&record, version).await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.consume_and_sign_in(email, &pending, version, step, context).await
    }

    /// Signs in with the mailed link's token.
    pub async fn sign_in_with_link(&self, token: &str, totp: Option<&str>, context: &RequestContext) -> Result<SignedIn, ServiceError> {
        let mut email = None;
        let result = self.link_sign_in(token, totp, context, &mut email).await;
        self.audit_failed_sign_in(email.as_ref(), context, &result).await;
        result
    }

    async fn link_sign_in(&self, token: &str, totp: Option<&str>, context: &RequestContext, found: &mut Option<Email>) -> Result<SignedIn, ServiceError> {
        self.rules()?;
        let hash = key_hash(token.trim());
        let Some(link) = self.live(&link_key(&hash)).await? else { return Err(ServiceError::LoginInvalid) };
        let email = link.body.get("email").and_then(|e| e.as_str()).map(Email::parse).transpose()?.ok_or(ServiceError::LoginInvalid)?;
        *found = Some(email.clone());
        let Some(record) = self.live(&pending_key(&email)).await? else { return Err(ServiceError::LoginInvalid) };
        let version = record.version;
        let pending: Pending = parse(record)?;
        if pending.link != hash {
            return Err(ServiceError::LoginInvalid);
        }
        let step = self.second_factor(&email, totp).await?;
        self.consume_and_sign_in(&email, &pending, version, step, context).await
    }

    /// A record that has not expired by this service's clock (the store drops
    /// expired records by its own; a code's 8 minutes are the service's rule).
    async fn live(&self, key: &Key) -> Result<Option<Record>, ServiceError> {
        let now = self.clock.now();
        Ok(self.records.get(key).await?.filter(|r| r.expires_at.is_none_or(|e| e > now)))
    }

    /// A sign-in refused for a wrong, used or expired code or link, or a
    /// missing or wrong authenticator code, goes to the log (changing nothing else).
    async fn audit_failed_sign_in(&self, email: Option<&Email>, context: &RequestContext, result: &Result<SignedIn, ServiceError>) {
        let code = match result {
            Err(ServiceError::LoginInvalid) => "login.invalid_code",
            Err(ServiceError::LoginTooManyAttempts) => "login.too_many_attempts",
            Err(ServiceError::TotpRequired) => "login.totp_required",
            Err(ServiceError::TotpInvalid) => "login.totp_invalid",
            _ => return,
        };
        let actor = Actor { user: email.map(|e| e.to_string()), client: "-".into(), via: "email".into(), token: None };
        let target = Target::new("user", email.map_or_else(|| "-".to_owned(), |e| e.to_string()));
        self.audit_failure(actor, context, "auth.sign_in", target, code).await;
    }

    /// Deletes the pending sign-in (conditionally: only one consumer wins),
    /// then finds or creates the user and swaps their sign-in key.
    async fn consume_and_sign_in(&self, email: &Email, pending: &Pending, version: Version, totp_step: Option<u64>, context: &RequestContext) -> Result<SignedIn, ServiceError> {
        let link = self.records.get(&link_key(&pending.link)).await?;
        let mut ops = vec![WriteOp::Delete { key: pending_key(email), expected: version }];
        if let Some(l) = link {
            ops.push(WriteOp::Delete { key: l.key, expected: l.version });
        }
        match self.records.transact(&ops).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(ServiceError::LoginInvalid),
            Err(e) => return Err(e.into()),
        }
        let now = self.clock.now();
        let stored = self.records.get(&user_key(email)).await?;
        let (mut user, user_version) = match stored {
            Some(r) => {
                let v = r.version;
                (parse::<StoredUser>(r)?, Some(v))
            }
            None if self.rules()?.signup_open => {
                let id = format!("{:016x}", rand::random::<u64>());
                (StoredUser { user: User { id, email: email.clone(), created: now }, signin_family: None, totp: None, role: InstanceRole::User }, None)
            }
            None => return Err(ServiceError::LoginInvalid),
        };
        let issued = self.issue_session(&user.user, None)?;
        let mut ops = issued.ops.clone();
        ops.push(self.family_op(&issued, &user.user, None)?);
        // Every sign-in revokes the previous sign-in's key and refresh token.
        if let Some(old) = user.signin_family.take() {
            ops.extend(self.revoke_family_ops(&old).await?);
        }
        user.signin_family = Some(issued.family.clone());
        if let (Some(step), Some(t)) = (totp_step, user.totp.as_mut()) {
            // A TOTP code works once.
            t.last_step = step;
        }
        ops.push(match user_version {
            Some(v) => WriteOp::Replace { record: Record { key: user_key(email), version: v.next(), body: json(&user)?, expires_at: None }, expected: v },
            None => WriteOp::Create(Record { key: user_key(email), version: Version::FIRST, body: json(&user)?, expires_at: None }),
        });
        let actor = Actor { user: Some(email.to_string()), client: user.user.client().to_string(), via: "email".into(), token: Some(issued.family.clone()) };
        ops.extend(self.entry_ops(actor, context, "auth.sign_in", Target::new("user", &user.user.id), None, None, Default::default())?);
        match self.records.transact(&ops).await {
            Ok(()) => Ok(SignedIn { key: issued.key, refresh_token: issued.refresh, user: user.user }),
            Err(StoreError::Conflict) => Err(ServiceError::Contended),
            Err(e) => Err(e.into()),
        }
    }

    /// Who a member route names: an email address is a user (invited: made
    /// pending, without a sign-in, when `invite` and unknown); anything else
    /// a client id. Only after the caller is allowed to manage members.
    pub async fn member_client(&self, caller: &Caller, prod: &crate::domain::Guid, who: &str, invite: bool) -> Result<ClientId, ServiceError> {
        let Ok(email) = Email::parse(who) else { return Ok(ClientId::parse(who)?) };
        self.authorize(caller, prod, super::Need::Manage).await?;
        if let Some(user) = self.user_by_email(&email).await? {
            return Ok(user.client());
        }
        if !invite {
            // No such user: the address as a plain client id (a member added by it before users existed).
            return Ok(ClientId::parse(who)?);
        }
        let user = User { id: format!("{:016x}", rand::random::<u64>()), email: email.clone(), created: self.clock.now() };
        let stored = StoredUser { user: user.clone(), signin_family: None, totp: None, role: InstanceRole::User };
        match self.records.create(&Record { key: user_key(&email), version: Version::FIRST, body: json(&stored)?, expires_at: None }).await {
            Ok(()) => Ok(user.client()),
            // Invited or signed in concurrently: that user it is.
            Err(StoreError::Conflict) => self.user_by_email(&email).await?.map(|u| u.client()).ok_or(ServiceError::Contended),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn user_by_email(&self, email: &Email) -> Result<Option<User>, ServiceError> {
        match self.records.get(&user_key(email)).await? {
            Some(r) => Ok(Some(parse::<StoredUser>(r)?.user)),
            None => Ok(None),
        }
    }

    /// The caller an API key speaks for. Junk (bad checksum) is refused
    /// without a lookup; revoked and expired keys are unknown. The user is
    /// read too, so a changed instance role counts from the next request:
    /// a sign-in key carries `admin` while its user is an admin, and a
    /// token's `admin` lapses when its user is demoted.
    pub async fn resolve_key(&self, key: &str) -> Result<(Caller, ApiKey), ServiceError> {
        if key_kind(key).is_none() {
            return Err(ServiceError::KeyInvalid("the key is malformed or its checksum is wrong"));
        }
        let Some(record) = self.records.get(&api_key_key(&key_hash(key))).await? else {
            return Err(ServiceError::KeyInvalid("the key is unknown or revoked"));
        };
        let api_key: ApiKey = parse(record)?;
        if api_key.expires.is_some_and(|e| e < self.clock.now()) {
            return Err(ServiceError::KeyInvalid("the key has expired"));
        }
        let Some(user) = self.records.get(&user_key(&api_key.email)).await? else {
            return Err(ServiceError::KeyInvalid("the key's user no longer exists"));
        };
        let admin = self.instance_role(&parse::<StoredUser>(user)?) == InstanceRole::Admin;
        let client = ClientId::parse(&format!("u:{}", api_key.user))?;
        let mut scopes: Vec<Scope> = Scopes::parse(&api_key.scopes)?.iter().filter(|s| admin || *s != Scope::Admin).collect();
        if admin && api_key.kind == KeyKind::SignIn {
            scopes.push(Scope::Admin);
        }
        Ok((Caller::new(client, Scopes::new(scopes)), api_key))
    }

    /// The stored role, raised to admin for an address named by `--admin-email`.
    fn instance_role(&self, user: &StoredUser) -> InstanceRole {
        let configured = self.accounts.as_ref().is_some_and(|r| r.admins.contains(&user.user.email));
        if configured { InstanceRole::Admin } else { user.role }
    }

    /// An admin makes a user an admin or takes it back; it counts from the
    /// user's next request, for every key and token. A configured admin
    /// (`--admin-email`) stays one.
    pub async fn set_instance_role(&self, caller: &Caller, email: &Email, role: InstanceRole) -> Result<(User, InstanceRole), ServiceError> {
        caller.require(Scope::Admin)?;
        let record = self.records.get(&user_key(email)).await?.ok_or_else(|| ServiceError::UserNotFound(email.to_string()))?;
        let version = record.version;
        let mut stored: StoredUser = parse(record)?;
        let before = self.instance_role(&stored);
        stored.role = role;
        if self.instance_role(&stored) != role {
            return Err(ServiceError::Unprocessable {
                code: "user.configured_admin",
                field: "role".into(),
                message: "this address is an admin by the server's --admin-email; change that setting instead".into(),
            });
        }
        let record = Record { key: user_key(email), version: version.next(), body: json(&stored)?, expires_at: None };
        let change = std::collections::BTreeMap::from([("role".to_owned(), [serde_json::json!(before), serde_json::json!(role)])]);
        let mut ops = vec![WriteOp::Replace { record, expected: version }];
        ops.extend(self.audit_ops(caller, "user.role", Target::new("user", &stored.user.id), None, change)?);
        match self.records.transact(&ops).await {
            Ok(()) => Ok((stored.user, role)),
            Err(StoreError::Conflict) => Err(ServiceError::Contended),
            Err(e) => Err(e.into()),
        }
    }

    /// A user's instance role as it stands (for `whoami`).
    pub async fn user_role(&self, email: &Email) -> Result<InstanceRole, ServiceError> {
        match self.records.get(&user_key(email)).await? {
            Some(r) => Ok(self.instance_role(&parse::<StoredUser>(r)?)),
            None => Err(ServiceError::UserNotFound(email.to_string())),
        }
    }

    /// A personal token for the signed-in user, with at most the user's rights.
    pub async fn create_token(&self, caller: &Caller, by: &ApiKey, name: &str, scopes: &Scopes, expires_in: Option<i64>) -> Result<(String, ApiKey), ServiceError> {
        crate::domain::resource::check_text("name", name, 1, 100)?;
        let admin = self.user_role(&by.email).await? == InstanceRole::Admin;
        let allowed = User::scopes();
        if let Some(extra) = scopes.iter().find(|s| if *s == Scope::Admin { !admin } else { !allowed.allows(*s) }) {
            return Err(Invalid::new("scopes", "token.scope_exceeds_user", format!("a token cannot have '{extra}': its user does not")).into());
        }
        if scopes.iter().next().is_none() {
            return Err(Invalid::new("scopes", "field.required", "a token needs at least one scope").into());
        }
        let ttl = expires_in.unwrap_or(MAX_TOKEN_TTL);
        if !(60..=MAX_TOKEN_TTL).contains(&ttl) {
            return Err(Invalid::new("expires_in", "field.range", format!("expires_in is 60 to {MAX_TOKEN_TTL} seconds")).into());
        }
        let now = self.clock.now();
        let key = new_key(KeyKind::Personal);
        let hash = key_hash(&key);
        let api_key = ApiKey {
            id: hash[..16].to_owned(),
            user: by.user.clone(),
            kind: KeyKind::Personal,
            email: by.email.clone(),
            name: name.to_owned(),
            scopes: scopes.to_string(),
            created: now,
            expires: Some(now + ttl),
            masked: format!("••••{}", &key[key.len() - 4..]),
            last_used: None,
            family: None,
        };
        let ops = [
            WriteOp::Create(Record { key: api_key_key(&hash), version: Version::FIRST, body: json(&api_key)?, expires_at: Some(now + ttl) }),
            WriteOp::Create(Record { key: user_key_entry(&by.user, &api_key.id), version: Version::FIRST, body: serde_json::json!({ "hash": hash }), expires_at: Some(now + ttl) }),
        ];
        let created = serde_json::json!({ "name": api_key.name, "scopes": api_key.scopes, "expires": api_key.expires });
        let mut ops = ops.to_vec();
        ops.extend(self.audit_ops(caller, "token.create", Target::new("token", &api_key.id), None, crate::domain::audit::changes(&serde_json::Value::Null, &created))?);
        self.records.transact(&ops).await?;
        Ok((key, api_key))
    }

    /// The user's keys and tokens (never the key itself).
    pub async fn list_tokens(&self, user: &str) -> Result<Vec<ApiKey>, ServiceError> {
        let page = self.records.list(&ListQuery { partition: user_keys_partition(user), prefix: String::new(), after: None, limit: 1000 }).await?;
        let mut out = Vec::new();
        for entry in page.records {
            let Some(hash) = entry.body.get("hash").and_then(|h| h.as_str()) else { continue };
            if let Some(r) = self.records.get(&api_key_key(hash)).await? {
                out.push(parse::<ApiKey>(r)?);
            }
        }
        Ok(out)
    }

    /// Revokes one of the user's keys or tokens by its id.
    pub async fn revoke_token(&self, caller: &Caller, user: &str, id: &str) -> Result<(), ServiceError> {
        let not_found = || ServiceError::TokenNotFound(id.to_owned());
        let entry = self.records.get(&user_key_entry(user, id)).await?.ok_or_else(not_found)?;
        let hash = entry.body.get("hash").and_then(|h| h.as_str()).ok_or_else(not_found)?.to_owned();
        let mut ops = vec![WriteOp::Delete { key: entry.key, expected: entry.version }];
        if let Some(r) = self.records.get(&api_key_key(&hash)).await? {
            ops.push(WriteOp::Delete { key: r.key, expected: r.version });
        }
        ops.extend(self.audit_ops(caller, "token.revoke", Target::new("token", id), None, Default::default())?);
        match self.records.transact(&ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }
}
