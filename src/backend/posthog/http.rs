//! The adapter's request path: every HTTP request goes through [`PosthogBackend::send`], which
//! waits for the shared pacer (budget and 429 pause), maps failures to `BackendError`, and
//! repeats what is safe to repeat.
//!
//! - A 429 means the server did nothing: any request is sent again after `Retry-After`
//!   (every task waits, see `backend::pacing`), up to `RetryPolicy::rate_limited_waits` times.
//! - A 5xx or transport failure of a read (`GET`, `bulk_keys`) is repeated with exponential
//!   backoff and jitter. A write's outcome is then unknown: it is returned to the caller
//!   (`apply` checks what happened before it tries again), never repeated here.

use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use reqwest::{Method, Url};
use serde_json::{Map, Value};

use super::error::{self, Access, Call};
use super::wire::Page;
use super::{MAX_PAGES, PosthogBackend};
use crate::backend::{BackendError, BackendResult};

impl PosthogBackend {
    /// Send a request (paced, repeated when safe) and return the JSON body of a success.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<Value> {
        let mut delays = self.retry.delays();
        let mut waits = 0;
        loop {
            let ticket = self.pacer.ready().await;
            let result = self.send_once(method.clone(), url, body, call).await;
            // The request is over: its slots count from now.
            drop(ticket);
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            match error {
                BackendError::RateLimited { retry_after_secs }
                    if waits < self.retry.rate_limited_waits
                        && Duration::from_secs(retry_after_secs) <= self.retry.max_retry_after =>
                {
                    waits += 1;
                    self.pacer.pause(Duration::from_secs(retry_after_secs));
                }
                // Reads are safe to repeat after a 5xx or a lost connection; writes are
                // checked by apply before anything is sent again.
                error if call.access == Access::Read && is_unavailable(&error) => {
                    match delays.next() {
                        Some(delay) => tokio::time::sleep(delay).await,
                        None => return Err(error),
                    }
                }
                other => return Err(other),
            }
        }
    }

    /// One attempt.
    async fn send_once(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<Value> {
        let secret = self.api_key.expose();
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| error::scrub(error::from_transport(&e, call), secret))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = self
            .read_body(response, status, call)
            .await
            .map_err(|e| error::scrub(e, secret))?;
        if !(200..300).contains(&status) {
            return Err(error::scrub(
                error::from_response(status, retry_after.as_deref(), &text, call, &self.target()),
                secret,
            ));
        }
        serde_json::from_str(&text).map_err(|e| {
            error::scrub(
                BackendError::Server {
                    status,
                    detail: Some(format!("the answer to `{}` is not JSON ({e})", call.action)),
                },
                secret,
            )
        })
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
        let too_large = || BackendError::Server {
            status,
            detail: Some(format!(
                "the answer to `{}` is larger than {limit} bytes; check that `host` is the PostHog API origin",
                call.action
            )),
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
            .map_err(|e| error::from_transport(&e, call))?
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
        for _ in 0..MAX_PAGES {
            let url = Url::parse_with_params(&self.flags_url(), &query)
                .map_err(|e| BackendError::Io(format!("cannot build the list URL: {e}")))?;
            let answer = self.send(Method::GET, url.as_str(), None, call).await?;
            let page =
                parse_page(answer, call).map_err(|e| error::scrub(e, self.api_key.expose()))?;
            out.extend(page.results);
            let Some(next) = page.next else {
                return Ok(out);
            };
            // Only the query of `next` is used: the key is never sent to an origin other
            // than the configured one (a proxy may rewrite the scheme or host in `next`).
            let next_query: Vec<(String, String)> = Url::parse(&next)
                .map_err(|e| BackendError::Server {
                    status: 200,
                    detail: Some(format!("invalid `next` link ({e})")),
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
        Err(BackendError::Server {
            status: 200,
            detail: Some(format!("the list has more than {MAX_PAGES} pages")),
        })
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

/// A 5xx answer or a lost connection: the server may answer the same request next time.
fn is_unavailable(error: &BackendError) -> bool {
    matches!(error, BackendError::Server { status, .. } if *status >= 500)
        || matches!(error, BackendError::Transport(_))
}
