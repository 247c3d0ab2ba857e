//! The adapter's request path: every HTTP request goes through [`MixpanelBackend::send`],
//! which waits for the shared pacer (budget and 429 pause), maps failures to
//! `BackendError`, and repeats what is safe to repeat.
//!
//! - Paths always end with a slash (Mixpanel 301s the slash-less form of a write); no
//!   redirect is ever followed (a followed 301 turns a POST or PUT into a GET): it is an error
//!   naming the path.
//! - Basic auth with the service account on every request (a sensitive header: never in
//!   `Debug`); the secret is scrubbed from every error text.
//! - A 429 means the server did nothing: any request is sent again after `Retry-After`
//!   (seconds or an HTTP date), or without one after `rate_limited_backoff` doubling up to
//!   [`MAX_DEFAULT_BACKOFF`] with up to 10 % jitter; up to `RetryPolicy::rate_limited_waits`
//!   times, and never a wait longer than `RetryPolicy::max_retry_after`.
//! - A 5xx or transport failure of a read is repeated with exponential backoff and jitter; a
//!   write's outcome is then unknown and returned to the caller, never repeated here.
//! - Answers are read up to `max_response_bytes`; a longer one is an error.
//! - The workspace comes from the settings, else from one request (the project's global
//!   workspace, else its default one), cached for the adapter's life.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{LOCATION, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::MixpanelBackend;
use super::error::{self, Access, Call};
use super::wire::{Envelope, Workspace};
use crate::backend::pacing::human;
use crate::backend::{BackendError, BackendResult};

/// The longest wait after a 429 without `Retry-After`.
pub(crate) const MAX_DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

impl MixpanelBackend {
    /// `{host}/api/app/projects/{project}/workspaces/{workspace}/feature-flags/`.
    pub(super) async fn flags_url(&self) -> BackendResult<String> {
        let workspace = self.workspace().await?;
        Ok(format!(
            "{}/api/app/projects/{}/workspaces/{workspace}/feature-flags/",
            self.origin, self.project_id
        ))
    }

    /// The flag's URL, `…/feature-flags/{id}/`; `tail` (e.g. `archive/`) is appended.
    pub(super) async fn flag_url(&self, id: &str, tail: &str) -> BackendResult<String> {
        let mut url = reqwest::Url::parse(&self.flags_url().await?)
            .map_err(|e| BackendError::Io(format!("cannot build a flag URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| BackendError::Io("cannot build a flag URL".to_owned()))?
            .pop_if_empty()
            .push(id)
            .push("");
        Ok(format!("{url}{tail}"))
    }

    /// The workspace flags live in: configured, else looked up once (global, else default).
    pub(super) async fn workspace(&self) -> BackendResult<u64> {
        self.workspace
            .get_or_try_init(|| self.discover_workspace())
            .await
            .copied()
    }

    async fn discover_workspace(&self) -> BackendResult<u64> {
        let call = Call {
            key: None,
            action: format!("look up the workspaces of project {}", self.project_id),
            access: Access::Read,
        };
        let url = format!(
            "{}/api/app/projects/{}/workspaces/",
            self.origin, self.project_id
        );
        let workspaces: Vec<Workspace> = self.send_results(Method::GET, &url, None, &call).await?;
        workspaces
            .iter()
            .find(|w| w.is_global)
            .or_else(|| workspaces.iter().find(|w| w.is_default))
            .map(|w| w.id)
            .ok_or_else(|| BackendError::Server {
                status: 200,
                detail: Some(format!(
                    "project {} has no global or default workspace among its {} workspaces; set `workspace_id` to the data view that holds the flags",
                    self.project_id,
                    workspaces.len()
                )),
            })
    }

    /// Send a request and return the `results` of the envelope of a success, as `T`.
    pub(super) async fn send_results<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<T> {
        let answer = self.send(method, url, body, call).await?;
        let hidden = self.hidden();
        if let Some(status) = answer.get("status").and_then(Value::as_str)
            && status != "ok"
        {
            return Err(error::scrub(
                error::unreadable(
                    None,
                    &format!("has status `{}`, not `ok`", error::quote(status)),
                    call,
                ),
                &hidden,
            ));
        }
        let envelope: Envelope<T> = serde_json::from_value(answer).map_err(|e| {
            error::scrub(
                error::unreadable(
                    None,
                    &format!(
                        "is not the expected `{{status, results}}` object ({}); check that `host` is the Mixpanel App API origin",
                        error::quote(&e.to_string())
                    ),
                    call,
                ),
                &hidden,
            )
        })?;
        Ok(envelope.results)
    }

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
        let mut attempt = 1;
        loop {
            let ticket = self.pacer.ready().await;
            let result = self.exchange(method.clone(), url, body, call).await;
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
                            "(it gave no `Retry-After`: exponential backoff)",
                        ),
                    };
                    if wait > self.retry.max_retry_after {
                        return Err(BackendError::Server {
                            status: 429,
                            detail: Some(format!(
                                "could not {}: Mixpanel is rate limiting (429) and asks to wait {}, longer than the {} flagops waits at most; try again later or lower `rate_limit`",
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
                                "could not {}: Mixpanel is still rate limiting (429) after {waits} waits; try again later or lower `rate_limit`",
                                call.action
                            )),
                        });
                    }
                    waits += 1;
                    self.pacer.pause(wait, why);
                }
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

    /// Send the request once and read its answer.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<Value> {
        let secret = self.secret.expose();
        let hidden = self.hidden();
        let target = self.target();
        let mut request = self
            .client
            .request(method, url)
            .basic_auth(&self.username, Some(secret));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = request
            .send()
            .await
            .map_err(|e| error::scrub(error::from_transport(&e, call, &target), &hidden))?;
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
                &hidden,
            ));
        }
        let text = self
            .read_body(response, status, call)
            .await
            .map_err(|e| error::scrub(e, &hidden))?;
        if !(200..300).contains(&status) {
            // Scrubbed before it is cut to a short quote, which could keep part of it.
            let text = hidden.iter().fold(text, |t, h| t.replace(h, "***"));
            return Err(error::scrub(
                error::from_response(status, retry_after.as_deref(), &text, call, &target),
                &hidden,
            ));
        }
        serde_json::from_str(&text).map_err(|e| {
            error::scrub(
                error::unreadable(
                    Some(status),
                    &format!("could not be read as JSON (status {status}): {e}"),
                    call,
                ),
                &hidden,
            )
        })
    }

    /// The body of `response` as text, at most `max_response_bytes` of it.
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
                    "is larger than {limit} bytes (status {status}); check that `host` is the Mixpanel App API origin"
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
}

/// The wait after the `waits`-th 429 (from 0) without `Retry-After`: `first` doubled each
/// time, at most [`MAX_DEFAULT_BACKOFF`], plus up to 10 % jitter (so that several clients
/// of one project do not all come back at once).
pub(crate) fn default_backoff(first: Duration, waits: u32) -> Duration {
    let base = first
        .saturating_mul(1 << waits.min(16))
        .min(MAX_DEFAULT_BACKOFF);
    base + base.mul_f64(fastrand::f64() * 0.1)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_backoff_doubles_with_at_most_ten_percent_jitter_up_to_a_minute() {
        let first = Duration::from_secs(1);
        for (waits, base) in [(0, 1), (1, 2), (2, 4), (5, 32), (6, 60), (40, 60)] {
            let wait = default_backoff(first, waits);
            let base = Duration::from_secs(base);
            assert!(
                wait >= base && wait <= base.mul_f64(1.1),
                "{waits}: {wait:?}"
            );
        }
    }
}
