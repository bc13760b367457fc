//! A stream's dry run: ten seconds of its input through its real source and
//! encoder commands, every output replaced by one local file; the worker
//! carries the PCM between them as fast as the source gives it, so the speed
//! says how much headroom the encode has. The file is then probed (codec,
//! channels, rate, bitrate, loudness) and nothing is published anywhere.

use std::{sync::Arc, time::{Duration, Instant}};

use futures::StreamExt;
use podops_core::{
    domain::{
        preflight::{DryRun, DryRunOutput, DryRunWarning, RunState},
        Job, StreamInput,
    },
    live::{
        command::{encoder_args, pcm_bytes_per_second, source_args, Source, Target},
        redact::Redactor,
    },
    ports::MediaTool,
    service::{recording_format, ServiceError},
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{child, logsink::LogSink, run::local_copy, StreamFleet};

/// Seconds of audio a dry run encodes.
pub const DRY_RUN_SECONDS: u64 = 10;
/// The whole run, a live source included (it arrives in real time).
const LIMIT: Duration = Duration::from_secs(40);

impl StreamFleet {
    pub async fn dry_run(self: &Arc<Self>, job: &Job, tool: &dyn MediaTool) -> Result<(), ServiceError> {
        let podops = &self.podops;
        if !podops.write_dry_run(job, &|r: &mut DryRun| r.state = RunState::Running).await? {
            return Ok(());
        }
        let outcome = self.encode_ten_seconds(job, tool).await;
        let now = podops.clock.now();
        podops
            .write_dry_run(job, &move |r: &mut DryRun| {
                match &outcome {
                    Ok(report) => {
                        r.speed = report.speed;
                        r.output = report.output.clone();
                        r.commands = report.commands.clone();
                        r.warnings = report.warnings.clone();
                        r.state = RunState::Done;
                    }
                    Err((code, commands)) => {
                        r.error = Some(code.clone());
                        r.commands = commands.clone();
                        r.state = RunState::Failed;
                    }
                }
                r.finished = Some(now);
            })
            .await
            .map(drop)
    }

    async fn encode_ten_seconds(&self, job: &Job, tool: &dyn MediaTool) -> Result<DryRun, (String, Vec<Vec<String>>)> {
        let fail = |code: &str| (code.to_owned(), Vec::new());
        let subject = self.podops.preflight_subject(&job.production, &job.asset).await.map_err(|_| fail("dry_run.stream_missing"))?;
        let profile = subject.profile.clone().map_err(|_| fail("dry_run.profile_missing"))?;
        let scratch = &self.config.scratch;
        tokio::fs::create_dir_all(scratch).await.map_err(|_| fail("dry_run.scratch"))?;
        let dir = tempfile::tempdir_in(scratch).map_err(|_| fail("dry_run.scratch"))?;
        let (_, ext, _) = recording_format(profile.format);
        let out = dir.path().join(format!("dry-run.{ext}"));
        let mut feed = None;
        let file;
        let source = match &subject.stream.input {
            StreamInput::Tone(t) => Source::Tone(t.frequency),
            StreamInput::Playlist(_) => {
                let (id, asset) = subject.items.iter().find_map(|(id, a)| a.as_ref().map(|a| (id, a))).ok_or_else(|| fail("dry_run.playlist_empty"))?;
                let key = self.podops.media_key(&job.production, id, asset).ok().flatten().ok_or_else(|| fail("dry_run.asset_not_ready"))?;
                file = local_copy(&self.podops.blobs, &key, scratch).await.map_err(|_| fail("dry_run.asset_not_ready"))?;
                Source::File(&file)
            }
            StreamInput::Url(url) => {
                let response = tokio::time::timeout(Duration::from_secs(10), self.fetcher.open(url)).await.map_err(|_| fail("dry_run.source_unreachable"))?.map_err(|e| fail(if e.code == "import.forbidden_address" { "dry_run.address_blocked" } else { "dry_run.source_unreachable" }))?;
                feed = Some(response);
                Source::Stdin
            }
        };
        let source_argv = source_args(&source, &profile);
        let encoder_argv = encoder_args(&profile, &Target::File { path: &out });
        let redactor = Redactor::new(subject.stream.outputs.iter().filter_map(|o| o.secret()));
        let commands = vec![source_argv.iter().map(|a| redactor.redact(a)).collect::<Vec<_>>(), encoder_argv.iter().map(|a| redactor.redact(a)).collect()];
        let failed = |code: &str| (code.to_owned(), commands.clone());
        let log = Arc::new(LogSink::new(redactor.clone(), 0));

        let started = Instant::now();
        let mut src = child::spawn(&self.config.ffmpeg, &source_argv, feed.is_some()).map_err(|_| failed("dry_run.encoder_missing"))?;
        let mut enc = child::spawn(&self.config.ffmpeg, &encoder_argv, true).map_err(|_| failed("dry_run.encoder_missing"))?;
        let src_errors = src.stderr.take().map(|e| child::log_stderr(e, log.clone(), "source".into()));
        let enc_errors = enc.stderr.take().map(|e| child::log_stderr(e, log.clone(), "encoder".into()));
        if let (Some(response), Some(mut stdin)) = (feed, src.stdin.take()) {
            tokio::spawn(async move {
                let mut body = response.bytes_stream();
                while let Some(Ok(piece)) = body.next().await {
                    if stdin.write_all(&piece).await.is_err() {
                        return;
                    }
                }
            });
        }
        let (Some(mut pcm), Some(mut encoder_in)) = (src.stdout.take(), enc.stdin.take()) else { return Err(failed("dry_run.encoder_missing")) };
        let wanted = pcm_bytes_per_second(&profile) * DRY_RUN_SECONDS;
        let carried = tokio::time::timeout(LIMIT, async {
            let mut sent = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            while sent < wanted {
                let n = match pcm.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n.min((wanted - sent) as usize),
                };
                if encoder_in.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                sent += n as u64;
            }
            drop(encoder_in);
            let _ = src.kill().await;
            let _ = enc.wait().await;
            sent
        })
        .await;
        let wall = started.elapsed().as_secs_f64();
        let sent = carried.map_err(|_| failed("dry_run.timeout"))?;
        let mut warnings = Vec::new();
        for code in [src_errors, enc_errors].into_iter().flatten() {
            if let Ok(Some(code)) = code.await {
                warnings.push(DryRunWarning { code: code.to_owned(), params: json!({}) });
            }
        }
        for line in log.take().into_iter().filter(|l| l.code.is_none()).take(10) {
            warnings.push(DryRunWarning { code: "dry_run.ffmpeg_warning".into(), params: json!({ "line": line.text }) });
        }
        if sent == 0 {
            return Err(failed("dry_run.no_audio"));
        }
        let seconds = sent as f64 / pcm_bytes_per_second(&profile) as f64;
        if seconds + 0.5 < DRY_RUN_SECONDS as f64 {
            warnings.push(DryRunWarning { code: "dry_run.input_short".into(), params: json!({ "seconds": (seconds * 10.0).round() / 10.0 }) });
        }
        let speed = seconds / wall.max(0.001);
        if speed < 1.05 && !matches!(subject.stream.input, StreamInput::Url(_)) {
            warnings.push(DryRunWarning { code: "dry_run.slow".into(), params: json!({ "speed": speed }) });
        }
        let probe = tool.probe(&out).await.map_err(|e| failed(e.code))?;
        if let Some(lufs) = probe.lufs.filter(|l| !(-24.0..=-10.0).contains(l)) {
            warnings.push(DryRunWarning { code: "dry_run.loudness".into(), params: json!({ "lufs": lufs, "recommended": [-24.0, -10.0] }) });
        }
        let output = DryRunOutput {
            codec: probe.codec,
            channels: probe.channels,
            sample_rate: probe.sample_rate,
            bitrate: probe.bitrate,
            duration: probe.duration,
            lufs: probe.lufs,
            true_peak: probe.true_peak,
        };
        let now = self.podops.clock.now();
        Ok(DryRun {
            run: String::new(),
            state: RunState::Done,
            started: now,
            finished: Some(now),
            speed: Some((speed * 100.0).round() / 100.0),
            output: Some(output),
            commands,
            warnings,
            error: None,
        })
    }
}
