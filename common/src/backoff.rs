//! `Backoff`: the one rule for how long to pause before trying again, used
//! by every retry loop of the service (reading the job stream, renewing the
//! completions subscription, in-job storage and Redis calls, and scheduled
//! job retries).

use std::future::Future;
use std::time::Duration;

/// An error that says whether trying again soon may succeed.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

/// The pauses between the quick tries of one storage or Redis call within
/// a job: 100 ms, then 400 ms.
pub const QUICK: Backoff = Backoff {
    first: Duration::from_millis(100),
    factor: 4,
    max: Duration::from_secs(5),
    jitter: Jitter::None,
};

/// The pauses between attempts to reach Redis while it is down: 100 ms,
/// doubling up to 5 s.
pub const RECONNECT: Backoff = Backoff {
    first: Duration::from_millis(100),
    factor: 2,
    max: Duration::from_secs(5),
    jitter: Jitter::None,
};

/// How many more times [`retry_quickly`] tries a call that failed.
pub const QUICK_RETRIES: u32 = 2;

/// Runs `call` until it succeeds, fails for good, or has failed
/// [`QUICK_RETRIES`] more times, pausing as [`QUICK`] says.
pub async fn retry_quickly<T, E, F, Fut>(mut call: F) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(e) if e.is_retryable() && tries < QUICK_RETRIES => {
                tokio::time::sleep(QUICK.delay(tries)).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// How much of each pause is random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Every pause is exactly the exponential value.
    None,
    /// "Equal jitter": half of the pause is fixed, half random, so that the
    /// jobs failed by one outage do not all come back at once.
    Equal,
}

/// Exponential pauses: `first`, then each `factor` times the one before, up
/// to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub factor: u32,
    pub max: Duration,
    pub jitter: Jitter,
}

impl Backoff {
    /// The pause before try number `tries_so_far + 1`: `delay(0)` is the
    /// first pause.
    pub fn delay(&self, tries_so_far: u32) -> Duration {
        self.delay_drawn(tries_so_far, fastrand::f64())
    }

    /// [`delay`](Self::delay) with the jitter drawn from `seed`, so that
    /// the same seed gives the same pause: a job's id as the seed keeps the
    /// retry rule a pure function while different jobs still spread apart.
    pub fn delay_seeded(&self, tries_so_far: u32, seed: u64) -> Duration {
        self.delay_drawn(tries_so_far, fastrand::Rng::with_seed(seed).f64())
    }

    /// The pause with `draw` (in [0, 1)) as the random part.
    fn delay_drawn(&self, tries_so_far: u32, draw: f64) -> Duration {
        // Past 2^32 times `first` every pause is `max` anyway.
        let growth = self.factor.saturating_pow(tries_so_far.min(32));
        let full = self.first.saturating_mul(growth).min(self.max);
        match self.jitter {
            Jitter::None => full,
            Jitter::Equal => full / 2 + full.mul_f64(draw / 2.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_by_the_factor_up_to_the_cap() {
        let backoff = Backoff {
            first: Duration::from_millis(100),
            factor: 4,
            max: Duration::from_secs(5),
            jitter: Jitter::None,
        };
        let pauses: Vec<u64> = (0..5)
            .map(|n| backoff.delay(n).as_millis() as u64)
            .collect();
        assert_eq!(pauses, [100, 400, 1600, 5000, 5000]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn equal_jitter_keeps_each_pause_between_half_and_all_of_it() {
        let backoff = Backoff {
            first: Duration::from_millis(500),
            factor: 2,
            max: Duration::from_secs(30),
            jitter: Jitter::Equal,
        };
        for tries in 0..12 {
            let full = (Duration::from_millis(500) * 2u32.pow(tries)).min(Duration::from_secs(30));
            for _ in 0..50 {
                let delay = backoff.delay(tries);
                assert!(delay >= full / 2 && delay <= full, "{tries}: {delay:?}");
            }
        }
    }

    #[test]
    fn a_seeded_pause_is_the_same_for_the_same_seed() {
        let backoff = Backoff {
            first: Duration::from_secs(1),
            factor: 2,
            max: Duration::from_secs(60),
            jitter: Jitter::Equal,
        };
        assert_eq!(backoff.delay_seeded(3, 42), backoff.delay_seeded(3, 42));
        let spread: std::collections::HashSet<Duration> =
            (0..20).map(|seed| backoff.delay_seeded(3, seed)).collect();
        assert!(
            spread.len() > 10,
            "seeds should spread the pauses: {spread:?}"
        );
    }
}
