//! Mailer adapters: an outbox directory of `.eml` files (the embedded
//! default: `podops serve` works on a laptop without a mail server), SMTP
//! (lettre, `--smtp-url`) and Amazon SES (the AWS deployment's).

mod outbox;
mod ses;
mod smtp;

pub use outbox::OutboxMailer;
pub use ses::SesMailer;
pub use smtp::SmtpMailer;

use lettre::{message::header::ContentType, Message};
use podops_core::ports::{Mail, MailError};

/// The RFC 5322 message of a `Mail`, from `from`.
pub(crate) fn message(from: &str, mail: &Mail) -> Result<Message, MailError> {
    let from = from.parse().map_err(|e| MailError(format!("bad sender address: {e}")))?;
    let to = mail.to.parse().map_err(|e| MailError(format!("bad recipient address: {e}")))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .map_err(|e| MailError(e.to_string()))
}
