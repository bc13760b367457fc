//! The `notify` job: announces a changed feed to the operator's WebSub hubs,
//! pubnotify and podping endpoints, once its coalescing window has closed.
//! These endpoints are the operator's own configuration, not a user's input,
//! so they are reached directly rather than through the imports' address guard.

use std::{sync::OnceLock, time::Duration};

use podops_core::domain::Job;

use crate::{tasks::Failure, Worker};

/// The longest a job waits for its window to close (a clock far off is not waited for).
const MAX_WAIT: i64 = 3600;

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("PodOps/", env!("CARGO_PKG_VERSION"), " (+https://github.com/podops)"))
            .build()
            .unwrap_or_default()
    })
}

impl Worker {
    pub(crate) async fn notify(&self, job: &Job) -> Result<(), Failure> {
        let Some((notification, _)) = self.podops.notification_of(job).await? else { return Ok(()) };
        if notification.status != "pending" {
            return Ok(());
        }
        // The runner hands the message back until `due`; this covers a message
        // received a moment early.
        let wait = (notification.due - self.podops.clock.now()).clamp(0, MAX_WAIT);
        if wait > 0 {
            tokio::time::sleep(Duration::from_secs(wait as u64)).await;
        }
        let mut results = Vec::new();
        let mut failed = false;
        for announcement in self.podops.notify.announcements(&notification.feed_url, notification.reason) {
            let mut request = match &announcement.form {
                Some(form) => client().post(announcement.url.clone()).header("content-type", "application/x-www-form-urlencoded").body(form.clone()),
                None => client().get(announcement.url.clone()),
            };
            for (name, value) in &announcement.headers {
                request = request.header(*name, value);
            }
            // Only the endpoint's origin is reported: its query holds the feed, podping's header a token.
            let origin = announcement.url.origin().ascii_serialization();
            match request.send().await {
                Ok(response) if response.status().is_success() => results.push(format!("{} {origin}: {}", announcement.target, response.status().as_u16())),
                Ok(response) => {
                    failed = true;
                    results.push(format!("{} {origin}: {}", announcement.target, response.status().as_u16()));
                }
                Err(e) => {
                    failed = true;
                    results.push(format!("{} {origin}: {}", announcement.target, if e.is_timeout() { "timed out" } else { "unreachable" }));
                }
            }
        }
        let status = if failed { "pending" } else { "sent" };
        self.podops.record_notification(job, status, results.clone()).await?;
        if failed {
            return Err(Failure { code: "notify.failed".into(), detail: results.join("; "), transient: true });
        }
        tracing::info!(job = %job.id, feed = %notification.feed_url, reason = notification.reason.as_str(), results = ?results, "feed announced");
        Ok(())
    }
}
