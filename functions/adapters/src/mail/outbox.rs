//! Each message as an `.eml` file under `<data-dir>/outbox/`, written whole
//! (a temp file renamed), with a log line saying where.

use std::path::PathBuf;

use async_trait::async_trait;
use podops_core::ports::{Mail, MailError, Mailer};

pub struct OutboxMailer {
    dir: PathBuf,
    from: String,
}

impl OutboxMailer {
    pub fn new(dir: PathBuf, from: String) -> Self {
        Self { dir, from }
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = super::message(&self.from, mail)?;
        tokio::fs::create_dir_all(&self.dir).await.map_err(|e| MailError(e.to_string()))?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let name = format!("{now}-{:08x}.eml", rand::random::<u32>());
        let tmp = self.dir.join(format!(".{name}.tmp"));
        tokio::fs::write(&tmp, message.formatted()).await.map_err(|e| MailError(e.to_string()))?;
        let path = self.dir.join(&name);
        tokio::fs::rename(&tmp, &path).await.map_err(|e| MailError(e.to_string()))?;
        // The recipient, not the body: it holds a sign-in code.
        tracing::info!(path = %path.display(), to = %mail.to, "mail written to the outbox");
        Ok(())
    }
}
