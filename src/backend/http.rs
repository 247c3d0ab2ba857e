//! The HTTP helpers every adapter shares: quoting server text, error mapping for
//! transport, redirect and unreadable answers, retry and backoff arithmetic, bounded bodies,
//! and the request path itself ([`exchange`] for one attempt, [`repeated`] for the paced loop
//! that waits out 429s and repeats reads).
//!
//! What differs between services stays in their adapters: the wording of a refused answer
//! (which scope, role or variable to fix), of a redirect, and of a long rate limit
//! ([`Wording`]), and how the first 429 backoff grows.

use std::future::Future;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use serde_json::Value;

use crate::backend::pacing::{Pacer, RetryPolicy, human};
use crate::backend::{BackendError, BackendResult, scrub_text};

/// Most characters of text from a server quoted in one message.
pub(crate) const MAX_QUOTE: usize = 200;

/// The longest wait after a 429 without `Retry-After`.
pub(crate) const MAX_DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

/// Whether a call reads or writes: a read is safe to repeat; a write whose answer is lost has
/// an unknown outcome and is never repeated here (PostHog also names a scope by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads: safe to repeat.
    Read,
    /// Writes: never repeated here after an unknown outcome.
    Write,
}

/// What the failed call was doing.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    /// The flag concerned; `None` for a list (or another project-wide lookup).
    pub(crate) key: Option<&'a str>,
    /// Verb phrase, e.g. "list flags of project 1" or "create flag `a`".
    pub(crate) action: String,
    /// Read or write.
    pub(crate) access: Access,
}

/// An adapter's HTTP client: flagops' user agent, `headers` on every request, the two
/// timeouts, and no redirect followed: a request never leaves `host` (a followed redirect
/// would take the credentials and a write's body elsewhere, and a 301 turns a POST or PUT
/// into a GET); a redirect is an error ([`exchange`]). The error says why it cannot be built.
pub(crate) fn client(
    headers: HeaderMap,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("flagops/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .build()
        .map_err(|e| e.to_string())
}

/// The origin `host` names for `backend` (trimmed, without a trailing slash), or the error
/// `invalid` makes of it as shown (no password or query) and what is wrong with it
/// (`config::host_problem`).
pub(crate) fn origin<E>(
    host: &str,
    backend: &str,
    invalid: impl FnOnce(String, String) -> E,
) -> Result<String, E> {
    if let Some(problem) = crate::config::host_problem(host, backend) {
        return Err(invalid(crate::config::shown_host(host), problem));
    }
    Ok(host.trim().trim_end_matches('/').to_owned())
}

/// Text from a server as one short line: control and invisible characters and runs of
/// blanks become one space, and at most [`MAX_QUOTE`] characters are kept (`…` marks a cut).
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let mut blank = false;
    for c in text.trim().chars() {
        if c.is_whitespace() || c.is_control() || is_invisible(c) {
            blank = true;
            continue;
        }
        if chars >= MAX_QUOTE {
            out.push('…');
            return out;
        }
        if blank && !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        blank = false;
        out.push(c);
        chars += 1;
    }
    out
}

/// Format characters that reorder or hide text (bidirectional overrides, zero-width).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// An error answer's body quoted itself, for when it carries no message the adapter knows
/// (an HTML error page of a proxy): "the answer: …" or "the answer is not JSON: …"; `None`
/// for an empty body. Server text is quoted on one short line: a huge or multi-line body must
/// not flood the output or start a line of its own (e.g. a `::error::` command in a CI log).
pub(crate) fn answer_text(body: &str) -> Option<String> {
    (!body.trim().is_empty()).then(|| {
        if serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok() {
            format!("the answer: {}", quote(body))
        } else {
            format!("the answer is not JSON: {}", quote(body))
        }
    })
}

