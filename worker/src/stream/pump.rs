//! The PCM pump between a stream's source and its encoders. It paces the
//! audio to the wall clock (a playlist decodes far faster than real time; the
//! bounded channels push back on the decoder), fills gaps with silence (a
//! source reconnecting, the gap between two playlist items, pause), and fans
//! each piece out to every output without ever waiting for a slow one.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often the pump sends.
const TICK: Duration = Duration::from_millis(20);
/// How far ahead of the wall clock the encoders are fed.
const LEAD: Duration = Duration::from_millis(200);
/// A source this far behind is starving: silence fills in.
const STARVED: Duration = Duration::from_millis(400);

pub struct PumpState {
    pub paused: AtomicBool,
    /// Bytes of PCM sent to the outputs so far.
    pub sent: AtomicU64,
    /// Bytes of that which were silence filled in.
    pub silence: AtomicU64,
}

pub struct Pump {
    pub bytes_per_second: u64,
    pub frame: usize,
    pub source: mpsc::Receiver<Bytes>,
    pub outputs: Vec<mpsc::Sender<Bytes>>,
    pub state: Arc<PumpState>,
    /// A live source keeps being read while paused (so it does not drop us); a file source waits.
    pub drain_when_paused: bool,
}

impl PumpState {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { paused: AtomicBool::new(false), sent: AtomicU64::new(0), silence: AtomicU64::new(0) })
    }
}

impl Pump {
    /// Runs until cancelled; then drops the outputs' senders, which closes
    /// the encoders' input so they finish cleanly.
    pub async fn run(mut self, cancel: CancellationToken) {
        let start = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending = BytesMut::new();
        let mut sent: u64 = 0;
        let bps = self.bytes_per_second as f64;
        let frame = self.frame as u64;
        let lead = (LEAD.as_secs_f64() * bps) as u64;
        let starved = (STARVED.as_secs_f64() * bps) as u64;
        let mut source_open = true;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = cancel.cancelled() => return,
            }
            let now_bytes = (start.elapsed().as_secs_f64() * bps) as u64;
            let target = (now_bytes + lead) / frame * frame;
            let paused = self.state.paused.load(Ordering::Relaxed);
            while sent < target {
                let want = (target - sent) as usize;
                let mut chunk = None;
                if !paused || self.drain_when_paused {
                    while pending.len() < want && source_open {
                        match self.source.try_recv() {
                            Ok(b) => pending.extend_from_slice(&b),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => source_open = false,
                        }
                    }
                    let whole = pending.len().min(want) / self.frame * self.frame;
                    if whole > 0 {
                        let audio = pending.split_to(whole).freeze();
                        if !paused {
                            chunk = Some(audio);
                        }
                    }
                }
                let chunk = match chunk {
                    Some(c) => c,
                    None if paused || sent + starved < now_bytes + lead => {
                        self.state.silence.fetch_add(want as u64, Ordering::Relaxed);
                        Bytes::from(vec![0u8; want])
                    }
                    None => break,
                };
                sent += chunk.len() as u64;
                for out in &self.outputs {
                    // A full channel is an output that is not keeping up (or
                    // reconnecting): it misses this piece, the others do not wait.
                    let _ = out.try_send(chunk.clone());
                }
            }
            self.state.sent.store(sent, Ordering::Relaxed);
        }
    }
}
