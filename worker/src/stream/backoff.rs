//! Reconnect delays: 2 s, 5 s, 10 s, 20 s, 40 s, then 60 s, each with ±20 %
//! jitter (so many streams of one dead receiver do not return in lockstep);
//! reset after 30 s of health.

use std::time::Duration;

const STEPS: [u64; 6] = [2, 5, 10, 20, 40, 60];

pub struct Backoff {
    attempt: usize,
}

impl Backoff {
    pub fn new() -> Self {
        Self { attempt: 0 }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next(&mut self) -> Duration {
        let base = STEPS[self.attempt.min(STEPS.len() - 1)] as f64;
        self.attempt += 1;
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        Duration::from_secs_f64(base * jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_a_minute_and_reset() {
        let mut b = Backoff::new();
        let d: Vec<f64> = (0..8).map(|_| b.next().as_secs_f64()).collect();
        assert!((1.6..=2.4).contains(&d[0]) && (4.0..=6.0).contains(&d[1]));
        assert!(d[6..].iter().all(|s| (48.0..=72.0).contains(s)));
        b.reset();
        assert!(b.next().as_secs_f64() <= 2.4);
    }
}
