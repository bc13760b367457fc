//! A run's log: lines from FFmpeg and the supervisor, redacted before they
//! are kept, classified by `hints`, buffered until the heartbeat stores them.

use std::sync::Mutex;

use podops_core::{
    live::{hints::classify, redact::Redactor},
    service::{LogLine, LOG_SEQ_BASE},
};

pub struct LogSink {
    redactor: Redactor,
    base: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    pending: Vec<LogLine>,
    last_error: Option<(String, String)>,
}

/// Lines buffered between two heartbeats, at most (a flood is cut, not stored).
const MAX_PENDING: usize = 500;

impl LogSink {
    pub fn new(redactor: Redactor, run: u32) -> Self {
        Self { redactor, base: u64::from(run) * LOG_SEQ_BASE, inner: Mutex::new(Inner::default()) }
    }

    /// Keeps a line; returns the failure code it carries, if any.
    pub fn push(&self, level: &str, text: &str) -> Option<&'static str> {
        let text: String = self.redactor.redact(text).chars().take(2000).collect();
        let hint = classify(&text);
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let Ok(mut inner) = self.inner.lock() else { return None };
        if let Some(h) = hint {
            inner.last_error = Some((h.code.to_owned(), h.hint.to_owned()));
        }
        if inner.pending.len() < MAX_PENDING && inner.next < LOG_SEQ_BASE - 1 {
            inner.next += 1;
            let seq = self.base + inner.next;
            let level = if hint.is_some() { "error" } else { level };
            inner.pending.push(LogLine { seq, ts, level: level.to_owned(), text, code: hint.map(|h| h.code.to_owned()), hint: hint.map(|h| h.hint.to_owned()) });
        }
        hint.map(|h| h.code)
    }

    pub fn info(&self, text: &str) {
        self.push("info", text);
    }

    pub fn take(&self) -> Vec<LogLine> {
        self.inner.lock().map(|mut i| std::mem::take(&mut i.pending)).unwrap_or_default()
    }

    /// The last known failure seen in any line: `(code, hint)`.
    pub fn last_error(&self) -> Option<(String, String)> {
        self.inner.lock().ok().and_then(|i| i.last_error.clone())
    }
}
