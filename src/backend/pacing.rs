//! Client-side pacing for an adapter's requests: request budgets, the pause after a 429, and
//! the retry policy for requests that are safe to repeat.
//!
//! One [`Pacer`] belongs to one adapter (one API key) and is shared by every concurrent task
//! that uses it, so `list`, `get` and writes all draw from the same budget.
//!
//! - A budget of `n` requests per `window` is kept the way PostHog's throttle counts (Django
//!   REST framework: a sliding log of the requests of the last `window`): `n` slots, each
//!   held by a request from before it is sent until `window` after its answer came. The
//!   server sees a request between those two instants, so no window it counts can hold more
//!   than `n`, whatever the latency; and a client may use all `n` at once (480 requests in a
//!   minute, then the next 480 a minute later) instead of trickling them. Slots are
//!   `tokio::sync::Semaphore` permits (fair, first come first served), returned by a timer.
//! - A 429 pauses *every* task until its `Retry-After` has passed (the latest one wins), and
//!   they then go on one by one. They do not each sleep the same time and then all fire at
//!   once.
//! - Waits can be cancelled (an interrupted apply): a request made inside [`Waits::scope`]
//!   stops waiting once its [`Waits`] is cancelled, and is then never sent; the scope also
//!   tells whether one of its requests is on the wire.
//! - A wait of [`NOTICE_AFTER`] or more (a spent budget, a long `Retry-After`; the adapter adds
//!   slow answers and long repeat delays) is announced through the hook set with
//!   [`Pacer::on_wait`], so that no command ever looks hung.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
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

/// Waits this long or longer are announced (see [`Pacer::on_wait`]).
pub const NOTICE_AFTER: Duration = Duration::from_secs(5);

/// Where announcements of long waits go.
pub type Notice = Arc<dyn Fn(&str) + Send + Sync>;

/// The process-wide hook for announcements (the command line sets it; none by default).
static NOTICE: RwLock<Option<Notice>> = RwLock::new(None);

/// One budget's slots.
#[derive(Debug)]
struct Window {
    budget: Budget,
    slots: Arc<Semaphore>,
    /// Whether a task found every slot taken and that was announced (until one is free).
    announced: AtomicBool,
}

/// The shared pacing state of one adapter.
pub struct Pacer {
    windows: Vec<Window>,
    paused_until: Mutex<Option<Instant>>,
    notice: Option<Notice>,
    notice_after: Duration,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("budgets", &self.budgets())
            .finish_non_exhaustive()
    }
}

/// The slots one request holds; they are given back `window` after it is dropped (drop it
/// once the answer came, or the request failed).
#[derive(Debug)]
#[must_use = "the slots are given back when the ticket is dropped, after the request"]
pub struct Ticket {
    held: Vec<(Duration, OwnedSemaphorePermit)>,
    /// The count of requests on the wire of the [`Waits`] scope it was taken in.
    on_wire: Option<Arc<AtomicUsize>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(on_wire) = self.on_wire.take() {
            on_wire.fetch_sub(1, Ordering::SeqCst);
        }
        let mut held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return;
        }
        // Without a runtime there is no later request to hold back: give the slots back now.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        held.sort_by_key(|(window, _)| *window);
        let done = Instant::now();
        runtime.spawn(async move {
            for (window, permit) in held {
                tokio::time::sleep_until(done + window).await;
                drop(permit);
            }
        });
    }
}

impl Pacer {
    /// A pacer keeping to every one of `budgets`; long waits go to the hook set with
    /// [`Pacer::on_wait`].
    pub fn new(budgets: &[Budget]) -> Self {
        Self::build(budgets, None)
    }

    /// A pacer announcing its long waits to `notice` (instead of the process-wide hook).
    pub fn with_notice(budgets: &[Budget], notice: Notice) -> Self {
        Self::build(budgets, Some(notice))
    }

    /// An adapter's pacer: keeping to `budgets`, announcing waits of at least `after` to
    /// `notice`, or without one to the hook set with [`Pacer::on_wait`].
    pub fn announcing(budgets: &[Budget], notice: Option<Notice>, after: Duration) -> Self {
        Self::build(budgets, notice).notice_after(after)
    }

    fn build(budgets: &[Budget], notice: Option<Notice>) -> Self {
        Pacer {
            windows: budgets
                .iter()
                .map(|b| Window {
                    budget: *b,
                    slots: Arc::new(Semaphore::new(
                        usize::try_from(b.requests.get()).unwrap_or(Semaphore::MAX_PERMITS),
                    )),
                    announced: AtomicBool::new(false),
                })
                .collect(),
            paused_until: Mutex::new(None),
            notice,
            notice_after: NOTICE_AFTER,
        }
    }

    /// Announce waits of at least `after` (default [`NOTICE_AFTER`]).
    #[must_use]
    pub fn notice_after(mut self, after: Duration) -> Self {
        self.notice_after = after;
        self
    }

