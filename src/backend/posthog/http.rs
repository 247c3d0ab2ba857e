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
//! - A list stops after the pages its first page's `count` needs (plus slack), and after
//!   `MAX_PAGES` in any case: a server whose `next` never ends is an error.

use std::time::Duration;

use reqwest::header::{LOCATION, RETRY_AFTER};
use reqwest::{Method, Url};
use serde_json::{Map, Value};

use super::error::{self, Access, Call};
use super::wire::Page;
use super::{MAX_PAGES, PosthogBackend};
use crate::backend::pacing::human;
use crate::backend::{BackendError, BackendResult};

/// The longest wait after a 429 without `Retry-After`.
pub(crate) const MAX_DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

/// Pages a list may read beyond what its `count` needs (flags created meanwhile).
const PAGE_SLACK: usize = 2;

/// Most bytes of answers one list reads over all its pages, in units of the largest answer.
const LIST_BYTES_IN_ANSWERS: usize = 4;

impl PosthogBackend {
    /// Send a request (paced, repeated when safe) and return the JSON body of a success.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<Value> {
        Ok(self.send_sized(method, url, body, call).await?.0)
    }

    /// Like `send`, with the size of the answer's body in bytes.
    async fn send_sized(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<(Value, usize)> {
        let mut delays = self.retry.delays();
        let mut waits = 0;
        let mut attempt = 1;
        loop {
            let ticket = self.pacer.ready().await;
            let result = self
                .send_once(method.clone(), url, body, call, attempt)
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
    async fn send_once(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
        attempt: u32,
    ) -> BackendResult<(Value, usize)> {
        let exchange = self.exchange(method, url, body, call);
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
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<(Value, usize)> {
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
        let value = serde_json::from_str(&text).map_err(|e| {
            error::scrub(
                error::unreadable(
                    Some(status),
                    &format!("could not be read as JSON (status {status}): {e}"),
                    call,
                ),
                secret,
            )
        })?;
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
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Every page of one list query; `extra` are query pairs besides `limit`/`offset`.
    pub(super) async fn list_query(
        &self,
        extra: &[(&str, &str)],
        call: &Call<'_>,
    ) -> BackendResult<Vec<Map<String, Value>>> {
        let limit = self.page_size.to_string();
        let mut query: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        query.push(("limit".into(), limit));
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        seen.insert({
            let mut first = query.clone();
            first.sort();
            first
        });
        // Pages this list may take: what the first page's `count` needs, plus slack.
        let mut allowed = MAX_PAGES;
        let mut counted = None;
        let mut read = 0;
        // Memory is bounded too: pages of the largest size, up to the page cap, would not be.
        let most_bytes = self
            .max_response_bytes
            .saturating_mul(LIST_BYTES_IN_ANSWERS);
        let mut bytes = 0_usize;
        loop {
            read += 1;
            let url = Url::parse_with_params(&self.flags_url(), &query)
                .map_err(|e| BackendError::Io(format!("cannot build the list URL: {e}")))?;
            let (answer, size) = self
                .send_sized(Method::GET, url.as_str(), None, call)
                .await?;
            bytes = bytes.saturating_add(size);
            if bytes > most_bytes {
                return Err(BackendError::Server {
                    status: 200,
                    detail: Some(format!(
                        "the answer to `{}` is larger than {most_bytes} bytes over its first {read} pages; check that `host` is the PostHog API origin",
                        call.action
                    )),
                });
            }
            let page =
                parse_page(answer, call).map_err(|e| error::scrub(e, self.api_key.expose()))?;
            let on_page = page.results.len();
            out.extend(page.results);
            let Some(next) = page.next else {
                return Ok(out);
            };
            if read == 1
                && let Some(count) = page.count.as_ref().and_then(Value::as_u64)
            {
                let per_page = if on_page > 0 {
                    on_page
                } else {
                    self.page_size as usize
                };
                let needed = usize::try_from(count.div_ceil(per_page as u64)).unwrap_or(usize::MAX);
                allowed = needed.saturating_add(PAGE_SLACK).min(MAX_PAGES);
                counted = Some((count, per_page));
            }
            if read >= allowed {
                let count = match counted {
                    Some((count, per_page)) if allowed < MAX_PAGES => format!(
                        " although its first page counted {count} flags ({per_page} a page)"
                    ),
                    _ => " (the most flagops reads)".to_owned(),
                };
                return Err(BackendError::Server {
                    status: 200,
                    detail: Some(format!(
                        "the answer to `{}` did not end after {read} pages{count}: its `next` link goes on; check that `host` is the PostHog API origin",
                        call.action
                    )),
                });
            }
            // Only the query of `next` is used: the key is never sent to an origin other
            // than the configured one (a proxy may rewrite the scheme or host in `next`).
            let next_query: Vec<(String, String)> = Url::parse(&next)
                .map_err(|e| BackendError::Server {
                    status: 200,
                    detail: Some(format!(
                        "the answer to `{}` has an invalid `next` link ({e})",
                        call.action
                    )),
                })?
                .query_pairs()
                .into_owned()
                .collect();
            // A `next` that leads back to any page already read would loop forever.
            let mut seen_key = next_query.clone();
            seen_key.sort();
            if !seen.insert(seen_key) {
                return Err(BackendError::Server {
                    status: 200,
                    detail: Some(format!(
                        "the `next` link of the answer to `{}` points back to a page already read",
                        call.action
                    )),
                });
            }
            query = next_query;
        }
    }
}

/// A list page: an object whose `results` is an array. Anything else (an array, an object
/// without `results`) is an error, never an empty list: reading "no flags" from a broken
/// answer would make a plan create every flag.
fn parse_page(answer: Value, call: &Call<'_>) -> BackendResult<Page> {
    let unexpected = |what: String| BackendError::Server {
        status: 200,
        detail: Some(format!(
            "unexpected answer to `{}`: {what}; check that `host` is the PostHog API origin",
            call.action
        )),
    };
    let Value::Object(object) = &answer else {
        return Err(unexpected(format!(
            "expected a JSON object with `results`, got {}",
            json_kind(&answer)
        )));
    };
    match object.get("results") {
        Some(Value::Array(_)) => {}
        Some(other) => {
            return Err(unexpected(format!(
                "`results` is {}, not an array",
                json_kind(other)
            )));
        }
        None => return Err(unexpected("the object has no `results`".to_owned())),
    }
    serde_json::from_value(answer).map_err(|e| unexpected(format!("invalid list page ({e})")))
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
