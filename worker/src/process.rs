//! Runs FFmpeg's tools as child processes: no stdin, killed when the future
//! is dropped (a cancelled or timed-out job leaves no process behind), a
//! wall-clock limit, and bounded capture of their output, since ebur128 logs
//! ten lines per second of audio.

use std::{collections::VecDeque, ffi::OsString, path::Path, process::Stdio, time::Duration};

use podops_core::ports::MediaError;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::Command,
};

/// Lines kept from the end of each stream: enough for ebur128's summary and
/// the last progress block.
const KEPT_LINES: usize = 48;

pub struct Finished {
    pub success: bool,
    /// The full stdout when small (ffprobe's JSON), else its last lines.
    pub stdout: String,
    pub stderr_tail: Vec<String>,
}

/// Runs `program args…` to completion within `limit`.
pub async fn run(program: &Path, args: &[OsString], limit: Duration, keep_all_stdout: bool) -> Result<Finished, MediaError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| MediaError::transient("media.tool_unavailable", format!("cannot start {}: {e}", program.display())))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(MediaError::transient("media.tool_unavailable", "no pipes to the child"));
    };
    let work = async {
        let (out, err, status) = tokio::join!(collect(stdout, keep_all_stdout), collect(stderr, false), child.wait());
        (out, err, status)
    };
    match tokio::time::timeout(limit, work).await {
        Ok((out, err, status)) => {
            let status = status.map_err(|e| MediaError::transient("media.tool_failed", format!("waiting for {}: {e}", program.display())))?;
            Ok(Finished { success: status.success(), stdout: out.into_iter().collect::<Vec<_>>().join("\n"), stderr_tail: err.into() })
        }
        // Dropping `work` drops the child: kill_on_drop ends it.
        Err(_) => Err(MediaError::input("media.timeout", format!("{} ran longer than {limit:?}", program.display()))),
    }
}

/// ffprobe's JSON is read whole, but bounded (a hostile file cannot make it huge).
const MAX_KEPT_ALL: usize = 20_000;

async fn collect(stream: impl AsyncRead + Unpin, keep_all: bool) -> VecDeque<String> {
    let mut lines = BufReader::new(stream).lines();
    let mut kept = VecDeque::new();
    let limit = if keep_all { MAX_KEPT_ALL } else { KEPT_LINES };
    while let Ok(Some(line)) = lines.next_line().await {
        if kept.len() == limit {
            kept.pop_front();
        }
        kept.push_back(line);
    }
    kept
}
