//! Optional TOTP second factor (seed 004; RFC 6238: SHA-1, 6 digits, 30 s,
//! one step of skew — what every authenticator app does). Enrol → an
//! `otpauth://` URI; verify one code → on. From then a sign-in needs a current
//! code as well as the mailed one, and each code works once.

use serde::{Deserialize, Serialize};
use totp_rs::{Builder, Secret, Totp};


use crate::domain::{audit::Target, ApiKey, Email, Version};
use crate::ports::{Record, WriteOp};

use super::{
    accounts::{json, parse, user_key, StoredUser},
    Caller, Podops, ServiceError,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TotpState {
    /// Base32, as authenticator apps show it.
    secret: String,
    enabled: bool,
    /// The last time step a code was accepted for (replays are refused).
    #[serde(default)]
    pub(crate) last_step: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// For an authenticator app (or its QR code).
    pub otpauth_uri: String,
    /// The same secret in base32, to type in by hand.
    pub secret: String,
}

fn totp(secret_b32: &str, email: &Email) -> Result<Totp, ServiceError> {
    let secret = Secret::try_from_base32(secret_b32).map_err(|e| crate::ports::StoreError::Corrupt(format!("totp secret: {e:?}")))?;
    Builder::new()
        .with_secret(secret)
        .with_account_name(email.as_str())
        .with_issuer(Some("PodOps"))
        .build()
        .map_err(|e| crate::ports::StoreError::Corrupt(format!("totp: {e:?}")).into())
}

impl Podops {
    async fn stored_user(&self, email: &Email) -> Result<(StoredUser, Version), ServiceError> {
        let record = self.records.get(&user_key(email)).await?.ok_or(ServiceError::LoginInvalid)?;
        let version = record.version;
        Ok((parse::<StoredUser>(record)?, version))
    }

    /// Writes the user back with the audit entry of why.
    async fn save_user(&self, caller: &Caller, action: &str, email: &Email, user: &StoredUser, version: Version) -> Result<(), ServiceError> {
        let record = Record { key: user_key(email), version: version.next(), body: json(user)?, expires_at: None };
        let mut ops = vec![WriteOp::Replace { record, expected: version }];
        ops.extend(self.audit_ops(caller, action, Target::new("user", &user.user.id), None, Default::default())?);
        match self.records.transact(&ops).await {
            Ok(()) => Ok(()),
            Err(crate::ports::StoreError::Conflict) => Err(ServiceError::Contended),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts (or restarts, while not yet on) TOTP for the signed-in user.
    pub async fn enroll_totp(&self, caller: &Caller, by: &ApiKey) -> Result<Enrolment, ServiceError> {
        let (mut user, version) = self.stored_user(&by.email).await?;
        if user.totp.as_ref().is_some_and(|t| t.enabled) {
            return Err(ServiceError::TotpAlreadyOn);
        }
        let mut bytes = [0u8; 20];
        rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
        let secret = Secret::from(bytes.to_vec()).to_base32();
        let uri = totp(&secret, &by.email)?.to_url().map_err(|e| crate::ports::StoreError::Corrupt(format!("{e:?}")))?;
        user.totp = Some(TotpState { secret: secret.clone(), enabled: false, last_step: 0 });
        self.save_user(caller, "auth.2fa_enroll", &by.email, &user, version).await?;
        Ok(Enrolment { otpauth_uri: uri, secret })
    }

    /// Turns TOTP on once the user shows a current code from their app.
    pub async fn verify_totp(&self, caller: &Caller, by: &ApiKey, code: &str) -> Result<(), ServiceError> {
        let (mut user, version) = self.stored_user(&by.email).await?;
        let state = user.totp.as_mut().ok_or(ServiceError::TotpNotEnrolled)?;
        let now = self.clock.now().max(0) as u64;
        let step = totp(&state.secret, &by.email)?.check(code.trim(), now).ok_or(ServiceError::TotpInvalid)?;
        state.enabled = true;
        state.last_step = step;
        self.save_user(caller, "auth.2fa_on", &by.email, &user, version).await
    }

    /// The second factor of a sign-in, when the user has it on: the accepted
    /// code's time step (recorded with the sign-in, so it works once).
    pub(crate) async fn second_factor(&self, email: &Email, code: Option<&str>) -> Result<Option<u64>, ServiceError> {
        let Some(record) = self.records.get(&user_key(email)).await? else { return Ok(None) };
        let user: StoredUser = parse(record)?;
        let Some(state) = user.totp.filter(|t| t.enabled) else { return Ok(None) };
        let code = code.map(str::trim).filter(|c| !c.is_empty()).ok_or(ServiceError::TotpRequired)?;
        match totp(&state.secret, email)?.check(code, self.clock.now().max(0) as u64) {
            Some(step) if step > state.last_step => Ok(Some(step)),
            _ => Err(ServiceError::TotpInvalid),
        }
    }
}
