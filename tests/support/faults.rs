//! The faults both fake services can inject (queued for the next requests, or on a
//! schedule), and what each makes a fake do: one definition for the fake PostHog and the fake
//! Mixpanel.

use std::sync::Mutex;
use std::time::Duration;

/// A fault for the next requests (applied before auth, in the order injected).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer `status` with `body` (as JSON) without doing anything, `times` times: a server
    /// that answers something else than the API's shape.
    Answer {
        /// The status.
        status: u16,
        /// The body's text.
        body: String,
        /// How many requests.
        times: usize,
    },
    /// Answer `status` (5xx) without doing anything, `times` times.
    ServerError {
        /// The status.
        status: u16,
        /// How many requests.
        times: usize,
    },
    /// Wait `delay` before handling normally, `times` times.
    Slow {
        /// The delay.
        delay: Duration,
        /// How many requests.
        times: usize,
    },
    /// Close the connection without answering, `times` times (nothing is done).
    Drop {
        /// How many requests.
        times: usize,
    },
    /// Handle the request (a write is committed), then close the connection without
    /// answering, `times` times: the client cannot know it happened.
    DropAfterCommit {
        /// How many requests.
        times: usize,
    },
    /// Answer `status` (a 3xx) with `Location: <to><path>?<query>` without doing anything,
    /// `times` times: e.g. to another fake, which must then receive nothing.
    Redirect {
        /// The status (301, 302, 307, 308).
        status: u16,
        /// The origin to send the client to, e.g. another fake's `base_url()`.
        to: String,
        /// How many requests.
        times: usize,
    },
    /// Answer 429 with this raw `Retry-After` (`None`: no header) and a throttle message that
    /// names no number, without doing anything, `times` times.
    RateLimited {
        /// The header's value, e.g. `"3"`, an HTTP date, or `"1000000000000000000000"`.
        retry_after: Option<String>,
        /// How many requests.
        times: usize,
    },
    /// Handle the request (a write is committed), then answer its status with a body cut
    /// short (not JSON), `times` times.
    Garbled {
        /// How many requests.
        times: usize,
    },
    /// Answer `status` with a JSON error whose `detail` is `bytes` long and holds newlines
    /// and a `::error::` line, without doing anything, `times` times.
    HugeDetail {
        /// The status.
        status: u16,
        /// The detail's length.
        bytes: usize,
        /// How many requests.
        times: usize,
    },
}

/// Faults on a schedule: every `every`-th request (counted from when it is set) gets the
/// next fault of `cycle` (each used once per turn, `times` ignored), deterministically.
#[derive(Debug, Clone, PartialEq)]
pub struct Chaos {
    /// The period, in requests.
    pub every: usize,
    /// The faults, used in turn.
    pub cycle: Vec<Fault>,
}

impl Fault {
    /// The requests left for this fault.
    fn times_mut(&mut self) -> &mut usize {
        match self {
            Fault::ServerError { times, .. }
            | Fault::Slow { times, .. }
            | Fault::Drop { times }
            | Fault::DropAfterCommit { times }
            | Fault::Redirect { times, .. }
            | Fault::RateLimited { times, .. }
            | Fault::Garbled { times }
            | Fault::HugeDetail { times, .. }
            | Fault::Answer { times, .. } => times,
        }
    }

    /// Use this queued fault for one request: the fault, and whether it is now used up (to be
    /// taken off the queue).
    pub(crate) fn take_one(&mut self) -> (Fault, bool) {
        let times = self.times_mut();
        *times = times.saturating_sub(1);
        let used_up = *times == 0;
        (self.clone(), used_up)
    }

    /// What a fake does about this fault, and how long it waits first.
    pub(crate) fn action(self) -> (Action, Option<Duration>) {
        match self {
            Fault::ServerError { status, .. } => (Action::Fail(status), None),
            Fault::Slow { delay, .. } => (Action::Proceed, Some(delay)),
            Fault::Drop { .. } => (Action::Drop, None),
            Fault::DropAfterCommit { .. } => (Action::DropAfterCommit, None),
            Fault::Redirect { status, to, .. } => (Action::Redirect(status, to), None),
            Fault::RateLimited { retry_after, .. } => (Action::RateLimited(retry_after), None),
            Fault::Garbled { .. } => (Action::Garbled, None),
            Fault::HugeDetail { status, bytes, .. } => (Action::HugeDetail(status, bytes), None),
            Fault::Answer { status, body, .. } => (Action::Answer(status, body), None),
        }
    }
}

/// What a fake does with a request.
pub(crate) enum Action {
    /// Handle it normally.
    Proceed,
    /// Answer this 5xx status, doing nothing.
    Fail(u16),
    /// Close the connection without answering, doing nothing.
    Drop,
    /// Handle it, then close the connection without answering.
    DropAfterCommit,
    /// Answer this 3xx status, sending the client to this origin.
    Redirect(u16, String),
    /// Answer 429, with this `Retry-After`.
    RateLimited(Option<String>),
    /// Handle it, then answer with a body that is not JSON.
    Garbled,
    /// Answer this status with an error detail of this many bytes.
    HugeDetail(u16, usize),
    /// Answer this status with this body, doing nothing.
    Answer(u16, String),
}

/// The fault `chaos` gives this request, if any (each call counts one request).
pub(crate) fn scheduled(chaos: &Mutex<Option<(Chaos, usize)>>) -> Option<Fault> {
    let mut chaos = lock(chaos);
    let (schedule, seen) = chaos.as_mut()?;
    *seen += 1;
    if schedule.every == 0 || schedule.cycle.is_empty() || *seen % schedule.every != 0 {
        return None;
    }
    let turn = (*seen / schedule.every - 1) % schedule.cycle.len();
    Some(schedule.cycle[turn].clone())
}

/// Lock `m`, also after a thread panicked while holding it (the fakes' shared state).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
