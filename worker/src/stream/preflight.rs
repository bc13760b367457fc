//! A stream's preflight, on the worker where its FFmpeg would run. Each check
//! is written to the preflight's record as it completes (so the events route
//! shows it at once); the slow ones (the source, each output) have their own
//! time limits and the outputs are tried side by side, so the whole takes at
//! most ~20 s. Outputs are tried for real: the profile's encoder connects
//! with the stream's credentials and sends one second of silence.

use std::{sync::Arc, time::{Duration, Instant}};

use futures::{stream::FuturesUnordered, StreamExt};
use podops_core::{
    domain::{
        preflight::{Check, Level, Preflight, RunState},
        stream::Mismatch,
        AssetState, AudioFormat, Job, Profile, StreamInput, StreamOutput,
    },
    live::{
        command::{encoder_args, pcm_bytes_per_second, Target},
        redact::Redactor,
    },
    service::{PreflightSubject, ServiceError},
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{address::resolve_output, child, logsink::LogSink, StreamFleet};

const SOURCE_LIMIT: Duration = Duration::from_secs(8);
const OUTPUT_LIMIT: Duration = Duration::from_secs(8);
/// Bytes of a relayed source read to find its audio.
const SOURCE_SAMPLE: usize = 256 * 1024;

/// What the source was found to carry, for the profile check.
#[derive(Default)]
struct SourceFacts {
    sample_rate: u32,
    bitrate: u64,
    channels: u8,
}

fn check(code: &str, level: Level, params: Value, started: Instant) -> Check {
    Check { code: code.to_owned(), level, params, took_ms: started.elapsed().as_millis() as u64 }
}

impl StreamFleet {
    pub async fn preflight(self: &Arc<Self>, job: &Job) -> Result<(), ServiceError> {
        let podops = &self.podops;
        // A retried job (its worker died) starts its checks afresh.
        let restart = |r: &mut Preflight| {
            r.state = RunState::Running;
            r.checks.clear();
            r.level = Level::Green;
        };
        if !podops.write_preflight(job, &restart).await? {
            return Ok(());
        }
        let subject = podops.preflight_subject(&job.production, &job.asset).await?;
        let record = |c: Check| async move {
            let level = c.level;
            let code = c.code.clone();
            tracing::info!(stream = %job.asset, code = %code, level = ?level, took_ms = c.took_ms, "preflight check");
            podops.write_preflight(job, &move |r: &mut Preflight| r.add(c.clone())).await
        };
        let profile = match &subject.profile {
            Ok(p) => p.clone(),
            Err(why) => {
                record(check("preflight.profile_missing", Level::Red, json!({ "reason": why }), Instant::now())).await?;
                return self.finish(job).await;
            }
        };
        if !record(self.encoder_check(&profile).await).await? {
            return Ok(());
        }
        record(secrets_check(&subject)).await?;
        let mut facts = Vec::new();
        match &subject.stream.input {
            StreamInput::Playlist(_) => {
                let started = Instant::now();
                record(assets_check(&subject, started)).await?;
                for (_, asset) in &subject.items {
                    if let Some(p) = asset.as_ref().and_then(|a| a.probe.as_ref()) {
                        facts.push(SourceFacts { sample_rate: p.sample_rate, bitrate: p.bitrate, channels: p.channels });
                    }
                }
            }
            StreamInput::Url(url) => {
                let (c, found) = self.source_check(url).await;
                record(c).await?;
                facts.extend(found);
            }
            StreamInput::Tone(_) => {}
        }
        record(profile_check(&profile, &facts)).await?;
        let redactor = Arc::new(Redactor::new(subject.stream.outputs.iter().filter_map(StreamOutput::secret)));
        let mut outputs: FuturesUnordered<_> = subject.stream.outputs.iter().enumerate().map(|(i, o)| self.output_check(i, o.clone(), profile.clone(), redactor.clone())).collect();
        while let Some(c) = outputs.next().await {
            record(c).await?;
        }
        self.finish(job).await
    }

    async fn finish(&self, job: &Job) -> Result<(), ServiceError> {
        let now = podops_core::ports::Clock::now(&*self.podops.clock);
        self.podops
            .write_preflight(job, &move |r: &mut Preflight| {
                r.state = RunState::Done;
                r.finished = Some(now);
            })
            .await
            .map(drop)
    }

    /// FFmpeg runs here and has the profile's encoder.
    async fn encoder_check(&self, profile: &Profile) -> Check {
        let started = Instant::now();
        let encoder = match profile.format {
            AudioFormat::Mp3 => "libmp3lame",
            AudioFormat::Aac => "aac",
            AudioFormat::Opus => "libopus",
            AudioFormat::Flac => "flac",
        };
        let out = tokio::time::timeout(Duration::from_secs(5), tokio::process::Command::new(&self.config.ffmpeg).args(["-hide_banner", "-encoders"]).output()).await;
        let listed = match out {
            Ok(Ok(o)) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().any(|l| l.split_whitespace().nth(1) == Some(encoder)),
            _ => return check("preflight.encoder_missing", Level::Red, json!({ "encoder": encoder, "reason": "ffmpeg does not run on this worker" }), started),
        };
        if listed {
            check("preflight.encoder", Level::Green, json!({ "encoder": encoder }), started)
        } else {
            check("preflight.encoder_missing", Level::Red, json!({ "encoder": encoder }), started)
        }
    }

    /// The relayed source answers, through the guarded client, with audio in it.
    async fn source_check(&self, url: &str) -> (Check, Option<SourceFacts>) {
        let started = Instant::now();
        let opened = match tokio::time::timeout(SOURCE_LIMIT, self.fetcher.open(url)).await {
            Err(_) => return (check("preflight.source_unreachable", Level::Red, json!({ "reason": "no answer within 8 s" }), started), None),
            Ok(Err(e)) => {
                let code = match (e.code, e.http_status()) {
                    ("import.forbidden_address" | "import.forbidden_scheme", _) => "preflight.address_blocked",
                    (_, Some(401 | 403)) => "preflight.source_auth_failed",
                    _ => "preflight.source_unreachable",
                };
                return (check(code, Level::Red, json!({ "reason": e.code, "status": e.http_status() }), started), None);
            }
            Ok(Ok(r)) => r,
        };
        if super::hls_source::is_playlist(&opened) {
            return (check("preflight.source", Level::Green, json!({ "hls": true }), started), None);
        }
        let mut body = opened.bytes_stream();
        let mut sample = Vec::with_capacity(SOURCE_SAMPLE);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while sample.len() < SOURCE_SAMPLE {
            match tokio::time::timeout_at(deadline, body.next()).await {
                Ok(Some(Ok(piece))) => sample.extend_from_slice(&piece),
                _ => break,
            }
        }
        match self.probe_sample(&sample).await {
            Some(facts) => (check("preflight.source", Level::Green, json!({ "sample_rate": facts.sample_rate, "channels": facts.channels, "bitrate": facts.bitrate }), started), Some(facts)),
            None => (check("preflight.source_no_audio", Level::Red, json!({ "bytes_read": sample.len() }), started), None),
        }
    }

    /// ffprobe of the first bytes of a source, fed on stdin.
    async fn probe_sample(&self, sample: &[u8]) -> Option<SourceFacts> {
        if sample.is_empty() {
            return None;
        }
        let ffprobe = self.config.ffmpeg.with_file_name("ffprobe");
        let mut child = tokio::process::Command::new(ffprobe)
            .args(["-v", "error", "-protocol_whitelist", "pipe", "-select_streams", "a:0", "-show_entries", "stream=sample_rate,channels,bit_rate", "-of", "json", "-i", "pipe:0"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take()?;
        let data = sample.to_vec();
        let writer = tokio::spawn(async move {
            let _ = stdin.write_all(&data).await;
        });
        let mut out = Vec::new();
        let mut stdout = child.stdout.take()?;
        let read = tokio::time::timeout(Duration::from_secs(5), stdout.read_to_end(&mut out)).await;
        writer.abort();
        let _ = child.kill().await;
        read.ok()?.ok()?;
        let v: Value = serde_json::from_slice(&out).ok()?;
        let s = v["streams"].as_array()?.first()?;
        let num = |k: &str| s[k].as_str().and_then(|x| x.parse::<u64>().ok()).or_else(|| s[k].as_u64()).unwrap_or(0);
        Some(SourceFacts { sample_rate: num("sample_rate") as u32, bitrate: num("bit_rate"), channels: s["channels"].as_u64().unwrap_or(0) as u8 })
    }

    /// One output, tried for real: resolve and check its address, connect
    /// with its credentials, send a second of silence.
    async fn output_check(&self, index: usize, output: StreamOutput, profile: Profile, redactor: Arc<Redactor>) -> Check {
        let started = Instant::now();
        let kind = output.kind().as_str();
        let params = |extra: Value| {
            let mut p = json!({ "output": index, "kind": kind });
            if let (Some(p), Value::Object(e)) = (p.as_object_mut(), extra) {
                p.extend(e);
            }
            p
        };
        let args = match &output {
            StreamOutput::Hls {} => {
                return match self.podops.publishing {
                    Some(_) => check("preflight.output", Level::Green, params(json!({})), started),
                    None => check("preflight.output_unpublishable", Level::Red, params(json!({ "reason": "this worker has no public store" })), started),
                };
            }
            StreamOutput::Icecast { url, password } => match resolve_output(&self.lookup, &self.policy, url).await {
                Ok((host, path)) => encoder_args(&profile, &Target::Icecast { host: &host, mount: &path, password }),
                Err(code) => return address_failure(code, params(json!({ "reason": code })), started),
            },
            StreamOutput::Rtmp { url, stream_key } => match resolve_output(&self.lookup, &self.policy, url).await {
                Ok((host, path)) => {
                    let scheme = if url.starts_with("rtmps") { "rtmps" } else { "rtmp" };
                    encoder_args(&profile, &Target::Rtmp { url: &format!("{scheme}://{host}{path}"), stream_key })
                }
                Err(code) => return address_failure(code, params(json!({ "reason": code })), started),
            },
        };
        let log = Arc::new(LogSink::new((*redactor).clone(), 0));
        let Ok(mut proc) = child::spawn(&self.config.ffmpeg, &args, true) else {
            return check("preflight.encoder_missing", Level::Red, params(json!({})), started);
        };
        let (Some(mut stdin), Some(stderr)) = (proc.stdin.take(), proc.stderr.take()) else {
            return check("preflight.encoder_missing", Level::Red, params(json!({})), started);
        };
        let errors = child::log_stderr(stderr, log, format!("output {index}"));
        let silence = vec![0u8; pcm_bytes_per_second(&profile) as usize];
        let outcome = tokio::time::timeout(OUTPUT_LIMIT, async {
            let _ = stdin.write_all(&silence).await;
            drop(stdin);
            proc.wait().await
        })
        .await;
        let _ = proc.kill().await;
        let code = errors.await.ok().flatten();
        match (outcome, code) {
            (Ok(Ok(status)), None) if status.success() => check("preflight.output", Level::Green, params(json!({})), started),
            (Err(_), None) => check("preflight.output_unreachable", Level::Red, params(json!({ "reason": "no answer within 8 s" })), started),
            (_, Some("output.auth_failed")) => check("preflight.output_auth_failed", Level::Red, params(json!({})), started),
            (_, Some("output.forbidden")) => check("preflight.output_auth_failed", Level::Red, params(json!({ "reason": "output.forbidden" })), started),
            (_, Some("output.mount_in_use")) => check("preflight.output_in_use", Level::Yellow, params(json!({})), started),
            (_, code) => check("preflight.output_unreachable", Level::Red, params(json!({ "reason": code.unwrap_or("output.encoder_exited") })), started),
        }
    }
}

fn address_failure(code: &str, params: Value, started: Instant) -> Check {
    let code = if code == "stream.forbidden_address" { "preflight.address_blocked" } else { "preflight.output_unreachable" };
    check(code, Level::Red, params, started)
}

/// Every output that needs a secret has one.
fn secrets_check(subject: &PreflightSubject) -> Check {
    let started = Instant::now();
    let missing: Vec<usize> = subject.stream.outputs.iter().enumerate().filter(|(_, o)| o.secret().is_some_and(|s| s.trim().is_empty())).map(|(i, _)| i).collect();
    if missing.is_empty() {
        check("preflight.secrets", Level::Green, json!({}), started)
    } else {
        check("preflight.secret_missing", Level::Red, json!({ "outputs": missing }), started)
    }
}

/// Every playlist item is an asset with its bytes stored and probed.
fn assets_check(subject: &PreflightSubject, started: Instant) -> Check {
    if !subject.playlist_found {
        return check("preflight.playlist_missing", Level::Red, json!({}), started);
    }
    if subject.items.is_empty() {
        return check("preflight.playlist_empty", Level::Red, json!({}), started);
    }
    let not_ready: Vec<String> = subject
        .items
        .iter()
        .filter(|(_, a)| !a.as_ref().is_some_and(|a| a.state == AssetState::Ready && a.object.is_some()))
        .map(|(id, _)| id.as_str().to_owned())
        .collect();
    if not_ready.is_empty() {
        check("preflight.assets", Level::Green, json!({ "items": subject.items.len() }), started)
    } else {
        check("preflight.asset_not_ready", Level::Red, json!({ "assets": not_ready }), started)
    }
}

/// The profile against what it is fed: upsampling, a bitrate above the
/// source's, mono made stereo are yellow (they cost and add nothing).
fn profile_check(profile: &Profile, facts: &[SourceFacts]) -> Check {
    let started = Instant::now();
    let findings: Vec<(&str, Value)> = facts
        .iter()
        .flat_map(|f| profile.mismatches(f.sample_rate, f.bitrate, f.channels))
        .map(|(mismatch, params)| {
            let code = match mismatch {
                Mismatch::Upsampling => "preflight.upsampling",
                Mismatch::BitrateAboveSource => "preflight.bitrate_above_source",
                Mismatch::MonoToStereo => "preflight.mono_to_stereo",
            };
            (code, params)
        })
        .collect();
    match findings.first() {
        None => check("preflight.profile", Level::Green, json!({}), started),
        Some((code, params)) => check(code, Level::Yellow, json!({ "first": params, "findings": findings.iter().map(|(c, p)| json!({ "code": c, "params": p })).collect::<Vec<_>>() }), started),
    }
}
