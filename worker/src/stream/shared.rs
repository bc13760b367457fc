//! What a run's tasks (source, pump, outputs) report to its supervisor.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        Arc, Mutex,
    },
};

use podops_core::domain::{
    live::{LiveError, OutputStatus, MAX_RESTARTS, RESTART_WINDOW},
    OutputKind, OutputState, Profile,
};

use super::logsink::LogSink;
use crate::fetch::{AddressPolicy, Fetcher, NameLookup};

pub struct OutputRuntime {
    pub kind: OutputKind,
    pub state: OutputState,
    pub error: Option<String>,
    pub out_time_us: i64,
    pub advanced_at: tokio::time::Instant,
    pub speed: Option<f64>,
    pub bitrate: Option<f64>,
    pub permanent: bool,
}

pub struct RunShared {
    pub profile: Profile,
    pub ffmpeg: PathBuf,
    pub log: Arc<LogSink>,
    pub fetcher: Arc<Fetcher>,
    pub lookup: Arc<dyn NameLookup>,
    pub policy: AddressPolicy,
    reconnecting: AtomicBool,
    /// Reconnects during this run (added to the record's count).
    pub reconnects: AtomicU32,
    restarts: Mutex<Vec<i64>>,
    source_error: Mutex<Option<LiveError>>,
    outputs: Mutex<Vec<OutputRuntime>>,
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl RunShared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(profile: Profile, ffmpeg: PathBuf, log: Arc<LogSink>, fetcher: Arc<Fetcher>, lookup: Arc<dyn NameLookup>, policy: AddressPolicy, kinds: &[OutputKind], restarts: Vec<i64>) -> Self {
        let now = tokio::time::Instant::now();
        let outputs = kinds
            .iter()
            .map(|k| OutputRuntime { kind: *k, state: OutputState::Connecting, error: None, out_time_us: 0, advanced_at: now, speed: None, bitrate: None, permanent: false })
            .collect();
        Self {
            profile,
            ffmpeg,
            log,
            fetcher,
            lookup,
            policy,
            reconnecting: AtomicBool::new(false),
            reconnects: AtomicU32::new(0),
            restarts: Mutex::new(restarts),
            source_error: Mutex::new(None),
            outputs: Mutex::new(outputs),
        }
    }

    pub fn set_reconnecting(&self, on: bool) {
        self.reconnecting.store(on, Ordering::Relaxed);
    }
    pub fn reconnecting(&self) -> bool {
        self.reconnecting.load(Ordering::Relaxed)
    }

    pub fn source_failed(&self, code: &str, hint: &str) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        self.record_restart();
        if let Ok(mut e) = self.source_error.lock() {
            *e = Some(LiveError { code: code.to_owned(), hint: hint.to_owned() });
        }
    }
    pub fn source_error(&self) -> Option<LiveError> {
        self.source_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn record_restart(&self) {
        if let Ok(mut r) = self.restarts.lock() {
            let now = unix_now();
            r.retain(|t| now - t <= RESTART_WINDOW);
            r.push(now);
        }
    }
    pub fn recent_restarts(&self) -> Vec<i64> {
        let now = unix_now();
        self.restarts.lock().map(|r| r.iter().copied().filter(|t| now - t <= RESTART_WINDOW).collect()).unwrap_or_default()
    }
    /// Ten failed restarts within ten minutes.
    pub fn restart_budget_spent(&self) -> bool {
        self.recent_restarts().len() >= MAX_RESTARTS
    }

    fn with_output(&self, index: usize, f: impl FnOnce(&mut OutputRuntime)) {
        if let Ok(mut outs) = self.outputs.lock() {
            if let Some(o) = outs.get_mut(index) {
                f(o);
            }
        }
    }

    pub fn set_output(&self, index: usize, state: OutputState, error: Option<String>) {
        self.with_output(index, |o| {
            o.state = state;
            if error.is_some() {
                o.error = error;
            }
        });
    }

    pub fn output_failed(&self, index: usize, code: &str, permanent: bool) {
        self.with_output(index, |o| {
            o.state = if permanent { OutputState::Failed } else { OutputState::Retrying };
            o.error = Some(code.to_owned());
            o.permanent = permanent;
        });
    }

    pub fn progress(&self, index: usize, out_time_us: i64) {
        self.with_output(index, |o| {
            if out_time_us > o.out_time_us {
                o.out_time_us = out_time_us;
                o.advanced_at = tokio::time::Instant::now();
                o.state = OutputState::Live;
                o.error = None;
            }
        });
    }
    pub fn speed(&self, index: usize, speed: Option<f64>) {
        self.with_output(index, |o| o.speed = speed.or(o.speed));
    }
    pub fn bitrate(&self, index: usize, bitrate: Option<f64>) {
        self.with_output(index, |o| o.bitrate = bitrate.or(o.bitrate));
    }

    pub fn output_statuses(&self) -> Vec<OutputStatus> {
        self.outputs.lock().map(|outs| outs.iter().map(|o| OutputStatus { kind: o.kind, state: o.state, url: None, error: o.error.clone() }).collect()).unwrap_or_default()
    }

    /// `(any live, all failed for good, first permanent error, seconds since the freshest progress, slowest speed, first bitrate)`
    pub fn output_summary(&self) -> (bool, bool, Option<String>, f64, Option<f64>, Option<f64>) {
        let Ok(outs) = self.outputs.lock() else { return (false, false, None, 0.0, None, None) };
        let live = outs.iter().any(|o| o.state == OutputState::Live);
        let all_failed = !outs.is_empty() && outs.iter().all(|o| o.permanent);
        let error = outs.iter().find(|o| o.permanent).and_then(|o| o.error.clone());
        let freshest = outs.iter().map(|o| o.advanced_at.elapsed().as_secs_f64()).fold(f64::INFINITY, f64::min);
        let speed = outs.iter().filter_map(|o| o.speed).reduce(f64::min);
        let bitrate = outs.iter().find_map(|o| o.bitrate);
        (live, all_failed, error, freshest, speed, bitrate)
    }
}
