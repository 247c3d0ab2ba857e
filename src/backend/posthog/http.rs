//! The adapter's request path: every HTTP request goes through [`PosthogBackend::send`], which
//! waits for the shared pacer (budget and 429 pause), maps failures to `BackendError`, and
//! repeats what is safe to repeat.
//!
//! - No request leaves `host`: redirects are never followed (an error naming the status and
//!   the target's origin), and list pages are read on `host` whatever their `next` link says.
//! - A 429 means the server did nothing: any request is sent again after `Retry-After`
//!   (seconds or an HTTP date; without one, `rate_limited_backoff` doubling up to
//!   a minute; every task waits, see `backend::pacing`), up to
//!   `RetryPolicy::rate_limited_waits` times; a wait longer than
//!   `RetryPolicy::max_retry_after`, however it was asked for, fails at once.
//! - A 5xx or transport failure of a read (`GET`, `bulk_keys`) is repeated with exponential
//!   backoff and jitter. A write's outcome is then unknown: it is returned to the caller
//!   (`apply` checks what happened before it tries again), never repeated here; so is a
//!   write whose 2xx answer cannot be read.
//! - Waits of `notice_after` or more are announced through the pacer: a slow answer, a long
//!   delay before a repeat, a 429 pause.
//! - Each answer is read as text once and parsed straight into what the caller wants (a
//!   `Value`, or a list page: `pages`), never copied on the way.
//!
//! The loop, the exchange and their error mapping are `backend::http`'s, shared with the other
//! adapters; this module adds PostHog's wording and its notice of a slow answer.

use reqwest::Method;
use serde_json::Value;

use super::PosthogBackend;
use super::error;
use crate::backend::BackendResult;
use crate::backend::http::{self, Call, Peer, Repeats, Wording};
use crate::backend::pacing::human;

/// How PostHog's rate limits are worded.
const WORDING: Wording = Wording {
    service: "the server",
    advice: "try again later",
    default_backoff: "(it gave no `Retry-After`: the default backoff)",
};

impl PosthogBackend {
    /// Send a request (paced, repeated when safe) and return the JSON body of a success.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<Value> {
        Ok(self
            .send_read(method, url, body, call, http::read_json)
            .await?
            .0)
    }

    /// Like `send`, the body of a success read by `read` (from its text and status), with
    /// its size in bytes. An error of `read` is not repeated (the server answered).
    pub(super) async fn send_read<T>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
        read: impl Fn(String, u16, &Call<'_>) -> BackendResult<T>,
    ) -> BackendResult<(T, usize)> {
        let repeats = Repeats {
            pacer: &self.pacer,
            retry: &self.retry,
            rate_limited_backoff: self.rate_limited_backoff,
            backoff: http::doubled_backoff,
            wording: &WORDING,
        };
        http::repeated(&repeats, call, |attempt| {
            self.send_once(method.clone(), url, body, call, attempt, &read)
        })
        .await
    }

    /// One attempt; an answer slower than the notice threshold is announced once.
    async fn send_once<T>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
        attempt: u32,
        read: &impl Fn(String, u16, &Call<'_>) -> BackendResult<T>,
    ) -> BackendResult<(T, usize)> {
        let exchange = self.exchange(method, url, body, call, read);
        tokio::pin!(exchange);
        let threshold = self.pacer.notice_threshold();
        tokio::select! {
            biased;
            result = &mut exchange => return result,
            () = tokio::time::sleep(threshold) => {}
        }
        let tries = if attempt > 1 {
            format!(" (attempt {attempt} of {})", self.retry.retries + 1)
        } else {
            String::new()
        };
        self.pacer.announce(&format!(
            "no answer yet to `{}` after {}{tries}; waiting at most {} in all",
            call.action,
            human(threshold),
            human(self.request_timeout)
        ));
        exchange.await
    }

    /// Send the request and read its answer.
    async fn exchange<T>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
        read: &impl Fn(String, u16, &Call<'_>) -> BackendResult<T>,
    ) -> BackendResult<(T, usize)> {
        let target = self.target();
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let peer = Peer {
            origin: target.origin,
            timeout: target.timeout,
            max_response_bytes: self.max_response_bytes,
            api: "the PostHog API origin",
            hidden: &[self.api_key.expose()],
        };
        http::exchange(
            request,
            url,
            call,
            &peer,
            error::redirect,
            |status, retry_after, text| {
                error::from_response(status, retry_after, text, call, &target)
            },
            read,
        )
        .await
    }
}
