//! Mail through Amazon SES (the v2 API), as the AWS deployment sends it: the
//! same RFC 5322 message the other adapters write, sent raw, so a message
//! reads the same whichever way it went. The sender must be a verified SES
//! identity (an address or its domain).

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sesv2::{
    primitives::Blob,
    types::{EmailContent, RawMessage},
};
use podops_core::ports::{Mail, MailError, Mailer};

use crate::aws::AwsConfig;

pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    /// SES at the deployment's endpoint, unless the SDK's own
    /// `AWS_ENDPOINT_URL_SESV2` names another (SES is not in every region,
    /// and an emulator may serve it apart).
    pub async fn new(config: &AwsConfig, from: String) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(config.region.clone()));
        let own = std::env::var("AWS_ENDPOINT_URL_SESV2").ok().filter(|v| !v.is_empty());
        if let Some(url) = own.as_ref().or(config.endpoint.as_ref()) {
            loader = loader.endpoint_url(url);
        }
        Self { client: aws_sdk_sesv2::Client::new(&loader.load().await), from }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = super::message(&self.from, mail)?;
        let raw = RawMessage::builder().data(Blob::new(message.formatted())).build().map_err(|e| MailError(e.to_string()))?;
        self.client
            .send_email()
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map_err(|e| MailError(format!("SES: {}", aws_sdk_sesv2::error::DisplayErrorContext(&e))))?;
        Ok(())
    }
}