    /// Waits of at least this long are announced.
    pub fn notice_threshold(&self) -> Duration {
        self.notice_after
    }

    /// Send announcements of long waits of every pacer without its own hook to `notice`
    /// (e.g. stderr, or above a progress bar); `None` to stop.
    pub fn on_wait(notice: Option<Notice>) {
        *NOTICE.write().unwrap_or_else(PoisonError::into_inner) = notice;
    }

    /// Announce the long waits of every pacer without its own hook as `waiting: …` lines
    /// through `write` (the command line's stderr).
    pub fn announce_waits_to(write: fn(&str)) {
        Pacer::on_wait(Some(Arc::new(move |m: &str| {
            write(&format!("waiting: {m}\n"));
        })));
    }

    /// Say `message` through this pacer's hook (or the process-wide one): for waits of at
    /// least [`Pacer::notice_threshold`], e.g. a slow answer or a repeat after a long delay.
    pub fn announce(&self, message: &str) {
        if let Some(notice) = &self.notice {
            notice(message);
        } else if let Some(notice) = NOTICE
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            notice(message);
        }
    }

    /// The budgets kept to.
    pub fn budgets(&self) -> Vec<Budget> {
        self.windows.iter().map(|w| w.budget).collect()
    }

    fn pause_end(&self) -> Option<Instant> {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait until a request may be sent: a slot in every budget, then past any pause. Hold
    /// the ticket until the request is over.
    ///
    /// Inside [`Waits::scope`], once the scope is cancelled this never returns (the request
    /// is never sent) and the scope is told it parked.
    pub async fn ready(&self) -> Ticket {
        let Ok(waits) = WAITS.try_with(Waits::clone) else {
            return self.wait().await;
        };
        tokio::select! {
            biased;
            () = waits.cancelled() => {
                waits.parked.notify_one();
                std::future::pending().await
            }
            mut ticket = self.wait() => {
                waits.on_wire.fetch_add(1, Ordering::SeqCst);
                ticket.on_wire = Some(Arc::clone(&waits.on_wire));
                ticket
            }
        }
    }

    async fn wait(&self) -> Ticket {
        let mut held = Vec::with_capacity(self.windows.len());
        for window in &self.windows {
            let permit = if let Ok(permit) = Arc::clone(&window.slots).try_acquire_owned() {
                window.announced.store(false, Ordering::Relaxed);
                Ok(permit)
            } else {
                if !window.announced.swap(true, Ordering::Relaxed) {
                    self.announce(&format!(
                        "the request budget of {} per {} is used up; waiting for it to free up (at most {} after the last answers)",
                        window.budget.requests,
                        human(window.budget.window),
                        human(window.budget.window)
                    ));
                }
                Arc::clone(&window.slots).acquire_owned().await
            };
            // The semaphores are never closed.
            if let Ok(permit) = permit {
                held.push((window.budget.window, permit));
            }
        }
        while let Some(end) = self.pause_end()
            && end > Instant::now()
        {
            // Staggered: the tasks held back do not all wake in the same instant.
            let stagger = Duration::from_millis(fastrand::u64(0..=STAGGER_MS));
            tokio::time::sleep_until(end + stagger).await;
        }
        Ticket {
            held,
            on_wire: None,
        }
    }

    /// Hold every request back for `delay` from now (a later pause already set wins);
    /// `why` ends the announcement, e.g. "as its `Retry-After` asks".
    pub fn pause(&self, delay: Duration, why: &str) {
        let end = Instant::now() + delay;
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if paused.is_none_or(|current| current < end) {
            *paused = Some(end);
            drop(paused);
            if delay >= self.notice_after {
                self.announce(&format!(
                    "the server is rate limiting (429); every request waits {} {why}",
                    human(delay)
                ));
            }
        }
    }
}

tokio::task_local! {
    static WAITS: Waits;
}

/// A cancellable scope for the pacer's waits (one per apply step): see [`Pacer::ready`].
#[derive(Debug, Clone)]
pub struct Waits {
    cancel: watch::Receiver<bool>,
    on_wire: Arc<AtomicUsize>,
    parked: Arc<Notify>,
}

impl Waits {
    /// A scope cancelled once `cancel` holds `true`.
    pub fn new(cancel: watch::Receiver<bool>) -> Self {
        Waits {
            cancel,
            on_wire: Arc::new(AtomicUsize::new(0)),
            parked: Arc::new(Notify::new()),
        }
    }

    /// Run `work` with its pacer waits in this scope.
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        WAITS.scope(self.clone(), work).await
    }

    /// Whether a request of the scope was sent and its answer has not come yet.
    pub fn on_wire(&self) -> bool {
        self.on_wire.load(Ordering::SeqCst) > 0
    }

    /// Done once the scope is cancelled (never if its sender is gone without cancelling).
    pub async fn cancelled(&self) {
        let mut cancel = self.cancel.clone();
        if cancel.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Done once a request of the scope stopped waiting because the scope was cancelled.
    pub async fn parked(&self) {
        self.parked.notified().await;
    }
}

