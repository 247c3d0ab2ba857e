//! Client-side pacing for an adapter's requests: request budgets, the pause after a 429, and
//! the retry policy for requests that are safe to repeat.
//!
//! One [`Pacer`] belongs to one adapter (one API key) and is shared by every concurrent task
//! that uses it, so `list`, `get` and writes all draw from the same budget.
//!
//! - Budgets use `governor`'s GCRA limiter. A budget of `n` requests per `window` is set up
//!   as a burst of `n / 4` plus an even refill of the other `3n / 4` over the window. Then no
//!   window of that length can ever hold more than `n` requests. (PostHog's throttle counts
//!   requests in a sliding window, so a plain "n per window" bucket could let up to `2n`
//!   through in one window and trip it.)
//! - A 429 pauses *every* task until its `Retry-After` has passed (the latest one wins), and
//!   they then go back through the budget one by one. They do not each sleep the same time and
//!   then all fire at once.

use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::RateLimit;

/// Most extra milliseconds a task held back by a pause waits, so that they spread out.
const STAGGER_MS: u64 = 200;

/// At most `requests` requests in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests allowed per window.
    pub requests: NonZeroU32,
    /// The window.
    pub window: Duration,
}

impl Budget {
    /// The budgets of a per-minute and per-hour limit (a zero limit is left out).
    pub fn of(limit: RateLimit) -> Vec<Budget> {
        [
            (limit.per_minute, Duration::from_secs(60)),
            (limit.per_hour, Duration::from_secs(3600)),
        ]
        .into_iter()
        .filter_map(|(n, window)| {
            Some(Budget {
                requests: NonZeroU32::new(n)?,
                window,
            })
        })
        .collect()
    }

    /// The limiter: burst `n/4` (at least 1), refill of the rest evenly over the window.
    fn quota(self) -> Quota {
        let n = self.requests.get();
        let burst = (n / 4).max(1);
        let refill = n - burst;
        let period = if refill == 0 {
            // n == 1: one request, then a whole window (and a little) before the next.
            self.window + Duration::from_millis(1)
        } else {
            // Rounded up, so that `refill` periods never fit in less than the window.
            let nanos = self.window.as_nanos().div_ceil(u128::from(refill));
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        };
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN));
        quota.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
    }
}

/// When and how often to repeat a request that failed in a way that may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Repeats after a 5xx or transport error (0: never repeat).
    pub retries: u32,
    /// Delay before the first repeat; doubled each time, with jitter.
    pub initial_delay: Duration,
    /// Longest delay between repeats.
    pub max_delay: Duration,
    /// How many 429 answers one request may wait out before giving up.
    pub rate_limited_waits: u32,
    /// The longest `Retry-After` honoured; a longer one fails the request.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 4 repeats from 250 ms doubling up to 8 s; up to 10 waits of at most 10 minutes on 429.
    fn default() -> Self {
        RetryPolicy {
            retries: 4,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            rate_limited_waits: 10,
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// Never repeat anything (errors reach the caller as they come).
    pub fn none() -> Self {
        RetryPolicy {
            retries: 0,
            rate_limited_waits: 0,
            ..RetryPolicy::default()
        }
    }

    /// The delays between repeats: exponential, with jitter, `retries` of them.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.retries as usize)
            .build()
    }
}

/// The shared pacing state of one adapter.
#[derive(Debug)]
pub struct Pacer {
    limiters: Vec<DefaultDirectRateLimiter>,
    paused_until: Mutex<Option<Instant>>,
    budgets: Vec<Budget>,
}

impl Pacer {
    /// A pacer keeping to every one of `budgets`.
    pub fn new(budgets: &[Budget]) -> Self {
        Pacer {
            limiters: budgets
                .iter()
                .map(|b| RateLimiter::direct(b.quota()))
                .collect(),
            paused_until: Mutex::new(None),
            budgets: budgets.to_vec(),
        }
    }

    /// The budgets kept to.
    pub fn budgets(&self) -> &[Budget] {
        &self.budgets
    }

    fn pause_end(&self) -> Option<Instant> {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait until a request may be sent: past any pause, then within every budget.
    pub async fn ready(&self) {
        loop {
            if let Some(end) = self.pause_end()
                && end > Instant::now()
            {
                // Staggered: the tasks held back do not all wake in the same instant.
                let stagger = Duration::from_millis(fastrand::u64(0..=STAGGER_MS));
                tokio::time::sleep_until(end + stagger).await;
            }
            for limiter in &self.limiters {
                limiter.until_ready().await;
            }
            // A 429 may have come in while this task waited for the budget.
            if self.pause_end().is_none_or(|end| end <= Instant::now()) {
                return;
            }
        }
    }

    /// Hold every request back for `delay` from now (a later pause already set wins).
    pub fn pause(&self, delay: Duration) {
        let end = Instant::now() + delay;
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if paused.is_none_or(|current| current < end) {
            *paused = Some(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(n: u32, window_ms: u64) -> Budget {
        Budget {
            requests: NonZeroU32::new(n).unwrap(),
            window: Duration::from_millis(window_ms),
        }
    }

    #[test]
    fn budgets_of_a_rate_limit() {
        let b = Budget::of(RateLimit {
            per_minute: 480,
            per_hour: 4800,
        });
        assert_eq!(b, vec![budget(480, 60_000), budget(4800, 3_600_000)]);
        let b = Budget::of(RateLimit {
            per_minute: 0,
            per_hour: 10,
        });
        assert_eq!(b, vec![budget(10, 3_600_000)]);
    }

    /// The most requests a limiter lets through at once, then the refill period.
    #[test]
    fn a_budget_never_allows_more_than_n_per_window() {
        for n in [1, 2, 3, 8, 480, 4800] {
            let b = budget(n, 60_000);
            let quota = b.quota();
            let burst = quota.burst_size().get();
            let period = quota.replenish_interval();
            // In a window: the burst plus one per period after it.
            let refills = u32::try_from(b.window.as_nanos() / period.as_nanos()).unwrap();
            assert!(burst + refills <= n, "n={n}: {burst} + {refills}");
            assert!(burst >= (n / 4).max(1));
        }
    }

    #[test]
    fn delays_grow_and_stop() {
        let policy = RetryPolicy {
            retries: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            ..RetryPolicy::default()
        };
        let delays: Vec<Duration> = policy.delays().collect();
        assert_eq!(delays.len(), 3);
        // Jitter adds up to one more delay on top of each.
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(200));
        assert!(delays[2] >= Duration::from_millis(250) && delays[2] <= Duration::from_millis(500));
        assert_eq!(RetryPolicy::none().delays().count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_task() {
        let pacer = Pacer::new(&[]);
        pacer.pause(Duration::from_secs(5));
        pacer.pause(Duration::from_secs(2));
        let start = Instant::now();
        pacer.ready().await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(5), "{waited:?}");
        assert!(
            waited <= Duration::from_millis(5000 + STAGGER_MS),
            "{waited:?}"
        );
        // The pause is over: no more waiting.
        pacer.ready().await;
        assert_eq!(start.elapsed(), waited);
    }
}
