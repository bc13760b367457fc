//! The data directory's secrets: the master signing secret (created once) and
//! the first admin token. Both are written with mode 0600 and never logged.

use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use podops_api::TokenAuthority;
use podops_core::{
    domain::{ClientId, Scope, Scopes},
    ports::{Clock, SystemClock},
    signing::{derive_key, parse_master_secret},
};
use podops_adapters::aws::{AwsConfig, read_master_secret};
use secrecy::{ExposeSecret, SecretBox};

use crate::cli::{SigningKeyArgs, TokenArgs};

use podops_api::{AUDIENCE, ISSUER};
const ADMIN_TOKEN_LIFETIME: i64 = 366 * 24 * 3600;

pub type Secret = SecretBox<Vec<u8>>;

/// The master secret: read, or created on first start.
pub fn master_secret(dir: &Path) -> Result<Secret> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let path = dir.join("secret");
    if !path.exists() {
        let fresh: [u8; 32] = rand::random();
        write_private(&path, hex::encode(fresh).as_bytes())?;
    }
    let text = SecretBox::new(Box::new(fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?));
    let bytes = parse_master_secret(text.expose_secret()).map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))?;
    Ok(SecretBox::new(Box::new(bytes)))
}

/// The master secret a process signs with: the SSM parameter's when one is
/// named (what the Lambda functions of a deployment read), else the data
/// directory's, created on first use.
pub async fn signing_secret(dir: &Path, key: &SigningKeyArgs, aws: &AwsConfig) -> Result<Secret> {
    match &key.signing_key_parameter {
        Some(name) => Ok(read_master_secret(aws, name).await?),
        None => master_secret(dir),
    }
}

pub fn token_authority(secret: &Secret) -> TokenAuthority {
    TokenAuthority::new(&derive_key(secret.expose_secret(), "jwt"), ISSUER, AUDIENCE)
}

/// Writes an admin token to `<dir>/admin-token` if none is there yet; returns its path.
pub fn ensure_admin_token(dir: &Path, tokens: &TokenAuthority) -> Result<(PathBuf, bool)> {
    let path = dir.join("admin-token");
    if path.exists() {
        return Ok((path, false));
    }
    let admin = ClientId::parse("admin").context("admin client id")?;
    let (token, _) = tokens.mint(&admin, &Scopes::new(vec![Scope::Admin]), SystemClock.now(), ADMIN_TOKEN_LIFETIME)?;
    write_private(&path, token.as_bytes())?;
    Ok((path, true))
}

/// `podops token`: prints a token signed with the data directory's secret, or with the SSM parameter's.
pub async fn mint_token(args: TokenArgs) -> Result<()> {
    let client = args.client.as_deref().ok_or_else(|| anyhow::anyhow!("--client: give the client id the token speaks for"))?;
    let client = ClientId::parse(client).map_err(|e| anyhow::anyhow!("--client: {}", e.message))?;
    let scopes = args
        .scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(|s| Scope::parse(s).map_err(|e| anyhow::anyhow!("--scopes: {}", e.message)))
        .collect::<Result<Vec<_>>>()?;
    if scopes.is_empty() {
        bail!("--scopes: give at least one scope");
    }
    if args.key.signing_key_parameter.is_none() && !args.data_dir.join("secret").exists() {
        bail!(
            "{} has no secret yet: run `podops serve --data-dir {}` once first, or name the deployment's key with --signing-key-parameter",
            args.data_dir.display(),
            args.data_dir.display()
        );
    }
    let aws = AwsConfig::named(args.endpoint.clone(), args.region.clone());
    let tokens = token_authority(&signing_secret(&args.data_dir, &args.key, &aws).await?);
    let (token, _) = tokens.mint(&client, &Scopes::new(scopes), SystemClock.now(), args.expires_in)?;
    println!("{token}");
    Ok(())
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents).and_then(|()| file.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}
