//! `podops stream …`: live streams defined, controlled and watched (status,
//! logs); and `podops profile …` / `podops playlist …`, the parts a stream is
//! made of. Definitions are resources (see [`Resources`]); control, status and
//! logs are `/a/v1/stream/{prod}/{id}/…`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::{
    api::Api,
    args::{CreateArgs, OutputFormat, StreamCommand},
    commands::{production, Resources},
    config::Settings,
    output::{print, table},
    ClientError,
};

const STREAM_COLUMNS: &[&str] = &["guid", "title", "state", "desired"];
const PROFILE_COLUMNS: &[&str] = &["guid", "name", "format", "bitrate", "sample_rate", "channels"];
const PLAYLIST_COLUMNS: &[&str] = &["guid", "title"];
/// The status fields a table shows, in this order (see [`status`]).
const STATUS_FIELDS: &[&str] = &["state", "desired", "health", "uptime", "out_time", "reconnects", "worker", "last_error"];
const OUTPUT_COLUMNS: &[&str] = &["kind", "state", "url", "error"];
/// Log lines asked for per page (the server's most).
const LOG_PAGE: usize = 1000;
/// How often `logs --follow` asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

pub async fn stream(api: &Api, prod: &str, command: StreamCommand, out: OutputFormat) -> Result<(), ClientError> {
    let streams = Resources::new(api, prod, "stream");
    match command {
        StreamCommand::List => print(out, &streams.list().await?, STREAM_COLUMNS),
        StreamCommand::Get { id } => print(out, &streams.get(&id).await?, STREAM_COLUMNS),
        StreamCommand::Create(args) => print(out, &streams.create(args).await?, STREAM_COLUMNS),
        StreamCommand::Delete { id } => streams.delete(&id).await,
        StreamCommand::Start { id } => control(api, prod, &id, "start", out).await,
        StreamCommand::Stop { id } => control(api, prod, &id, "stop", out).await,
        StreamCommand::Restart { id } => control(api, prod, &id, "restart", out).await,
        StreamCommand::Pause { id } => control(api, prod, &id, "pause", out).await,
        StreamCommand::Resume { id } => control(api, prod, &id, "resume", out).await,
        StreamCommand::Status { id } => status(api, prod, &id, out).await,
        StreamCommand::Preflight { id } => preflight(api, prod, &id, out).await,
        StreamCommand::DryRun { id } => dry_run(api, prod, &id, out).await,
        StreamCommand::Logs { id, follow, after } => {
            if !follow {
                return read_logs(api, prod, &id, after, false, out).await;
            }
            tokio::select! {
                done = read_logs(api, prod, &id, after, true, out) => done,
                // Ctrl-C ends following: what was printed stands, and that is success.
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
    }
}

/// `list`, or `create` with `Some(args)`, of a stream's part: a `profile` or a `playlist`.
pub async fn part(api: &Api, settings: &Settings, kind: &'static str, create: Option<CreateArgs>, out: OutputFormat) -> Result<(), ClientError> {
    let columns = if kind == "profile" { PROFILE_COLUMNS } else { PLAYLIST_COLUMNS };
    let prod = production(api, settings).await?;
    let parts = Resources::new(api, &prod, kind);
    let answer = match create {
        Some(args) => parts.create(args).await?,
        None => parts.list().await?,
    };
    print(out, &answer, columns)
}

/// Start, stop, restart, pause or resume; the server answers 202 with the stream.
async fn control(api: &Api, prod: &str, id: &str, action: &str, out: OutputFormat) -> Result<(), ClientError> {
    let stream = api.call(Method::POST, &format!("/a/v1/stream/{prod}/{id}/{action}"), None).await?;
    if out != OutputFormat::Table {
        return print(out, &stream, STREAM_COLUMNS);
    }
    println!(
        "stream {id}: desired {}, state {}",
        stream["desired"].as_str().unwrap_or("?"),
        stream["state"].as_str().unwrap_or("?")
    );
    Ok(())
}

/// The live status: as the API has it for scripts; for people, its fields
/// (durations as H:MM:SS, the last error as `code: hint`), then the outputs.
async fn status(api: &Api, prod: &str, id: &str, out: OutputFormat) -> Result<(), ClientError> {
    let status = api.get(&format!("/a/v1/stream/{prod}/{id}/status")).await?;
    if out != OutputFormat::Table {
        return print(out, &status, &[]);
    }
    let last_error = match (status["last_error"]["code"].as_str(), status["last_error"]["hint"].as_str()) {
        (Some(code), Some(hint)) => Value::String(format!("{code}: {hint}")),
        (Some(code), None) => Value::String(code.to_owned()),
        _ => Value::Null,
    };
    let summary = json!({
        "state": status["state"],
        "desired": status["desired"],
        "health": status["health"],
        "uptime": status["uptime"].as_f64().map(clock),
        "out_time": status["out_time"].as_f64().map(clock),
        "reconnects": status["reconnects"],
        "worker": status["worker"],
        "last_error": last_error,
    });
    print(out, &summary, STATUS_FIELDS)?;
    if let Some(outputs) = status["outputs"].as_array().filter(|o| !o.is_empty()) {
        print!("{}", table(outputs, OUTPUT_COLUMNS));
    }
    Ok(())
}

const CHECK_COLUMNS: &[&str] = &["level", "code", "took_ms", "params"];
const DRY_RUN_FIELDS: &[&str] = &["state", "speed", "codec", "channels", "sample_rate", "bitrate", "lufs", "true_peak", "error"];
/// How long the client waits for a worker's report.
const REPORT_WAIT: Duration = Duration::from_secs(90);

/// Runs a preflight and prints its checks; a red level is a failure (exit 2).
async fn preflight(api: &Api, prod: &str, id: &str, out: OutputFormat) -> Result<(), ClientError> {
    let path = format!("/a/v1/stream/{prod}/{id}/preflight");
    let mut report = api.call(Method::POST, &path, None).await?;
    let deadline = tokio::time::Instant::now() + REPORT_WAIT;
    while !matches!(report["state"].as_str(), Some("done" | "failed")) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        report = api.get(&path).await?;
    }
    if out == OutputFormat::Table {
        let checks: Vec<Value> = report["checks"].as_array().cloned().unwrap_or_default().into_iter().map(|mut c| {
            c["params"] = Value::String(c["params"].to_string());
            c
        }).collect();
        println!("preflight of stream {id}: {} ({})", report["level"].as_str().unwrap_or("?"), report["state"].as_str().unwrap_or("?"));
        print!("{}", table(&checks, CHECK_COLUMNS));
    } else {
        print(out, &report, &[])?;
    }
    match report["level"].as_str() {
        Some("red") => Err(ClientError::Refused { status: 422, code: "preflight.red".into(), message: "the stream is not ready to go live".into(), params: report }),
        _ => Ok(()),
    }
}

/// Asks for a dry run and waits for its report.
async fn dry_run(api: &Api, prod: &str, id: &str, out: OutputFormat) -> Result<(), ClientError> {
    let path = format!("/a/v1/stream/{prod}/{id}/dry-run");
    let queued = api.call(Method::POST, &path, None).await?;
    let deadline = tokio::time::Instant::now() + REPORT_WAIT;
    let report = loop {
        let report = api.get(&path).await?;
        let ours = report["run"] == queued["run"];
        if ours && matches!(report["state"].as_str(), Some("done" | "failed")) {
            break report;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ClientError::Failed(format!("no worker finished the dry run within {} s", REPORT_WAIT.as_secs())));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    if out != OutputFormat::Table {
        return print(out, &report, &[]);
    }
    let o = &report["output"];
    let summary = json!({
        "state": report["state"], "speed": report["speed"], "codec": o["codec"], "channels": o["channels"],
        "sample_rate": o["sample_rate"], "bitrate": o["bitrate"], "lufs": o["lufs"], "true_peak": o["true_peak"], "error": report["error"],
    });
    print(out, &summary, DRY_RUN_FIELDS)?;
    for w in report["warnings"].as_array().into_iter().flatten() {
        println!("warning: {} {}", w["code"].as_str().unwrap_or("?"), w["params"]);
    }
    Ok(())
}

/// Prints the log's lines after `after`, page by page. Following, it asks
/// again every second, and ends once the stream is stopped or failed and a
/// last look finds no new line.
async fn read_logs(api: &Api, prod: &str, id: &str, mut after: u64, follow: bool, out: OutputFormat) -> Result<(), ClientError> {
    let mut ended = false;
    loop {
        let page = api.get(&format!("/a/v1/stream/{prod}/{id}/logs?after={after}&limit={LOG_PAGE}")).await?;
        let lines = page["lines"].as_array().map(Vec::as_slice).unwrap_or_default();
        for line in lines {
            print_log_line(out, line)?;
        }
        after = page["next"].as_u64().unwrap_or(after);
        if lines.len() >= LOG_PAGE {
            // A full page: more are waiting.
            continue;
        }
        if !follow {
            return Ok(());
        }
        if lines.is_empty() {
            if ended {
                return Ok(());
            }
            let status = api.get(&format!("/a/v1/stream/{prod}/{id}/status")).await?;
            ended = matches!(status["state"].as_str(), Some("stopped" | "failed"));
        } else {
            ended = false;
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// `<ts as RFC 3339> <level> <text>`, then `  → <code>: <hint>` when the line
/// has them; with `-o json`, the line as one JSON object (JSON Lines).
fn print_log_line(out: OutputFormat, line: &Value) -> Result<(), ClientError> {
    match out {
        OutputFormat::Json => {
            let text = serde_json::to_string(line).map_err(|e| ClientError::Failed(e.to_string()))?;
            println!("{text}");
        }
        OutputFormat::Yaml => {
            let text = serde_yaml_ng::to_string(line).map_err(|e| ClientError::Failed(e.to_string()))?;
            print!("---\n{text}");
        }
        OutputFormat::Table => {
            let ts = line["ts"].as_i64().unwrap_or_default();
            let at = OffsetDateTime::from_unix_timestamp(ts).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_else(|| ts.to_string());
            println!("{at} {} {}", line["level"].as_str().unwrap_or_default(), line["text"].as_str().unwrap_or_default());
            match (line["code"].as_str(), line["hint"].as_str()) {
                (Some(code), Some(hint)) => println!("  → {code}: {hint}"),
                (Some(code), None) => println!("  → {code}"),
                (None, Some(hint)) => println!("  → {hint}"),
                (None, None) => {}
            }
        }
    }
    Ok(())
}

/// Seconds as `H:MM:SS`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_a_clock() {
        assert_eq!(super::clock(0.0), "0:00:00");
        assert_eq!(super::clock(3723.6), "1:02:03");
        assert_eq!(super::clock(-5.0), "0:00:00");
    }
}
