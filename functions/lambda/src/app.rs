//! A function's application: the signing secret, the AWS ports and the use
//! cases, wired exactly as `podops serve --backend aws` wires them, so a
//! token or cursor from one deployment works in the other.

use std::sync::Arc;

use podops_adapters::{
    aws::{ConnectError, ConnectOptions, connect_with, read_master_secret},
    mail::SesMailer,
};
use podops_api::{AppParts, AppState, Limits, TokenAuthority};
use podops_core::{
    ports::{Mailer, RateBudgets, SystemClock},
    service::{AccountRules, Podops, Publishing},
    signing::{Signer, derive_key},
};
use secrecy::{ExposeSecret, SecretBox};

use crate::Function;
use crate::config::{Config, ConfigError, SigningKey};

/// The issuer and audience of every PodOps token, shared with `podops serve`.
pub use podops_api::{AUDIENCE, ISSUER};

/// Why a function could not start; reported to Lambda's `/init/error`.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An SSM parameter (the signing key, the CDN URL) could not be read.
    #[error("{0}")]
    Parameter(String),
    #[error(transparent)]
    Backend(#[from] ConnectError),
}

impl InitError {
    /// The `errorType` Lambda records, so a dashboard can group failures.
    pub fn error_type(&self) -> &'static str {
        match self {
            InitError::Config(_) => "PodOps.ConfigError",
            InitError::Parameter(_) => "PodOps.ParameterError",
            InitError::Backend(_) => "PodOps.BackendError",
        }
    }
}

/// What a function serves with: the handlers' state, and the rate budgets
/// (in the table) its limits draw on.
pub struct Started {
    pub state: AppState,
    pub rate: Arc<dyn RateBudgets>,
}

/// The state every handler of `function` gets.
pub async fn state(function: Function, mut config: Config) -> Result<Started, InitError> {
    if let Some(name) = config.cdn_url_parameter.clone() {
        let value = read_parameter(&config, &name).await?;
        config.apply_cdn_url(&value)?;
    }
    let api_url = match (&config.accounts.api_url, &config.accounts.api_url_parameter) {
        (Some(url), _) => url.clone(),
        (None, Some(name)) if function.mails() => read_parameter(&config, name).await?.trim().trim_end_matches('/').to_owned(),
        _ => String::new(),
    };
    let config = &config;
    let options = ConnectOptions { needs: function.needs(), public_media_url: config.public_media_url.clone() };
    // The parameter and the backend checks are independent round trips: on a
    // cold start they overlap.
    let (secret, ports) = tokio::join!(secret(function, config), connect_with(&config.aws, &options));
    let (secret, ports) = (secret?, ports?);
    let secret = secret.expose_secret();
    let podops = Podops::new(ports.records, ports.blobs, ports.jobs, Arc::new(SystemClock), secret, config.media.clone())
        .with_publishing(Publishing { public: ports.public, feed_base_url: config.feed_base_url.clone(), rebuild_delay: config.rebuild_delay })
        .with_accounts(account_rules(config, api_url), mailer(function, config).await)
        .with_notify(config.notify.clone());
    let state = AppState::from(AppParts {
        podops,
        tokens: Arc::new(TokenAuthority::new(&derive_key(secret, "jwt"), ISSUER, AUDIENCE)),
        media_signer: Signer::derive(secret, "media"),
        limits: Limits { json_body: config.max_json_body },
        feeds: Default::default(),
    });
    Ok(Started { state, rate: ports.rate })
}

/// Every `POST /a/v1/login` on Lambda answers this long after it began: an
/// SES send plus a DynamoDB read fit well within it.
const SIGN_IN_ANSWER_AFTER: std::time::Duration = std::time::Duration::from_millis(600);

fn account_rules(config: &Config, api_url: String) -> AccountRules {
    // A Lambda is frozen once it answers: mail goes first, answers are padded.
    AccountRules { signup_open: config.accounts.signup_open, base_url: api_url, admins: config.accounts.admins.clone(), answer_after: Some(SIGN_IN_ANSWER_AFTER) }
}

/// SES for the function that sends sign-in mail, when a sender is set.
async fn mailer(function: Function, config: &Config) -> Option<Arc<dyn Mailer>> {
    let from = config.accounts.mail_from.clone().filter(|_| function.mails())?;
    Some(Arc::new(SesMailer::new(&config.aws, from).await))
}

async fn secret(function: Function, config: &Config) -> Result<SecretBox<Vec<u8>>, InitError> {
    match &config.signing_key {
        // The feeds function serves only public, unsigned content (no token
        // is checked, no cursor or URL is handed out), and its role may not
        // read the parameter: a key of its own, never shared, signs nothing
        // any other function would accept.
        _ if !function.signs() => Ok(SecretBox::new(Box::new(rand::random::<[u8; 32]>().to_vec()))),
        SigningKey::Hex(secret) => Ok(SecretBox::new(Box::new(secret.expose_secret().clone()))),
        SigningKey::Parameter(name) => read_master_secret(&config.aws, name).await.map_err(|e| InitError::Parameter(e.to_string())),
        SigningKey::Unset => Err(ConfigError::Missing("PODOPS_SIGNING_KEY_PARAMETER (or PODOPS_SIGNING_KEY)").into()),
    }
}

async fn read_parameter(config: &Config, name: &str) -> Result<String, InitError> {
    podops_adapters::aws::read_parameter(&config.aws, name, false).await.map_err(|e| InitError::Parameter(e.to_string()))
}
