//! The mailer `--mailer` names, for `podops serve` and `podops worker` alike.

use std::{path::Path, sync::Arc};

use anyhow::{Context, Result};
use podops_adapters::aws::DEFAULT_MAX_RECEIVES;

use crate::cli::{AwsArgs, Backend, MailArgs, MailVia};

/// `auto`: SMTP with `--smtp-url`, SES on `--backend aws`, else the data directory's outbox.
pub async fn mailer(args: &MailArgs, backend: Backend, aws: &AwsArgs, data_dir: &Path) -> Result<Arc<dyn podops_core::ports::Mailer>> {
    let via = match (args.mailer, &args.smtp_url, backend) {
        (MailVia::Auto, Some(_), _) => MailVia::Smtp,
        (MailVia::Auto, None, Backend::Aws) => MailVia::Ses,
        (MailVia::Auto, None, Backend::Embedded) => MailVia::Outbox,
        (chosen, _, _) => chosen,
    };
    Ok(match via {
        MailVia::Smtp => {
            let url = args.smtp_url.as_deref().context("--mailer smtp needs --smtp-url")?;
            Arc::new(podops_adapters::mail::SmtpMailer::new(url, args.mail_from.clone()).map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?)
        }
        MailVia::Ses => Arc::new(podops_adapters::mail::SesMailer::new(&aws.config(DEFAULT_MAX_RECEIVES), args.mail_from.clone()).await),
        MailVia::Outbox | MailVia::Auto => Arc::new(podops_adapters::mail::OutboxMailer::new(data_dir.join("outbox"), args.mail_from.clone())),
    })
}