/// The `key` of a flag object as a server sent it, `?` when it has none (for messages and
/// reports of flags that cannot be read).
pub(crate) fn raw_key(flag: &serde_json::Map<String, Value>) -> String {
    flag.get("key")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

/// "an array", "a string", … for messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Seconds from a `Retry-After` header, as delay-seconds or an HTTP date (a date in the past
/// is 0, a number too large for `u64` is `u64::MAX`); `None` when there is none, or it says
/// neither.
pub(crate) fn retry_after_secs(header: Option<&str>) -> Option<u64> {
    let header = header.map(str::trim).filter(|h| !h.is_empty())?;
    if header.bytes().all(|b| b.is_ascii_digit()) {
        return Some(header.parse().unwrap_or(u64::MAX));
    }
    let date = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(header)
        .ok()?;
    let secs = date
        .as_second()
        .saturating_sub(jiff::Timestamp::now().as_second());
    Some(u64::try_from(secs).unwrap_or(0))
}

/// The request's URL and where a redirect's `Location` points, resolved against it (`None`
/// when either cannot be read).
pub(crate) fn redirect_ends(request: &str, location: Option<&str>) -> (Option<Url>, Option<Url>) {
    let from = Url::parse(request).ok();
    let to = location.and_then(|l| from.as_ref()?.join(l).ok());
    (from, to)
}

/// A body that could not be read (not JSON, too large, not the expected shape): for a read,
/// an error; for a write the server accepted (`status` 2xx, or `None` when known to be 2xx),
/// an unknown outcome — the flag may have been written, so `apply` reads it back.
/// `why` names the status when it is known.
pub(crate) fn unreadable(status: Option<u16>, why: &str, call: &Call<'_>) -> BackendError {
    let accepted = status.is_none_or(|s| (200..300).contains(&s));
    if call.access == Access::Write && accepted {
        return BackendError::Transport(format!(
            "the answer to `{}` {why}; the server accepted the request, so it may have been done: the outcome is unknown",
            call.action
        ));
    }
    BackendError::Server {
        status: status.unwrap_or(200),
        detail: Some(format!("the answer to `{}` {why}", call.action)),
    }
}

/// A JSON answer as a `Value`.
#[expect(
    clippy::needless_pass_by_value,
    reason = "an answer reader: `exchange` hands every reader the body it owns (a list keeps it)"
)]
pub(crate) fn read_json(text: String, status: u16, call: &Call<'_>) -> BackendResult<Value> {
    serde_json::from_str(&text).map_err(|e| {
        unreadable(
            Some(status),
            &format!("could not be read as JSON (status {status}): {e}"),
            call,
        )
    })
}

/// A transport failure talking to `origin`. A refused connection sent nothing; a read that
/// failed later only read nothing; a write that failed after it was sent may or may not have
/// been done. `timeout` is the time allowed for a whole request.
pub(crate) fn from_transport(
    error: &reqwest::Error,
    call: &Call<'_>,
    origin: &str,
    timeout: Duration,
) -> BackendError {
    let mut chain = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain = cause.to_string();
        source = cause.source();
    }
    let cause = if chain.is_empty() {
        String::new()
    } else {
        format!(" ({})", quote(&chain))
    };
    let (what, sent) = if error.is_connect() {
        (
            format!("could not connect to {origin}{cause}; nothing was sent"),
            false,
        )
    } else if error.is_timeout() {
        (
            format!("no complete answer within {}", human(timeout)),
            true,
        )
    } else {
        (format!("the connection failed{cause}"), true)
    };
    let outcome = if sent && call.access == Access::Write {
        "; the server may have done it: the outcome is unknown"
    } else {
        ""
    };
    BackendError::Transport(format!("could not {}: {what}{outcome}", call.action))
}

/// The wait after the `waits`-th 429 (from 0) that gave no `Retry-After`: `first`, doubled
/// each time, at most [`MAX_DEFAULT_BACKOFF`].
pub(crate) fn doubled_backoff(first: Duration, waits: u32) -> Duration {
    first
        .saturating_mul(1 << waits.min(16))
        .min(MAX_DEFAULT_BACKOFF)
}