/// `90 s`, `1 min`, `1 h`, `1 h 30 min`; `250 ms` below a second; "more than a day" past one.
pub(crate) fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{} ms", d.as_millis());
    }
    if secs > 86_400 {
        return "more than a day".to_owned();
    }
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (h, 0, 0) => format!("{h} h"),
        (h, m, 0) => format!("{h} h {m} min"),
        _ => format!("{secs} s"),
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

    /// When each of `n` instant requests was let through, from the start (virtual time).
    async fn admitted(pacer: &Pacer, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let ticket = pacer.ready().await;
            times.push(start.elapsed());
            drop(ticket);
        }
        times
    }

    /// The most of `times` in any window of `window`.
    fn most_in_a_window(times: &[Duration], window: Duration) -> usize {
        let mut first = 0;
        let mut most = 0;
        for (last, t) in times.iter().enumerate() {
            while t.saturating_sub(times[first]) >= window {
                first += 1;
            }
            most = most.max(last - first + 1);
        }
        most
    }

    #[tokio::test(start_paused = true)]
    async fn posthog_budgets_use_the_whole_minute_and_hour() {
        let pacer = Pacer::new(&Budget::of(RateLimit {
            per_minute: 480,
            per_hour: 4800,
        }));
        let times = admitted(&pacer, 4801).await;
        let second = |t: Duration| t.as_secs();
        // 480 at once, the next 480 a minute later: 1,000 requests in two minutes.
        assert_eq!(second(times[479]), 0);
        assert_eq!(second(times[480]), 60);
        assert_eq!(second(times[999]), 120);
        // 4,800 in ten minutes, then the hour holds the next one back.
        assert_eq!(second(times[4799]), 540);
        assert_eq!(second(times[4800]), 3600);
        assert_eq!(most_in_a_window(&times, Duration::from_secs(60)), 480);
        assert_eq!(most_in_a_window(&times, Duration::from_secs(3600)), 4800);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_is_held_until_a_window_after_the_answer() {
        let pacer = Pacer::new(&[budget(2, 10_000)]);
        let start = Instant::now();
        let slow = pacer.ready().await;
        drop(pacer.ready().await);
        // The first request's answer takes 30 s: its slot is busy until 40 s.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(slow);
        let third = pacer.ready().await;
        assert_eq!(
            start.elapsed().as_secs(),
            30,
            "the second slot was free at 10 s"
        );
        drop(third);
        drop(pacer.ready().await);
        assert_eq!(start.elapsed().as_secs(), 40);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_wait_is_announced_once() {
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&said);
        let pacer = Pacer::with_notice(
            &[budget(2, 60_000)],
            Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_owned())),
        );
        // Three tasks wait for the same spent budget: one notice.
        let tasks = (0..5).map(|_| async { drop(pacer.ready().await) });
        futures_util::future::join_all(tasks).await;
        pacer.pause(Duration::from_secs(1), "as its `Retry-After` asks");
        pacer.pause(Duration::from_secs(90), "as its `Retry-After` asks");
        assert_eq!(
            *said.lock().unwrap(),
            vec![
                "the request budget of 2 per 1 min is used up; waiting for it to free up (at most 1 min after the last answers)".to_owned(),
                "the server is rate limiting (429); every request waits 90 s as its `Retry-After` asks".to_owned(),
            ]
        );
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
    async fn a_cancelled_scope_stops_waiting_and_sends_nothing() {
        let pacer = Pacer::new(&[budget(1, 60_000)]);
        let (cancel, cancelled) = watch::channel(false);
        let waits = Waits::new(cancelled);
        // One request on the wire holds the only slot; the second waits for it.
        let first = waits.scope(pacer.ready()).await;
        assert!(waits.on_wire());
        let second = waits.scope(pacer.ready());
        tokio::pin!(second);
        tokio::select! {
            _ = &mut second => panic!("the budget was spent"),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        cancel.send_replace(true);
        tokio::select! {
            _ = &mut second => panic!("a cancelled wait went on"),
            () = waits.parked() => {}
        }
        drop(first);
        assert!(!waits.on_wire());
        // Outside the scope, the pacer is not cancelled.
        tokio::time::sleep(Duration::from_secs(61)).await;
        drop(pacer.ready().await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_task() {
        let pacer = Pacer::new(&[]);
        pacer.pause(Duration::from_secs(5), "");
        pacer.pause(Duration::from_secs(2), "");
        let start = Instant::now();
        drop(pacer.ready().await);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(5), "{waited:?}");
        assert!(
            waited <= Duration::from_millis(5000 + STAGGER_MS),
            "{waited:?}"
        );
        // The pause is over: no more waiting.
        drop(pacer.ready().await);
        assert_eq!(start.elapsed(), waited);
    }
}
