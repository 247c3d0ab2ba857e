//! The adapter's request path: every HTTP request goes through [`PosthogBackend::send`], which
//! waits for the shared pacer (budget and 429 pause), maps failures to `BackendError`, and
//! repeats what is safe to repeat.
//!
//! - No request leaves `host`: redirects are never followed (an error naming the status and
//!   the target's origin), and list pages are read on `host` whatever their `next` link says.
//! - A 429 means the server did nothing: any request is sent again after `Retry-After`
//!   (seconds or an HTTP date; without one, `rate_limited_backoff` doubling up to
//!   [`MAX_DEFAULT_BACKOFF`]; every task waits, see `backend::pacing`), up to
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

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{LOCATION, RETRY_AFTER};
use serde_json::Value;

use super::PosthogBackend;
use super::error::{self, Access, Call};
use crate::backend::pacing::human;
use crate::backend::{BackendError, BackendResult};

/// The longest wait after a 429 without `Retry-After`.
pub(crate) const MAX_DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

impl PosthogBackend {
    /// Send a request (paced, repeated when safe) and return the JSON body of a success.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<Value> {
        Ok(self.send_read(method, url, body, call, read_json).await?.0)
    }

    /// Like `send`, the body of a success read by `read` (from its text and status), with
    /// its size in bytes. An error of `read` is not repeated (the server answered).
    pub(super) async fn send_read<T>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
        read: impl Fn(&str, u16, &Call<'_>) -> BackendResult<T>,
    ) -> BackendResult<(T, usize)> {
        let mut delays = self.retry.delays();
        let mut waits = 0;
        let mut attempt = 1;
        loop {
            let ticket = self.pacer.ready().await;
            let result = self
                .send_once(method.clone(), url, body, call, attempt, &read)
                .await;
            // The request is over: its slots count from now.
            drop(ticket);
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            match error {
                BackendError::RateLimited { retry_after_secs } => {
                    let (wait, why) = match retry_after_secs {
                        Some(secs) => (Duration::from_secs(secs), "as its `Retry-After` asks"),
                        None => (
                            default_backoff(self.rate_limited_backoff, waits),
                            "(it gave no `Retry-After`: the default backoff)",
                        ),
                    };
                    if wait > self.retry.max_retry_after {
                        return Err(BackendError::Server {
                            status: 429,
                            detail: Some(format!(
                                "could not {}: the server is rate limiting (429) and asks to wait {}, longer than the {} flagops waits at most; try again later",
                                call.action,
                                human(wait),
                                human(self.retry.max_retry_after)
                            )),
                        });
                    }
                    if waits >= self.retry.rate_limited_waits {
                        return Err(BackendError::Server {
                            status: 429,
                            detail: Some(format!(
                                "could not {}: the server is still rate limiting (429) after {waits} waits; try again later",
                                call.action
                            )),
                        });
                    }
                    waits += 1;
                    self.pacer.pause(wait, why);
                }
                // Reads are safe to repeat after a 5xx or a lost connection; writes are
                // checked by apply before anything is sent again.
                error if call.access == Access::Read && error.is_outcome_unknown() => {
                    let Some(delay) = delays.next() else {
                        return Err(after_attempts(error, attempt));
                    };
                    attempt += 1;
                    if delay >= self.pacer.notice_threshold() {
                        self.pacer.announce(&format!(
                            "{error}; trying again in {} (attempt {attempt} of {})",
                            human(delay),
                            self.retry.retries + 1
                        ));
                    }
                    tokio::time::sleep(delay).await;
                }
                other => return Err(other),
            }
        }
    }

    /// One attempt; an answer slower than the notice threshold is announced once.
    async fn send_once<T>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
        attempt: u32,
        read: &impl Fn(&str, u16, &Call<'_>) -> BackendResult<T>,
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
        read: &impl Fn(&str, u16, &Call<'_>) -> BackendResult<T>,
    ) -> BackendResult<(T, usize)> {
        let secret = self.api_key.expose();
        let target = self.target();
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| error::scrub(error::from_transport(&e, call, &target), secret))?;
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header(RETRY_AFTER);
        if (300..400).contains(&status) {
            let location = header(LOCATION);
            return Err(error::scrub(
                error::redirect(status, location.as_deref(), url, call),
                secret,
            ));
        }
        let text = self
            .read_body(response, status, call)
            .await
            .map_err(|e| error::scrub(e, secret))?;
        if !(200..300).contains(&status) {
            // Scrubbed before it is cut to a short quote, which could keep part of the key.
            let text = if secret.is_empty() {
                text
            } else {
                text.replace(secret, "***")
            };
            return Err(error::scrub(
                error::from_response(status, retry_after.as_deref(), &text, call, &target),
                secret,
            ));
        }
        let value = read(&text, status, call).map_err(|e| error::scrub(e, secret))?;
        Ok((value, text.len()))
    }

    /// The body of `response` as text, at most `max_response_bytes` of it: a longer answer is
    /// an error, read no further.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        status: u16,
        call: &Call<'_>,
    ) -> BackendResult<String> {
        let limit = self.max_response_bytes;
        let too_large = || {
            error::unreadable(
                Some(status),
                &format!(
                    "is larger than {limit} bytes (status {status}); check that `host` is the PostHog API origin"
                ),
                call,
            )
        };
        if response
            .content_length()
            .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| error::from_transport(&e, call, &self.target()))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        // Valid UTF-8 (every JSON answer) is taken as it is, without a copy.
        Ok(String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// A JSON answer as a `Value`.
pub(super) fn read_json(text: &str, status: u16, call: &Call<'_>) -> BackendResult<Value> {
    serde_json::from_str(text).map_err(|e| {
        error::unreadable(
            Some(status),
            &format!("could not be read as JSON (status {status}): {e}"),
            call,
        )
    })
}

/// "an array", "a string", … for messages.
pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The wait after the `waits`-th 429 (from 0) that gave no `Retry-After`: `first`, doubled
/// each time.
fn default_backoff(first: Duration, waits: u32) -> Duration {
    first
        .saturating_mul(1 << waits.min(16))
        .min(MAX_DEFAULT_BACKOFF)
}

/// `error` noting how many attempts were made, when more than one.
fn after_attempts(error: BackendError, attempts: u32) -> BackendError {
    if attempts < 2 {
        return error;
    }
    match error {
        BackendError::Transport(m) => BackendError::Transport(format!("{m} ({attempts} attempts)")),
        BackendError::Server { status, detail } => BackendError::Server {
            status,
            detail: Some(match detail {
                Some(detail) => format!("{detail} ({attempts} attempts)"),
                None => format!("{attempts} attempts"),
            }),
        },
        other => other,
    }
}
