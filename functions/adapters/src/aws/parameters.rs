//! SSM Parameter Store reads: the master signing secret (a SecureString) and
//! the CDN's URL. One reader for the Lambda functions, `podops serve|worker
//! --backend aws` and `podops token`, so all of them sign with the same key.

use aws_config::{BehaviorVersion, Region};
use podops_core::signing::parse_master_secret;
use secrecy::SecretBox;

use super::AwsConfig;

#[derive(Debug, thiserror::Error)]
pub enum ParameterError {
    #[error("cannot read the SSM parameter {name} at {at} ({cause})")]
    Unreadable { name: String, at: String, cause: String },
    #[error("the SSM parameter {name} has no value")]
    Empty { name: String },
    /// The cause says what is wrong, never what the value is.
    #[error("the SSM parameter {name}: {reason}")]
    Invalid { name: String, reason: String },
}

/// The value of `name`, decrypted when `decrypt` (a SecureString).
pub async fn read_parameter(config: &AwsConfig, name: &str, decrypt: bool) -> Result<String, ParameterError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(config.region.clone()));
    if let Some(url) = &config.endpoint {
        loader = loader.endpoint_url(url);
    }
    let ssm = aws_sdk_ssm::Client::new(&loader.load().await);
    let out = ssm.get_parameter().name(name).with_decryption(decrypt).send().await.map_err(|e| ParameterError::Unreadable {
        name: name.to_owned(),
        at: config.endpoint_label(),
        cause: aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
    })?;
    out.parameter().and_then(|p| p.value()).map(str::to_owned).ok_or_else(|| ParameterError::Empty { name: name.to_owned() })
}

/// The master signing secret held (hex) in the SecureString `name`.
pub async fn read_master_secret(config: &AwsConfig, name: &str) -> Result<SecretBox<Vec<u8>>, ParameterError> {
    let text = SecretBox::new(Box::new(read_parameter(config, name, true).await?));
    let bytes = parse_master_secret(secrecy::ExposeSecret::expose_secret(&text))
        .map_err(|reason| ParameterError::Invalid { name: name.to_owned(), reason })?;
    Ok(SecretBox::new(Box::new(bytes)))
}