/// `error` noting how many attempts were made, when more than one.
pub(crate) fn after_attempts(error: BackendError, attempts: u32) -> BackendError {
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

/// Where one adapter's requests go and what their errors must never show.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer<'a> {
    /// The API origin.
    pub(crate) origin: &'a str,
    /// The time allowed for a whole request.
    pub(crate) timeout: Duration,
    /// Largest response body read; a longer answer is an error, read no further.
    pub(crate) max_response_bytes: usize,
    /// What the origin should be, named when an answer is too large (e.g. "the PostHog API
    /// origin").
    pub(crate) api: &'a str,
    /// Secrets (and what reveals them), scrubbed from every error text.
    pub(crate) hidden: &'a [&'a str],
}

/// Send `request` (to `url`) once and read its answer: a redirect is never followed but
/// mapped by `redirect`; a non-success answer by `refused` (status, `Retry-After`, body
/// already scrubbed); a success is read by `read` (given its text, which it may keep, and
/// its status) and returned with its size in bytes. Every error is scrubbed of
/// `peer.hidden`.
pub(crate) async fn exchange<T>(
    request: reqwest::RequestBuilder,
    url: &str,
    call: &Call<'_>,
    peer: &Peer<'_>,
    redirect: fn(u16, Option<&str>, &str, &Call<'_>) -> BackendError,
    refused: impl FnOnce(u16, Option<&str>, &str) -> BackendError,
    read: &impl Fn(String, u16, &Call<'_>) -> BackendResult<T>,
) -> BackendResult<(T, usize)> {
    let scrub = |e: BackendError| e.scrubbed(peer.hidden);
    let response = request
        .send()
        .await
        .map_err(|e| scrub(from_transport(&e, call, peer.origin, peer.timeout)))?;
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
        return Err(scrub(redirect(status, location.as_deref(), url, call)));
    }
    let text = read_body(response, status, call, peer)
        .await
        .map_err(scrub)?;
    if !(200..300).contains(&status) {
        // Scrubbed before it is cut to a short quote, which could keep part of a secret.
        let text = scrub_text(text, peer.hidden);
        return Err(scrub(refused(status, retry_after.as_deref(), &text)));
    }
    let size = text.len();
    let value = read(text, status, call).map_err(scrub)?;
    Ok((value, size))
}

/// The body of `response` as text, at most `peer.max_response_bytes` of it: a longer answer
/// is an error, read no further.
async fn read_body(
    mut response: reqwest::Response,
    status: u16,
    call: &Call<'_>,
    peer: &Peer<'_>,
) -> BackendResult<String> {
    let limit = peer.max_response_bytes;
    let too_large = || {
        unreadable(
            Some(status),
            &format!(
                "is larger than {limit} bytes (status {status}); check that `host` is {}",
                peer.api
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
    // Sized once when the server says how long the answer is (bounded by the limit above):
    // a list of many flags is not copied into a buffer twice its size as it grows.
    let mut body = Vec::with_capacity(
        response
            .content_length()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
    );
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| from_transport(&e, call, peer.origin, peer.timeout))?
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

/// How a service is named in the messages of a rate limit that outlasts what flagops waits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wording {
    /// Who is rate limiting: "the server", "Mixpanel".
    pub(crate) service: &'static str,
    /// What to do then: "try again later", ….
    pub(crate) advice: &'static str,
    /// Why a 429 without `Retry-After` waits as long as it does, e.g. "(it gave no
    /// `Retry-After`: the default backoff)".
    pub(crate) default_backoff: &'static str,
}

/// How one adapter repeats: its pacer, its policy, its default 429 backoff and wording.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Repeats<'a> {
    /// The adapter's pacer: every attempt waits for it; a 429 pauses it.
    pub(crate) pacer: &'a Pacer,
    /// How often and how long to repeat.
    pub(crate) retry: &'a RetryPolicy,
    /// The first wait after a 429 without `Retry-After`.
    pub(crate) rate_limited_backoff: Duration,
    /// The wait after the `waits`-th such 429, from `rate_limited_backoff`.
    pub(crate) backoff: fn(Duration, u32) -> Duration,
    /// The service's name and advice in messages.
    pub(crate) wording: &'a Wording,
}

/// Run `attempt` (given its number, from 1) after the pacer lets it, until it succeeds or
/// fails for good. A 429 means the server did nothing: any request is sent again after
/// `Retry-After` (or the default backoff), up to `RetryPolicy::rate_limited_waits` times, and
/// a wait longer than `RetryPolicy::max_retry_after` fails at once. A read whose outcome is
/// unknown (5xx, transport) is repeated after the policy's delays, long ones announced; a
/// write's is returned to the caller (`apply` checks before anything is sent again).
pub(crate) async fn repeated<T, F, Fut>(
    repeats: &Repeats<'_>,
    call: &Call<'_>,
    mut attempt: F,
) -> BackendResult<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = BackendResult<T>>,
{
    let Repeats {
        pacer,
        retry,
        wording,
        ..
    } = *repeats;
    let mut delays = retry.delays();
    let mut waits = 0;
    let mut number = 1;
    loop {
        let ticket = pacer.ready().await;
        let result = attempt(number).await;
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
                        (repeats.backoff)(repeats.rate_limited_backoff, waits),
                        wording.default_backoff,
                    ),
                };
                if wait > retry.max_retry_after {
                    return Err(BackendError::Server {
                        status: 429,
                        detail: Some(format!(
                            "could not {}: {} is rate limiting (429) and asks to wait {}, longer than the {} flagops waits at most; {}",
                            call.action,
                            wording.service,
                            human(wait),
                            human(retry.max_retry_after),
                            wording.advice
                        )),
                    });
                }
                if waits >= retry.rate_limited_waits {
                    return Err(BackendError::Server {
                        status: 429,
                        detail: Some(format!(
                            "could not {}: {} is still rate limiting (429) after {waits} waits; {}",
                            call.action, wording.service, wording.advice
                        )),
                    });
                }
                waits += 1;
                pacer.pause(wait, why);
            }
            // Reads are safe to repeat after a 5xx or a lost connection; writes are checked
            // by apply before anything is sent again.
            error if call.access == Access::Read && error.is_outcome_unknown() => {
                let Some(delay) = delays.next() else {
                    return Err(after_attempts(error, number));
                };
                number += 1;
                if delay >= pacer.notice_threshold() {
                    pacer.announce(&format!(
                        "{error}; trying again in {} (attempt {number} of {})",
                        human(delay),
                        retry.retries + 1
                    ));
                }
                tokio::time::sleep(delay).await;
            }
            other => return Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_quoted_on_one_short_line() {
        assert_eq!(quote("  a\n::error::b\r\n\tc  "), "a ::error::b c");
        assert_eq!(quote("x\u{202E}y\u{0007}z"), "x y z");
        let long = quote(&"ab ".repeat(1000));
        assert_eq!(long.chars().count(), MAX_QUOTE + 1);
        assert!(long.ends_with('…'), "{long}");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(retry_after_secs(Some("7")), Some(7));
        assert_eq!(retry_after_secs(Some(" ")), None);
        assert_eq!(retry_after_secs(None), None);
        // An HTTP date: the seconds until then, 0 when it is past.
        assert_eq!(
            retry_after_secs(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(0)
        );
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let header = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&soon)
            .unwrap();
        let secs = retry_after_secs(Some(&header)).unwrap();
        assert!((118..=120).contains(&secs), "{header}: {secs}");
        assert_eq!(
            retry_after_secs(Some("99999999999999999999999")),
            Some(u64::MAX)
        );
        assert_eq!(retry_after_secs(Some("soon")), None);
    }
}
