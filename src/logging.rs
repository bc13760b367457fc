//! Structured logs: pretty on a terminal, one JSON object per line for collectors.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

use crate::cli::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("PODOPS_LOG").unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    // A second init (tests) is harmless; ignore its error.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        // The span list repeats the current span (the request's) and costs a second
        // pass over its fields on every line.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
    };
}
