//! The signals that stop `flagops apply`, and what the first and a second one do.
//!
//! The apply loop watches a `watch` channel this module sets on the first signal; the exit
//! code of the signal is kept for the end of the run ([`stopped_by`]).

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::watch;

use super::output::stderr;
use crate::apply::Options;
use crate::error::exit;

/// The exit code of the signal that stopped the apply, 0 when none did.
pub(super) fn stopped_by() -> u8 {
    STOPPED_BY.load(Ordering::SeqCst)
}

/// The exit code of the first stopping signal (0: none).
static STOPPED_BY: AtomicU8 = AtomicU8::new(0);

/// The signals that stop an apply: SIGINT (Ctrl-C, and a CI's cancel), SIGTERM (a CI's
/// cancel a few seconds later, `kill`), SIGHUP (the terminal closed).
pub(super) struct Signals {
    #[cfg(unix)]
    streams: [(tokio::signal::unix::Signal, &'static str, u8); 3],
}

impl Signals {
    #[cfg(unix)]
    pub(super) fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            streams: [
                (
                    signal(SignalKind::interrupt())?,
                    "SIGINT",
                    exit::INTERRUPTED,
                ),
                (
                    signal(SignalKind::terminate())?,
                    "SIGTERM",
                    exit::TERMINATED,
                ),
                (signal(SignalKind::hangup())?, "SIGHUP", exit::HANGUP),
            ],
        })
    }

    #[cfg(not(unix))]
    pub(super) fn new() -> std::io::Result<Self> {
        Ok(Signals {})
    }

    /// The next signal: its name and exit code (`None` if they can no longer come).
    #[cfg(unix)]
    async fn next(&mut self) -> Option<(&'static str, u8)> {
        let [(int, a, ca), (term, b, cb), (hup, c, cc)] = &mut self.streams;
        tokio::select! {
            got = int.recv() => got.map(|()| (*a, *ca)),
            got = term.recv() => got.map(|()| (*b, *cb)),
            got = hup.recv() => got.map(|()| (*c, *cc)),
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> Option<(&'static str, u8)> {
        tokio::signal::ctrl_c()
            .await
            .ok()
            .map(|()| ("Ctrl-C", exit::INTERRUPTED))
    }
}

/// The first signal stops the apply: no new step, waits cancelled, the requests on the wire
/// get a few seconds, and the report is still printed (so the user knows exactly what was
/// applied). A second one stops at once.
pub(super) async fn stop_on_signal(mut signals: Signals, stop: watch::Sender<bool>, env: String) {
    let Some((name, code)) = signals.next().await else {
        return;
    };
    STOPPED_BY.store(code, Ordering::SeqCst);
    stop.send_replace(true);
    stderr(&format!(
        "interrupted ({name}): starting no new step, ending the waits, letting the requests on the wire finish (at most {} s); a second signal stops at once, without a report\n",
        Options::GRACE.as_secs()
    ));
    if let Some((name, code)) = signals.next().await {
        stderr(&format!(
            "stopped at once ({name}), without a report: a request on the wire may or may not have been applied; run `flagops plan --env {env}`\n"
        ));
        std::process::exit(i32::from(code));
    }
}
