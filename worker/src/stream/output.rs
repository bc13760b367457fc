//! One output of a stream: an FFmpeg encoder fed the pump's PCM on stdin,
//! restarted with backoff when it fails. Its `-progress` lines tell whether
//! audio really goes out. A refusal that a retry cannot fix (credentials,
//! a taken mount) three times in a row fails the output for good.

use std::{path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use podops_core::{
    domain::{OutputState, StreamOutput},
    live::command::{encoder_args, Target},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    sync::mpsc,
};

use super::{address::resolve_output, backoff::Backoff, child, shared::RunShared};

/// Codes no retry will fix.
const PERMANENT: &[&str] = &["output.auth_failed", "output.forbidden", "output.mount_in_use", "stream.forbidden_address"];
const PERMANENT_AFTER: u32 = 3;
/// How long a closing encoder may take before it is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

pub async fn run_output(shared: Arc<RunShared>, index: usize, output: StreamOutput, hls_dir: PathBuf, mut rx: mpsc::Receiver<Bytes>) {
    let kind = output.kind().as_str();
    let mut backoff = Backoff::new();
    let mut permanent_failures = 0;
    loop {
        let args = match &output {
            StreamOutput::Hls {} => encoder_args(&shared.profile, &Target::Hls { dir: &hls_dir, segment_seconds: shared.profile.hls_segment_seconds() }),
            StreamOutput::Icecast { url, password } => match resolve_output(&shared.lookup, &shared.policy, url).await {
                Ok((host, path)) => encoder_args(&shared.profile, &Target::Icecast { host: &host, mount: &path, password }),
                Err(code) => return shared.output_failed(index, code, true),
            },
            StreamOutput::Rtmp { url, stream_key } => match resolve_output(&shared.lookup, &shared.policy, url).await {
                Ok((host, path)) => {
                    let scheme = if url.starts_with("rtmps") { "rtmps" } else { "rtmp" };
                    let target = format!("{scheme}://{host}{path}");
                    encoder_args(&shared.profile, &Target::Rtmp { url: &target, stream_key })
                }
                Err(code) => return shared.output_failed(index, code, true),
            },
        };
        shared.set_output(index, OutputState::Connecting, None);
        shared.log.info(&format!("output {index} ({kind}): starting the encoder"));
        let mut proc = match child::spawn(&shared.ffmpeg, &args, true) {
            Ok(p) => p,
            Err(e) => {
                shared.log.push("error", &format!("output {index} ({kind}): cannot start ffmpeg: {e}"));
                return shared.output_failed(index, "stream.encoder_missing", true);
            }
        };
        let (Some(stdin), Some(stdout), Some(stderr)) = (proc.stdin.take(), proc.stdout.take(), proc.stderr.take()) else {
            return shared.output_failed(index, "stream.encoder_missing", true);
        };
        let errors = child::log_stderr(stderr, shared.log.clone(), format!("output {index} ({kind})"));
        let progress = tokio::spawn(read_progress(shared.clone(), index, stdout));
        let started = tokio::time::Instant::now();
        // The run ending lets FFmpeg finish its output (HLS endlist, a clean disconnect).
        let closed = child::feed(&mut proc, stdin, &mut rx, CLOSE_GRACE).await;
        progress.abort();
        if closed {
            shared.set_output(index, OutputState::Connecting, None);
            return;
        }
        let code = errors.await.ok().flatten().unwrap_or("output.encoder_exited");
        shared.log.push("error", &format!("output {index} ({kind}): the encoder stopped ({code})"));
        if started.elapsed() >= Duration::from_secs(30) {
            backoff.reset();
            permanent_failures = 0;
        }
        if PERMANENT.contains(&code) {
            permanent_failures += 1;
            if permanent_failures >= PERMANENT_AFTER {
                return shared.output_failed(index, code, true);
            }
        }
        shared.output_failed(index, code, false);
        shared.record_restart();
        if !child::drain_for(&mut rx, backoff.next()).await {
            return;
        }
    }
}

/// FFmpeg's `-progress` blocks: `out_time_us=…`, `speed=1.01x`, `bitrate=64.0kbits/s`.
async fn read_progress(shared: Arc<RunShared>, index: usize, stdout: tokio::process::ChildStdout) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim();
        match key {
            "out_time_us" => {
                if let Ok(us) = value.parse::<i64>() {
                    shared.progress(index, us);
                }
            }
            "speed" => shared.speed(index, value.trim_end_matches('x').parse().ok()),
            "bitrate" => shared.bitrate(index, value.trim_end_matches("kbits/s").trim().parse().ok()),
            _ => {}
        }
    }
}
