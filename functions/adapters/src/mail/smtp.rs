//! SMTP through lettre: `smtp://host:port` (plain, or STARTTLS when the
//! server offers it with `?tls=opportunistic`), `smtps://host:port` (TLS),
//! credentials in the URL's userinfo.

use async_trait::async_trait;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use podops_core::ports::{Mail, MailError, Mailer};

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl SmtpMailer {
    pub fn new(url: &str, from: String) -> Result<Self, MailError> {
        // The URL may hold a password: never in the error.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| MailError("the SMTP URL is not valid".into()))?.build();
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = super::message(&self.from, mail)?;
        self.transport.send(message).await.map_err(|e| MailError(e.to_string()))?;
        tracing::info!(to = %mail.to, "mail sent by SMTP");
        Ok(())
    }
}
