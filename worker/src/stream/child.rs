//! Starting a stream's FFmpeg processes: killed when dropped, and killed by
//! the kernel when the worker dies (`PR_SET_PDEATHSIG`), so a SIGKILLed
//! worker never leaves an FFmpeg streaming for a lease it no longer holds.

use std::{path::Path, process::Stdio, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, Command},
    sync::mpsc,
};

use super::logsink::LogSink;

pub fn spawn(ffmpeg: &Path, args: &[String], stdin: bool) -> std::io::Result<Child> {
    let mut cmd = Command::new(ffmpeg);
    cmd.args(args)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Copies a child's stderr into the stream's log, line by line, under `label`.
pub fn log_stderr(stderr: impl AsyncRead + Unpin + Send + 'static, log: Arc<LogSink>, label: String) -> tokio::task::JoinHandle<Option<&'static str>> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut last_code = None;
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(code) = log.push("warning", &format!("{label}: {line}")) {
                last_code = Some(code);
            }
        }
        last_code
    })
}

/// Feeds an encoder the pump's PCM until the run ends or the encoder stops.
/// `true`: the input closed, and the encoder had `grace` to finish its output
/// (an HLS endlist, a clean disconnect, a last segment) before being killed;
/// `false`: the encoder stopped first, and is killed.
pub async fn feed(proc: &mut Child, mut stdin: ChildStdin, rx: &mut mpsc::Receiver<Bytes>, grace: Duration) -> bool {
    let closed = loop {
        tokio::select! {
            piece = rx.recv() => match piece {
                Some(b) => if stdin.write_all(&b).await.is_err() { break false },
                None => break true,
            },
            _ = proc.wait() => break false,
        }
    };
    drop(stdin);
    if !closed || tokio::time::timeout(grace, proc.wait()).await.is_err() {
        let _ = proc.kill().await;
    }
    closed
}

/// Waits `wait` before an encoder starts again, taking (and dropping) the PCM
/// meanwhile so the pump never blocks on it. `false`: the input closed.
pub async fn drain_for(rx: &mut mpsc::Receiver<Bytes>, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        tokio::select! {
            piece = rx.recv() => if piece.is_none() { return false },
            () = tokio::time::sleep_until(deadline) => return true,
        }
    }
}
